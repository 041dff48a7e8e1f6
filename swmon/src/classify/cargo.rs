//! Rust's cargo: `cargo install` and `uninstall` put binaries in
//! `~/.cargo/bin` (or `--root`); `add`, `remove` and `update` change a
//! project's dependencies.
//!
//! Operands are crate names or `name@version`. A `--git` URL or `--path`
//! names the package when no crate is named; when one is, the crate is the
//! package and the URL only where it comes from.

use super::{
    grammar::{flag, run, value, verb, Args, Effect::*, Grammar, Hint, Opt, Parsed, Verb},
    spec::{literal, split_at_byte, Spec},
    Operation::{Install, Query, Remove, Upgrade},
};

/// Options every cargo command reads, before or after the verb.
const CARGO_GLOBAL: &[Opt] = &[
    value(
        &[
            "-C",
            "--config",
            "-Z",
            "--color",
            "--explain",
            "-j",
            "--jobs",
            "--target",
            "--target-dir",
            "--profile",
            "-F",
            "--features",
            "--manifest-path",
            "--lockfile-path",
            "--message-format",
            "--registry",
            "--index",
            "--bin",
            "--example",
        ],
        Plain,
    ),
    flag(&["--list"], Querying),
    // `-v` is verbose; `-V` is the version.
    flag(&["-v", "--verbose"], Plain),
];

const CARGO_INSTALL: &[Opt] = &[
    value(&["--version", "--vers"], Version),
    value(&["--git", "--path"], Source),
    value(&["--root"], Scope(Hint::Root)),
    value(&["--branch", "--tag", "--rev"], Plain),
    flag(&["--dry-run"], Dry),
];

const CARGO_ADD: &[Opt] = &[
    value(&["--git", "--path"], Source),
    value(
        &["--branch", "--tag", "--rev", "--rename", "-p", "--package"],
        Plain,
    ),
    flag(&["--dry-run"], Dry),
];

const CARGO_UPDATE: &[Opt] = &[
    value(&["-p", "--package"], Package),
    value(&["--precise"], Version),
    flag(&["--dry-run"], Dry),
];

const CARGO_VERBS: &[Verb] = &[
    verb(&["install"], Install, Args::Packages).opts(CARGO_INSTALL),
    verb(&["uninstall"], Remove, Args::Packages).opts(&[
        value(&["-p", "--package"], Package),
        value(&["--root"], Scope(Hint::Root)),
    ]),
    verb(&["add"], Install, Args::Packages).opts(CARGO_ADD),
    verb(&["remove", "rm"], Remove, Args::Packages).opts(&[
        value(&["-p", "--package"], Plain),
        flag(&["--dry-run"], Dry),
    ]),
    verb(&["update"], Upgrade, Args::Packages).opts(CARGO_UPDATE),
    verb(
        &[
            "search",
            "tree",
            "metadata",
            "info",
            "locate-project",
            "pkgid",
            "read-manifest",
            "verify-project",
            "version",
            "help",
        ],
        Query,
        Args::Ignored,
    ),
];

const CARGO: Grammar = Grammar {
    verbs: CARGO_VERBS,
    opts: CARGO_GLOBAL,
    // `cargo +nightly install ...` picks a toolchain through rustup.
    skip_word: Some(|w| w.starts_with(b"+")),
    ..Grammar::new(cargo_spec)
};

pub(super) fn cargo(args: &[&[u8]]) -> Parsed {
    run(&CARGO, args)
}

fn cargo_spec(arg: &[u8]) -> Spec {
    match split_at_byte(arg, b'@') {
        Some((name, version)) => Spec::new(arg, name, Some(version)),
        None => literal(arg),
    }
}
