//! The installer catalogue: which programs install software, which
//! interpreters and loaders can run them, and how their names may vary.
//!
//! This is data, not logic. The eBPF filter is filled from it (see
//! [`crate::ebpf::filter`]); user space looks a matched name up here again to
//! say which manager ran. How each manager's argv reads lives in the
//! classify stage, not here.

use std::fmt;

/// A package manager, as `swmon.manager` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Manager {
    Apt,
    Dpkg,
    Dnf,
    Rpm,
    Pip,
    Pipx,
    Uv,
    Npm,
    Yarn,
    Pnpm,
    Bun,
    Gem,
    Bundler,
    Cargo,
    Go,
    Cpan,
    Cpanm,
    Composer,
    Snap,
    Flatpak,
    Conda,
    Apk,
    Zypper,
    Pacman,
    Nix,
    Brew,
}

impl Manager {
    pub const ALL: [Manager; 26] = [
        Manager::Apt,
        Manager::Dpkg,
        Manager::Dnf,
        Manager::Rpm,
        Manager::Pip,
        Manager::Pipx,
        Manager::Uv,
        Manager::Npm,
        Manager::Yarn,
        Manager::Pnpm,
        Manager::Bun,
        Manager::Gem,
        Manager::Bundler,
        Manager::Cargo,
        Manager::Go,
        Manager::Cpan,
        Manager::Cpanm,
        Manager::Composer,
        Manager::Snap,
        Manager::Flatpak,
        Manager::Conda,
        Manager::Apk,
        Manager::Zypper,
        Manager::Pacman,
        Manager::Nix,
        Manager::Brew,
    ];

    /// The name used in events (`swmon.manager`).
    pub fn as_str(self) -> &'static str {
        match self {
            Manager::Apt => "apt",
            Manager::Dpkg => "dpkg",
            Manager::Dnf => "dnf",
            Manager::Rpm => "rpm",
            Manager::Pip => "pip",
            Manager::Pipx => "pipx",
            Manager::Uv => "uv",
            Manager::Npm => "npm",
            Manager::Yarn => "yarn",
            Manager::Pnpm => "pnpm",
            Manager::Bun => "bun",
            Manager::Gem => "gem",
            Manager::Bundler => "bundler",
            Manager::Cargo => "cargo",
            Manager::Go => "go",
            Manager::Cpan => "cpan",
            Manager::Cpanm => "cpanm",
            Manager::Composer => "composer",
            Manager::Snap => "snap",
            Manager::Flatpak => "flatpak",
            Manager::Conda => "conda",
            Manager::Apk => "apk",
            Manager::Zypper => "zypper",
            Manager::Pacman => "pacman",
            Manager::Nix => "nix",
            Manager::Brew => "brew",
        }
    }

    pub fn from_name(name: &str) -> Option<Manager> {
        Manager::ALL.into_iter().find(|m| m.as_str() == name)
    }
}

impl fmt::Display for Manager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What may follow a catalogued name (mirrors `swmon_common::suffix`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suffix {
    /// The name must match exactly.
    Exact,
    /// A version may follow: digits and dots, or a dash before a digit
    /// (`pip3.11`, `dnf-3`, `python3.11`, `go1.22`).
    Version,
    /// Anything may follow (`ld-linux-x86-64.so.2`).
    Any,
}

/// What a catalogued program is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// It installs software itself.
    Installer(Manager),
    /// It runs programs named in its argv (`python3 -m pip`, `node npm-cli.js`).
    Interpreter(Interpreter),
    /// The dynamic loader, which runs the program named in its argv.
    Loader,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interpreter {
    Python,
    Node,
    Perl,
    Ruby,
    Php,
}

/// One catalogued program name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Program {
    pub name: &'static str,
    pub suffix: Suffix,
    pub role: Role,
}

const fn installer(name: &'static str, suffix: Suffix, manager: Manager) -> Program {
    Program {
        name,
        suffix,
        role: Role::Installer(manager),
    }
}

const fn interpreter(name: &'static str, suffix: Suffix, which: Interpreter) -> Program {
    Program {
        name,
        suffix,
        role: Role::Interpreter(which),
    }
}

use Manager as M;
use Suffix::{Any, Exact, Version};

