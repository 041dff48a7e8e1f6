//! Is swmon's kernel side still in place? The checks behind the
//! `ebpf-detached` and `ebpf-stalled` alerts, run on every poll.
//!
//! - Links: swmon holds the fd of each raw-tracepoint link it made;
//!   `BPF_OBJ_GET_INFO_BY_FD` on it must give the link id and program id
//!   it had at load. (On 6.x kernels a raw-tracepoint link cannot be
//!   detached from outside at all: `bpftool link detach` answers
//!   EOPNOTSUPP. The check guards against what can change it anyway.)
//! - Stages: the exec program tail-calls its later stages through the
//!   `STAGES` program array, which root can edit from outside
//!   (`bpftool map delete`/`update`): each slot must still hold the program
//!   id loaded there. A slot found empty or changed is put back at once from
//!   the program fds swmon holds, and the alert says so.
//! - The `seen` counter (every exec the filter ran on) standing still while
//!   the host forks: after [`STALL_FORKS`] forks with no exec seen, swmon
//!   runs one exec of its own (`/bin/true`); if even that is not seen, the
//!   program no longer runs on execs. Forks without execs (a pre-forking
//!   server) cost one canary exec per [`STALL_FORKS`] forks, never an alert.
//!
//! Every check works on fds swmon already holds, so it needs no capability
//! after loading.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use aya::{
    maps::{MapData, ProgramArray},
    programs::{links::FdLink, ProgramFd},
};

/// Forks seen host-wide with no exec seen by the filter before swmon
/// checks with an exec of its own.
pub const STALL_FORKS: u64 = 50;

/// One attachment that is not as swmon left it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Detached {
    /// `link` or `stage`.
    pub kind: &'static str,
    /// The program (`sched_process_exec`, `swmon_emit`).
    pub program: &'static str,
    /// The link's id (links) or the stage's slot (stages).
    pub slot: u32,
    /// The program id swmon loaded there.
    pub expected_program_id: u32,
    /// The program id found there now (`None`: nothing, or unreadable).
    pub found_program_id: Option<u32>,
    /// The stage was put back.
    pub restored: bool,
    /// The slot could not be read (the errno: `EPERM`, ...): nothing is
    /// known about it, so nothing was put back. Reported once.
    pub unverifiable: Option<i32>,
}

struct HeldLink {
    program: &'static str,
    link: FdLink,
    id: u32,
    program_id: u32,
}

struct Stage {
    index: u32,
    program: &'static str,
    fd: ProgramFd,
    id: u32,
}

/// What swmon attached, with the ids it had at load.
pub struct Attachments {
    links: Vec<HeldLink>,
    stages: ProgramArray<MapData>,
    stages_fd: OwnedFd,
    stages_map_id: u32,
    stage_programs: Vec<Stage>,
    /// Links already reported broken (reported once, not on every poll).
    reported: Vec<&'static str>,
    /// Stage slots already reported unverifiable or not put back.
    reported_stages: Vec<u32>,
}

impl Attachments {
    pub fn new(
        stages: ProgramArray<MapData>,
        stages_fd: OwnedFd,
        stages_map_id: u32,
    ) -> Attachments {
        Attachments {
            links: Vec::new(),
            stages,
            stages_fd,
            stages_map_id,
            stage_programs: Vec::new(),
            reported: Vec::new(),
            reported_stages: Vec::new(),
        }
    }

    /// Records a link swmon made; its ids are read now.
    pub fn hold_link(&mut self, program: &'static str, link: FdLink) -> Result<(), String> {
        let info = link.info().map_err(|e| e.to_string())?;
        self.links.push(HeldLink {
            program,
            id: info.id(),
            program_id: info.program_id(),
            link,
        });
        Ok(())
    }

    /// Records the program swmon put in stage slot `index`.
    pub fn hold_stage(&mut self, index: u32, program: &'static str, fd: ProgramFd, id: u32) {
        self.stage_programs.push(Stage {
            index,
            program,
            fd,
            id,
        });
    }

    /// Ids of the links and stage programs (for `monitor-started`).
    pub fn ids(&self) -> serde_json::Value {
        let links: serde_json::Map<String, serde_json::Value> = self
            .links
            .iter()
            .map(|l| {
                (
                    l.program.to_owned(),
                    serde_json::json!({ "link_id": l.id, "program_id": l.program_id }),
                )
            })
            .collect();
        let stages: serde_json::Map<String, serde_json::Value> = self
            .stage_programs
            .iter()
            .map(|s| (s.program.to_owned(), serde_json::json!(s.id)))
            .collect();
        serde_json::json!({ "links": links, "stages": stages, "stages_map_id": self.stages_map_id })
    }

