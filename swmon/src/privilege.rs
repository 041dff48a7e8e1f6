//! Least privilege: once `swmon run` has loaded its BPF programs, opened its
//! sockets and installed its seed rules, it gives up every capability it no
//! longer needs and sets `no_new_privs`.
//!
//! What is kept, and why (each found by experiment on Linux 6.18 with
//! `kernel.unprivileged_bpf_disabled = 2`, dropping one capability at a time
//! and running the operation; see `ARCHITECTURE.md`):
//!
//! - `CAP_AUDIT_CONTROL` (unless `--no-audit`): every `AUDIT_GET`,
//!   `AUDIT_LIST_RULES`, `AUDIT_ADD_RULE` and `AUDIT_DEL_RULE` request is
//!   checked when it is *sent*, against the sender's capabilities, not when
//!   the socket was opened (`audit_netlink_ok()`: `netlink_capable()`).
//!   Without it the status poll, rule restore and the removal of swmon's
//!   rules at stop fail with `EPERM`.
//! - `CAP_SYS_PTRACE`: `/proc/PID/exe` and `/proc/PID/cwd` are behind
//!   `ptrace_may_access()`. A process of another user, or a root process
//!   whose permitted set is not a subset of ours (every root installer run
//!   once ours is reduced), is refused without it.
//! - `CAP_DAC_READ_SEARCH`: the SHA-256 of a size-matched candidate is read
//!   through `/proc/PID/exe`; a user's copy of an installer may be mode
//!   0700 in a home folder. Read and search only (no write override).
//! - `CAP_CHOWN`, only with `--output-group`: a reopened output file (SIGHUP)
//!   is given that group, which root is not a member of.
//!
//! Not needed after the drop, so dropped: `CAP_BPF`, `CAP_PERFMON` and
//! `CAP_SYS_ADMIN` (map lookups and updates, and object info, on fds that are
//! already open are not capability-checked since Linux 6.5 moved the
//! `unprivileged_bpf_disabled` check to map and program creation),
//! `CAP_AUDIT_READ` (checked at `bind` of the multicast group only),
//! `CAP_NET_ADMIN` (`SO_RCVBUFFORCE` is set at open), `CAP_DAC_OVERRIDE`
//! (the output file and `/run/swmon` are root's own; swmon's euid stays 0),
//! and everything else.
//!
//! Capabilities belong to a thread, not a process: the drop must happen on
//! the main thread before any other thread exists, or those threads keep
//! full root. [`drop_privileges`] refuses to run when the process has more
//! than one thread. The sets are dropped from effective, permitted,
//! inheritable and the bounding set; the ambient set is cleared; with
//! `no_new_privs` an `execve` can not gain any back. Cutting the bounding
//! set takes `CAP_SETPCAP`; started without it (a unit's
//! `CapabilityBoundingSet=`), swmon leaves the bounding set as it is and
//! says so (`bounding_reduced: false`).
//!
//! What the drop does not do: swmon's uid stays 0, and uid 0 still owns
//! root's files (it may write a root-owned file whose owner bits allow it,
//! and chmod it). Moving to a dedicated user after the drop would also
//! need `/run/swmon` and the output folder to be that user's.

use caps::{CapSet, Capability, CapsHashSet};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum PrivilegeError {
    #[error("can't drop privileges: {threads} threads are running; the drop must come before any thread is started")]
    Threads { threads: usize },
    #[error("can't drop privileges: {what}: {source}")]
    Caps {
        what: &'static str,
        source: caps::errors::CapsError,
    },
    #[error("can't set no_new_privs: {0}")]
    NoNewPrivs(std::io::Error),
    #[error("the capability drop did not hold: {set} is {found:?}, wanted {wanted:?}")]
    Check {
        set: &'static str,
        found: Vec<String>,
        wanted: Vec<String>,
    },
}

/// What the rest of the run still does, and so what it still needs.
#[derive(Clone, Copy, Debug, Default)]
pub struct Needs {
    /// Talks to kernel audit (status poll, rule restore, removal at stop).
    pub audit: bool,
    /// Gives a reopened output file a group root is not a member of.
    pub chown: bool,
}

/// What the drop left, for `monitor-started` (`swmon.privileges`).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Dropped {
    /// Kept capabilities, by their kernel names, sorted.
    pub kept: Vec<String>,
    pub no_new_privs: bool,
    /// The bounding set was cut to `kept` too (it takes `CAP_SETPCAP`, which
    /// a unit's `CapabilityBoundingSet=` may have taken away already; then
    /// `no_new_privs` alone keeps an exec from gaining any back).
    pub bounding_reduced: bool,
}

/// The capabilities `needs` calls for (see the module doc).
pub fn kept(needs: Needs) -> CapsHashSet {
    let mut keep = CapsHashSet::new();
    keep.insert(Capability::CAP_SYS_PTRACE);
    keep.insert(Capability::CAP_DAC_READ_SEARCH);
    if needs.audit {
        keep.insert(Capability::CAP_AUDIT_CONTROL);
    }
    if needs.chown {
        keep.insert(Capability::CAP_CHOWN);
    }
    keep
}