/// Every program name swmon knows. The index of an entry is its id in the
/// kernel maps and events, so entries are only ever appended.
pub const PROGRAMS: &[Program] = &[
    installer("apt", Exact, M::Apt),
    installer("apt-get", Exact, M::Apt),
    installer("aptitude", Exact, M::Apt),
    installer("dpkg", Exact, M::Dpkg),
    installer("dnf", Version, M::Dnf),
    installer("yum", Version, M::Dnf),
    installer("microdnf", Exact, M::Dnf),
    installer("rpm", Exact, M::Rpm),
    installer("pip", Version, M::Pip),
    installer("pipx", Exact, M::Pipx),
    installer("uv", Exact, M::Uv),
    installer("npm", Exact, M::Npm),
    installer("npm-cli.js", Exact, M::Npm),
    installer("npx", Exact, M::Npm),
    installer("npx-cli.js", Exact, M::Npm),
    installer("yarn", Exact, M::Yarn),
    installer("yarn.js", Exact, M::Yarn),
    installer("yarnpkg", Exact, M::Yarn),
    installer("pnpm", Exact, M::Pnpm),
    installer("pnpm.cjs", Exact, M::Pnpm),
    installer("bun", Exact, M::Bun),
    installer("gem", Version, M::Gem),
    installer("bundle", Exact, M::Bundler),
    installer("bundler", Exact, M::Bundler),
    installer("cargo", Exact, M::Cargo),
    installer("go", Version, M::Go),
    installer("cpan", Version, M::Cpan),
    installer("cpanm", Exact, M::Cpanm),
    installer("composer", Exact, M::Composer),
    installer("composer.phar", Exact, M::Composer),
    installer("snap", Exact, M::Snap),
    installer("flatpak", Exact, M::Flatpak),
    installer("conda", Exact, M::Conda),
    installer("mamba", Exact, M::Conda),
    installer("micromamba", Exact, M::Conda),
    installer("apk", Exact, M::Apk),
    installer("zypper", Exact, M::Zypper),
    installer("pacman", Exact, M::Pacman),
    installer("nix-env", Exact, M::Nix),
    installer("nix", Exact, M::Nix),
    installer("brew", Exact, M::Brew),
    interpreter("python", Version, Interpreter::Python),
    interpreter("pypy", Version, Interpreter::Python),
    interpreter("node", Exact, Interpreter::Node),
    interpreter("nodejs", Exact, Interpreter::Node),
    interpreter("perl", Version, Interpreter::Perl),
    interpreter("ruby", Version, Interpreter::Ruby),
    interpreter("php", Version, Interpreter::Php),
    Program {
        name: "ld-linux",
        suffix: Any,
        role: Role::Loader,
    },
    Program {
        name: "ld-musl",
        suffix: Any,
        role: Role::Loader,
    },
    Program {
        name: "ld.so",
        suffix: Exact,
        role: Role::Loader,
    },
    // npm's `bun` package: `/usr/bin/bun` links to `bin/bun.exe`, the ELF
    // binary, on Linux too. Without this name the link's target reads as a
    // multiplexer's alias (like `cargo -> rustup`): no inode entry, no seed
    // rule, and an exec of the file by its own path goes unseen.
    installer("bun.exe", Exact, M::Bun),
];

/// The entry with this id (an index into [`PROGRAMS`]).
pub fn program(id: u16) -> Option<&'static Program> {
    PROGRAMS.get(usize::from(id))
}

impl Suffix {
    /// The kernel's code for it (`swmon_common::suffix`).
    pub const fn code(self) -> u8 {
        match self {
            Suffix::Exact => swmon_common::suffix::EXACT,
            Suffix::Version => swmon_common::suffix::VERSION,
            Suffix::Any => swmon_common::suffix::ANY,
        }
    }
}

/// Whether `rest`, what follows a catalogued name in a file name, is allowed
/// by `suffix`: `swmon_common::suffix::allows`, the one definition whose
/// one-byte form the eBPF filter applies.
pub fn suffix_allows(suffix: Suffix, rest: &[u8]) -> bool {
    swmon_common::suffix::allows(suffix.code(), rest)
}

