//! dpkg's state: the `status` file (`/var/lib/dpkg/status`, or one under
//! `--root`/`--admindir`), read into a [`Snapshot`] of every package's
//! version and status, and the [`Change`]s between two snapshots, ordered
//! by Debian's version comparison ([`compare_versions`]).
//!
//! A package is keyed as `dpkg-query`'s `${binary:Package}` shows it: its
//! name, with `:ARCH` when it is `Multi-Arch: same` (so `libc6:amd64` and
//! `libc6:i386` are two packages). A package that changes its `Multi-Arch`
//! between two snapshots is seen as removed under one key and installed
//! under the other.
//!
//! Present means the status word is `installed`, `triggers-pending` or
//! `triggers-awaited` (configured), or `half-installed`, `unpacked` or
//! `half-configured` (caught mid-run or left by a failed run; the change
//! carries the word as a flag); `not-installed` and `config-files` (removed,
//! its configuration kept) are absent.
//!
//! What a diff cannot see: a reinstall of the same version between two
//! snapshots leaves the stanza as it was (it shows as [`Action::Reinstall`]
//! only when a snapshot falls while the package is being unpacked); a
//! package that only finishes configuring (`unpacked` to `installed`, same
//! version) is no change; a purge of a package already removed
//! (`config-files` to gone) is no change, since no software goes.

use std::{cmp::Ordering, collections::BTreeMap, path::Path};

use super::{clean, open_regular, push_flag, read_prefix, Action, Change, Rejected};

/// The biggest status file read (real hosts: 1 to 5 MiB).
pub const MAX_STATUS: u64 = 64 << 20;
/// The most stanzas read from one status file (a host with the whole
/// Debian archive installed has about 70,000).
pub const MAX_STANZAS: usize = 200_000;

/// A package's status word (the third of `Status:`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    NotInstalled,
    ConfigFiles,
    HalfInstalled,
    Unpacked,
    HalfConfigured,
    TriggersAwaited,
    TriggersPending,
    Installed,
}

impl Status {
    /// The word as dpkg writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::NotInstalled => "not-installed",
            Status::ConfigFiles => "config-files",
            Status::HalfInstalled => "half-installed",
            Status::Unpacked => "unpacked",
            Status::HalfConfigured => "half-configured",
            Status::TriggersAwaited => "triggers-awaited",
            Status::TriggersPending => "triggers-pending",
            Status::Installed => "installed",
        }
    }

    fn parse(word: &[u8]) -> Option<Status> {
        [
            Status::NotInstalled,
            Status::ConfigFiles,
            Status::HalfInstalled,
            Status::Unpacked,
            Status::HalfConfigured,
            Status::TriggersAwaited,
            Status::TriggersPending,
            Status::Installed,
        ]
        .into_iter()
        .find(|s| s.as_str().as_bytes() == word)
    }

    /// The package's files are on the system (see the module doc).
    pub fn present(self) -> bool {
        !matches!(self, Status::NotInstalled | Status::ConfigFiles)
    }

    /// Present but not (yet) configured: a run in progress or one that
    /// failed.
    pub fn unfinished(self) -> bool {
        matches!(
            self,
            Status::HalfInstalled | Status::Unpacked | Status::HalfConfigured
        )
    }
}

/// One package of a [`Snapshot`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// `Version:`, escaped when not clean.
    pub version: Option<String>,
    /// `Architecture:`, escaped when not clean.
    pub arch: Option<String>,
    pub status: Status,
    /// About this stanza's reading: `escaped`, `truncated` (a value over
    /// [`super::MAX_VALUE`]), `duplicate-field` (the first one is kept),
    /// `malformed-line` (a line that is no field), `unterminated` (the
    /// file ends inside this stanza's last line), `reinstall-required`
    /// (dpkg's `reinstreq` flag).
    pub flags: Vec<&'static str>,
}

