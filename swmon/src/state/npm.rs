//! Node's installed-package state: `node_modules/[@scope/]NAME/package.json`
//! (what npm, yarn, pnpm and bun write), read for its top-level `name` and
//! `version`.
//!
//! The file is at most [`MAX_PACKAGE_JSON`] bytes (installed manifests of
//! old npm versions carry the README: hundreds of KiB), parsed by
//! `serde_json` into only those two keys: the rest is skipped without
//! recursion (so deep nesting elsewhere costs no stack), and a `name` or
//! `version` nested deeper than `serde_json`'s limit of 128 is refused
//! ([`Rejected::Limit`]), not a stack overflow. A key given twice is refused (which one
//! would node read?). A `name` that is absent, not a string or empty gives
//! way to the folder's name (`node_modules/@scope/NAME`), flagged
//! `name-from-folder`; a `name` that is not the folder's is flagged
//! `name-differs-from-folder`; a `version` that is not a string is left
//! out, flagged `version-not-a-string`.

use std::{os::unix::ffi::OsStrExt, path::Path};

use super::{clean, open_regular, push_flag, read_prefix, Change, Rejected};
use crate::catalogue::Manager;

/// The biggest `package.json` read.
pub const MAX_PACKAGE_JSON: u64 = 4 << 20;

/// What a `package.json` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NpmPackage {
    /// `@scope/name` or `name`.
    pub name: String,
    pub version: Option<String>,
    /// See the module doc; also `escaped` and `truncated`.
    pub flags: Vec<&'static str>,
}

/// The change between two readings of one package (`None`: not there),
/// under `npm` (the state is the same for every Node manager), ordered by
/// [`compare_versions`] (SemVer); `None` when there is nothing to report.
/// See [`super::between`] for the flags.
pub fn change(old: Option<&NpmPackage>, new: Option<&NpmPackage>) -> Option<Change> {
    let named = new.or(old)?;
    super::between(
        Manager::Npm.as_str(),
        &named.name,
        old.map(side),
        new.map(side),
        compare_versions,
    )
}

/// A reading's side of [`super::between`].
fn side(p: &NpmPackage) -> super::Side<'_> {
    super::Side {
        version: p.version.as_deref(),
        flags: &p.flags,
    }
}

/// SemVer 2.0.0's order, as npm's `semver.compare` (strict) gives it:
/// `MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]`, an optional leading `v`,
/// white space around ignored; numbers without leading zeros and at most
/// 2^53 - 1; a pre-release sorts before its release, its identifiers
/// compared in turn (numbers as numbers, before words; words by ASCII; a
/// shorter list first); the build is ignored. `None` when either is no
/// such version (or has a pre-release number over 64 bits).
pub fn compare_versions(a: &str, b: &str) -> Option<std::cmp::Ordering> {
    let (a, b) = (SemVer::parse(a)?, SemVer::parse(b)?);
    Some(
        a.main
            .cmp(&b.main)
            .then_with(|| match (a.pre.is_empty(), b.pre.is_empty()) {
                (true, true) => std::cmp::Ordering::Equal,
                (true, false) => std::cmp::Ordering::Greater,
                (false, true) => std::cmp::Ordering::Less,
                (false, false) => a.pre.cmp(&b.pre),
            }),
    )
}

/// The longest version `semver` parses.
const MAX_SEMVER: usize = 256;
/// `Number.MAX_SAFE_INTEGER`: `semver` refuses bigger numbers.
const MAX_SAFE: u64 = (1 << 53) - 1;

/// A pre-release identifier: numbers sort before words.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Ident<'a> {
    Number(u64),
    Word(&'a str),
}

struct SemVer<'a> {
    main: [u64; 3],
    pre: Vec<Ident<'a>>,
}