    /// Every link and stage not as it was at load; stages are put back.
    /// A broken link is returned once, until it is whole again.
    pub fn check(&mut self) -> Vec<Detached> {
        let mut out = Vec::new();
        for l in &self.links {
            let found = l.link.info().ok().map(|i| (i.id(), i.program_id()));
            let whole = found == Some((l.id, l.program_id));
            let was_reported = self.reported.contains(&l.program);
            if whole {
                self.reported.retain(|p| *p != l.program);
            } else if !was_reported {
                self.reported.push(l.program);
                out.push(Detached {
                    kind: "link",
                    program: l.program,
                    slot: l.id,
                    expected_program_id: l.program_id,
                    found_program_id: found.map(|(_, p)| p).filter(|p| *p != 0),
                    restored: false,
                    unverifiable: None,
                });
            }
        }
        for s in &self.stage_programs {
            let was_reported = self.reported_stages.contains(&s.index);
            let (found, restored, unverifiable) =
                match prog_array_id(self.stages_fd.as_fd(), s.index) {
                    Ok(Some(id)) if id == s.id => {
                        self.reported_stages.retain(|i| *i != s.index);
                        continue;
                    }
                    // Empty (ENOENT) or another program: put back at once.
                    Ok(found) => {
                        let restored = self.stages.set(s.index, &s.fd, 0).is_ok()
                            && prog_array_id(self.stages_fd.as_fd(), s.index) == Ok(Some(s.id));
                        (found, restored, None)
                    }
                    Err(errno) => (None, false, Some(errno)),
                };
            if restored {
                // Each change put back is its own event.
                self.reported_stages.retain(|i| *i != s.index);
            } else if was_reported {
                continue;
            } else {
                self.reported_stages.push(s.index);
            }
            out.push(Detached {
                kind: "stage",
                program: s.program,
                slot: s.index,
                expected_program_id: s.id,
                found_program_id: found,
                restored,
                unverifiable,
            });
        }
        out
    }
}

/// The program id in slot `index` of a program array (the kernel answers
/// a lookup from user space with the id): `Ok(None)` when the slot is
/// empty (`ENOENT`), `Err(errno)` when it could not be read at all
/// (`EPERM`, ...: unverifiable, not gone).
fn prog_array_id(map: BorrowedFd<'_>, index: u32) -> Result<Option<u32>, i32> {
    /// `bpf_attr` for `BPF_MAP_LOOKUP_ELEM`.
    #[repr(C)]
    struct Lookup {
        map_fd: u32,
        _pad: u32,
        key: u64,
        value: u64,
        flags: u64,
    }
    const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
    let key = index;
    let mut value = 0u32;
    let attr = Lookup {
        map_fd: u32::try_from(map.as_raw_fd()).map_err(|_| libc::EBADF)?,
        _pad: 0,
        key: std::ptr::from_ref(&key) as u64,
        value: std::ptr::from_mut(&mut value) as u64,
        flags: 0,
    };
    // SAFETY: attr is a valid bpf_attr prefix for this command, its
    // pointers point at live locals of the right sizes.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_MAP_LOOKUP_ELEM,
            std::ptr::from_ref(&attr),
            std::mem::size_of::<Lookup>() as libc::c_uint,
        )
    };
    if r == 0 {
        return Ok(Some(value));
    }
    match std::io::Error::last_os_error().raw_os_error() {
        Some(libc::ENOENT) => Ok(None),
        Some(errno) => Err(errno),
        None => Err(libc::EIO),
    }
}

/// A kernel-side tamper alert: `ebpf-detached` (a link or stage not as
/// swmon left it) or `ebpf-stalled` (`seen` standing still).
#[derive(Clone, Debug)]
pub struct Alert {
    pub action: &'static str,
    pub detail: serde_json::Value,
}

impl Detached {
    pub fn alert(&self) -> Alert {
        Alert {
            action: "ebpf-detached",
            detail: serde_json::json!({
                "kind": self.kind,
                "program": self.program,
                "slot": self.slot,
                "expected_program_id": self.expected_program_id,
                "found_program_id": self.found_program_id,
                "restored": self.restored,
                "unverifiable_errno": self.unverifiable,
            }),
        }
    }
}

impl Stall {
    pub fn alert(&self) -> Alert {
        Alert {
            action: "ebpf-stalled",
            detail: serde_json::json!({
                "seen": self.seen,
                "forks_since": self.forks,
                "canary_ran": self.canary_ran,
            }),
        }
    }
}

/// The filter's `seen` counter standing still while the host forks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stall {
    /// Forks on the host since `seen` last moved.
    pub forks: u64,
    /// `seen` all that time.
    pub seen: u64,
    /// swmon's own exec could be run (and was not seen either).
    pub canary_ran: bool,
}

/// Watches `seen` against the host's fork count (`/proc/stat` `processes`:
/// no exec count is kept host-wide, but nearly every exec follows a fork).
#[derive(Debug, Default)]
pub struct SeenWatch {
    last_seen: u64,
    forks_base: Option<u64>,
    stalled: bool,
}