/// The packages of one status file, by name (see the module doc).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub packages: BTreeMap<String, Entry>,
    /// Stanzas left out: no `Package:`, or no `Status:` of three words
    /// with a known status word.
    pub skipped: usize,
    /// Stanzas whose key was seen before in the file (the last one is
    /// kept, as dpkg itself would if it read such a file).
    pub duplicates: usize,
}

/// Reads the status file at `path` (see the module doc of [`super`] for
/// how it is opened): a regular file of at most [`MAX_STATUS`] bytes.
pub fn read(path: &Path) -> Result<Snapshot, Rejected> {
    let (mut file, meta) = open_regular(None, path, MAX_STATUS, true)?;
    let (bytes, more) = read_prefix(&mut file, meta.len(), MAX_STATUS)?;
    if more {
        // It grew past the cap after the fstat.
        return Err(Rejected::TooBig(MAX_STATUS));
    }
    parse(&bytes)
}

/// The fields of one stanza that are read.
#[derive(Default)]
struct Fields<'a> {
    package: Option<&'a [u8]>,
    status: Option<&'a [u8]>,
    version: Option<&'a [u8]>,
    arch: Option<&'a [u8]>,
    multi_arch: Option<&'a [u8]>,
    flags: Vec<&'static str>,
}

impl<'a> Fields<'a> {
    fn line(&mut self, line: &'a [u8]) {
        if line[0] == b' ' || line[0] == b'\t' || line[0] == b'#' {
            // A continuation of a multi-line field, or a comment.
            return;
        }
        let Some(colon) = line.iter().position(|&c| c == b':') else {
            push_flag(&mut self.flags, "malformed-line");
            return;
        };
        let (key, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        let slot = if key.eq_ignore_ascii_case(b"Package") {
            &mut self.package
        } else if key.eq_ignore_ascii_case(b"Status") {
            &mut self.status
        } else if key.eq_ignore_ascii_case(b"Version") {
            &mut self.version
        } else if key.eq_ignore_ascii_case(b"Architecture") {
            &mut self.arch
        } else if key.eq_ignore_ascii_case(b"Multi-Arch") {
            &mut self.multi_arch
        } else {
            return;
        };
        if slot.is_some() {
            push_flag(&mut self.flags, "duplicate-field");
        } else {
            *slot = Some(value);
        }
    }

    /// The stanza's key and entry, or `None` to skip it.
    fn finish(mut self) -> Option<(String, Entry)> {
        let package = self.package.filter(|p| !p.is_empty())?;
        let words: Vec<&[u8]> = self
            .status?
            .split(|c| c.is_ascii_whitespace())
            .filter(|w| !w.is_empty())
            .collect();
        let [_want, eflag, word] = words[..] else {
            return None;
        };
        let status = Status::parse(word)?;
        if eflag == b"reinstreq" {
            push_flag(&mut self.flags, "reinstall-required");
        }
        let mut flags = self.flags;
        let mut name = clean(package, &mut flags);
        let arch = self.arch.map(|a| clean(a, &mut flags));
        if let (Some(arch), Some(ma)) = (&arch, self.multi_arch) {
            if ma.eq_ignore_ascii_case(b"same") {
                name.push(':');
                name.push_str(arch);
            }
        }
        let version = self.version.map(|v| clean(v, &mut flags));
        Some((
            name,
            Entry {
                version,
                arch,
                status,
                flags,
            },
        ))
    }
}

/// Parses the bytes of a status file (see [`read`]); no I/O, so it is
/// fuzzed on bytes alone.
pub fn parse(bytes: &[u8]) -> Result<Snapshot, Rejected> {
    let mut snap = Snapshot::default();
    let mut stanzas = 0usize;
    let mut fields: Option<Fields> = None;
    let unterminated = !bytes.is_empty() && !bytes.ends_with(b"\n");
    let mut lines = bytes.split(|&c| c == b'\n').peekable();
    while let Some(line) = lines.next() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let last = lines.peek().is_none();
        if !line.is_empty() {
            let f = fields.get_or_insert_with(|| {
                stanzas += 1;
                Fields::default()
            });
            f.line(line);
            if last && unterminated {
                push_flag(&mut f.flags, "unterminated");
            }
        }
        if stanzas > MAX_STANZAS {
            return Err(Rejected::Limit("stanzas in the status file"));
        }
        if line.is_empty() || last {
            if let Some(f) = fields.take() {
                match f.finish() {
                    Some((name, entry)) => {
                        if snap.packages.insert(name, entry).is_some() {
                            snap.duplicates += 1;
                        }
                    }
                    None => snap.skipped += 1,
                }
            }
        }
    }
    Ok(snap)
}