impl<'a> SemVer<'a> {
    fn parse(v: &'a str) -> Option<SemVer<'a>> {
        let v = v.trim();
        if v.len() > MAX_SEMVER {
            return None;
        }
        let v = v.strip_prefix('v').unwrap_or(v);
        let (v, build) = match v.split_once('+') {
            Some((v, b)) => (v, Some(b)),
            None => (v, None),
        };
        if let Some(b) = build {
            let ok = |p: &str| {
                !p.is_empty() && p.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
            };
            if !b.split('.').all(ok) {
                return None;
            }
        }
        let (v, pre) = match v.split_once('-') {
            Some((v, p)) => (v, Some(p)),
            None => (v, None),
        };
        let number = |d: &str| -> Option<u64> {
            let plain = !d.is_empty()
                && d.bytes().all(|c| c.is_ascii_digit())
                && (d == "0" || !d.starts_with('0'));
            plain
                .then(|| d.parse().ok())
                .flatten()
                .filter(|&n| n <= MAX_SAFE)
        };
        let mut parts = v.split('.');
        let main = [
            number(parts.next()?)?,
            number(parts.next()?)?,
            number(parts.next()?)?,
        ];
        if parts.next().is_some() {
            return None;
        }
        let mut ids = Vec::new();
        if let Some(p) = pre {
            for id in p.split('.') {
                if id.is_empty() || !id.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-') {
                    return None;
                }
                if id.bytes().all(|c| c.is_ascii_digit()) {
                    // No leading zero; over 2^53 `semver` keeps it as a
                    // string of digits, still ordered as a number here.
                    if id.len() > 1 && id.starts_with('0') {
                        return None;
                    }
                    ids.push(Ident::Number(id.parse().ok()?));
                } else {
                    ids.push(Ident::Word(id));
                }
            }
        }
        Some(SemVer { main, pre: ids })
    }
}

#[derive(serde::Deserialize)]
struct Manifest {
    #[serde(default)]
    name: Option<serde_json::Value>,
    #[serde(default)]
    version: Option<serde_json::Value>,
}

/// Reads the `package.json` at `path` (see the module doc, and the module
/// doc of [`super`] for how it is opened).
pub fn read_package_json(path: &Path) -> Result<NpmPackage, Rejected> {
    let (mut file, meta) = open_regular(None, path, MAX_PACKAGE_JSON, true)?;
    let (bytes, more) = read_prefix(&mut file, meta.len(), MAX_PACKAGE_JSON)?;
    if more {
        return Err(Rejected::TooBig(MAX_PACKAGE_JSON));
    }
    parse(&bytes, folder_name(path).as_deref())
}

/// The package name the path's folders give: `@scope/NAME` or `NAME`, the
/// folder holding the file (and its parent when that starts with `@`).
fn folder_name(path: &Path) -> Option<Vec<u8>> {
    let dir = path.parent()?;
    let name = dir.file_name()?.as_bytes();
    let scope = dir
        .parent()
        .and_then(Path::file_name)
        .map(OsStrExt::as_bytes)
        .filter(|s| s.starts_with(b"@"));
    Some(match scope {
        Some(s) => [s, b"/", name].concat(),
        None => name.to_vec(),
    })
}

