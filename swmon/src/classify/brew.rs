//! Homebrew (`brew`), which also runs on Linux.
//!
//! Operands are formula and cask names, kept whole: `python@3.12` is a
//! formula of its own, not `python` at version 3.12, and `user/tap/name`
//! names a formula in a tap.

use super::{
    grammar::{flag, run, value, verb, Args, Effect::*, Grammar, Opt, Parsed, Verb},
    spec::literal,
    Operation::{Install, Other, Query, Remove, Upgrade},
};

const BREW_VERBS: &[Verb] = &[
    verb(&["install", "reinstall"], Install, Args::Packages),
    // Installs what a Brewfile lists.
    verb(&["bundle"], Install, Args::Ignored).opts(BREW_BUNDLE),
    verb(&["uninstall", "remove", "rm"], Remove, Args::Packages),
    verb(&["autoremove"], Remove, Args::Ignored),
    verb(&["upgrade"], Upgrade, Args::Packages),
    verb(&["fetch"], Other, Args::Packages),
    verb(
        &[
            "list", "ls", "info", "abv", "search", "outdated", "deps", "uses", "leaves", "desc",
            "home", "log", "options", "config", "doctor", "dr", "commands", "help",
        ],
        Query,
        Args::Ignored,
    ),
];

const BREW_BUNDLE: &[Opt] = &[value(&["--file"], Requirements)];

const BREW_OPTS: &[Opt] = &[
    value(
        &[
            "--appdir",
            "--keyboard-layoutdir",
            "--colorpickerdir",
            "--prefpanedir",
            "--qlplugindir",
            "--mdimporterdir",
            "--dictionarydir",
            "--fontdir",
            "--servicedir",
            "--input-methoddir",
            "--internet-plugindir",
            "--audio-unit-plugindir",
            "--vst-plugindir",
            "--vst3-plugindir",
            "--screen-saverdir",
            "--language",
            "--cc",
            "--bottle-arch",
        ],
        Plain,
    ),
    flag(&["-n", "--dry-run"], Dry),
    // brew's own locations, printed.
    flag(
        &[
            "--prefix",
            "--cellar",
            "--cache",
            "--repository",
            "--repo",
            "--env",
        ],
        Querying,
    ),
];

const BREW: Grammar = Grammar {
    verbs: BREW_VERBS,
    opts: BREW_OPTS,
    ..Grammar::new(literal)
};

pub(super) fn brew(args: &[&[u8]]) -> Parsed {
    run(&BREW, args)
}
