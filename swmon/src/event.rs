//! What a user reads: the ECS-shaped event written as one JSON line (or one
//! text line) per installer run and per change in the monitor's state.
//!
//! The field names follow ECS ([`ECS_VERSION`]) where ECS has a field, and
//! `swmon.*` for swmon's own; they are the contract, described field by
//! field in `docs/events.md` and as a JSON Schema in `docs/events.schema.json`
//! (generated from these types by [`crate::schema`]). Untrusted bytes (argv, paths, names) are made into
//! strings here, losslessly: valid UTF-8 is kept as it is (JSON escapes its
//! control characters), and an argument that is not valid UTF-8 has its bad
//! bytes written `\xNN` and its backslashes doubled, with its index listed in
//! `swmon.args_escaped` so the raw bytes can be recovered exactly.

use std::time::{Duration, SystemTime};

use schemars::JsonSchema;
use serde::Serialize;

use crate::schema as hand;

/// The ECS version whose field names and values the events follow
/// (`ecs.version` on every event).
pub const ECS_VERSION: &str = "8.11.0";

/// One line of swmon's output.
#[derive(Clone, Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Event {
    /// When it happened: a run's start, else when it was written (RFC 3339,
    /// UTC, microseconds).
    #[serde(rename = "@timestamp")]
    pub timestamp: String,
    pub ecs: Ecs,
    pub event: EventMeta,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process: Option<Process>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
    /// ECS `package.*`, when the run names exactly one package.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<PackageRef>,
    pub host: Host,
    pub swmon: Swmon,
}

/// ECS's own field: the version of ECS the event follows.
#[derive(Clone, Copy, Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Ecs {
    #[schemars(schema_with = "hand::ecs_version")]
    pub version: &'static str,
}

impl Default for Ecs {
    fn default() -> Ecs {
        Ecs {
            version: ECS_VERSION,
        }
    }
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct EventMeta {
    /// `event` (a confirmed run, an `ebpf-log` record), `alert` (a run not
    /// confirmed, a loss of coverage) or `state` (the monitor's own state).
    #[schemars(schema_with = "hand::kind")]
    pub kind: &'static str,
    #[schemars(schema_with = "hand::categories")]
    pub category: Vec<&'static str>,
    #[serde(rename = "type")]
    #[schemars(schema_with = "hand::types")]
    pub kind_type: Vec<&'static str>,
    /// What happened (see `docs/events.md`, one section each).
    #[schemars(schema_with = "hand::action")]
    pub action: &'static str,
    /// A run's end: `success` (exit 0), `failure`, or `unknown` (no exit
    /// code); absent on a run's early event and on state events.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "hand::outcome")]
    pub outcome: Option<&'static str>,
}

#[derive(Clone, Debug, Default, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Process {
    pub pid: u32,
    pub parent: Parent,
    pub executable: String,
    pub name: String,
    pub args: Vec<String>,
    pub args_count: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_directory: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    pub start: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    pub user: Id,
    pub effective_user: Id,
    pub group: GroupId,
}

#[derive(Clone, Debug, Default, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Parent {
    pub pid: u32,
}

