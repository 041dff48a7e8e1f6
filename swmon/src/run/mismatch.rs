//! Requested against changed (decide stage): what a run's arguments asked
//! its manager to install, remove or upgrade, checked against what the
//! state witness read changed (`swmon.changes`). A package asked for that
//! no change names is `not-changed` (already installed, held back, or
//! another package installed in its place); one asked for at an exact
//! version that changed to another is `other-version`. Dependencies are
//! changes nobody asked for by name: they are listed, not flagged.
//!
//! Only where the answer is known: a run that ended with exit status 0, of
//! a manager whose state swmon reads (dpkg's for apt and dpkg, Python's
//! metadata for pip, pipx and uv, `node_modules` for npm, yarn, pnpm and
//! bun), with every place it wrote read (none left in `swmon.state.unread`),
//! and packages named (not files or URLs swmon could not read a name from).

use std::cmp::Ordering;

use serde_json::{json, Value};

use crate::{catalogue::Manager, classify::Operation, event::PackageRef, state};

/// The state a manager's installs change, as `swmon.changes` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Dpkg,
    Python,
    Npm,
}

fn kind_of(manager: Manager) -> Option<Kind> {
    match manager {
        Manager::Apt | Manager::Dpkg => Some(Kind::Dpkg),
        Manager::Pip | Manager::Pipx | Manager::Uv => Some(Kind::Python),
        Manager::Npm | Manager::Yarn | Manager::Pnpm | Manager::Bun => Some(Kind::Npm),
        _ => None,
    }
}

impl Kind {
    fn owns(self, change_manager: &str) -> bool {
        match self {
            Kind::Dpkg => change_manager == "dpkg",
            Kind::Python => matches!(change_manager, "pip" | "uv" | "conda"),
            Kind::Npm => change_manager == "npm",
        }
    }

    /// A name as the manager compares names: dpkg's without `:ARCH`,
    /// lower case; Python's by PEP 503; npm's as they are.
    fn name(self, name: &str) -> String {
        match self {
            Kind::Dpkg => name
                .split_once(':')
                .map_or(name, |(n, _)| n)
                .to_ascii_lowercase(),
            Kind::Python => {
                String::from_utf8_lossy(&state::python::normalize(name.as_bytes())).into_owned()
            }
            Kind::Npm => name.to_owned(),
        }
    }

    /// Whether a requested name is a package name as the manager spells
    /// them, not a file, folder, path or URL (those are compared only when
    /// the name inside was read: `swmon.packages` has it then).
    fn plausible(self, name: &str) -> bool {
        const FILES: &[&str] = &[
            ".deb", ".rpm", ".whl", ".tgz", ".tar.gz", ".tar.bz2", ".tar.xz", ".zip", ".gem",
        ];
        let word = |s: &str, extra: &[u8]| {
            let b = s.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
        };
        if FILES.iter().any(|f| name.ends_with(f)) {
            return false;
        }
        match self {
            Kind::Dpkg => word(name.split_once(':').map_or(name, |(n, _)| n), b"+.-"),
            Kind::Python => word(name.split_once('[').map_or(name, |(n, _)| n), b"._-"),
            Kind::Npm => match name.strip_prefix('@') {
                Some(scoped) => scoped
                    .split_once('/')
                    .is_some_and(|(s, n)| word(s, b"-._~") && word(n, b"-._~")),
                None => word(name, b"-._~"),
            },
        }
    }

    fn same_version(self, a: &str, b: &str) -> bool {
        match self {
            Kind::Dpkg => state::dpkg::compare_versions(a, b) == Ordering::Equal,
            Kind::Python => state::python::compare_versions(a, b) == Some(Ordering::Equal),
            Kind::Npm => state::npm::compare_versions(a, b) == Some(Ordering::Equal),
        }
    }
}

/// An exact version as typed (`1.2.3`, `2:1.22-1`), not a range or a tag
/// (`>=1`, `^1.2`, `latest`, `1.*`).
fn exact(v: &str) -> bool {
    !v.is_empty()
        && v.as_bytes()[0].is_ascii_digit()
        && v.bytes().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, b'.' | b'+' | b'~' | b':' | b'-' | b'_')
        })
}

