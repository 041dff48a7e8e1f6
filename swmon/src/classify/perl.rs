//! Perl's CPAN clients: `cpan` and `cpanm` (App::cpanminus).
//!
//! Neither has verbs: operands are modules to install unless an option says
//! otherwise (`cpanm -U` uninstalls, `cpan -l` lists). Operands are module
//! names (`Foo::Bar`), cpanm's `Foo::Bar@1.2` and `Foo::Bar~">= 1.2"`, and
//! distribution files (`Foo-Bar-1.0.tar.gz`, `AUTHOR/Foo-Bar-1.0.tar.gz`).

use super::{
    grammar::{flag, run, value, Effect::*, Grammar, Hint, Opt, Parsed},
    spec::{basename, find_any, is_location, literal, split_name_version, Spec},
    Operation::{Install, Other, Query, Remove, Upgrade},
};

const CPAN_OPTS: &[Opt] = &[
    flag(&["-i"], Op(Install)),
    // Upgrades every outdated module.
    flag(&["-u"], Op(Upgrade)),
    flag(
        &[
            "-l", "-D", "-O", "-x", "-C", "-A", "-J", "-X", "-v", "-V", "-h",
        ],
        Op(Query),
    ),
    flag(&["-a", "-t", "-m", "-c", "-g", "-r", "-p", "-P"], Op(Other)),
    value(&["-j", "-M"], Plain),
    // Installs through local::lib, into the user's ~/perl5.
    flag(&["-I"], Scope(Hint::User)),
];

const CPAN: Grammar = Grammar {
    opts: CPAN_OPTS,
    bare: Install,
    ..Grammar::new(perl_spec)
};

pub(super) fn cpan(args: &[&[u8]]) -> Parsed {
    run(&CPAN, args)
}

const CPANM_OPTS: &[Opt] = &[
    flag(&["-i", "--install"], Op(Install)),
    flag(&["-U", "--uninstall"], Op(Remove)),
    // Upgrades cpanm itself.
    flag(&["--self-upgrade"], Op(Upgrade)),
    flag(
        &[
            "--info",
            "--showdeps",
            "--scandeps",
            "-V",
            "--version",
            "-h",
            "--help",
        ],
        Op(Query),
    ),
    flag(&["--look"], Op(Other)),
    value(
        &["-l", "--local-lib", "-L", "--local-lib-contained"],
        Scope(Hint::Root),
    ),
    value(&["--cpanfile"], Requirements),
    value(
        &[
            "--mirror",
            "-M",
            "--from",
            "--with-feature",
            "--without-feature",
            "--save-dists",
            "--configure-timeout",
            "--build-timeout",
            "--test-timeout",
            "--format",
            "--auto-cleanup",
            "--build-args",
            "--install-args",
        ],
        Plain,
    ),
    flag(&["-v", "--verbose"], Plain),
];

const CPANM: Grammar = Grammar {
    opts: CPANM_OPTS,
    bare: Install,
    ..Grammar::new(perl_spec)
};

pub(super) fn cpanm(args: &[&[u8]]) -> Parsed {
    run(&CPANM, args)
}

const DISTS: &[&[u8]] = &[b".tar.gz", b".tgz", b".tar.bz2", b".zip"];

fn perl_spec(arg: &[u8]) -> Spec {
    if let Some(ext) = DISTS.iter().find(|x| arg.ends_with(x)) {
        let file = basename(arg);
        return match split_name_version(&file[..file.len() - ext.len()]) {
            Some((name, version)) => Spec::new(arg, name, Some(version)),
            None => literal(arg),
        };
    }
    if is_location(arg) {
        return literal(arg);
    }
    match find_any(arg, b"@~") {
        Some(i) => Spec::new(arg, &arg[..i], arg.get(i + 1..)),
        None => literal(arg),
    }
}
