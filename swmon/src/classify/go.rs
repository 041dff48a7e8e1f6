//! Go's `go install pkg@version` and `go get`.
//!
//! Go's flags are single-dash words (`-ldflags`), never bundles, and also
//! accept a double dash. Operands are package paths with an optional
//! `@version`; `go get pkg@none` removes a dependency.

use super::{
    grammar::{flag, run, value, verb, Args, Effect::*, Grammar, Opt, Parsed, Verb},
    spec::{literal, split_at_byte, Mark, Spec},
    Operation::{Install, Query},
};

/// The build flags `install` and `get` share; each takes a value.
const GO_BUILD: &[Opt] = &[
    value(
        &[
            "-o",
            "-p",
            "-asmflags",
            "-buildmode",
            "-compiler",
            "-gccgoflags",
            "-gcflags",
            "-installsuffix",
            "-ldflags",
            "-mod",
            "-modfile",
            "-overlay",
            "-pgo",
            "-pkgdir",
            "-tags",
            "-toolexec",
            "-covermode",
            "-coverpkg",
        ],
        Plain,
    ),
    flag(&["-n"], Dry),
    // `go get -u` moves dependencies to newer versions.
    flag(&["-u"], Upgrading),
];

const GO_VERBS: &[Verb] = &[
    verb(&["install", "get"], Install, Args::Packages).opts(GO_BUILD),
    verb(
        &["version", "env", "list", "doc", "help"],
        Query,
        Args::Ignored,
    ),
];

const GO: Grammar = Grammar {
    verbs: GO_VERBS,
    opts: &[value(&["-C"], Plain)],
    bundling: false,
    ..Grammar::new(go_spec)
};

pub(super) fn go(args: &[&[u8]]) -> Parsed {
    run(&GO, args)
}

fn go_spec(arg: &[u8]) -> Spec {
    match split_at_byte(arg, b'@') {
        Some((path, b"none")) => Spec::new(arg, path, None).marked(Mark::Remove),
        Some((path, version)) => Spec::new(arg, path, Some(version)),
        None => literal(arg),
    }
}
