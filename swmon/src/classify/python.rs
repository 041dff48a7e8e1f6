//! Python's installers: pip (any `pip3.x`, and `python -m pip` once the
//! caller has stripped the interpreter), pipx, and uv (`uv pip`, `uv tool`,
//! `uv add`).
//!
//! Operands are PEP 508 requirements (`name[extra]==1.0`, `name>=1,<2`,
//! `name; python_version<"3.8"`, `name @ url`), local paths and archives
//! (wheels and sdists give name and version from their file names), and VCS
//! URLs (`git+https://...#egg=name`). Extras and markers are dropped: they
//! choose what else comes along, not what the package is. Requirement
//! files are recorded, not read.

use super::{
    escape,
    grammar::{flag, run, value, verb, Args, Effect::*, Found, Grammar, Hint, Opt, Parsed, Verb},
    spec::{
        after, basename, find, find_any, is_location, literal, pin, split_name_version, trim, Spec,
    },
    Operation::{Install, Other, Query, Remove, Upgrade},
};

/// pip's general options, valid before and after the command.
const PIP_GENERAL: &[Opt] = &[
    value(
        &[
            "--python",
            "--log",
            "--log-file",
            "--proxy",
            "--retries",
            "--timeout",
            "--exists-action",
            "--trusted-host",
            "--cert",
            "--client-cert",
            "--cache-dir",
            "--use-feature",
            "--use-deprecated",
            "--keyring-provider",
            "--resume-retries",
        ],
        Plain,
    ),
    // `-v` is verbose; `-V` is the version.
    flag(&["-v", "--verbose"], Plain),
];

/// Options of `install`, `download` and `wheel`.
const PIP_INSTALL: &[Opt] = &[
    value(&["-r", "--requirement"], Requirements),
    value(&["-e", "--editable"], Package),
    value(&["-t", "--target", "--prefix", "--root"], Scope(Hint::Root)),
    flag(&["--user"], Scope(Hint::User)),
    flag(&["-U", "--upgrade"], Upgrading),
    flag(&["--dry-run"], Dry),
    value(
        &[
            "-c",
            "--constraint",
            "--upgrade-strategy",
            "-i",
            "--index-url",
            "--extra-index-url",
            "-f",
            "--find-links",
            "--src",
            "--platform",
            "--python-version",
            "--implementation",
            "--abi",
            "--no-binary",
            "--only-binary",
            "--progress-bar",
            "--report",
            "-C",
            "--config-settings",
            "--global-option",
            "--install-option",
            "--root-user-action",
            "--group",
            "-d",
            "--dest",
            "-w",
            "--wheel-dir",
        ],
        Plain,
    ),
];

const PIP_UNINSTALL: &[Opt] = &[
    value(&["-r", "--requirement"], Requirements),
    value(&["--root-user-action"], Plain),
];

const PIP_VERBS: &[Verb] = &[
    verb(&["install"], Install, Args::Packages).opts(PIP_INSTALL),
    verb(&["uninstall"], Remove, Args::Packages).opts(PIP_UNINSTALL),
    verb(&["download", "wheel"], Other, Args::Packages).opts(PIP_INSTALL),
    verb(
        &[
            "list", "show", "freeze", "check", "search", "inspect", "index", "debug", "help",
            "hash",
        ],
        Query,
        Args::Ignored,
    ),
];

const PIP: Grammar = Grammar {
    verbs: PIP_VERBS,
    opts: PIP_GENERAL,
    ..Grammar::new(pep508)
};

pub(super) fn pip(args: &[&[u8]]) -> Parsed {
    run(&PIP, args)
}

const PIPX_INSTALL: &[Opt] = &[
    value(&["--preinstall"], Package),
    value(&["--spec"], Source),
    value(
        &["--python", "--pip-args", "-i", "--index-url", "--suffix"],
        Plain,
    ),
];

const PIPX_INJECT: &[Opt] = &[
    value(&["-r", "--requirement"], Requirements),
    value(&["--pip-args", "-i", "--index-url"], Plain),
];

const PIPX_VERBS: &[Verb] = &[
    verb(&["install", "reinstall"], Install, Args::Packages).opts(PIPX_INSTALL),
    verb(&["install-all"], Install, Args::List(requirement_files)).opts(PIPX_INSTALL),
    verb(&["reinstall-all"], Install, Args::Ignored),
    verb(&["inject"], Install, Args::List(injected)).opts(PIPX_INJECT),
    verb(&["uninject"], Remove, Args::List(injected)),
    verb(&["uninstall"], Remove, Args::Packages),
    verb(&["uninstall-all"], Remove, Args::Ignored),
    verb(&["upgrade"], Upgrade, Args::Packages).opts(PIPX_INSTALL),
    verb(&["upgrade-all", "upgrade-shared"], Upgrade, Args::Ignored),
    verb(&["list", "environment", "completion"], Query, Args::Ignored),
    verb(&["run"], Other, Args::Ignored).opts(PIPX_INSTALL),
];

