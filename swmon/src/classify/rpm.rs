//! RPM-based managers: dnf (also `yum`, `microdnf`, `dnf5`), rpm itself, and
//! SUSE's zypper.
//!
//! Operands are names, `name-version-release.arch` (NEVRA), local or remote
//! `.rpm` files, `@group`s, and provides such as `pkgconfig(foo)` or
//! `"foo >= 1.2"`. A NEVRA is split only when both the version and the
//! release start with a digit: without the repository metadata a shorter
//! `name-1.2` cannot be told from a name ending in a number.

use super::{
    grammar::{flag, run, value, verb, Args, Effect::*, Found, Grammar, Hint, Opt, Parsed, Verb},
    spec::{
        basename, find_any, is_file_pattern, is_location, literal, pin, rfind, starts_with_digit,
        trim, Mark, Spec,
    },
    Operation::{Install, Other, Query, Remove, Upgrade},
};

const DNF_GROUP: &[Verb] = &[
    verb(&["install"], Install, Args::Spec(literal)),
    verb(&["remove", "erase"], Remove, Args::Spec(literal)),
    verb(&["upgrade", "update"], Upgrade, Args::Spec(literal)),
    verb(&["list", "info", "summary"], Query, Args::Ignored),
];

const DNF_MODULE: &[Verb] = &[
    verb(&["install"], Install, Args::Spec(literal)),
    verb(&["remove"], Remove, Args::Spec(literal)),
    verb(&["update", "upgrade"], Upgrade, Args::Spec(literal)),
    verb(&["list", "info", "provides"], Query, Args::Ignored),
];

const DNF_VERBS: &[Verb] = &[
    verb(
        &[
            "install",
            "in",
            "localinstall",
            "reinstall",
            "rei",
            "builddep",
        ],
        Install,
        Args::Packages,
    ),
    verb(&["groupinstall"], Install, Args::Spec(literal)),
    verb(
        &["remove", "rm", "erase", "autoremove"],
        Remove,
        Args::Packages,
    ),
    verb(&["groupremove", "grouperase"], Remove, Args::Spec(literal)),
    // A downgrade is a version change like an upgrade; the enum has no
    // separate word for it.
    verb(
        &[
            "upgrade",
            "update",
            "up",
            "upgrade-minimal",
            "update-minimal",
            "up-min",
            "distro-sync",
            "distrosync",
            "dsync",
            "distribution-synchronization",
            "dist-upgrade",
            "downgrade",
            "dg",
        ],
        Upgrade,
        Args::Packages,
    ),
    verb(&["groupupdate"], Upgrade, Args::Spec(literal)),
    verb(
        &["system-upgrade", "offline-upgrade"],
        Upgrade,
        Args::Ignored,
    ),
    verb(&["swap"], Install, Args::List(swap)),
    verb(&["group", "groups", "grp"], Other, Args::Sub(DNF_GROUP)),
    verb(&["module"], Other, Args::Sub(DNF_MODULE)),
    verb(&["download"], Other, Args::Packages),
    verb(
        &[
            "list",
            "ls",
            "info",
            "if",
            "search",
            "se",
            "provides",
            "whatprovides",
            "wp",
            "repoquery",
            "rq",
            "repolist",
            "repoinfo",
            "history",
            "check-update",
            "check-upgrade",
            "updateinfo",
            "advisory",
            "deplist",
            "check",
            "help",
        ],
        Query,
        Args::Ignored,
    ),
];

const DNF_OPTS: &[Opt] = &[
    value(&["--installroot"], Scope(Hint::Root)),
    value(
        &[
            "-c",
            "--config",
            "--setopt",
            "--releasever",
            "--repo",
            "--repoid",
            "--enablerepo",
            "--disablerepo",
            "--repofrompath",
            "--from-repo",
            "-x",
            "--exclude",
            "--excludepkgs",
            "--forcearch",
            "-d",
            "--debuglevel",
            "-e",
            "--errorlevel",
            "--rpmverbosity",
            "--color",
            "--comment",
            "--enableplugin",
            "--disableplugin",
            "--advisory",
            "--advisories",
            "--bz",
            "--bzs",
            "--cve",
            "--cves",
            "--sec-severity",
            "--secseverity",
            "--downloaddir",
            "--destdir",
        ],
        Plain,
    ),
    // `--assumeno` answers the prompt with no: nothing changes.
    flag(&["--downloadonly", "--assumeno"], Dry),
    flag(&["-v", "--verbose"], Plain),
];

