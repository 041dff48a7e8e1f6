//! Alpine's apk.
//!
//! Operands are `name`, `name=1.2-r0`, `name>1.2`, `name~1.2`, `name@tag`
//! (a repository tag: where from, dropped from the name) and local `.apk`
//! files (`name-1.2-r0.apk`).

use super::{
    grammar::{flag, run, value, verb, Args, Effect::*, Grammar, Hint, Opt, Parsed, Verb},
    spec::{basename, find, find_any, is_location, literal, pin, rfind, Spec},
    Operation::{Install, Other, Query, Remove, Upgrade},
};

const APK_OPTS: &[Opt] = &[
    value(&["-p", "--root"], Scope(Hint::Root)),
    flag(&["-s", "--simulate"], Dry),
    value(
        &[
            "-X",
            "--repository",
            "--keys-dir",
            "--repositories-file",
            "--cache-dir",
            "--arch",
            "--wait",
            "--timeout",
            "--cache-max-age",
            "--progress-fd",
        ],
        Plain,
    ),
    flag(&["-v", "--verbose"], Plain),
    flag(&["-V"], Querying),
];

const APK_ADD: &[Opt] = &[
    // A name for the virtual package that groups what is added.
    value(&["-t", "--virtual"], Plain),
    flag(&["-u", "--upgrade"], Upgrading),
];

const APK_VERBS: &[Verb] = &[
    verb(&["add"], Install, Args::Packages).opts(APK_ADD),
    verb(&["del"], Remove, Args::Packages),
    verb(&["upgrade"], Upgrade, Args::Packages),
    verb(&["fix", "fetch"], Other, Args::Packages),
    verb(
        &[
            "info", "list", "search", "policy", "dot", "stats", "version", "audit", "verify",
            "manifest",
        ],
        Query,
        Args::Ignored,
    ),
];

const APK: Grammar = Grammar {
    verbs: APK_VERBS,
    opts: APK_OPTS,
    default_scope: Some(Hint::System),
    ..Grammar::new(apk_spec)
};

pub(super) fn apk(args: &[&[u8]]) -> Parsed {
    run(&APK, args)
}

fn apk_spec(arg: &[u8]) -> Spec {
    if let Some(stem) = basename(arg).strip_suffix(b".apk") {
        return apk_file(arg, stem);
    }
    if is_location(arg) {
        return literal(arg);
    }
    let (name, constraint) = match find_any(arg, b"=<>~") {
        Some(i) => (&arg[..i], Some(pin(&arg[i..]))),
        None => (arg, None),
    };
    let name = find(name, b'@').map_or(name, |i| &name[..i]);
    Spec::new(arg, name, constraint)
}

/// `name-1.2.3-r0.apk`: the version is the last two dash fields when the
/// last is `rN`.
fn apk_file(arg: &[u8], stem: &[u8]) -> Spec {
    let release_ok = |r: &[u8]| {
        r.strip_prefix(b"r")
            .is_some_and(|n| !n.is_empty() && n.iter().all(u8::is_ascii_digit))
    };
    let split = rfind(stem, b'-')
        .filter(|&r| release_ok(&stem[r + 1..]))
        .and_then(|r| rfind(&stem[..r], b'-'));
    match split {
        Some(v) => Spec::new(arg, &stem[..v], stem.get(v + 1..)),
        None => literal(arg),
    }
}