fn names(set: &CapsHashSet) -> Vec<String> {
    let mut v: Vec<String> = set.iter().map(ToString::to_string).collect();
    v.sort();
    v
}

/// How many threads this process has (`/proc/self/task`).
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(usize::MAX, Iterator::count)
}

/// Drops every capability but those `needs` calls for, from all sets of the
/// calling (and only) thread, and sets `no_new_privs`. Then reads the sets
/// back and fails unless they are what was asked for.
pub fn drop_privileges(needs: Needs) -> Result<Dropped, PrivilegeError> {
    let threads = threads();
    if threads != 1 {
        return Err(PrivilegeError::Threads { threads });
    }
    let err = |what| move |source| PrivilegeError::Caps { what, source };
    // Only what we hold can be kept (a run without CAP_CHOWN, say).
    let permitted = caps::read(None, CapSet::Permitted).map_err(err("read the permitted set"))?;
    let keep: CapsHashSet = kept(needs).intersection(&permitted).copied().collect();

    // The bounding set first: dropping from it needs CAP_SETPCAP, which goes
    // with the effective set below.
    let bounding = caps::read(None, CapSet::Bounding).map_err(err("read the bounding set"))?;
    let bounding_reduced = permitted.contains(&Capability::CAP_SETPCAP);
    if bounding_reduced {
        caps::raise(None, CapSet::Effective, Capability::CAP_SETPCAP)
            .map_err(err("raise CAP_SETPCAP"))?;
        for cap in bounding.difference(&keep) {
            caps::drop(None, CapSet::Bounding, *cap).map_err(err("drop from the bounding set"))?;
        }
    }
    caps::clear(None, CapSet::Ambient).map_err(err("clear the ambient set"))?;
    caps::clear(None, CapSet::Inheritable).map_err(err("clear the inheritable set"))?;
    // Effective before permitted: the kernel wants effective ⊆ permitted.
    caps::set(None, CapSet::Effective, &keep).map_err(err("set the effective set"))?;
    caps::set(None, CapSet::Permitted, &keep).map_err(err("set the permitted set"))?;

    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(PrivilegeError::NoNewPrivs(std::io::Error::last_os_error()));
    }

    let wanted_bounding = if bounding_reduced {
        keep.clone()
    } else {
        bounding
    };
    for (set, name, wanted) in [
        (CapSet::Effective, "effective", &keep),
        (CapSet::Permitted, "permitted", &keep),
        (CapSet::Inheritable, "inheritable", &CapsHashSet::new()),
        (CapSet::Ambient, "ambient", &CapsHashSet::new()),
        (CapSet::Bounding, "bounding", &wanted_bounding),
    ] {
        let found = caps::read(None, set).map_err(err("read the sets back"))?;
        if found != *wanted {
            return Err(PrivilegeError::Check {
                set: name,
                found: names(&found),
                wanted: names(wanted),
            });
        }
    }
    // SAFETY: prctl with integer arguments only.
    let no_new_privs = unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) } == 1;
    Ok(Dropped {
        kept: names(&keep),
        no_new_privs,
        bounding_reduced,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kept_set_follows_the_needs() {
        let base = names(&kept(Needs::default()));
        assert_eq!(base, ["CAP_DAC_READ_SEARCH", "CAP_SYS_PTRACE"]);
        let all = names(&kept(Needs {
            audit: true,
            chown: true,
        }));
        assert_eq!(
            all,
            [
                "CAP_AUDIT_CONTROL",
                "CAP_CHOWN",
                "CAP_DAC_READ_SEARCH",
                "CAP_SYS_PTRACE"
            ]
        );
        // Nothing that loads programs, overrides write permission or
        // administers the system is ever kept.
        for needs in [
            Needs::default(),
            Needs {
                audit: true,
                chown: true,
            },
        ] {
            let k = kept(needs);
            for cap in [
                Capability::CAP_SYS_ADMIN,
                Capability::CAP_BPF,
                Capability::CAP_DAC_OVERRIDE,
                Capability::CAP_SETUID,
                Capability::CAP_SETPCAP,
                Capability::CAP_NET_ADMIN,
                Capability::CAP_SYS_MODULE,
            ] {
                assert!(!k.contains(&cap), "{cap} kept");
            }
        }
    }

    #[test]
    fn a_second_thread_refuses_the_drop() {
        // The test harness runs each test on its own thread: the process has
        // more than one, so the drop must refuse and change nothing.
        let before = caps::read(None, CapSet::Effective).expect("read");
        let e = drop_privileges(Needs::default()).expect_err("refused");
        assert!(
            matches!(e, PrivilegeError::Threads { threads } if threads > 1),
            "{e}"
        );
        assert_eq!(caps::read(None, CapSet::Effective).expect("read"), before);
    }
}
