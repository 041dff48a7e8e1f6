//! The classify stage: an installer's argv in, what it was asked to do out
//! (manager, operation, packages, scope hints).
//!
//! It is pure: it reads only the argument bytes it is given, never the host,
//! the package databases or the environment, so the same argv always gives
//! the same answer and every case can be a golden test. It does not decide
//! *which* manager ran (the catalogue and the correlate stage do that, and
//! strip `python3 -m pip`, loader paths and argv\[0\] first), and it does not
//! check that the named packages exist. Anything it cannot read becomes
//! [`Operation::Other`]; it never panics, whatever the bytes.
//!
//! Each manager's command line is described as data: a grammar of verbs
//! and options, and a spec parser that splits one operand into a name and a
//! version. The per-family modules (`deb`, `rpm`, `python`, `node`, ...)
//! hold those tables; the `grammar` module's engine walks argv once against
//! them, and `spec` holds the splitting helpers they share.

use std::{borrow::Cow, fmt};

use crate::catalogue::Manager;

mod apk;
mod brew;
mod cargo;
pub mod code;
pub mod command;
mod composer;
mod conda;
mod deb;
mod flatpak;
mod go;
mod grammar;
mod nix;
mod node;
mod pacman;
mod perl;
mod python;
mod rpm;
mod ruby;
mod snap;
mod spec;
#[cfg(test)]
mod tests;
pub mod wrapper;

/// What an installer run was asked to do (`swmon.operation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    Install,
    Remove,
    Upgrade,
    /// Reads state only: `--version`, `--help`, `list`, `show`, `search`.
    Query,
    /// Anything else, including simulations, downloads and argv we cannot read.
    Other,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Install => "install",
            Operation::Remove => "remove",
            Operation::Upgrade => "upgrade",
            Operation::Query => "query",
            Operation::Other => "other",
        }
    }

    /// What happens to [`Classification::inverse`] packages in a run of
    /// this operation: removed while installing or upgrading, installed
    /// while removing.
    pub fn opposite(self) -> Operation {
        match self {
            Operation::Install | Operation::Upgrade => Operation::Remove,
            Operation::Remove => Operation::Install,
            Operation::Query | Operation::Other => self,
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One package named on the command line (`swmon.packages[]`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Package {
    /// The name as the manager knows it, or the file, path or URL the
    /// operand named when no name can be read from it. Escaped with
    /// [`escape`].
    pub name: String,
    /// The exact version asked for (`1.2.3` from `pkg=1.2.3`,
    /// `name==1.2.3`, `name@1.2.3`), or the constraint as written when the
    /// operand gives a range (`>=1,<2`, `^1.2`, `latest`). Absent when the
    /// operand names no version.
    pub version: Option<String>,
    /// The operand it was read from, as typed (escaped): the file a
    /// local package's identity is read from (`swmon.requested`).
    pub operand: String,
}

/// Where a run installs, as far as its argv says (`swmon.scope`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// The host's own package set: the default of distribution managers
    /// (apt, dpkg, dnf, rpm, zypper, apk, pacman, snap, flatpak), or an
    /// explicit `--system`.
    System,
    /// The invoking user's own area (`--user`, `--user-install`).
    User,
    /// A language manager's global area (`npm -g`, `yarn global`,
    /// `composer global`, `pipx --global`).
    Global,
    /// A named environment (`conda -n NAME`).
    Env(String),
    /// An explicit directory: `--root`, `--prefix`, `--target`,
    /// `--instdir`, `--installroot`, `-t`. A database directory alone
    /// (dpkg's `--admindir`, rpm's `--dbpath`) is no root: the files
    /// still go under `/`.
    Root(String),
}

impl Scope {
    /// The `swmon.scope` value: `system`, `user`, `global`, `env:<name>`,
    /// `root:<dir>`.
    pub fn as_str(&self) -> Cow<'_, str> {
        match self {
            Scope::System => Cow::Borrowed("system"),
            Scope::User => Cow::Borrowed("user"),
            Scope::Global => Cow::Borrowed("global"),
            Scope::Env(name) => Cow::Owned(format!("env:{name}")),
            Scope::Root(dir) => Cow::Owned(format!("root:{dir}")),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str())
    }
}

/// What one installer run was asked to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classification {
    pub manager: Manager,
    pub operation: Operation,
    /// The packages `operation` applies to, in argv order.
    pub packages: Vec<Package>,
    /// Packages the same run does the [opposite](Operation::opposite) to:
    /// apt's `pkg-` inside `install` and `pkg+` inside `remove`, zypper's
    /// `!pkg` inside `install`, the package `dnf swap` takes out, `go get
    /// pkg@none`. Kept apart so that an install event never lists a
    /// package the run removed.
    pub inverse: Vec<Package>,
    /// Requirement files the run reads packages from (`pip -r FILE`,
    /// `conda --file FILE`, `uv pip sync FILE`), escaped like names; their
    /// contents are not read here.
    pub requirements: Vec<String>,
    pub scope: Option<Scope>,
    /// The verb as written (`install`, `i`, `group install`, `-iR`,
    /// `-Syu`), or, for a verb this stage does not know, the word that
    /// stood in its place.
    pub subcommand: Option<String>,
}

