//! Flatpak.
//!
//! Operands are refs: an application ID (`org.gimp.GIMP`), a full ref
//! (`app/org.gimp.GIMP/x86_64/stable`), or `ID//branch`; the branch is the
//! version asked for. `install` may name a remote first (`flatpak install
//! flathub org.gimp.GIMP`): a first operand with neither a dot nor a slash,
//! followed by more, is a remote and not a package. `.flatpakref` files and
//! URLs are kept whole.

use super::{
    grammar::{flag, run, value, verb, Args, Effect::*, Found, Grammar, Hint, Opt, Parsed, Verb},
    spec::{contains, find_any, literal, Spec},
    Operation::{Install, Other, Query, Remove, Upgrade},
};

const FLATPAK_OPTS: &[Opt] = &[
    flag(&["--user"], Scope(Hint::User)),
    flag(&["--system"], Scope(Hint::System)),
    value(&["--commit"], Version),
    value(
        &[
            "--installation",
            "--arch",
            "--subpath",
            "--sideload-repo",
            "--gpg-file",
            "--default-branch",
        ],
        Plain,
    ),
    flag(&["--no-deploy"], Dry),
    flag(&["-v", "--verbose"], Plain),
];

const FLATPAK_VERBS: &[Verb] = &[
    verb(&["install"], Install, Args::List(remote_then_refs)),
    verb(&["uninstall", "remove"], Remove, Args::Packages),
    verb(&["update", "upgrade"], Upgrade, Args::Packages),
    verb(
        &[
            "list",
            "info",
            "search",
            "remote-ls",
            "remotes",
            "remote-info",
            "history",
            "ps",
            "documents",
            "permissions",
            "permission-show",
        ],
        Query,
        Args::Ignored,
    ),
    verb(&["run"], Other, Args::Ignored),
];

const FLATPAK: Grammar = Grammar {
    verbs: FLATPAK_VERBS,
    opts: FLATPAK_OPTS,
    default_scope: Some(Hint::System),
    ..Grammar::new(flatpak_ref)
};

pub(super) fn flatpak(args: &[&[u8]]) -> Parsed {
    run(&FLATPAK, args)
}

fn remote_then_refs(operands: &[&[u8]], spec: fn(&[u8]) -> Spec, found: &mut Found) {
    let remote_first = operands.len() > 1
        && operands
            .first()
            .is_some_and(|first| find_any(first, b"./").is_none());
    let refs = operands
        .get(usize::from(remote_first)..)
        .unwrap_or_default();
    found.specs.extend(refs.iter().map(|a| spec(a)));
}

fn flatpak_ref(arg: &[u8]) -> Spec {
    if arg.ends_with(b".flatpakref") || arg.ends_with(b".flatpak") || contains(arg, b"://") {
        return literal(arg);
    }
    let mut parts: Vec<&[u8]> = arg.split(|&c| c == b'/').collect();
    if matches!(parts.first(), Some(&(b"app" | b"runtime"))) && parts.len() > 1 {
        parts.remove(0);
    }
    match parts.as_slice() {
        [id] => Spec::new(arg, id, None),
        [id, _arch, branch, ..] => Spec::new(arg, id, Some(branch)),
        _ => literal(arg),
    }
}