/// The changes from `old` to `new`, in name order (see the module doc for
/// what is present and what a diff cannot see). Each change carries its
/// stanza's flags, and:
/// - the status word when the package is caught unfinished (`unpacked`,
///   `half-installed`, `half-configured`);
/// - `config-files` for a removal that kept the configuration (`remove`,
///   not `purge`), `had-config-files` for an install over such leftovers;
/// - `architecture-changed` when the same key changed architecture (a
///   crossgrade), `no-version` when either side lacks one.
pub fn diff(old: &Snapshot, new: &Snapshot) -> Vec<Change> {
    let mut out = Vec::new();
    let keys: std::collections::BTreeSet<&String> =
        old.packages.keys().chain(new.packages.keys()).collect();
    for key in keys {
        let (before, after) = (present(old, key), present(new, key));
        let mut flags: Vec<&'static str> = Vec::new();
        let add = |flags: &mut Vec<&'static str>, e: &Entry| {
            for &f in &e.flags {
                push_flag(flags, f);
            }
        };
        let action = match (before, after) {
            (None, None) => continue,
            (None, Some(n)) => {
                add(&mut flags, n);
                if old.packages.get(key).map(|e| e.status) == Some(Status::ConfigFiles) {
                    push_flag(&mut flags, "had-config-files");
                }
                Action::Install
            }
            (Some(o), None) => {
                add(&mut flags, o);
                if new.packages.get(key).map(|e| e.status) == Some(Status::ConfigFiles) {
                    push_flag(&mut flags, "config-files");
                }
                Action::Remove
            }
            (Some(o), Some(n)) => {
                add(&mut flags, o);
                add(&mut flags, n);
                if o.arch != n.arch {
                    push_flag(&mut flags, "architecture-changed");
                }
                match (&o.version, &n.version) {
                    (Some(a), Some(b)) => match compare_versions(b, a) {
                        Ordering::Greater => Action::Upgrade,
                        Ordering::Less => Action::Downgrade,
                        Ordering::Equal
                            if (n.status.unfinished() && !o.status.unfinished())
                                || o.arch != n.arch =>
                        {
                            Action::Reinstall
                        }
                        Ordering::Equal => continue,
                    },
                    (None, None) if o.arch == n.arch => continue,
                    (None, None) => Action::Reinstall,
                    _ => {
                        push_flag(&mut flags, "no-version");
                        Action::Upgrade
                    }
                }
            }
        };
        if let Some(n) = after.filter(|n| n.status.unfinished()) {
            push_flag(&mut flags, n.status.as_str());
        }
        out.push(Change {
            manager: crate::catalogue::Manager::Dpkg.as_str(),
            name: key.clone(),
            version: after.and_then(|n| n.version.clone()),
            previous_version: before.and_then(|o| o.version.clone()),
            action,
            flags,
        });
    }
    out
}

/// `key`'s entry in `s` if that package is present.
fn present<'a>(s: &'a Snapshot, key: &str) -> Option<&'a Entry> {
    s.packages.get(key).filter(|e| e.status.present())
}

