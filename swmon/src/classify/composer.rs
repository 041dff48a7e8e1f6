//! PHP's composer (`composer`, `composer.phar`).
//!
//! Operands are `vendor/name`, `vendor/name:constraint`,
//! `vendor/name=constraint`, `"vendor/name constraint"`, and, as composer
//! itself reads them, a `vendor/name` followed by a separate constraint
//! argument. Like any Symfony console, composer also takes a unique prefix
//! of a command name (`req`).

use super::{
    grammar::{flag, run, value, verb, Args, Effect::*, Found, Grammar, Hint, Opt, Parsed, Verb},
    spec::{find_any, literal, Spec},
    Operation::{Install, Other, Query, Remove, Upgrade},
};

const COMPOSER_VERBS: &[Verb] = &[
    verb(&["require", "r"], Install, Args::List(pairs)),
    verb(&["install", "i"], Install, Args::Ignored),
    verb(&["reinstall"], Install, Args::List(pairs)),
    verb(&["update", "u", "upgrade"], Upgrade, Args::List(pairs)),
    verb(&["remove", "rm", "uninstall"], Remove, Args::List(pairs)),
    // `create-project vendor/name [directory] [version]`.
    verb(&["create-project"], Install, Args::List(project)),
    verb(&["self-update", "selfupdate"], Upgrade, Args::Ignored),
    verb(&["global"], Other, Args::Sub(COMPOSER_GLOBAL)).scope(Hint::Global),
    verb(
        &[
            "show",
            "info",
            "search",
            "outdated",
            "depends",
            "why",
            "prohibits",
            "why-not",
            "licenses",
            "validate",
            "diagnose",
            "status",
            "check-platform-reqs",
            "fund",
            "suggests",
            "audit",
            "about",
            "list",
            "help",
        ],
        Query,
        Args::Ignored,
    ),
];

const COMPOSER_GLOBAL: &[Verb] = &[
    verb(&["require", "r"], Install, Args::List(pairs)),
    verb(&["install", "i"], Install, Args::Ignored),
    verb(&["update", "u", "upgrade"], Upgrade, Args::List(pairs)),
    verb(&["remove", "rm", "uninstall"], Remove, Args::List(pairs)),
    verb(&["show", "info", "outdated", "list"], Query, Args::Ignored),
];

const COMPOSER_OPTS: &[Opt] = &[
    value(
        &[
            "-d",
            "--working-dir",
            "--prefer-install",
            "--ignore-platform-req",
            "--apcu-autoloader-prefix",
            "--with",
            "--repository",
            "--stability",
        ],
        Plain,
    ),
    // Only edits composer.json, or only pretends.
    flag(&["--dry-run", "--no-update", "--no-install"], Dry),
    // `-v` is verbose; `-V` is the version.
    flag(&["-v", "-vv", "-vvv", "--verbose"], Plain),
    flag(&["-V"], Querying),
];

const COMPOSER: Grammar = Grammar {
    verbs: COMPOSER_VERBS,
    opts: COMPOSER_OPTS,
    abbrev: true,
    ..Grammar::new(composer_spec)
};

pub(super) fn composer(args: &[&[u8]]) -> Parsed {
    run(&COMPOSER, args)
}

fn composer_spec(arg: &[u8]) -> Spec {
    match find_any(arg, b":= ") {
        Some(i) => Spec::new(arg, &arg[..i], arg.get(i + 1..)),
        None => literal(arg),
    }
}

/// Composer's own reading of name and version pairs
/// (`VersionParser::parseNameVersionPairs`): an operand with no version of
/// its own takes the next one as its version, unless that next one is
/// itself a package: it has a `/`, a `*` inside a word, or names a
/// platform package.
fn pairs(operands: &[&[u8]], spec: fn(&[u8]) -> Spec, found: &mut Found) {
    let mut i = 0;
    while let Some(&arg) = operands.get(i) {
        i += 1;
        let mut s = spec(arg);
        if s.package.version.is_none() {
            if let Some(&next) = operands.get(i).filter(|n| !is_package(n)) {
                s = Spec::new(arg, arg, Some(next));
                i += 1;
            }
        }
        found.specs.push(s);
    }
}

fn is_package(arg: &[u8]) -> bool {
    let glob_in_word = arg.windows(2).any(|w| {
        let word = |c: u8| c.is_ascii_alphanumeric() || b"_/-".contains(&c);
        (w[0] == b'*' && word(w[1])) || (w[1] == b'*' && word(w[0]))
    });
    arg.contains(&b'/') || glob_in_word || is_platform(arg)
}

fn is_platform(arg: &[u8]) -> bool {
    let lower = arg.to_ascii_lowercase();
    [
        b"php" as &[u8],
        b"php-64bit",
        b"php-ipv6",
        b"php-zts",
        b"php-debug",
        b"hhvm",
        b"composer",
        b"composer-plugin-api",
        b"composer-runtime-api",
    ]
    .contains(&lower.as_slice())
        || lower.starts_with(b"ext-")
        || lower.starts_with(b"lib-")
}

fn project(operands: &[&[u8]], spec: fn(&[u8]) -> Spec, found: &mut Found) {
    let Some(&name) = operands.first() else {
        return;
    };
    let mut s = spec(name);
    if s.package.version.is_none() {
        if let Some(&version) = operands.get(2) {
            s = Spec::new(name, name, Some(version));
        }
    }
    found.specs.push(s);
}
