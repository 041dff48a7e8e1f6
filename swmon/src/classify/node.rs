//! JavaScript's managers: npm (and `npx`, which the catalogue also names
//! npm), yarn (classic and berry), pnpm and bun.
//!
//! Operands are `name`, `name@version-or-range-or-tag`, scoped
//! `@scope/name@version`, aliases `alias@npm:real@version` (the package
//! fetched is `real`, so that is the name), tarballs (`name-1.2.3.tgz` gives
//! name and version), paths, URLs, and git or GitHub shorthands, which are
//! kept whole.

use super::{
    grammar::{flag, run, value, verb, Args, Effect::*, Grammar, Hint, Opt, Parsed, Verb},
    spec::{after, basename, find, is_location, literal, split_name_version, Spec},
    Operation::{Install, Other, Query, Remove, Upgrade},
};

const NPM_VERBS: &[Verb] = &[
    // npm accepts its own typos as aliases.
    verb(
        &[
            "install",
            "i",
            "in",
            "ins",
            "inst",
            "insta",
            "instal",
            "isnt",
            "isnta",
            "isntal",
            "isntall",
            "add",
            "install-test",
            "it",
        ],
        Install,
        Args::Packages,
    ),
    verb(
        &[
            "ci",
            "clean-install",
            "ic",
            "install-clean",
            "isntall-clean",
            "install-ci-test",
            "cit",
        ],
        Install,
        Args::Ignored,
    ),
    verb(
        &["uninstall", "unlink", "remove", "rm", "r", "un"],
        Remove,
        Args::Packages,
    ),
    verb(
        &["update", "up", "upgrade", "udpate"],
        Upgrade,
        Args::Packages,
    ),
    verb(&["link", "ln"], Other, Args::Packages),
    verb(
        &[
            "ls", "list", "la", "ll", "view", "v", "info", "show", "search", "s", "se", "find",
            "outdated", "explain", "why", "query", "help", "fund", "doctor", "prefix", "root",
            "bin",
        ],
        Query,
        Args::Ignored,
    ),
];

const NPM_OPTS: &[Opt] = &[
    flag(&["-g", "--global"], Scope(Hint::Global)),
    value(
        &["--location"],
        ScopeIf(&[("global", Hint::Global), ("user", Hint::User)]),
    ),
    value(&["--prefix"], Scope(Hint::Root)),
    flag(&["--dry-run"], Dry),
    value(
        &[
            "--registry",
            "--tag",
            "--cache",
            "--userconfig",
            "--globalconfig",
            "-w",
            "--workspace",
            "--omit",
            "--include",
            "--install-strategy",
            "--loglevel",
            "--save-prefix",
            "--before",
            "--otp",
            "--script-shell",
            "--cpu",
            "--os",
            "--libc",
        ],
        Plain,
    ),
];

const NPM: Grammar = Grammar {
    verbs: NPM_VERBS,
    opts: NPM_OPTS,
    ..Grammar::new(npm_spec)
};

pub(super) fn npm(args: &[&[u8]]) -> Parsed {
    run(&NPM, args)
}

const YARN_GLOBAL: &[Verb] = &[
    verb(&["add"], Install, Args::Packages),
    verb(&["remove"], Remove, Args::Packages),
    verb(&["upgrade"], Upgrade, Args::Packages),
    verb(&["list", "bin", "dir"], Query, Args::Ignored),
];

const YARN_VERBS: &[Verb] = &[
    verb(&["install", "add"], Install, Args::Packages),
    verb(&["remove"], Remove, Args::Packages),
    verb(&["upgrade", "up"], Upgrade, Args::Packages),
    verb(&["upgrade-interactive"], Upgrade, Args::Ignored),
    verb(&["global"], Other, Args::Sub(YARN_GLOBAL)).scope(Hint::Global),
    verb(
        &[
            "info", "list", "why", "outdated", "bin", "licenses", "help", "npm",
        ],
        Query,
        Args::Ignored,
    ),
    verb(&["link", "unlink"], Other, Args::Packages),
];

const YARN_OPTS: &[Opt] = &[
    value(&["--modules-folder", "--prefix"], Scope(Hint::Root)),
    value(
        &[
            "--cwd",
            "--global-folder",
            "--cache-folder",
            "--registry",
            "--network-timeout",
            "--mutex",
            "--link-folder",
        ],
        Plain,
    ),
];

