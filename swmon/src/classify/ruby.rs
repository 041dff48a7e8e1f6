//! Ruby's managers: RubyGems (`gem`) and Bundler (`bundle`, `bundler`).
//!
//! gem operands are names, `name:version`, and `.gem` files
//! (`name-1.2.3.gem`); `-v VERSION` applies to every gem named. Bundler
//! works from a Gemfile, so most of its runs name no package at all.

use super::{
    grammar::{flag, run, value, verb, Args, Effect::*, Grammar, Hint, Opt, Parsed, Verb},
    spec::{basename, is_location, literal, split_at_byte, split_name_version, Spec},
    Operation::{Install, Other, Query, Remove, Upgrade},
};

const GEM_CMD: &[Opt] = &[
    // After the verb `-v` is a version; before it, gem's own version.
    value(&["-v", "--version"], Version),
    value(&["-i", "--install-dir", "--build-root"], Scope(Hint::Root)),
    flag(&["--user-install"], Scope(Hint::User)),
    value(&["-g", "--file"], Requirements),
    value(
        &[
            "-n",
            "--bindir",
            "-s",
            "--source",
            "-P",
            "--trust-policy",
            "--platform",
            "--target-rbconfig",
            "-p",
            "--http-proxy",
        ],
        Plain,
    ),
];

const GEM_VERBS: &[Verb] = &[
    verb(&["install", "i"], Install, Args::Packages).opts(GEM_CMD),
    verb(&["uninstall"], Remove, Args::Packages).opts(GEM_CMD),
    // Removes old versions of installed gems.
    verb(&["cleanup"], Remove, Args::Packages).opts(GEM_CMD),
    verb(&["update", "up"], Upgrade, Args::Packages).opts(GEM_CMD),
    verb(&["fetch"], Other, Args::Packages).opts(GEM_CMD),
    verb(
        &[
            "list",
            "search",
            "query",
            "info",
            "specification",
            "contents",
            "dependency",
            "which",
            "environment",
            "outdated",
            "check",
            "help",
        ],
        Query,
        Args::Ignored,
    ),
];

const GEM: Grammar = Grammar {
    verbs: GEM_VERBS,
    ..Grammar::new(gem_spec)
};

pub(super) fn gem(args: &[&[u8]]) -> Parsed {
    run(&GEM, args)
}

const BUNDLE_INSTALL: &[Opt] = &[
    value(&["--path"], Scope(Hint::Root)),
    flag(&["--system"], Scope(Hint::System)),
    value(
        &[
            "--without",
            "--with",
            "--gemfile",
            "-j",
            "--jobs",
            "--retry",
            "--binstubs",
            "--trust-policy",
            "--target-rbconfig",
        ],
        Plain,
    ),
];

const BUNDLE_ADD: &[Opt] = &[
    value(&["-v", "--version"], Version),
    // Only edits the Gemfile.
    flag(&["--skip-install"], Dry),
    value(
        &[
            "-g",
            "--group",
            "-s",
            "--source",
            "--require",
            "--path",
            "--git",
            "--github",
            "--branch",
            "--ref",
            "--glob",
        ],
        Plain,
    ),
];

const BUNDLE_VERBS: &[Verb] = &[
    verb(&["install", "i"], Install, Args::Ignored).opts(BUNDLE_INSTALL),
    verb(&["add"], Install, Args::Packages).opts(BUNDLE_ADD),
    verb(&["update"], Upgrade, Args::Packages).opts(BUNDLE_INSTALL),
    verb(&["remove"], Remove, Args::Packages),
    verb(
        &[
            "list", "ls", "show", "info", "outdated", "check", "platform", "licenses", "viz",
            "version", "help",
        ],
        Query,
        Args::Ignored,
    ),
];

/// A bare `bundle` is `bundle install`.
const BUNDLER: Grammar = Grammar {
    verbs: BUNDLE_VERBS,
    opts: &[
        // `-V` is verbose here.
        flag(&["-V", "--verbose"], Plain),
        value(&["-r", "--retry"], Plain),
    ],
    bare: Install,
    ..Grammar::new(literal)
};

pub(super) fn bundler(args: &[&[u8]]) -> Parsed {
    run(&BUNDLER, args)
}

fn gem_spec(arg: &[u8]) -> Spec {
    if arg.ends_with(b".gem") {
        let file = basename(arg);
        return match split_name_version(&file[..file.len() - 4]) {
            Some((name, version)) => Spec::new(arg, name, Some(version)),
            None => literal(arg),
        };
    }
    if is_location(arg) {
        return literal(arg);
    }
    match split_at_byte(arg, b':') {
        Some((name, version)) => Spec::new(arg, name, Some(version)),
        None => literal(arg),
    }
}