const DNF: Grammar = Grammar {
    verbs: DNF_VERBS,
    opts: DNF_OPTS,
    default_scope: Some(Hint::System),
    ..Grammar::new(dnf_spec)
};

pub(super) fn dnf(args: &[&[u8]]) -> Parsed {
    run(&DNF, args)
}

const RPM_OPTS: &[Opt] = &[
    flag(&["-i", "--install", "--reinstall"], Op(Install)),
    flag(&["-U", "--upgrade", "-F", "--freshen"], Op(Upgrade)),
    flag(&["-e", "--erase"], Op(Remove)),
    flag(
        &[
            "-q",
            "--query",
            "-V",
            "-y",
            "--verify",
            "-K",
            "--checksig",
            "--version",
            "--help",
            "--usage",
            "--showrc",
            "--querytags",
        ],
        Op(Query),
    ),
    value(&["-E", "--eval"], Op(Query)),
    flag(
        &[
            "--import",
            "--initdb",
            "--rebuilddb",
            "--setperms",
            "--setugids",
            "--setcaps",
            "--restore",
        ],
        Op(Other),
    ),
    value(&["-r", "--root", "--prefix"], Scope(Hint::Root)),
    value(&["--dbpath"], Scope(Hint::WeakRoot)),
    value(
        &[
            "-D",
            "--define",
            "--undefine",
            "--predefine",
            "--relocate",
            "--excludepath",
            "--rcfile",
            "--macros",
            "--pipe",
            "--qf",
            "--queryformat",
            "--target",
        ],
        Plain,
    ),
    flag(&["--test"], Dry),
    // `-h` is `--hash` and `-v` verbose, not help and version.
    flag(&["-h", "--hash", "-v"], Plain),
];

const RPM: Grammar = Grammar {
    opts: RPM_OPTS,
    default_scope: Some(Hint::System),
    ..Grammar::new(rpm_spec)
};

pub(super) fn rpm(args: &[&[u8]]) -> Parsed {
    run(&RPM, args)
}

/// Options zypper reads before its verb; some letters mean something else
/// after it (`-D` is a directory here, `--dry-run` there).
const ZYPPER_GLOBAL: &[Opt] = &[
    value(&["-R", "--root", "--installroot"], Scope(Hint::Root)),
    value(
        &[
            "-c",
            "--config",
            "-D",
            "--reposd-dir",
            "-C",
            "--cache-dir",
            "--raw-cache-dir",
            "--solv-cache-dir",
            "--pkg-cache-dir",
            "--userdata",
            "-p",
            "--plus-repo",
            "--plus-content",
            "-s",
            "--table-style",
        ],
        Plain,
    ),
    flag(&["-V", "--version"], Querying),
    flag(&["-v", "--verbose"], Plain),
];

const ZYPPER_CMD: &[Opt] = &[
    value(
        &["-t", "--type", "-r", "--repo", "--from", "--download"],
        Plain,
    ),
    flag(&["-D", "--dry-run", "-d", "--download-only"], Dry),
    flag(&["-C", "--capability"], Plain),
];

const ZYPPER_VERBS: &[Verb] = &[
    verb(&["install", "in"], Install, Args::Packages).opts(ZYPPER_CMD),
    verb(&["source-install", "si"], Install, Args::Packages).opts(ZYPPER_CMD),
    verb(&["install-new-recommends", "inr"], Install, Args::Ignored).opts(ZYPPER_CMD),
    verb(&["remove", "rm"], Remove, Args::Packages).opts(ZYPPER_CMD),
    verb(&["update", "up"], Upgrade, Args::Packages).opts(ZYPPER_CMD),
    verb(&["dist-upgrade", "dup", "patch"], Upgrade, Args::Ignored).opts(ZYPPER_CMD),
    verb(&["download"], Other, Args::Packages).opts(ZYPPER_CMD),
    verb(
        &[
            "search",
            "se",
            "info",
            "if",
            "list-updates",
            "lu",
            "list-patches",
            "lp",
            "packages",
            "pa",
            "patches",
            "pch",
            "patterns",
            "pt",
            "products",
            "pd",
            "what-provides",
            "wp",
            "repos",
            "lr",
            "services",
            "ls",
            "locks",
            "ll",
            "patch-check",
            "pchk",
            "versioncmp",
            "vcmp",
            "targetos",
            "tos",
            "licenses",
            "ps",
            "needs-rebooting",
            "help",
        ],
        Query,
        Args::Ignored,
    ),
];

const ZYPPER: Grammar = Grammar {
    verbs: ZYPPER_VERBS,
    opts: ZYPPER_GLOBAL,
    default_scope: Some(Hint::System),
    ..Grammar::new(zypper_spec)
};