#[derive(Clone, Debug, Default, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Id {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct GroupId {
    pub id: String,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct User {
    pub audit: Id,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Host {
    pub name: String,
}

/// A package named by a run (`swmon.packages[]`, ECS `package`).
#[derive(Clone, Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct PackageRef {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// swmon's own fields.
#[derive(Clone, Debug, Default, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Swmon {
    /// Each stage's input queue and age of last progress (`heartbeat`,
    /// `monitor-stopped`), or the stalled stage (`stage-stalled`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "hand::stages")]
    pub stages: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "hand::verdict")]
    pub verdict: Option<&'static str>,
    /// Why a run is `ebpf_only`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// The run's id, `TGID-START` (the process's start, ns since boot): on
    /// a run's event and on its `verdict-amended` correction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// `verdict-amended`: the run's verdict (and reason) as first reported;
    /// `verdict` and `reason` are the new ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "hand::verdict")]
    pub previous_verdict: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_reason: Option<&'static str>,
    /// The audit records attached to a run (`serial`, `key`, `logged` and
    /// `join` of the first that joined one of its execs; `serials` and
    /// `records` of all), or audit details of a health, loss or rules
    /// event.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "hand::audit")]
    pub audit: Option<serde_json::Value>,
    /// What `swmon run` kept after its capability drop (`monitor-started`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "hand::privileges")]
    pub privileges: Option<serde_json::Value>,
    /// The config file: its path, whether it was there, the keys taken
    /// from it (`monitor-started`); what a reload applied and what needs
    /// a restart (`config-reloaded`), or why it failed
    /// (`config-reload-failed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manager: Option<&'static str>,
    /// The catalogue name the run matched (`pip` for `pip3.11`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub installer: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<&'static str>,
    /// `uncertain` when the installer was found behind interpreter options
    /// swmon does not know (each may or may not take a value; the reading
    /// that runs an installer is reported): they are `unknown_options`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reading: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unknown_options: Vec<String>,
    /// `install`, `remove`, `upgrade`, `query` or `other`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "hand::operation")]
    pub operation: Option<&'static str>,
    /// The verb as written (`install`, `i`, `-i`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subcommand: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packages: Option<Vec<PackageRef>>,
    /// Packages the run does the opposite to (apt's `pkg-` inside install).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inverse_packages: Vec<PackageRef>,
    /// The operands as typed for the packages whose name and version were
    /// read from the local file they named (`dpkg -i ./x.deb`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub requested: Vec<String>,
    /// Each local package file read: `file`, `format`, and the `name` and
    /// `version` inside, or `rejected` (a flag) and `reason`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "hand::package_files")]
    pub package_files: Vec<serde_json::Value>,
    /// Requirement files the run installs from (`pip -r FILE`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub requirements: Vec<String>,
    /// `system`, `user`, `global`, `venv:<path>`, `root:<dir>`, ...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Why the kernel filter passed it (`filename`, `exe-name`, `inode`,
    /// `interpreter-arg`, `size`, `fileless`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub filter: Vec<&'static str>,
    /// The filename given to exec, where it differs from the executable
    /// (a script, a symlink, `/dev/fd/N`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exec_filename: Option<String>,
    /// Indices of `process.args` written with the `\xNN` / `\\` escapes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub args_escaped: Vec<usize>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub args_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub args_bytes: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cgroup_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub executable_sha256: Option<String>,
    /// A near-copy's build ID, the installer's (hex; `go:` before a Go
    /// build ID).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub executable_build_id: Option<String>,
    /// A fileless exec of an installer's size or ELF key that exited
    /// before its content could be read, or a near-copy with no build ID
    /// to confirm it by: reported on the kernel's match alone.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unverified: bool,
    /// Why a near-copy was not confirmed: `no-build-id`, or how its ELF
    /// notes are malformed (`bad-note`, `out-of-file`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_id_flag: Option<&'static str>,
    /// The facts swmon reads from the host (`/proc`, the executable's
    /// content) were not read: `timed-out` (stuck past the facts stage's
    /// deadline, a hung file system) or `busy` (every reader stuck). The
    /// event holds what the kernel captured at the exec.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub facts_unread: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ns: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<u32>,
    /// Earlier execs of the same process in this run (a shim's `env`,
    /// `bash`), oldest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exec_chain: Vec<ChainLink>,
    /// The parent chain at the exec, nearest first, to init or 8 levels.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ancestors: Vec<AncestorOut>,
    /// The chain went on above the 8 kept.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub ancestors_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<Container>,
    /// The systemd unit the run belongs to, on the host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub systemd_unit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<String>,
    /// The cgroup path lost top levels or a cut name (no container trusted).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cgroup_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tty: Option<String>,
    /// Why the run has no exit code, when it has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "hand::counters")]
    pub counters: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub installers_found: Option<Vec<String>>,
    /// The kernel side: link and program ids at start, what changed in a
    /// tamper alert (`ebpf-detached`, `ebpf-stalled`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "hand::ebpf")]
    pub ebpf: Option<serde_json::Value>,
    /// What a loss event lost: `count` since the last report, and where.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "hand::lost")]
    pub lost: Option<serde_json::Map<String, serde_json::Value>>,
    /// What the line cap cut (`line_bytes`: the line's real size; per
    /// field: its real `count` and `bytes`, and the bytes `kept`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "hand::cut")]
    pub cut: Option<serde_json::Map<String, serde_json::Value>>,
    /// The rules swmon added for the run (`audit-rules-installed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rules: Option<Vec<String>>,
    /// The run of the nearest ancestor that was an installer run when this
    /// one started (apt's, for the dpkg it runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_run_id: Option<String>,
    /// Which witnesses saw an install: `exec` (the kernel's exec stream,
    /// module loads included), `audit` (a record of the audit trail was
    /// attached), `state` (it wrote package state).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub detected_by: Vec<&'static str>,
    /// What changed in package state, read after the writers were done:
    /// `manager`, `name`, `version`, `previous_version`, `action`, `path`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "hand::changes")]
    pub changes: Vec<serde_json::Value>,
    /// Requested against changed (`crate::run::mismatch`): each package
    /// asked for that did not change (`not-changed`) or changed to
    /// another version than the exact one asked for (`other-version`);
    /// absent when not known, empty when all matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "hand::mismatches")]
    pub mismatches: Option<Vec<serde_json::Value>>,
    /// Where package state was written (the state witness): `writes`
    /// (`rule`, `path`, `pid` of the first writer, each place once), and
    /// `dropped` / `unplaced` counts when some were not kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "hand::state")]
    pub state: Option<serde_json::Value>,
}