/// Parses a `package.json`'s bytes; `folder` is the name its path gives.
/// No I/O, so it is fuzzed on bytes alone.
pub fn parse(bytes: &[u8], folder: Option<&[u8]>) -> Result<NpmPackage, Rejected> {
    // Node strips a byte order mark; serde_json does not.
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    // serde would read a struct from an array too (`["name", "1.0"]`).
    if bytes.trim_ascii_start().first() != Some(&b'{') {
        return Err(Rejected::Malformed("not a JSON object"));
    }
    let manifest: Manifest = serde_json::from_slice(bytes).map_err(|e| {
        if e.to_string().contains("recursion limit") {
            Rejected::Limit("JSON nesting")
        } else if e.to_string().contains("duplicate field") {
            Rejected::Malformed("a key given twice")
        } else {
            Rejected::Malformed("not a JSON object")
        }
    })?;
    let mut flags = Vec::new();
    let name = match manifest.name {
        Some(serde_json::Value::String(s)) if !s.is_empty() => {
            if folder.is_some_and(|f| f != s.as_bytes()) {
                push_flag(&mut flags, "name-differs-from-folder");
            }
            clean(s.as_bytes(), &mut flags)
        }
        _ => {
            let folder = folder
                .filter(|f| !f.is_empty())
                .ok_or(Rejected::Missing("name"))?;
            push_flag(&mut flags, "name-from-folder");
            clean(folder, &mut flags)
        }
    };
    let version = match manifest.version {
        Some(serde_json::Value::String(s)) => Some(clean(s.as_bytes(), &mut flags)),
        None | Some(serde_json::Value::Null) => None,
        Some(_) => {
            push_flag(&mut flags, "version-not-a-string");
            None
        }
    };
    Ok(NpmPackage {
        name,
        version,
        flags,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{
        test_support::{data, mkfifo, TempDir},
        Action,
    };

    fn at(d: &TempDir, rel: &str, bytes: &[u8]) -> std::path::PathBuf {
        let p = d.path().join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, bytes).expect("write");
        p
    }

    #[test]
    fn real_manifests_are_read() {
        let d = TempDir::new("npm-real");
        let raw = std::fs::read(data("tufjs-models.package.json")).expect("data");
        let p = at(&d, "node_modules/@tufjs/models/package.json", &raw);
        let pkg = read_package_json(&p).expect("read");
        assert_eq!(
            pkg,
            NpmPackage {
                name: "@tufjs/models".into(),
                version: Some("4.1.0".into()),
                flags: vec![]
            }
        );
        let raw = std::fs::read(data("util-deprecate.package.json")).expect("data");
        let p = at(&d, "node_modules/util-deprecate/package.json", &raw);
        let pkg = read_package_json(&p).expect("read");
        assert_eq!(
            (pkg.name.as_str(), pkg.version.as_deref()),
            ("util-deprecate", Some("1.0.2"))
        );
        assert!(pkg.flags.is_empty());
        let c = change(None, Some(&pkg)).expect("a change");
        assert_eq!((c.manager, c.action), ("npm", Action::Install));
    }

    #[test]
    fn odd_names_and_versions_are_flagged() {
        let f = Some(&b"left-pad"[..]);
        let p = parse(br#"{"name": "left-pad", "version": 1.3}"#, f).expect("parse");
        assert_eq!((p.version, p.flags), (None, vec!["version-not-a-string"]));
        let p = parse(br#"{"version": "1.0.0"}"#, f).expect("parse");
        assert_eq!(p.name, "left-pad");
        assert_eq!(p.flags, ["name-from-folder"]);
        let p = parse(br#"{"name": ["x"], "version": "1"}"#, f).expect("parse");
        assert_eq!(p.flags, ["name-from-folder"]);
        let p = parse(br#"{"name": "lodash", "version": "4.17.21"}"#, f).expect("parse");
        assert_eq!(p.flags, ["name-differs-from-folder"]);
        let p = parse(b"{\"name\": \"a\\u001b[2Jb\", \"version\": \"1\\n\"}", None).expect("p");
        assert_eq!(
            (p.name.as_str(), p.version.as_deref()),
            ("a\\x1b[2Jb", Some("1\\x0a"))
        );
        assert_eq!(p.flags, ["escaped"]);
        assert!(matches!(
            parse(br#"{"version": "1"}"#, None),
            Err(Rejected::Missing(_))
        ));
        let p = parse(b"\xef\xbb\xbf {\"name\": \"bom\"}", None).expect("a BOM");
        assert_eq!((p.name.as_str(), p.version), ("bom", None));
    }

    #[test]
    fn hostile_json_is_refused_with_a_reason() {
        let nest = |n| format!("{}{}", "[".repeat(n), "]".repeat(n));
        // Nested 10,000 deep where nothing is read: skipped without
        // recursion (serde_json's skipping is iterative), the file read.
        let deep = format!("{{\"name\": \"x\", \"a\": {}}}", nest(10_000));
        assert_eq!(parse(deep.as_bytes(), None).expect("parse").name, "x");
        // Where a value is built: refused at serde_json's limit.
        for key in ["name", "version"] {
            let deep = format!("{{\"{key}\": {}}}", nest(10_000));
            assert!(
                matches!(
                    parse(deep.as_bytes(), Some(b"x")),
                    Err(Rejected::Limit("JSON nesting"))
                ),
                "{key}"
            );
        }
        assert!(matches!(
            parse(br#"{"name": "a", "name": "b"}"#, None),
            Err(Rejected::Malformed("a key given twice"))
        ));
        for bad in [
            &b""[..],
            b"[]",
            b"[\"x\", \"1\"]",
            b"\"x\"",
            b"{\"name\": \"x\"",
            b"{\"name\": \"\xff\"}",
        ] {
            assert!(
                matches!(parse(bad, None), Err(Rejected::Malformed(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn links_fifos_and_big_files_are_refused() {
        let d = TempDir::new("npm-hostile");
        let real = at(
            &d,
            "node_modules/a/package.json",
            br#"{"name":"a","version":"1"}"#,
        );
        let link = d.path().join("node_modules/b/package.json");
        std::fs::create_dir_all(link.parent().expect("parent")).expect("mkdir");
        std::os::unix::fs::symlink(&real, &link).expect("symlink");
        assert!(matches!(read_package_json(&link), Err(Rejected::Symlink)));
        let fifo = d.path().join("node_modules/c/package.json");
        std::fs::create_dir_all(fifo.parent().expect("parent")).expect("mkdir");
        mkfifo(&fifo);
        assert!(matches!(
            read_package_json(&fifo),
            Err(Rejected::NotRegular(_))
        ));
        let big = at(&d, "node_modules/d/package.json", b"");
        std::fs::File::options()
            .write(true)
            .open(&big)
            .and_then(|f| f.set_len(2 << 30))
            .expect("sparse");
        assert!(matches!(read_package_json(&big), Err(Rejected::TooBig(_))));
    }

    #[test]
    fn versions_order_as_semver_orders_them() {
        use std::cmp::Ordering::Less;
        // SemVer 2.0.0's own example, in order.
        let ordered = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.1",
            "1.10.0",
            "v2.0.0",
        ];
        for w in ordered.windows(2) {
            assert_eq!(compare_versions(w[0], w[1]), Some(Less), "{w:?}");
        }
        assert_eq!(
            compare_versions("1.0.0+a", "1.0.0+b"),
            Some(std::cmp::Ordering::Equal)
        );
        for bad in [
            "",
            "1.0",
            "01.0.0",
            "1.0.0-",
            "=1.0.0",
            "1.0.0.0",
            "1.0.0-a..b",
            "9007199254740992.0.0",
        ] {
            assert_eq!(compare_versions(bad, "1.0.0"), None, "{bad:?}");
        }
    }

    #[test]
    fn random_versions_order_as_semver_ordered_them() {
        use std::cmp::Ordering::{Equal, Greater, Less};
        let text = std::fs::read_to_string(data("semver-version-pairs.txt")).expect("pairs");
        let mut checked = 0;
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let [a, b, op] = line.split(' ').collect::<Vec<_>>()[..] else {
                panic!("bad line {line:?}");
            };
            let want = match op {
                "<" => Some(Less),
                "=" => Some(Equal),
                ">" => Some(Greater),
                _ => None,
            };
            assert_eq!(compare_versions(a, b), want, "{line}");
            checked += 1;
        }
        assert_eq!(checked, 3000);
    }

    #[test]
    fn changes_between_readings() {
        let pkg = |v: &str| {
            parse(
                format!(r#"{{"name":"a","version":"{v}"}}"#).as_bytes(),
                None,
            )
            .expect("p")
        };
        let act =
            |o: &NpmPackage, n: &NpmPackage| change(Some(o), Some(n)).map(|c| (c.action, c.flags));
        assert_eq!(
            act(&pkg("1.0.0"), &pkg("1.0.1")),
            Some((Action::Upgrade, vec![]))
        );
        assert_eq!(
            act(&pkg("2.0.0"), &pkg("2.0.0-rc.1")),
            Some((Action::Downgrade, vec![]))
        );
        assert_eq!(
            act(&pkg("1.0.0"), &pkg("1.0.0")),
            Some((Action::Reinstall, vec![]))
        );
        assert_eq!(
            act(&pkg("1.0.0"), &pkg("latest")),
            Some((Action::Upgrade, vec!["version-order-unknown"]))
        );
        let c = change(Some(&pkg("1.2.3")), None).expect("a change");
        assert_eq!(
            (c.action, c.version, c.previous_version.as_deref()),
            (Action::Remove, None, Some("1.2.3"))
        );
        assert_eq!(change(None, None), None);
    }
}
