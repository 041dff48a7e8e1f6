//! Nix: the new `nix profile install|remove|upgrade` and the older
//! `nix-env -i|-e|-u`. The catalogue names both manager nix, so argv tells
//! them apart: a first word that is a `nix` command means the new CLI,
//! anything else is nix-env's option-driven grammar.
//!
//! nix-env operands are derivation names (`hello`, `hello-2.12`: split at
//! the first dash followed by a non-letter, as Nix's `DrvName` does) or,
//! with `-A`, attribute paths taken whole. New-CLI operands are installables
//! (`nixpkgs#hello`, `github:owner/repo#pkg`, store paths), kept whole: the
//! part before `#` says where from, the part after what.

use super::{
    grammar::{
        flag, run, run_with, value, values, verb, Args, Effect::*, Grammar, Hint, Opt, Parsed, Verb,
    },
    spec::{literal, Spec},
    Operation::{Install, Other, Query, Remove, Upgrade},
};

/// Options both front ends read.
const NIX_COMMON: &[Opt] = &[
    value(&["--profile"], Scope(Hint::Root)),
    values(
        2,
        &["--arg", "--argstr", "--option", "--override-input"],
        Plain,
    ),
    value(
        &[
            "-I",
            "--include",
            "-f",
            "--file",
            "--expr",
            "--extra-experimental-features",
            "--experimental-features",
            "--priority",
            "--inputs-from",
            "--log-format",
            "--store",
            "--eval-store",
            "-j",
            "--max-jobs",
            "--cores",
            "-o",
            "--out-link",
            "--builders",
            "--substituters",
            "--extra-substituters",
            "--update-input",
            "--output-lock-file",
            "--reference-lock-file",
            "--system-filter",
            "--from-profile",
        ],
        Plain,
    ),
    flag(&["--dry-run"], Dry),
    flag(&["-v", "--verbose"], Plain),
];

const PROFILE: &[Verb] = &[
    verb(&["install", "add"], Install, Args::Packages),
    verb(&["remove"], Remove, Args::Packages),
    verb(&["upgrade"], Upgrade, Args::Packages),
    verb(&["list", "history", "diff-closures"], Query, Args::Ignored),
];

const NIX_VERBS: &[Verb] = &[
    verb(&["profile"], Other, Args::Sub(PROFILE)),
    // Upgrades Nix itself.
    verb(&["upgrade-nix"], Upgrade, Args::Ignored),
    verb(
        &[
            "search",
            "eval",
            "path-info",
            "why-depends",
            "log",
            "show-config",
            "help",
        ],
        Query,
        Args::Ignored,
    ),
    verb(
        &[
            "run",
            "shell",
            "develop",
            "build",
            "copy",
            "store",
            "repl",
            "bundle",
            "fmt",
            "formatter",
            "hash",
            "key",
            "nar",
            "print-dev-env",
            "realisation",
            "registry",
            "daemon",
            "edit",
            "derivation",
            "env",
            "flake",
            "config",
            "collect-garbage",
        ],
        Other,
        Args::Ignored,
    ),
];

const NIX: Grammar = Grammar {
    verbs: NIX_VERBS,
    opts: NIX_COMMON,
    ..Grammar::new(literal)
};

const NIX_ENV_OPTS: &[Opt] = &[
    flag(&["-i", "--install", "--set"], Op(Install)),
    flag(&["-e", "--uninstall"], Op(Remove)),
    flag(&["-u", "--upgrade"], Op(Upgrade)),
    flag(
        &["-q", "--query", "--list-generations", "--version", "--help"],
        Op(Query),
    ),
    flag(&["--rollback", "--delete-generations"], Op(Other)),
    value(
        &["-G", "--switch-generation", "-S", "--switch-profile"],
        Op(Other),
    ),
    values(2, &["--set-flag"], Op(Other)),
    flag(&["-A", "--attr", "-E", "--from-expression"], Literal),
    value(&["-p"], Scope(Hint::Root)),
];

const NIX_ENV: Grammar = Grammar {
    opts: NIX_ENV_OPTS,
    ..Grammar::new(drv_name)
};

pub(super) fn nix(args: &[&[u8]]) -> Parsed {
    let new = run(&NIX, args);
    if new.known_verb {
        return new;
    }
    run_with(&NIX_ENV, NIX_COMMON, args)
}

/// Nix's `DrvName`: the name ends at the first `-` followed by a
/// character that is not a letter.
fn drv_name(arg: &[u8]) -> Spec {
    let split = arg
        .windows(2)
        .position(|w| w[0] == b'-' && !w[1].is_ascii_alphabetic());
    match split {
        Some(i) => Spec::new(arg, &arg[..i], arg.get(i + 1..)),
        None => literal(arg),
    }
}