/// Debian's version order (Debian Policy 5.6.12, as `dpkg
/// --compare-versions` implements it): `[epoch:]upstream[-revision]`;
/// epochs compared as numbers (absent is 0), then the upstream versions,
/// then the revisions (absent is `0`), each by alternating runs: a run of
/// non-digits compared character by character where `~` sorts before
/// everything, even the end of the run, then letters, then the other
/// characters; then a run of digits compared as a number.
///
/// Any string is accepted (a version dpkg would refuse still gets an
/// order, never a panic): an epoch that is not all digits is taken as part
/// of the upstream version.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let (ea, ua, ra) = split(a.trim());
    let (eb, ub, rb) = split(b.trim());
    compare_numbers(ea, eb)
        .then_with(|| compare_part(ua, ub))
        .then_with(|| compare_part(ra, rb))
}

/// `(epoch, upstream, revision)` of a version.
fn split(v: &str) -> (&[u8], &[u8], &[u8]) {
    let v = v.as_bytes();
    let (epoch, rest) = match v.iter().position(|&c| c == b':') {
        Some(i) if i > 0 && v[..i].iter().all(u8::is_ascii_digit) => (&v[..i], &v[i + 1..]),
        _ => (&b""[..], v),
    };
    match rest.iter().rposition(|&c| c == b'-') {
        Some(i) => (epoch, &rest[..i], &rest[i + 1..]),
        None => (epoch, rest, &b""[..]),
    }
}

/// Two runs of digits as numbers, of any length (no overflow): leading
/// zeros dropped, then the longer is bigger, then the first differing
/// digit decides.
fn compare_numbers(a: &[u8], b: &[u8]) -> Ordering {
    let strip = |d: &[u8]| {
        let zeros = d.iter().take_while(|&&c| c == b'0').count();
        d[zeros..].to_vec()
    };
    let (a, b) = (strip(a), strip(b));
    a.len().cmp(&b.len()).then_with(|| a.cmp(&b))
}

/// The weight of a character in a non-digit run: the end of the run (and
/// digits) 0, `~` below it, letters by their code, anything else after
/// all letters. A byte over 127 weighs as dpkg's (signed) `char` does.
fn weight(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(c) => i32::from(c as i8) + 256,
    }
}

