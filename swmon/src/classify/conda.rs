//! conda and its reimplementations (`mamba`, `micromamba`).
//!
//! Operands are match specs: `name`, `name=1.2`, `name==1.2`, `name>=1.2`,
//! `"name 1.2"`, `channel::name=1.2`, `name=1.2=build`,
//! `name[version='>=1.2']`. The channel is where from, not what, so it is
//! dropped from the name, as is a build string. `-n NAME` scopes the run to
//! a named environment, `-p DIR` to a directory.

use super::{
    grammar::{flag, run, value, verb, Args, Effect::*, Grammar, Hint, Opt, Parsed, Verb},
    spec::{after, find_any, is_location, literal, pin, trim, Spec},
    Operation::{Install, Other, Query, Remove, Upgrade},
};

const CONDA_OPTS: &[Opt] = &[
    value(&["-n", "--name"], Scope(Hint::Env)),
    value(&["-p", "--prefix"], Scope(Hint::Root)),
    value(&["--file"], Requirements),
    flag(&["-d", "--dry-run", "--download-only"], Dry),
    value(
        &[
            "-c",
            "--channel",
            "--clone",
            "--solver",
            "--repodata-fn",
            "--experimental",
            "--platform",
            "--subdir",
            "-r",
            "--root-prefix",
        ],
        Plain,
    ),
    flag(&["-v", "--verbose"], Plain),
    flag(&["-V"], Querying),
];

/// `conda env create -f environment.yml`: `-f` is the file here.
const ENV_OPTS: &[Opt] = &[value(&["-f", "--file"], Requirements)];

const CONDA_ENV: &[Verb] = &[
    verb(&["create"], Install, Args::Ignored).opts(ENV_OPTS),
    verb(&["update"], Upgrade, Args::Ignored).opts(ENV_OPTS),
    verb(&["remove"], Remove, Args::Ignored),
    verb(&["list", "export"], Query, Args::Ignored),
];

const CONDA_VERBS: &[Verb] = &[
    verb(&["install", "create"], Install, Args::Packages),
    verb(&["remove", "uninstall"], Remove, Args::Packages),
    verb(&["update", "upgrade"], Upgrade, Args::Packages),
    verb(&["self-update"], Upgrade, Args::Ignored),
    verb(&["env"], Other, Args::Sub(CONDA_ENV)),
    verb(
        &[
            "list",
            "search",
            "info",
            "compare",
            "doctor",
            "repoquery",
            "help",
        ],
        Query,
        Args::Ignored,
    ),
];

const CONDA: Grammar = Grammar {
    verbs: CONDA_VERBS,
    opts: CONDA_OPTS,
    ..Grammar::new(match_spec)
};

pub(super) fn conda(args: &[&[u8]]) -> Parsed {
    run(&CONDA, args)
}

fn match_spec(arg: &[u8]) -> Spec {
    if is_location(arg) {
        return literal(arg);
    }
    let spec = after(arg, b"::").map_or(arg, |i| &arg[i..]);
    let Some(i) = find_any(spec, b"=<>!~ [") else {
        return Spec::new(arg, spec, None);
    };
    let (name, rest) = spec.split_at(i);
    let version = match rest {
        // `=1.2=build`: a version, then the build string, which is dropped.
        [b'=', v @ ..] if !v.starts_with(b"=") => v.split(|&c| c == b'=').next(),
        _ => bracket_version(rest),
    };
    Spec::new(arg, name, Some(version.unwrap_or_else(|| pin(trim(rest)))))
}

/// The `version` key of a bracketed match spec, `[version='>=1.2',build=...]`,
/// without its quotes.
fn bracket_version(rest: &[u8]) -> Option<&[u8]> {
    let inner = rest.strip_prefix(b"[")?.strip_suffix(b"]")?;
    inner.split(|&c| c == b',').find_map(|kv| {
        let v = trim(kv).strip_prefix(b"version")?;
        let v = trim(trim(v).strip_prefix(b"=")?);
        let v = v
            .strip_prefix(b"'")
            .and_then(|v| v.strip_suffix(b"'"))
            .unwrap_or(v);
        let v = v
            .strip_prefix(b"\"")
            .and_then(|v| v.strip_suffix(b"\""))
            .unwrap_or(v);
        Some(pin(v))
    })
}