const PIPX: Grammar = Grammar {
    verbs: PIPX_VERBS,
    opts: &[
        flag(&["--global"], Scope(Hint::Global)),
        flag(&["-v", "--verbose"], Plain),
    ],
    ..Grammar::new(pep508)
};

pub(super) fn pipx(args: &[&[u8]]) -> Parsed {
    run(&PIPX, args)
}

/// uv's global options.
const UV_GLOBAL: &[Opt] = &[
    value(
        &[
            "--directory",
            "--project",
            "--cache-dir",
            "--config-file",
            "--color",
            "-p",
            "--python",
            "-i",
            "--index-url",
            "--extra-index-url",
            "--index",
            "--default-index",
            "-f",
            "--find-links",
            "--allow-insecure-host",
            "--index-strategy",
            "--keyring-provider",
            "--exclude-newer",
            "--resolution",
            "--prerelease",
            "--link-mode",
            "-C",
            "--config-setting",
            "--python-version",
            "--python-platform",
            "--torch-backend",
            "--no-binary-package",
            "--no-build-package",
            "--reinstall-package",
            "--only-binary",
            "--no-binary",
            "--extra",
            "--group",
            "--package",
            "--script",
        ],
        Plain,
    ),
    flag(&["-v", "--verbose"], Plain),
    flag(&["--dry-run"], Dry),
];

const UV_PIP_INSTALL: &[Opt] = &[
    value(&["-r", "--requirements", "--requirement"], Requirements),
    value(&["-e", "--editable"], Package),
    value(&["--target", "--prefix"], Scope(Hint::Root)),
    flag(&["--system"], Scope(Hint::System)),
    flag(&["--user"], Scope(Hint::User)),
    flag(&["-U", "--upgrade"], Upgrading),
    value(
        &[
            // Lets one dependency move; the run itself installs.
            "-P",
            "--upgrade-package",
            "-c",
            "--constraints",
            "--constraint",
            "--overrides",
            "-b",
            "--build-constraints",
        ],
        Plain,
    ),
];

const UV_PIP: &[Verb] = &[
    verb(&["install"], Install, Args::Packages).opts(UV_PIP_INSTALL),
    verb(&["uninstall"], Remove, Args::Packages).opts(UV_PIP_INSTALL),
    // Operands are requirement files.
    verb(&["sync"], Install, Args::List(requirement_files)).opts(UV_PIP_INSTALL),
    verb(&["compile"], Other, Args::Ignored).opts(UV_PIP_INSTALL),
    verb(
        &["list", "show", "freeze", "tree", "check"],
        Query,
        Args::Ignored,
    ),
];

const UV_TOOL_INSTALL: &[Opt] = &[
    value(&["-w", "--with", "--with-editable"], Package),
    value(&["--with-requirements"], Requirements),
    value(&["--from"], Source),
    flag(&["-e", "--editable"], Plain),
    flag(&["-U", "--upgrade"], Upgrading),
];

const UV_TOOL: &[Verb] = &[
    // Tools live in the user's own uv folders (~/.local/share/uv/tools).
    verb(&["install"], Install, Args::Packages)
        .opts(UV_TOOL_INSTALL)
        .scope(Hint::User),
    verb(&["uninstall"], Remove, Args::Packages).scope(Hint::User),
    verb(&["upgrade"], Upgrade, Args::Packages).scope(Hint::User),
    verb(&["list", "dir"], Query, Args::Ignored).scope(Hint::User),
    verb(&["run"], Other, Args::Ignored)
        .opts(UV_TOOL_INSTALL)
        .scope(Hint::User),
];

const UV_ADD: &[Opt] = &[
    value(&["-r", "--requirements"], Requirements),
    value(
        &[
            "--optional",
            "--branch",
            "--tag",
            "--rev",
            "--bounds",
            "-m",
            "--marker",
        ],
        Plain,
    ),
    // A flag here, unlike pip's `-e PATH`.
    flag(&["-e", "--editable"], Plain),
];

const UV_SELF: &[Verb] = &[
    verb(&["update"], Upgrade, Args::Ignored),
    verb(&["version"], Query, Args::Ignored),
];