/// A bare `yarn` installs the project's dependencies; a first word yarn
/// does not know is a package script (`yarn build`), classified Other.
const YARN: Grammar = Grammar {
    verbs: YARN_VERBS,
    opts: YARN_OPTS,
    bare: Install,
    ..Grammar::new(npm_spec)
};

pub(super) fn yarn(args: &[&[u8]]) -> Parsed {
    run(&YARN, args)
}

const PNPM_VERBS: &[Verb] = &[
    verb(&["add", "install", "i"], Install, Args::Packages),
    verb(&["remove", "rm", "uninstall", "un"], Remove, Args::Packages),
    verb(&["update", "up", "upgrade"], Upgrade, Args::Packages),
    verb(&["link", "ln", "unlink"], Other, Args::Packages),
    verb(
        &[
            "list", "ls", "ll", "la", "why", "outdated", "audit", "licenses", "view", "info",
            "show", "root", "bin", "help",
        ],
        Query,
        Args::Ignored,
    ),
];

const PNPM_OPTS: &[Opt] = &[
    flag(&["-g", "--global"], Scope(Hint::Global)),
    value(&["--modules-dir"], Scope(Hint::Root)),
    value(
        &[
            "-C",
            "--dir",
            "-F",
            "--filter",
            "--reporter",
            "--loglevel",
            "--store-dir",
            "--virtual-store-dir",
            "--global-dir",
            "--registry",
        ],
        Plain,
    ),
];

const PNPM: Grammar = Grammar {
    verbs: PNPM_VERBS,
    opts: PNPM_OPTS,
    ..Grammar::new(npm_spec)
};

pub(super) fn pnpm(args: &[&[u8]]) -> Parsed {
    run(&PNPM, args)
}

const BUN_VERBS: &[Verb] = &[
    verb(&["install", "i", "add", "a"], Install, Args::Packages),
    verb(&["remove", "rm"], Remove, Args::Packages),
    verb(&["update"], Upgrade, Args::Packages),
    // Upgrades bun itself.
    verb(&["upgrade"], Upgrade, Args::Ignored),
    verb(&["link", "unlink"], Other, Args::Packages),
    verb(
        &["pm", "outdated", "info", "why", "help"],
        Query,
        Args::Ignored,
    ),
];

const BUN_OPTS: &[Opt] = &[
    flag(&["-g", "--global"], Scope(Hint::Global)),
    flag(&["--dry-run"], Dry),
    value(
        &[
            "--cwd",
            "-c",
            "--config",
            "--registry",
            "--backend",
            "--cache-dir",
            "--filter",
            "--omit",
            "--linker",
            "--ca",
            "--cafile",
            "--concurrent-scripts",
            "--network-concurrency",
        ],
        Plain,
    ),
];

const BUN: Grammar = Grammar {
    verbs: BUN_VERBS,
    opts: BUN_OPTS,
    ..Grammar::new(npm_spec)
};

pub(super) fn bun(args: &[&[u8]]) -> Parsed {
    run(&BUN, args)
}

const SOURCE_PREFIXES: &[&[u8]] = &[
    b"git+",
    b"git:",
    b"github:",
    b"gitlab:",
    b"bitbucket:",
    b"gist:",
    b"link:",
    b"workspace:",
    b"portal:",
    b"patch:",
];

const TARBALLS: &[&[u8]] = &[b".tgz", b".tar.gz", b".tar"];

fn npm_spec(arg: &[u8]) -> Spec {
    let tarball = TARBALLS.iter().find(|x| arg.ends_with(x));
    if is_location(arg) || tarball.is_some() || SOURCE_PREFIXES.iter().any(|p| arg.starts_with(p)) {
        let file = basename(arg);
        return match tarball.and_then(|x| split_name_version(&file[..file.len() - x.len()])) {
            Some((name, version)) => Spec::new(arg, name, Some(version)),
            None => literal(arg),
        };
    }
    // `alias@npm:real@1.0` fetches `real`.
    let real = match after(arg, b"@npm:") {
        Some(i) => &arg[i..],
        None => arg.strip_prefix(b"npm:").unwrap_or(arg),
    };
    let scoped = real.starts_with(b"@");
    let body = if scoped { &real[1..] } else { real };
    let at = find(body, b'@');
    // `user/repo` is GitHub shorthand, not a name; `@scope/name` is a name.
    if !scoped && find(&body[..at.unwrap_or(body.len())], b'/').is_some() {
        return literal(arg);
    }
    match at {
        Some(i) => {
            let i = i + usize::from(scoped);
            Spec::new(arg, &real[..i], real.get(i + 1..))
        }
        None => Spec::new(arg, real, None),
    }
}