pub(super) fn zypper(args: &[&[u8]]) -> Parsed {
    run(&ZYPPER, args)
}

const ARCHES: &[&[u8]] = &[
    b"x86_64",
    b"noarch",
    b"i686",
    b"i586",
    b"i386",
    b"aarch64",
    b"ppc64le",
    b"ppc64",
    b"s390x",
    b"armv7hl",
    b"armhfp",
    b"riscv64",
    b"loongarch64",
    b"src",
    b"nosrc",
];

/// `name-[epoch:]version-release[.arch]` split into the name and
/// `[epoch:]version-release`; the arch is dropped.
fn nevra(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let core = match rfind(b, b'.') {
        Some(i) if ARCHES.contains(&b.get(i + 1..).unwrap_or_default()) => &b[..i],
        _ => b,
    };
    let r = rfind(core, b'-')?;
    let v = rfind(&core[..r], b'-')?;
    let (name, version, release) = (&core[..v], &core[v + 1..r], &core[r + 1..]);
    let version = match version.iter().position(|&c| c == b':') {
        Some(e) if version[..e].iter().all(u8::is_ascii_digit) => &version[e + 1..],
        _ => version,
    };
    (!name.is_empty() && starts_with_digit(version) && starts_with_digit(release))
        .then(|| (name, &core[v + 1..]))
}

fn nevra_or_literal(arg: &[u8], b: &[u8]) -> Spec {
    match nevra(b) {
        Some((name, version)) => Spec::new(arg, name, Some(version)),
        // `name.arch` (`device-mapper-libs.x86_64`): the package, on one
        // architecture.
        None => match rfind(b, b'.') {
            Some(i) if i > 0 && ARCHES.contains(&b.get(i + 1..).unwrap_or_default()) => {
                Spec::new(arg, &b[..i], None)
            }
            _ => Spec::new(arg, b, None),
        },
    }
}

/// A `.rpm` file or URL: its NEVRA file name gives name and version.
fn rpm_file(arg: &[u8]) -> Option<Spec> {
    let stem = basename(arg).strip_suffix(b".rpm")?;
    if is_file_pattern(stem) {
        return Some(literal(arg).marked(Mark::Nothing));
    }
    Some(match nevra(stem) {
        Some((name, version)) => Spec::new(arg, name, Some(version)),
        None => literal(arg),
    })
}

fn rpm_spec(arg: &[u8]) -> Spec {
    rpm_file(arg).unwrap_or_else(|| nevra_or_literal(arg, arg))
}

fn dnf_spec(arg: &[u8]) -> Spec {
    if let Some(file) = rpm_file(arg) {
        return file;
    }
    if arg.starts_with(b"@") || is_location(arg) || find_any(arg, b"()").is_some() {
        return literal(arg);
    }
    // A provide with a constraint, quoted as one argument: "foo >= 1.2".
    if let Some(space) = find_any(arg, b" \t") {
        let (name, constraint) = arg.split_at(space);
        return Spec::new(arg, trim(name), Some(trim(constraint)));
    }
    nevra_or_literal(arg, arg)
}

fn zypper_spec(arg: &[u8]) -> Spec {
    // `!pkg`, `~pkg` and (after `--`) `-pkg` remove inside `install`;
    // `+pkg` installs inside `remove`.
    let (core, mark) = match arg {
        [b'!' | b'~' | b'-', rest @ ..] if !rest.is_empty() => (rest, Mark::Remove),
        [b'+', rest @ ..] if !rest.is_empty() => (rest, Mark::Install),
        _ => (arg, Mark::Same),
    };
    let spec = if let Some(file) = rpm_file(core) {
        file
    } else if is_location(core) || core.contains(&b':') {
        // `pattern:lamp_server`, `patch:...`: a typed name, kept whole.
        literal(core)
    } else if let Some(op) = find_any(core, b"<>=") {
        let (name, constraint) = core.split_at(op);
        Spec::new(core, trim(name), Some(pin(constraint)))
    } else {
        nevra_or_literal(core, core)
    };
    spec.marked(mark)
}

/// `dnf swap OLD NEW`: the first package goes, the rest come in.
fn swap(operands: &[&[u8]], spec: fn(&[u8]) -> Spec, found: &mut Found) {
    for (i, arg) in operands.iter().enumerate() {
        let s = spec(arg);
        found
            .specs
            .push(if i == 0 { s.marked(Mark::Remove) } else { s });
    }
}