/// dpkg's `verrevcmp` on one part (upstream or revision).
fn compare_part(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0, 0);
    let digit = |s: &[u8], k: usize| s.get(k).is_some_and(u8::is_ascii_digit);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !digit(a, i)) || (j < b.len() && !digit(b, j)) {
            let (wa, wb) = (weight(a.get(i).copied()), weight(b.get(j).copied()));
            if wa != wb {
                return wa.cmp(&wb);
            }
            i += 1;
            j += 1;
        }
        let start_a = i;
        while digit(a, i) {
            i += 1;
        }
        let start_b = j;
        while digit(b, j) {
            j += 1;
        }
        let order = compare_numbers(&a[start_a..i], &b[start_b..j]);
        if order != Ordering::Equal {
            return order;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::test_support::{data, mkfifo, TempDir};

    #[test]
    fn versions_order_as_dpkg_orders_them() {
        // Each line checked with `dpkg --compare-versions` (dpkg 1.21.22).
        let table = [
            ("1.0~rc1", '<', "1.0"),
            ("1:0.9", '>', "2.0"),
            ("1.0-1", '<', "1.0-1.1"),
            ("2.30-1", '>', "2.4-1"),
            ("1.0", '=', "1.0-0"),
            ("1.0", '=', "1.00"),
            ("0:1.0", '=', "1.0"),
            ("1.0~~", '<', "1.0~"),
            ("1.0~", '<', "1.0"),
            ("1.0", '<', "1.0a"),
            ("1.0a", '<', "1.0+"),
            ("1.0+", '<', "1.0.1"),
            ("1.2.3-1", '<', "1.2.3-1ubuntu1"),
            ("7.88.1-10+deb12u5", '<', "7.88.1-10+deb12u12"),
            ("1:2.3", '<', "2:1.0"),
            ("10", '>', "9"),
            ("1.0-1~bpo1", '<', "1.0-1"),
            ("2.36-9+deb12u14", '>', "2.36-9+deb12u4"),
            ("1:1.2.13.dfsg-1", '>', "1.2.13.dfsg-2"),
            ("1.0-a", '<', "1.0-b"),
            ("1.0.0", '>', "1.0"),
            ("a", '<', "b"),
            ("1.0-1", '=', "1.0-01"),
            ("00:1", '=', "1"),
            ("1.0~rc1-1", '<', "1.0-1"),
            ("5.2.15-2+b8", '>', "5.2.15-2"),
            ("2025b-0+deb12u2", '>', "2025a-0+deb12u2"),
        ];
        for (a, op, b) in table {
            let want = match op {
                '<' => Ordering::Less,
                '=' => Ordering::Equal,
                _ => Ordering::Greater,
            };
            assert_eq!(compare_versions(a, b), want, "{a} {op} {b}");
            assert_eq!(compare_versions(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn random_versions_order_as_dpkg_ordered_them() {
        let text = std::fs::read_to_string(data("dpkg-version-pairs.txt")).expect("pairs");
        let mut checked = 0;
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let [a, b, op] = line.split(' ').collect::<Vec<_>>()[..] else {
                panic!("bad line {line:?}");
            };
            let want = match op {
                "<" => Ordering::Less,
                "=" => Ordering::Equal,
                _ => Ordering::Greater,
            };
            assert_eq!(compare_versions(a, b), want, "{line}");
            checked += 1;
        }
        assert_eq!(checked, 3000);
    }

    #[test]
    fn hostile_versions_get_an_order_without_panic() {
        let huge = "9".repeat(100_000);
        assert_eq!(compare_versions(&huge, "1"), Ordering::Greater);
        assert_eq!(
            compare_versions(&format!("{huge}:1"), &format!("{huge}:2")),
            Ordering::Less
        );
        for v in ["", ":", "-", "x:1", "1:", "~", "\u{e9}", "1-", "::--~~"] {
            assert_eq!(compare_versions(v, v), Ordering::Equal, "{v:?}");
            let _ = compare_versions(v, "1.0");
        }
        // The policy's example order of non-digit runs.
        let runs = ["~~", "~~a", "~", "", "a"];
        for w in runs.windows(2) {
            assert_eq!(compare_versions(w[0], w[1]), Ordering::Less, "{w:?}");
        }
    }

    #[test]
    fn real_stanzas_are_read() {
        let snap = read(&data("dpkg-status")).expect("read");
        assert_eq!((snap.skipped, snap.duplicates), (0, 0));
        let names: Vec<&str> = snap.packages.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "base-files",
                "bash",
                "dpkg",
                "libc6:amd64",
                "tzdata",
                "zlib1g:amd64"
            ]
        );
        let zlib = &snap.packages["zlib1g:amd64"];
        assert_eq!(zlib.version.as_deref(), Some("1:1.2.13.dfsg-1"));
        assert_eq!(zlib.arch.as_deref(), Some("amd64"));
        assert_eq!(zlib.status, Status::Installed);
        assert!(zlib.flags.is_empty());
        assert_eq!(
            snap.packages["bash"].version.as_deref(),
            Some("5.2.15-2+b8")
        );
    }

    #[test]
    fn this_hosts_status_file_is_read_whole() {
        let Ok(text) = std::fs::read("/var/lib/dpkg/status") else {
            return; // not a dpkg host
        };
        let stanzas = text
            .split(|&c| c == b'\n')
            .filter(|l| l.starts_with(b"Package:"))
            .count();
        let snap = read(Path::new("/var/lib/dpkg/status")).expect("read");
        assert_eq!(snap.packages.len() + snap.skipped, stanzas);
        assert_eq!(snap.skipped, 0);
        assert!(diff(&snap, &snap).is_empty());
    }

    fn stanza(name: &str, arch: &str, ma: &str, status: &str, version: &str) -> String {
        format!(
            "Package: {name}\nStatus: install ok {status}\nPriority: optional\n\
             Architecture: {arch}\nMulti-Arch: {ma}\nVersion: {version}\n\
             Description: a package\n more text: with a colon\n .\n\n"
        )
    }

    fn snap(stanzas: &[String]) -> Snapshot {
        parse(stanzas.concat().as_bytes()).expect("parse")
    }

    fn summary(changes: &[Change]) -> Vec<String> {
        changes
            .iter()
            .map(|c| {
                format!(
                    "{} {} {}<-{} {:?}",
                    c.action.as_str(),
                    c.name,
                    c.version.as_deref().unwrap_or("-"),
                    c.previous_version.as_deref().unwrap_or("-"),
                    c.flags
                )
            })
            .collect()
    }

    #[test]
    fn diff_names_every_action() {
        let old = snap(&[
            stanza("gone", "amd64", "foreign", "installed", "1.0-1"),
            stanza("kept-conf", "all", "foreign", "installed", "2.0"),
            stanza("libfoo", "amd64", "same", "installed", "1.1-1"),
            stanza("newer", "amd64", "no", "installed", "1:1.0-1"),
            stanza("older", "amd64", "no", "installed", "2.30-1"),
            stanza("removed-before", "amd64", "no", "config-files", "0.9"),
            stanza("same", "amd64", "no", "installed", "3.0"),
        ]);
        let new = snap(&[
            stanza("added", "all", "foreign", "installed", "0.1"),
            stanza("kept-conf", "all", "foreign", "config-files", "2.0"),
            stanza("libfoo", "amd64", "same", "installed", "1.1-1"),
            stanza("libfoo", "i386", "same", "installed", "1.1-1"),
            stanza("newer", "amd64", "no", "installed", "1:1.0-1.1"),
            stanza("older", "amd64", "no", "installed", "2.4-1"),
            stanza("removed-before", "amd64", "no", "installed", "1.0"),
            stanza("same", "amd64", "no", "installed", "3.0"),
        ]);
        assert_eq!(
            summary(&diff(&old, &new)),
            [
                "install added 0.1<-- []",
                "remove gone -<-1.0-1 []",
                "remove kept-conf -<-2.0 [\"config-files\"]",
                "install libfoo:i386 1.1-1<-- []",
                "upgrade newer 1:1.0-1.1<-1:1.0-1 []",
                "downgrade older 2.4-1<-2.30-1 []",
                "install removed-before 1.0<-- [\"had-config-files\"]",
            ]
        );
        assert!(diff(&new, &new).is_empty());
        let c = &diff(&old, &new)[0];
        assert_eq!((c.manager, c.action), ("dpkg", Action::Install));
    }

    #[test]
    fn diff_sees_unfinished_runs_and_crossgrades() {
        let old = snap(&[
            stanza("mid", "amd64", "no", "installed", "1.0"),
            stanza("cross", "amd64", "foreign", "installed", "1.0"),
            stanza("failing", "amd64", "no", "not-installed", "1.0"),
        ]);
        let new = snap(&[
            stanza("mid", "amd64", "no", "half-installed", "1.0"),
            stanza("cross", "i386", "foreign", "installed", "1.0"),
            stanza("failing", "amd64", "no", "half-configured", "1.0"),
        ]);
        assert_eq!(
            summary(&diff(&old, &new)),
            [
                "reinstall cross 1.0<-1.0 [\"architecture-changed\"]",
                "install failing 1.0<-- [\"half-configured\"]",
                "reinstall mid 1.0<-1.0 [\"half-installed\"]",
            ]
        );
        // Finishing the configuration is no new change; going back is.
        assert_eq!(
            summary(&diff(&new, &old)),
            [
                "reinstall cross 1.0<-1.0 [\"architecture-changed\"]",
                "remove failing -<-1.0 []",
            ]
        );
    }

    #[test]
    fn a_broken_stanza_is_counted_and_others_kept() {
        let text = b"Package: nostatus\nVersion: 1\n\n\
            Status: install ok installed\nVersion: 1\n\n\
            Package: badstatus\nStatus: install ok sideways\n\n\
            Package: twowords\nStatus: ok installed\n\n\
            Package: ok\nStatus: install reinstreq installed\nVersion: 1\nVersion: 2\nno colon here\n\n\
            Package: dup\nStatus: install ok installed\nVersion: 1\n\n\
            Package: dup\nStatus: install ok installed\nVersion: 2\n\n\
            Package: cut\nStatus: install ok installed\nVersion: 1.0\nArchitect";
        let s = parse(text).expect("parse");
        assert_eq!((s.skipped, s.duplicates), (4, 1));
        let ok = &s.packages["ok"];
        assert_eq!(ok.version.as_deref(), Some("1"));
        assert_eq!(
            ok.flags,
            ["duplicate-field", "malformed-line", "reinstall-required"]
        );
        assert_eq!(s.packages["dup"].version.as_deref(), Some("2"));
        let cut = &s.packages["cut"];
        assert_eq!(cut.version.as_deref(), Some("1.0"));
        assert_eq!(cut.flags, ["malformed-line", "unterminated"]);
        // Cut inside the status: skipped, and counted.
        let s = parse(b"Package: a\nStatus: install ok inst").expect("parse");
        assert_eq!((s.packages.len(), s.skipped), (0, 1));
        // CRLF, empty input.
        let s = parse(b"Package: a\r\nStatus: install ok installed\r\nVersion: 1\r\n").expect("ok");
        assert_eq!(s.packages["a"].version.as_deref(), Some("1"));
        assert_eq!(parse(b"").expect("empty"), Snapshot::default());
        assert_eq!(parse(b"\n\n\n").expect("blank"), Snapshot::default());
    }

    #[test]
    fn hostile_values_are_escaped_cut_and_flagged() {
        let mut text =
            b"Package: evil\xff\x1b[2J\nStatus: install ok installed\nVersion: ".to_vec();
        text.extend(std::iter::repeat_n(b'1', 10 << 20));
        text.extend_from_slice(b"\n\n");
        let s = parse(&text).expect("parse");
        let (name, e) = s.packages.iter().next().expect("one");
        assert_eq!(name, "evil\\xff\\x1b[2J");
        assert_eq!(
            e.version.as_ref().map(String::len),
            Some(super::super::MAX_VALUE)
        );
        assert_eq!(e.flags, ["escaped", "truncated"]);
        let c = diff(&Snapshot::default(), &s);
        assert_eq!(c[0].flags, ["escaped", "truncated"]);
    }

    #[test]
    fn too_many_stanzas_are_refused() {
        let text = "Package: a\nStatus: install ok installed\n\n".repeat(MAX_STANZAS + 1);
        assert!(matches!(parse(text.as_bytes()), Err(Rejected::Limit(_))));
        let text = "Package: a\nStatus: install ok installed\n\n".repeat(MAX_STANZAS);
        let s = parse(text.as_bytes()).expect("at the cap");
        assert_eq!(s.duplicates, MAX_STANZAS - 1);
    }

    #[test]
    fn a_link_fifo_folder_or_huge_file_is_refused() {
        let d = TempDir::new("dpkg");
        let real = d.path().join("status");
        std::fs::copy(data("dpkg-status"), &real).expect("copy");
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&real, &link).expect("symlink");
        assert!(matches!(read(&link), Err(Rejected::Symlink)));
        let fifo = d.path().join("fifo");
        mkfifo(&fifo);
        // No writer: a blocking open would hang here.
        assert!(matches!(read(&fifo), Err(Rejected::NotRegular("a FIFO"))));
        assert!(matches!(
            read(d.path()),
            Err(Rejected::NotRegular("a directory"))
        ));
        let sparse = d.path().join("sparse");
        let f = std::fs::File::create(&sparse).expect("create");
        f.set_len(2 << 30).expect("2 GiB sparse");
        assert!(matches!(read(&sparse), Err(Rejected::TooBig(MAX_STATUS))));
        assert!(matches!(
            read(&d.path().join("absent")),
            Err(Rejected::Open(_))
        ));
        assert!(read(&real).is_ok());
    }
}