/// What the run asked for against what changed: `swmon.mismatches`, each
/// `{kind, name, requested_version?, changed_version?}`; `None` when it
/// cannot be known (see the module's doc).
pub fn check(
    manager: Option<Manager>,
    operation: Operation,
    exit_code: Option<i32>,
    packages: &[PackageRef],
    changes: &[Value],
    unread: usize,
) -> Option<Vec<Value>> {
    let kind = kind_of(manager?)?;
    if exit_code != Some(0) || unread > 0 || packages.is_empty() {
        return None;
    }
    let wanted: &[&str] = match operation {
        Operation::Install | Operation::Upgrade => {
            &["install", "upgrade", "downgrade", "reinstall"]
        }
        Operation::Remove => &["remove"],
        _ => return None,
    };
    let mut out = Vec::new();
    for p in packages {
        // A file, folder, path or URL whose name could not be read
        // (`dpkg -i x.deb` unread, `pip install .`, `npm install link:x`).
        if !kind.plausible(&p.name) {
            continue;
        }
        let name = kind.name(&p.name);
        let changed: Vec<&Value> = changes
            .iter()
            .filter(|c| c["manager"].as_str().is_some_and(|m| kind.owns(m)))
            .filter(|c| c["name"].as_str().is_some_and(|n| kind.name(n) == name))
            .filter(|c| c["action"].as_str().is_some_and(|a| wanted.contains(&a)))
            .collect();
        if changed.is_empty() {
            out.push(json!({ "kind": "not-changed", "name": p.name }));
            continue;
        }
        let Some(asked) = p.version.as_deref().filter(|v| exact(v)) else {
            continue;
        };
        if operation == Operation::Remove {
            continue;
        }
        let got = changed.iter().find_map(|c| c["version"].as_str());
        if let Some(got) = got {
            if !changed
                .iter()
                .filter_map(|c| c["version"].as_str())
                .any(|v| kind.same_version(v, asked))
            {
                out.push(json!({
                    "kind": "other-version",
                    "name": p.name,
                    "requested_version": asked,
                    "changed_version": got,
                }));
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(name: &str, version: Option<&str>) -> PackageRef {
        PackageRef {
            name: name.into(),
            version: version.map(Into::into),
        }
    }

    fn change(manager: &str, name: &str, version: Option<&str>, action: &str) -> Value {
        let mut c = json!({ "manager": manager, "name": name, "action": action });
        if let Some(v) = version {
            c["version"] = json!(v);
        }
        c
    }

    #[test]
    fn a_requested_package_that_changed_is_no_mismatch_and_dependencies_are_not_flagged() {
        let changes = [
            change("dpkg", "alpha", Some("1.0-1"), "install"),
            change("dpkg", "beta", Some("2.0"), "install"),
        ];
        let m = check(
            Some(Manager::Apt),
            Operation::Install,
            Some(0),
            &[pkg("alpha", None)],
            &changes,
            0,
        );
        assert_eq!(m, Some(vec![]));
    }

    #[test]
    fn a_requested_package_nothing_changed_is_not_changed() {
        let m = check(
            Some(Manager::Pip),
            Operation::Install,
            Some(0),
            &[pkg("Swmon_Demo", Some("1.0"))],
            &[change("pip", "other", Some("1.0"), "install")],
            0,
        )
        .unwrap();
        assert_eq!(
            m,
            vec![json!({"kind": "not-changed", "name": "Swmon_Demo"})]
        );
        // PEP 503: the same name.
        let m = check(
            Some(Manager::Pip),
            Operation::Install,
            Some(0),
            &[pkg("Swmon_Demo", Some("1.0"))],
            &[change("pip", "swmon-demo", Some("1.0.0"), "install")],
            0,
        )
        .unwrap();
        assert!(m.is_empty(), "{m:?}");
    }

    #[test]
    fn an_exact_version_asked_for_and_another_changed_is_other_version() {
        let m = check(
            Some(Manager::Apt),
            Operation::Install,
            Some(0),
            &[pkg("alpha:amd64", Some("1.0-1"))],
            &[change("dpkg", "alpha", Some("1.0-2"), "upgrade")],
            0,
        )
        .unwrap();
        assert_eq!(
            m,
            vec![json!({"kind": "other-version", "name": "alpha:amd64",
                "requested_version": "1.0-1", "changed_version": "1.0-2"})]
        );
        // A range is no exact version: not compared.
        let m = check(
            Some(Manager::Npm),
            Operation::Install,
            Some(0),
            &[pkg("left-pad", Some("^1.2.0"))],
            &[change("npm", "left-pad", Some("1.3.0"), "install")],
            0,
        )
        .unwrap();
        assert!(m.is_empty());
    }

    #[test]
    fn a_removal_wants_a_remove_change() {
        let installed = [change("dpkg", "alpha", Some("1.0"), "install")];
        let m = check(
            Some(Manager::Dpkg),
            Operation::Remove,
            Some(0),
            &[pkg("alpha", None)],
            &installed,
            0,
        )
        .unwrap();
        assert_eq!(m, vec![json!({"kind": "not-changed", "name": "alpha"})]);
    }

    #[test]
    fn not_known_is_none() {
        let p = [pkg("alpha", None)];
        // Failed, unread places, a manager swmon reads no state of, a
        // query, nothing named.
        assert_eq!(
            check(Some(Manager::Apt), Operation::Install, Some(1), &p, &[], 0),
            None
        );
        assert_eq!(
            check(Some(Manager::Apt), Operation::Install, None, &p, &[], 0),
            None
        );
        assert_eq!(
            check(Some(Manager::Apt), Operation::Install, Some(0), &p, &[], 1),
            None
        );
        assert_eq!(
            check(Some(Manager::Gem), Operation::Install, Some(0), &p, &[], 0),
            None
        );
        assert_eq!(
            check(Some(Manager::Apt), Operation::Query, Some(0), &p, &[], 0),
            None
        );
        assert_eq!(
            check(Some(Manager::Apt), Operation::Install, Some(0), &[], &[], 0),
            None
        );
        assert_eq!(check(None, Operation::Install, Some(0), &p, &[], 0), None);
        // A folder, a link or an unread file is no name to check.
        for name in [
            ".",
            "./x",
            "x.deb",
            "link:../x",
            "file:x",
            "https://h/x.whl",
        ] {
            let kind = if name.ends_with(".deb") {
                Manager::Dpkg
            } else {
                Manager::Npm
            };
            let m = check(
                kind.into(),
                Operation::Install,
                Some(0),
                &[pkg(name, None)],
                &[],
                0,
            );
            assert_eq!(m, Some(vec![]), "{name}");
        }
        let m = check(
            Some(Manager::Npm),
            Operation::Install,
            Some(0),
            &[pkg("@scope/left-pad", None)],
            &[],
            0,
        );
        assert_eq!(
            m,
            Some(vec![
                json!({"kind": "not-changed", "name": "@scope/left-pad"})
            ])
        );
        // A file whose name was not read is skipped.
        let m = check(
            Some(Manager::Dpkg),
            Operation::Install,
            Some(0),
            &[pkg("/tmp/x.deb", None)],
            &[],
            0,
        );
        assert_eq!(m, Some(vec![]));
    }
}