/// One process above a run: `pid`, `name` (its executable's base name),
/// `comm` and `uid` as the kernel saw them at the exec; `executable` and
/// `args` only when the pid was still the same process when read.
#[derive(Clone, Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct AncestorOut {
    pub pid: u32,
    pub name: String,
    pub comm: String,
    pub uid: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub executable: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub args_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub args_bytes: Option<u64>,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Container {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime: Option<&'static str>,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct ChainLink {
    pub executable: String,
    pub args: Vec<String>,
}

/// Makes untrusted bytes a string losslessly; the flag says whether the
/// escapes were used (see the module doc).
pub fn escape_bytes(bytes: &[u8]) -> (String, bool) {
    match std::str::from_utf8(bytes) {
        Ok(s) => (s.to_owned(), false),
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
                for b in chunk.invalid() {
                    out.push_str(&format!("\\x{b:02x}"));
                }
            }
            (out, true)
        }
    }
}

/// [`escape_bytes`] where the flag is not needed (paths, names): invalid
/// UTF-8 still comes out escaped, never replaced.
pub fn lossless(bytes: &[u8]) -> String {
    escape_bytes(bytes).0
}

/// Undoes [`escape_bytes`] for an argument flagged as escaped.
pub fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'\\') {
            out.push(b'\\');
            i += 2;
        } else if b[i] == b'\\' && b.get(i + 1) == Some(&b'x') {
            let hex = b
                .get(i + 2..i + 4)
                .and_then(|h| std::str::from_utf8(h).ok());
            match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                Some(v) => {
                    out.push(v);
                    i += 4;
                }
                None => {
                    out.push(b[i]);
                    i += 1;
                }
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// RFC 3339 with microseconds, UTC.
pub fn timestamp(t: SystemTime) -> String {
    humantime::format_rfc3339_micros(t).to_string()
}

/// Converts the kernel's boot-time clock to wall-clock time. The offset
/// between the two is re-measured with [`Clock::refresh`] (every decide
/// tick), and each change is kept with the boot time it was measured at, so
/// a boot time converts with the offset of its own moment: after a clock
/// step (NTP, an admin's `date -s`) new events carry the new wall time, as
/// audit's records do, and joins keep working; older ones keep theirs.
#[derive(Clone, Debug)]
pub struct Clock {
    /// (boot ns when measured, wall ns at boot-time zero), oldest first.
    offsets: std::collections::VecDeque<(u64, i128)>,
}

/// Offsets kept (one per change past [`Clock::STEP_NS`]).
const CLOCK_HISTORY: usize = 256;

impl Clock {
    /// A change of the offset smaller than this is drift, not a step.
    pub const STEP_NS: i128 = 1_000_000;

    pub fn now() -> Clock {
        let (boot, offset) = Clock::measure();
        Clock {
            offsets: std::collections::VecDeque::from([(boot, offset)]),
        }
    }

    /// Both clocks read together (the tighter of two readings).
    fn measure() -> (u64, i128) {
        let mut best: Option<(u64, i128, u64)> = None;
        for _ in 0..2 {
            let b0 = clock_ns(nix::time::ClockId::CLOCK_BOOTTIME);
            let real = clock_ns(nix::time::ClockId::CLOCK_REALTIME);
            let b1 = clock_ns(nix::time::ClockId::CLOCK_BOOTTIME);
            let width = b1.saturating_sub(b0);
            let mid = b0 + width / 2;
            if best.is_none_or(|(_, _, w)| width < w) {
                best = Some((mid, i128::from(real) - i128::from(mid), width));
            }
        }
        best.map_or((0, 0), |(b, o, _)| (b, o))
    }

    /// Re-measures the offset; returns the step (ns) when it changed.
    pub fn refresh(&mut self) -> Option<i128> {
        let (boot, offset) = Clock::measure();
        let last = self.offsets.back().map_or(offset, |(_, o)| *o);
        let step = offset - last;
        if step.abs() < Clock::STEP_NS {
            return None;
        }
        self.offsets.push_back((boot, offset));
        while self.offsets.len() > CLOCK_HISTORY {
            self.offsets.pop_front();
        }
        Some(step)
    }

    fn offset_at(&self, boot_ns: u64) -> i128 {
        self.offsets
            .iter()
            .rev()
            .find(|(b, _)| *b <= boot_ns)
            .or(self.offsets.front())
            .map_or(0, |(_, o)| *o)
    }

    pub fn wall(&self, boot_ns: u64) -> SystemTime {
        let ns = self.offset_at(boot_ns) + i128::from(boot_ns);
        let ns = u64::try_from(ns).unwrap_or(0);
        SystemTime::UNIX_EPOCH + Duration::from_nanos(ns)
    }

    #[cfg(test)]
    pub(crate) fn with_offsets(offsets: &[(u64, i128)]) -> Clock {
        Clock {
            offsets: offsets.iter().copied().collect(),
        }
    }
}

/// A clock's reading in nanoseconds (these clocks cannot fail on Linux;
/// a failure reads as 0).
pub fn clock_ns(clock: nix::time::ClockId) -> u64 {
    nix::time::clock_gettime(clock)
        .map(|t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
        .unwrap_or(0)
}

/// Now on the kernel's boot-time clock, the clock of eBPF timestamps.
pub fn boot_ns_now() -> u64 {
    clock_ns(nix::time::ClockId::CLOCK_BOOTTIME)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_is_lossless() {
        let cases: &[&[u8]] = &[
            b"plain",
            b"with space",
            b"new\nline",
            b"\x1b[31mred",
            b"caf\xc3\xa9",
            b"bad\xff\xfebyte",
            b"back\\slash\xff",
            b"\\x41\x80",
            b"",
        ];
        for &c in cases {
            let (s, escaped) = escape_bytes(c);
            let back = if escaped {
                unescape(&s)
            } else {
                s.as_bytes().to_vec()
            };
            assert_eq!(back, c, "{s:?}");
            assert_eq!(escaped, std::str::from_utf8(c).is_err());
        }
        assert_eq!(escape_bytes(b"a\xffb\\").0, "a\\xffb\\\\");
    }

    #[test]
    fn clock_maps_boot_time_to_now() {
        let clock = Clock::now();
        let wall = clock.wall(boot_ns_now());
        let diff = SystemTime::now()
            .duration_since(wall)
            .unwrap_or_else(|e| e.duration());
        assert!(diff < Duration::from_secs(1), "{diff:?}");
    }

    #[test]
    fn a_clock_step_moves_later_times_only() {
        let secs = |n: u64| n * 1_000_000_000;
        // Measured at boot 0: wall = boot + 1000 s; a step of +60 s
        // measured at boot 50 s.
        let c = Clock::with_offsets(&[
            (0, i128::from(secs(1000))),
            (secs(50), i128::from(secs(1060))),
        ]);
        let at = |b| {
            c.wall(b)
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        };
        assert_eq!(at(secs(10)), secs(1010), "before the step");
        assert_eq!(at(secs(60)), secs(1120), "after it");
        let mut now = Clock::now();
        assert_eq!(now.refresh(), None, "no step between two readings");
    }
}