/// `uv python install 3.12` installs an interpreter; its operands are
/// version requests, kept as written.
const UV_PYTHON: &[Verb] = &[
    verb(&["install", "upgrade"], Install, Args::Spec(literal)).scope(Hint::User),
    verb(&["uninstall"], Remove, Args::Spec(literal)).scope(Hint::User),
    verb(&["list", "find", "dir"], Query, Args::Ignored).scope(Hint::User),
];

const UV_VERBS: &[Verb] = &[
    verb(&["pip"], Other, Args::Sub(UV_PIP)),
    verb(&["tool"], Other, Args::Sub(UV_TOOL)),
    verb(&["add"], Install, Args::Packages).opts(UV_ADD),
    verb(&["remove"], Remove, Args::Packages),
    verb(&["sync"], Install, Args::Ignored),
    verb(&["self"], Other, Args::Sub(UV_SELF)),
    verb(&["python"], Other, Args::Sub(UV_PYTHON)),
    verb(&["tree", "version", "help"], Query, Args::Ignored),
];

const UV: Grammar = Grammar {
    verbs: UV_VERBS,
    opts: UV_GLOBAL,
    ..Grammar::new(pep508)
};

pub(super) fn uv(args: &[&[u8]]) -> Parsed {
    run(&UV, args)
}

/// Operands that are requirement files, not packages.
fn requirement_files(operands: &[&[u8]], _: fn(&[u8]) -> Spec, found: &mut Found) {
    found
        .requirements
        .extend(operands.iter().map(|a| escape(a)));
}

/// `pipx inject APP PKG...`: the first operand is the app whose venv
/// receives the rest.
fn injected(operands: &[&[u8]], spec: fn(&[u8]) -> Spec, found: &mut Found) {
    found.specs.extend(operands.iter().skip(1).map(|a| spec(a)));
}

fn is_name_byte(c: &u8) -> bool {
    c.is_ascii_alphanumeric() || b"._-".contains(c)
}

/// One PEP 508 requirement, path, archive or VCS URL.
fn pep508(arg: &[u8]) -> Spec {
    let s = trim(arg);
    let name_end = s.iter().position(|c| !is_name_byte(c)).unwrap_or(s.len());
    let name = &s[..name_end];
    let mut rest = trim(&s[name_end..]);
    if rest.starts_with(b"[") {
        rest = match find(rest, b']') {
            Some(i) => trim(&rest[i + 1..]),
            None => b"",
        };
    }
    // `name @ url`: the URL is where from; there is no version to read.
    if rest.starts_with(b"@") && !name.is_empty() {
        return Spec::new(arg, name, None);
    }
    if let Some(file) = location(arg, s) {
        return file;
    }
    let constraint = match find(rest, b';') {
        Some(i) => trim(&rest[..i]),
        None => rest,
    };
    let constraint = constraint
        .strip_prefix(b"(")
        .and_then(|c| c.strip_suffix(b")"))
        .unwrap_or(constraint);
    Spec::new(arg, name, Some(pin(constraint)))
}

const ARCHIVES: &[&[u8]] = &[
    b".tar.gz",
    b".tgz",
    b".tar.bz2",
    b".tar.xz",
    b".tar",
    b".zip",
];

/// A path, archive or URL: a wheel's or sdist's file name gives name and
/// version, `#egg=name` gives the name, anything else is kept whole.
fn location(arg: &[u8], s: &[u8]) -> Option<Spec> {
    let vcs = [b"git+" as &[u8], b"hg+", b"svn+", b"bzr+"]
        .iter()
        .any(|p| s.starts_with(p));
    let file = basename(s);
    let file = &file[..find_any(file, b"#?").unwrap_or(file.len())];
    let archive = ARCHIVES.iter().find(|x| file.ends_with(x));
    let wheel = file.ends_with(b".whl");
    if !(is_location(s) || vcs || archive.is_some() || wheel) {
        return None;
    }
    if let Some(egg) = after(s, b"#egg=") {
        let name = &s[egg..];
        let name = &name[..find(name, b'&').unwrap_or(name.len())];
        return Some(Spec::new(arg, name, None));
    }
    if wheel {
        // {name}-{version}(-{build})?-{python}-{abi}-{platform}.whl
        let mut fields = file.split(|&c| c == b'-');
        if let (Some(name), Some(version), Some(_)) = (fields.next(), fields.next(), fields.next())
        {
            return Some(Spec::new(arg, name, Some(version)));
        }
    }
    if let Some(ext) = archive {
        let stem = &file[..file.len() - ext.len()];
        if let Some((name, version)) = split_name_version(stem) {
            return Some(Spec::new(arg, name, Some(version)));
        }
    }
    Some(literal(arg))
}
