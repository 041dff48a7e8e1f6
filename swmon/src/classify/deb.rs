//! Debian's managers: apt (`apt`, `apt-get`, `aptitude`) and dpkg.
//!
//! Operands are apt's `pkg`, `pkg=version`, `pkg/release`, `pkg:arch`, the
//! `pkg-` and `pkg+` suffixes that turn one package's direction, and local
//! `.deb` files (`name_version_arch.deb`). What apt pulls in as
//! dependencies is not on the command line and is not guessed here.

use super::{
    grammar::{flag, run, value, values, verb, Args, Effect::*, Grammar, Hint, Opt, Parsed, Verb},
    spec::{basename, is_file_pattern, is_location, literal, split_at_byte, Mark, Spec},
    Operation::{Install, Other, Query, Remove, Upgrade},
};

const APT_VERBS: &[Verb] = &[
    verb(&["install", "reinstall"], Install, Args::Packages),
    // Source package names, or directories and .dsc files.
    verb(&["build-dep", "builddep"], Install, Args::Packages),
    // Dependency strings such as "foo (>= 1.0)", taken whole.
    verb(&["satisfy"], Install, Args::Spec(literal)),
    verb(
        &["remove", "purge", "autoremove", "auto-remove", "autopurge"],
        Remove,
        Args::Packages,
    ),
    verb(
        &[
            "upgrade",
            "full-upgrade",
            "dist-upgrade",
            "dselect-upgrade",
            "safe-upgrade",
        ],
        Upgrade,
        Args::Packages,
    ),
    verb(&["download", "source"], Other, Args::Packages),
    verb(
        &[
            "list",
            "show",
            "showsrc",
            "search",
            "policy",
            "madison",
            "depends",
            "rdepends",
            "pkgnames",
            "showpkg",
            "stats",
            "dump",
            "dumpavail",
            "unmet",
            "dotty",
            "xvcg",
            "changelog",
            "versions",
            "why",
            "why-not",
            "showhold",
            "help",
        ],
        Query,
        Args::Ignored,
    ),
];

const APT_OPTS: &[Opt] = &[
    value(&["-o", "--option"], AptOption),
    value(&["-c", "--config-file"], Plain),
    // The release to prefer, not a directory.
    value(&["-t", "--target-release", "--default-release"], Plain),
    value(&["-a", "--host-architecture"], Plain),
    // apt-get's `-P` takes profiles but aptitude's `-P` is a flag; only the
    // long form is read as taking a value, so `aptitude -P install x` keeps
    // its verb.
    value(
        &[
            "--build-profiles",
            "--solver",
            "--with-source",
            "--snapshot",
        ],
        Plain,
    ),
    // aptitude's display options.
    value(&["-F", "--display-format", "-w", "--width"], Plain),
    flag(
        &[
            "-s",
            "--simulate",
            "--just-print",
            "--dry-run",
            "--recon",
            "--no-act",
            "-d",
            "--download-only",
            "--print-uris",
        ],
        Dry,
    ),
    flag(&["--only-upgrade"], Upgrading),
    flag(&["-v", "--version"], Querying),
];

const APT: Grammar = Grammar {
    verbs: APT_VERBS,
    opts: APT_OPTS,
    default_scope: Some(Hint::System),
    ..Grammar::new(apt_spec)
};

pub(super) fn apt(args: &[&[u8]]) -> Parsed {
    run(&APT, args)
}

