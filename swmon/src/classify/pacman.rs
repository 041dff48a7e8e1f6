//! Arch's pacman.
//!
//! The operation is an upper-case option (`-S`, `-R`, `-U`, `-Q`, ...), and
//! what a lower-case letter after it means depends on which: `-Ss` searches
//! but `-Rs` removes recursively, `-Su` upgrades the system but `-Ru`
//! removes unneeded packages. So argv is read twice: once to find the
//! operation, then with the letters of that operation. Operands are names,
//! `repo/name`, `name>=1.2`, and package files
//! (`name-1.2-1-x86_64.pkg.tar.zst`).

use super::{
    grammar::{flag, run, run_with, value, Effect::*, Grammar, Hint, Opt, Parsed},
    spec::{after, basename, contains, find, find_any, is_location, literal, pin, rfind, Spec},
    Operation::{Install, Other, Query, Remove},
};

/// The operations and the options every operation reads.
const PACMAN_BASE: &[Opt] = &[
    flag(&["-S", "--sync", "-U", "--upgrade"], Op(Install)),
    flag(&["-R", "--remove"], Op(Remove)),
    flag(
        &[
            "-Q",
            "--query",
            "-F",
            "--files",
            "-T",
            "--deptest",
            "-V",
            "--version",
            "-h",
            "--help",
        ],
        Op(Query),
    ),
    flag(&["-D", "--database"], Op(Other)),
    value(&["-r", "--root", "--sysroot"], Scope(Hint::Root)),
    value(&["-b", "--dbpath"], Scope(Hint::WeakRoot)),
    value(
        &[
            "--cachedir",
            "--config",
            "--arch",
            "--gpgdir",
            "--hookdir",
            "--logfile",
            "--ignore",
            "--ignoregroup",
            "--assume-installed",
            "--overwrite",
            "--color",
            "--print-format",
        ],
        Plain,
    ),
    // Prints the targets instead of acting.
    flag(&["-p", "--print"], Dry),
    flag(&["-v", "--verbose"], Plain),
];

const PACMAN: Grammar = Grammar {
    opts: PACMAN_BASE,
    default_scope: Some(Hint::System),
    ..Grammar::new(pacman_spec)
};

/// `-S`'s own letters, looked up before the base table.
const SYNC_OPTS: &[Opt] = &[
    flag(
        &[
            "-s", "--search", "-i", "--info", "-l", "--list", "-g", "--groups",
        ],
        Querying,
    ),
    flag(&["-c", "--clean", "-w", "--downloadonly"], Dry),
    flag(&["-u", "--sysupgrade"], Upgrading),
];

pub(super) fn pacman(args: &[&[u8]]) -> Parsed {
    let first = run(&PACMAN, args);
    // The option that chose the operation is the subcommand.
    let sync = first
        .subcommand
        .as_deref()
        .is_some_and(|s| s == "--sync" || (!s.starts_with("--") && s.contains('S')));
    if !sync {
        return first;
    }
    let mut c = run_with(&PACMAN, SYNC_OPTS, args);
    // `pacman -Sy` alone refreshes the databases and installs nothing.
    if c.operation == Install && c.packages.is_empty() {
        c.operation = Other;
    }
    c
}

fn pacman_spec(arg: &[u8]) -> Spec {
    if contains(arg, b".pkg.tar") {
        return package_file(arg);
    }
    if is_location(arg) {
        return literal(arg);
    }
    let (name, constraint) = match find_any(arg, b"=<>") {
        Some(i) => (&arg[..i], Some(pin(&arg[i..]))),
        None => (arg, None),
    };
    // `repo/name` picks where from.
    let name = find(name, b'/').map_or(name, |i| &name[i + 1..]);
    Spec::new(arg, name, constraint)
}

/// `name-pkgver-pkgrel-arch.pkg.tar.zst`: the version is `pkgver-pkgrel`.
fn package_file(arg: &[u8]) -> Spec {
    let file = basename(arg);
    let stem = match after(file, b".pkg.tar") {
        Some(end) => &file[..end - b".pkg.tar".len()],
        None => file,
    };
    let split = rfind(stem, b'-')
        .and_then(|arch| rfind(&stem[..arch], b'-').map(|rel| (rel, arch)))
        .and_then(|(rel, arch)| rfind(&stem[..rel], b'-').map(|ver| (ver, arch)));
    match split {
        Some((ver, arch)) => Spec::new(arg, &stem[..ver], Some(&stem[ver + 1..arch])),
        None => literal(arg),
    }
}