/// A run of `manager` whose own arguments are not known (inline code
/// passing a variable: `pip.main(l)`): operation `other`, no packages, and
/// never the command line's trailing words (a decoy `list` would read as a
/// query). Its reading is uncertain and its event is not an `info` one
/// (see `run::decide`).
pub fn unknown_args(manager: Manager) -> Classification {
    Classification {
        manager,
        operation: Operation::Other,
        packages: Vec::new(),
        inverse: Vec::new(),
        requirements: Vec::new(),
        scope: None,
        subcommand: None,
    }
}

/// Classifies one run of `manager` from its own arguments: argv after the
/// program name, with any interpreter or loader prefix already removed.
pub fn classify(manager: Manager, args: &[&[u8]]) -> Classification {
    let run = match manager {
        Manager::Apt => deb::apt,
        Manager::Dpkg => deb::dpkg,
        Manager::Dnf => rpm::dnf,
        Manager::Rpm => rpm::rpm,
        Manager::Zypper => rpm::zypper,
        Manager::Pip => python::pip,
        Manager::Pipx => python::pipx,
        Manager::Uv => python::uv,
        Manager::Npm => node::npm,
        Manager::Yarn => node::yarn,
        Manager::Pnpm => node::pnpm,
        Manager::Bun => node::bun,
        Manager::Gem => ruby::gem,
        Manager::Bundler => ruby::bundler,
        Manager::Cargo => cargo::cargo,
        Manager::Go => go::go,
        Manager::Cpan => perl::cpan,
        Manager::Cpanm => perl::cpanm,
        Manager::Composer => composer::composer,
        Manager::Snap => snap::snap,
        Manager::Flatpak => flatpak::flatpak,
        Manager::Conda => conda::conda,
        Manager::Apk => apk::apk,
        Manager::Pacman => pacman::pacman,
        Manager::Nix => nix::nix,
        Manager::Brew => brew::brew,
    };
    run(args).finish(manager)
}

/// Argument bytes as a string, losslessly: valid UTF-8 comes through
/// unchanged; otherwise each byte that is not part of valid UTF-8 becomes
/// `\xNN` and, so that the result still reads back to the same bytes, each
/// backslash becomes `\\`.
///
/// Control characters (newlines, ANSI escapes) are valid UTF-8 and are kept:
/// making them safe to print is the job of whichever sink prints them, and
/// a JSON encoder already escapes them.
pub fn escape(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => {
            let mut out = String::with_capacity(bytes.len() + 8);
            for chunk in bytes.utf8_chunks() {
                for c in chunk.valid().chars() {
                    if c == '\\' {
                        out.push_str("\\\\");
                    } else {
                        out.push(c);
                    }
                }
                for &b in chunk.invalid() {
                    out.push_str("\\x");
                    out.push(char::from(HEX[usize::from(b >> 4)]));
                    out.push(char::from(HEX[usize::from(b & 0xf)]));
                }
            }
            out
        }
    }
}