const DPKG_OPTS: &[Opt] = &[
    flag(&["-i", "--install", "--unpack"], Op(Install)),
    flag(&["-r", "--remove", "-P", "--purge"], Op(Remove)),
    flag(
        &[
            "--configure",
            "--triggers-only",
            "-A",
            "--record-avail",
            "--set-selections",
            "--clear-selections",
            "--update-avail",
            "--merge-avail",
            "--clear-avail",
            "--forget-old-unavail",
            // Passed on to dpkg-deb.
            "-b",
            "--build",
            "-x",
            "--extract",
            "-X",
            "--vextract",
            "-e",
            "--control",
            "--ctrl-tarfile",
            "--fsys-tarfile",
        ],
        Op(Other),
    ),
    value(&["--add-architecture", "--remove-architecture"], Op(Other)),
    flag(
        &[
            "-V",
            "--verify",
            "--get-selections",
            "-s",
            "--status",
            "-p",
            "--print-avail",
            "-L",
            "--listfiles",
            "-l",
            "--list",
            "-S",
            "--search",
            "-C",
            "--audit",
            "--yet-to-unpack",
            "--predep-package",
            "--print-architecture",
            "--print-foreign-architectures",
            "--assert-help",
            "--force-help",
            "-c",
            "--contents",
            "-I",
            "--info",
            "-f",
            "--field",
            "-?",
            "--help",
            "--version",
        ],
        Op(Query),
    ),
    values(3, &["--compare-versions"], Op(Query)),
    // Operands are directories to search for .deb files.
    flag(&["-R", "--recursive"], Literal),
    value(&["--root", "--instdir"], Scope(Hint::Root)),
    value(&["--admindir"], Scope(Hint::WeakRoot)),
    value(
        &[
            "--pre-invoke",
            "--post-invoke",
            "--path-exclude",
            "--path-include",
            "--verify-format",
            "--status-fd",
            "--status-logger",
            "--log",
            "--ignore-depends",
            "--abort-after",
            "-D",
            "--debug",
        ],
        Plain,
    ),
    flag(&["--no-act", "--dry-run", "--simulate"], Dry),
];

const DPKG: Grammar = Grammar {
    opts: DPKG_OPTS,
    default_scope: Some(Hint::System),
    ..Grammar::new(dpkg_spec)
};

pub(super) fn dpkg(args: &[&[u8]]) -> Parsed {
    run(&DPKG, args)
}

fn apt_spec(arg: &[u8]) -> Spec {
    if arg.ends_with(b".deb") {
        return deb_file(arg);
    }
    if is_location(arg) {
        return literal(arg);
    }
    let (core, mark) = direction(arg);
    let (name, version) = match split_at_byte(core, b'=') {
        Some((name, version)) => (name, Some(version)),
        None => (core, None),
    };
    // `pkg/release` picks where from, not what.
    let name = split_at_byte(name, b'/').map_or(name, |(n, _)| n);
    Spec::new(arg, name, version).marked(mark)
}

/// apt reads a trailing `-` as "remove this one" and `+` as "install this
/// one" whatever the verb. A name ending in `++` (`g++`) is kept whole:
/// apt tries the literal name first, and such packages exist.
fn direction(arg: &[u8]) -> (&[u8], Mark) {
    match arg {
        [rest @ .., b'-'] if !rest.is_empty() => (rest, Mark::Remove),
        [rest @ .., b'+'] if !rest.is_empty() && !rest.ends_with(b"+") => (rest, Mark::Install),
        _ => (arg, Mark::Same),
    }
}

fn dpkg_spec(arg: &[u8]) -> Spec {
    if arg.ends_with(b".deb") {
        deb_file(arg)
    } else {
        literal(arg)
    }
}

/// A `.deb` path: `name_version_arch.deb` gives name and version (the
/// epoch's colon is written `%3a` in file names); any other shape keeps
/// the path as the name.
fn deb_file(arg: &[u8]) -> Spec {
    let stem = basename(arg);
    let stem = stem.strip_suffix(b".deb").unwrap_or(stem);
    if is_file_pattern(stem) {
        return literal(arg).marked(Mark::Nothing);
    }
    let mut parts = stem.split(|&c| c == b'_');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        // A Debian version starts with a digit (Debian Policy 5.6.12):
        // `google-chrome-stable_current_amd64.deb` names no version.
        (Some(name), Some(version), Some(_arch), None) if !name.is_empty() => {
            let version = unescape_epoch(version);
            let version = version
                .first()
                .is_some_and(u8::is_ascii_digit)
                .then_some(&version[..]);
            Spec::new(arg, name, version)
        }
        // The older `name_version.deb`, with no architecture.
        (Some(name), Some(version), None, None)
            if !name.is_empty() && version.first().is_some_and(u8::is_ascii_digit) =>
        {
            Spec::new(arg, name, Some(&unescape_epoch(version)))
        }
        _ => literal(arg),
    }
}

fn unescape_epoch(version: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(version.len());
    let mut rest = version;
    while let Some(&c) = rest.first() {
        if rest.len() >= 3 && rest[..3].eq_ignore_ascii_case(b"%3a") {
            out.push(b':');
            rest = &rest[3..];
        } else {
            out.push(c);
            rest = &rest[1..];
        }
    }
    out
}