/// The catalogued program a file's base name names, with its id: the
/// longest matching name whose suffix rule allows the rest.
pub fn lookup(basename: &[u8]) -> Option<(u16, &'static Program)> {
    PROGRAMS
        .iter()
        .enumerate()
        .filter(|(_, p)| {
            basename.starts_with(p.name.as_bytes())
                && suffix_allows(p.suffix, &basename[p.name.len()..])
        })
        .max_by_key(|(_, p)| p.name.len())
        .and_then(|(i, p)| Some((u16::try_from(i).ok()?, p)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manager_of(name: &str) -> Option<Manager> {
        match lookup(name.as_bytes())?.1.role {
            Role::Installer(m) => Some(m),
            _ => None,
        }
    }

    #[test]
    fn names_with_versions_match() {
        assert_eq!(manager_of("pip"), Some(Manager::Pip));
        assert_eq!(manager_of("pip3"), Some(Manager::Pip));
        assert_eq!(manager_of("pip3.11"), Some(Manager::Pip));
        assert_eq!(manager_of("dnf-3"), Some(Manager::Dnf));
        assert_eq!(manager_of("dnf5"), Some(Manager::Dnf));
        assert_eq!(manager_of("go1.22.3"), Some(Manager::Go));
        assert_eq!(manager_of("npm-cli.js"), Some(Manager::Npm));
        assert_eq!(manager_of("bun.exe"), Some(Manager::Bun));
    }

    #[test]
    fn lookalikes_do_not_match() {
        for name in [
            "dpkg-deb",
            "dpkg-query",
            "apt-cache",
            "gofmt",
            "pip-audit",
            "rpmbuild",
            "pipe",
            "apt-get2",
            "go-",
            "dnf-",
            "bunx.exe",
            "bun.exe2",
        ] {
            assert_eq!(manager_of(name), None, "{name}");
        }
    }

    #[test]
    fn interpreters_and_loaders() {
        assert!(matches!(
            lookup(b"python3.11").map(|p| p.1.role),
            Some(Role::Interpreter(Interpreter::Python))
        ));
        assert!(matches!(
            lookup(b"ld-linux-x86-64.so.2").map(|p| p.1.role),
            Some(Role::Loader)
        ));
        assert!(lookup(b"pythonista").is_none());
    }

    #[test]
    fn every_manager_has_a_program_and_names_are_unique() {
        for m in Manager::ALL {
            assert!(PROGRAMS.iter().any(|p| p.role == Role::Installer(m)), "{m}");
            assert_eq!(Manager::from_name(m.as_str()), Some(m));
        }
        for (i, a) in PROGRAMS.iter().enumerate() {
            assert!(a.name.len() <= swmon_common::NAME_MAX, "{}", a.name);
            assert!(
                PROGRAMS[i + 1..].iter().all(|b| b.name != a.name),
                "{}",
                a.name
            );
        }
    }

    /// The scenario corpus (`tests/scenarios.toml`, played by `cargo xtask
    /// scenarios` on the real kernel) plays every manager of the catalogue,
    /// or names it in `[not_installable_offline]` with why it cannot be
    /// installed offline on the test host. A manager added here without
    /// either fails this test; so does an excuse for a manager that now has
    /// a scenario, or a name the catalogue does not know.
    #[test]
    fn every_manager_is_played_or_excused() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/scenarios.toml");
        let text = std::fs::read_to_string(path).expect("read tests/scenarios.toml");
        let corpus: toml::Table = toml::from_str(&text).expect("parse tests/scenarios.toml");
        let mut played = std::collections::BTreeSet::new();
        for sc in corpus["scenario"].as_array().expect("[[scenario]]") {
            let expect = &sc["expect"];
            // Benign work wants no event at all, of no manager.
            if expect.get("no_events").and_then(|n| n.as_bool()) == Some(true) {
                continue;
            }
            let name = expect["manager"].as_str().expect("expect.manager");
            // The state witness's name for an executable no manager
            // recorded (a state-only install): no catalogue manager.
            if name == crate::state::UNMANAGED
                && expect.get("state_only").and_then(|n| n.as_bool()) == Some(true)
            {
                continue;
            }
            assert!(
                Manager::from_name(name).is_some(),
                "scenario {:?}: no manager `{name}` in the catalogue",
                sc.get("name").and_then(|n| n.as_str())
            );
            // A scenario that wants no run of its manager plays none.
            if expect.get("count").and_then(|c| c.as_integer()) != Some(0) {
                played.insert(name.to_owned());
            }
        }
        let excused = corpus
            .get("not_installable_offline")
            .and_then(|t| t.as_table())
            .cloned()
            .unwrap_or_default();
        for (name, why) in &excused {
            assert!(
                Manager::from_name(name).is_some(),
                "not_installable_offline: no manager `{name}` in the catalogue"
            );
            assert!(
                why.as_str().is_some_and(|w| w.len() >= 20),
                "not_installable_offline.{name}: say why, in a sentence"
            );
        }
        let mut missing = Vec::new();
        for m in Manager::ALL {
            let (p, e) = (
                played.contains(m.as_str()),
                excused.contains_key(m.as_str()),
            );
            assert!(
                !(p && e),
                "{m} has a scenario: drop it from not_installable_offline"
            );
            if !p && !e {
                missing.push(m.as_str());
            }
        }
        assert!(
            missing.is_empty(),
            "managers with no scenario in tests/scenarios.toml and no entry in its \
             [not_installable_offline]: {missing:?}"
        );
    }
}
