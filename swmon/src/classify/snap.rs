//! Canonical's snap.
//!
//! Operands are snap names (an instance key after `_` is part of the name)
//! and local `.snap` files: `name_revision.snap` from the store or a seed,
//! `name_version_arch.snap` from snapcraft. `--revision` is the version
//! asked for; a channel is where from, not a version.

use super::{
    grammar::{flag, run, value, verb, Args, Effect::*, Grammar, Hint, Opt, Parsed, Verb},
    spec::{basename, literal, Spec},
    Operation::{Install, Other, Query, Remove, Upgrade},
};

const SNAP_CMD: &[Opt] = &[
    value(&["--revision"], Version),
    value(
        &[
            "--channel",
            "--cohort",
            "--name",
            "--transaction",
            "--basename",
            "--target-directory",
        ],
        Plain,
    ),
    // `snap refresh --list` only lists what would be refreshed.
    flag(&["--list", "--time"], Querying),
];

const SNAP_VERBS: &[Verb] = &[
    verb(&["install"], Install, Args::Packages).opts(SNAP_CMD),
    verb(&["remove"], Remove, Args::Packages).opts(SNAP_CMD),
    verb(&["refresh"], Upgrade, Args::Packages).opts(SNAP_CMD),
    verb(&["revert", "download"], Other, Args::Packages).opts(SNAP_CMD),
    verb(
        &[
            "list",
            "info",
            "find",
            "search",
            "version",
            "changes",
            "change",
            "tasks",
            "connections",
            "interface",
            "services",
            "logs",
            "warnings",
            "known",
            "model",
            "whoami",
            "help",
        ],
        Query,
        Args::Ignored,
    ),
];

const SNAP: Grammar = Grammar {
    verbs: SNAP_VERBS,
    default_scope: Some(Hint::System),
    ..Grammar::new(snap_spec)
};

pub(super) fn snap(args: &[&[u8]]) -> Parsed {
    run(&SNAP, args)
}

fn snap_spec(arg: &[u8]) -> Spec {
    let Some(stem) = basename(arg).strip_suffix(b".snap") else {
        return literal(arg);
    };
    let mut parts = stem.split(|&c| c == b'_');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(name), Some(version), _, None) => Spec::new(arg, name, Some(version)),
        _ => literal(arg),
    }
}