impl SeenWatch {
    /// Called each poll with the counter; `forks` reads the host's fork
    /// count (only when `seen` has not moved; `None`: unreadable, nothing
    /// concluded); `canary` runs an exec of swmon's own and returns `seen`
    /// after it (`None` when it could not run). Returns a stall once, when
    /// it starts.
    pub fn observe(
        &mut self,
        seen: u64,
        forks: impl FnOnce() -> Option<u64>,
        canary: impl FnOnce() -> Option<u64>,
    ) -> Option<Stall> {
        if seen != self.last_seen {
            self.last_seen = seen;
            self.forks_base = None;
            self.stalled = false;
            return None;
        }
        let forks = forks()?;
        let base = *self.forks_base.get_or_insert(forks);
        if forks < base {
            self.last_seen = seen;
            self.forks_base = Some(forks);
            self.stalled = false;
            return None;
        }
        if self.stalled || forks - base < STALL_FORKS {
            return None;
        }
        let after = canary();
        if let Some(after) = after.filter(|a| *a != seen) {
            // Execs still reach the filter: those were forks without exec.
            self.last_seen = after;
            self.forks_base = Some(forks);
            return None;
        }
        self.stalled = true;
        Some(Stall {
            forks: forks - base,
            seen,
            canary_ran: after.is_some(),
        })
    }
}

/// Processes forked since boot (`processes` in `/proc/stat`).
pub fn host_forks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines()
        .find_map(|l| l.strip_prefix("processes "))
        .and_then(|n| n.trim().parse().ok())
}

/// One exec of swmon's own executable (`/proc/self/exe --version`: always
/// there, whatever the host has in `/bin`). True once the exec has
/// happened: `spawn` returns only after the child's execve succeeded, and
/// the filter runs inside that execve, so nothing is waited for on the
/// caller's (tokio) thread; the child is reaped by a thread of its own.
pub fn canary_exec() -> bool {
    let child = std::process::Command::new("/proc/self/exe")
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    match child {
        Ok(mut child) => {
            let reaper = std::thread::Builder::new()
                .name("swmon-canary".into())
                .spawn(move || child.wait());
            reaper.is_ok()
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_moving_is_fine() {
        let mut w = SeenWatch::default();
        assert_eq!(w.observe(10, || Some(1000), || panic!("no canary")), None);
        // While seen moves, /proc/stat is not even read.
        assert_eq!(
            w.observe(11, || panic!("no read"), || panic!("no canary")),
            None
        );
        assert_eq!(
            w.observe(12, || panic!("no read"), || panic!("no canary")),
            None
        );
        // An unreadable fork count concludes nothing.
        assert_eq!(w.observe(12, || None, || panic!("no canary")), None);
    }

    #[test]
    fn forks_without_execs_are_checked_with_a_canary_not_alerted() {
        let mut w = SeenWatch::default();
        assert_eq!(
            w.observe(10, || panic!("seen moved"), || panic!("no")),
            None
        );
        // The first still poll takes the fork count as its base.
        assert_eq!(
            w.observe(10, || Some(1000), || panic!("no canary yet")),
            None
        );
        assert_eq!(
            w.observe(10, || Some(1000 + STALL_FORKS - 1), || panic!("not yet")),
            None
        );
        // The canary's exec was seen: a forking server, not a blind filter.
        assert_eq!(
            w.observe(10, || Some(1000 + STALL_FORKS), || Some(11)),
            None
        );
        assert_eq!(
            w.observe(11, || Some(1000 + STALL_FORKS + 1), || panic!("reset")),
            None
        );
    }

    #[test]
    fn a_blind_filter_is_one_alert_until_it_sees_again() {
        let mut w = SeenWatch::default();
        assert_eq!(w.observe(10, || None, || None), None);
        assert_eq!(w.observe(10, || Some(1000), || None), None);
        let stall = w.observe(10, || Some(1000 + STALL_FORKS), || Some(10));
        assert_eq!(
            stall,
            Some(Stall {
                forks: STALL_FORKS,
                seen: 10,
                canary_ran: true
            })
        );
        assert_eq!(
            w.observe(10, || Some(5000), || panic!("alerted already")),
            None
        );
        assert_eq!(
            w.observe(12, || Some(5001), || panic!("seeing again")),
            None
        );
        assert_eq!(w.observe(12, || Some(5001), || panic!("base")), None);
        // A canary that cannot run is no proof either way: alerted.
        let stall = w.observe(12, || Some(5001 + STALL_FORKS), || None);
        assert!(stall.is_some_and(|s| !s.canary_ran));
    }

    #[test]
    fn an_unreadable_slot_is_unverifiable_not_empty() {
        // Not a map at all: the kernel's answer is an error other than
        // ENOENT, which must never read as "the stage is gone".
        let f = std::fs::File::open("/proc/self/stat").expect("a file");
        let r = prog_array_id(f.as_fd(), 0);
        assert!(matches!(r, Err(e) if e != libc::ENOENT), "{r:?}");
    }

    #[test]
    fn host_forks_are_read() {
        let a = host_forks().expect("processes in /proc/stat");
        assert!(canary_exec());
        assert!(host_forks().expect("again") > a);
        // A failed exec is no canary.
        let missing = std::process::Command::new("/nonexistent/swmon").spawn();
        assert!(missing.is_err());
    }
}
