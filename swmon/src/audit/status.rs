//! The kernel's audit status (`AUDIT_GET`) and the health changes swmon
//! reports from it: audit disabled or enabled, the audit daemon gone or
//! back, records the kernel says it lost.
//!
//! [`AuditStatus::decode`] reads `struct audit_status` as this kernel sends
//! it (11 `u32`s, 44 bytes, since `backlog_wait_time_actual` came in 5.9;
//! older kernels send 40 bytes and that field is `None`). The first ten come
//! through netlink-packet-audit's `StatusMessageBuffer`, which stops short of
//! the eleventh. [`HealthTracker`] is pure: it turns successive snapshots into
//! [`Health`] changes and kernel-`lost` deltas, so it is tested without a
//! kernel.
//!
//! The daemon's pid the kernel reports goes to 0 only when the kernel next
//! fails to send to it, which can be long after a SIGKILL on a quiet host; so
//! a registered pid whose process is gone also counts as stopped (the caller
//! says whether it is alive). Not here: the polling loop
//! ([`super::stream`]) and loss seen on our own socket.

use std::time::Duration;

use netlink_packet_audit::{constants::AUDIT_GET, StatusMessageBuffer};
use serde::Serialize;

use super::{
    error::AuditError,
    netlink::{ControlSocket, Reply},
};

/// `struct audit_status` (include/uapi/linux/audit.h).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AuditStatus {
    pub mask: u32,
    /// 0 off, 1 on, 2 on and locked (immutable until reboot).
    pub enabled: u32,
    /// What the kernel does when it cannot log: 0 silent, 1 printk, 2 panic.
    pub failure: u32,
    /// The registered audit daemon (auditd), 0 for none.
    pub pid: u32,
    pub rate_limit: u32,
    pub backlog_limit: u32,
    /// Records the kernel dropped (backlog full, rate limit, no memory);
    /// a wrapping counter since boot or the last reset.
    pub lost: u32,
    /// Records queued in the kernel now.
    pub backlog: u32,
    pub feature_bitmap: u32,
    /// How long (in jiffies) a task waits for backlog room before its record
    /// is dropped.
    pub backlog_wait_time: u32,
    /// Time tasks spent waiting for backlog room (5.9 and later).
    pub backlog_wait_time_actual: Option<u32>,
}

/// `struct audit_status` with `backlog_wait_time_actual`.
const STATUS_LEN: usize = 44;
/// Before 5.9.
const STATUS_LEN_OLD: usize = 40;

impl AuditStatus {
    /// Decodes the payload of an `AUDIT_GET` answer.
    pub fn decode(payload: &[u8]) -> Result<AuditStatus, String> {
        let buf = StatusMessageBuffer::new_checked(payload).map_err(|e| e.to_string())?;
        let actual = if payload.len() >= STATUS_LEN {
            let b = &payload[STATUS_LEN_OLD..STATUS_LEN];
            Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        } else {
            None
        };
        Ok(AuditStatus {
            mask: buf.mask(),
            enabled: buf.enabled(),
            failure: buf.failure(),
            pid: buf.pid(),
            rate_limit: buf.rate_limiting(),
            backlog_limit: buf.backlog_limit(),
            lost: buf.lost(),
            backlog: buf.backlog(),
            feature_bitmap: buf.feature_bitmap(),
            backlog_wait_time: buf.backlog_wait_time(),
            backlog_wait_time_actual: actual,
        })
    }

    /// Asks the kernel for its status, blocking up to `timeout`.
    pub fn get(ctl: &mut ControlSocket, timeout: Duration) -> Result<AuditStatus, AuditError> {
        let replies = ctl.request(
            "the audit status request (AUDIT_GET)",
            AUDIT_GET,
            false,
            &[],
            timeout,
            |r| r.iter().any(|r| matches!(r, Reply::Data(AUDIT_GET, _))),
        )?;
        Self::from_replies(&replies)
    }

    /// Finds and decodes the status among the answers to an `AUDIT_GET`.
    pub fn from_replies(replies: &[Reply]) -> Result<AuditStatus, AuditError> {
        let payload = replies
            .iter()
            .find_map(|r| match r {
                Reply::Data(AUDIT_GET, p) => Some(p),
                _ => None,
            })
            .ok_or_else(|| AuditError::Malformed {
                request: "AUDIT_GET".into(),
                why: "no status in the answer".into(),
            })?;
        AuditStatus::decode(payload).map_err(|why| AuditError::Malformed {
            request: "AUDIT_GET".into(),
            why,
        })
    }
}

/// A change in the audit trail's health.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "kebab-case")]
pub enum Health {
    /// `enabled` went to 0, or was 0 when swmon started: the kernel logs no
    /// syscall records at all.
    AuditDisabled { at_start: bool },
    /// `enabled` went from 0 to 1, or to 2 (`locked`).
    AuditEnabled { locked: bool },
    /// No audit daemon is registered, or the registered one is gone:
    /// nothing writes the audit log. `pid` is the daemon that was, 0 at
    /// start with none.
    AuditdStopped {
        pid: u32,
        at_start: bool,
        /// `unregistered` (the kernel's pid went to 0), `process-gone` (the
        /// kernel still names a pid that no longer exists), `none` (at start).
        reason: &'static str,
    },
    /// A daemon registered (or a new one replaced the old).
    AuditdStarted { pid: u32 },
    /// `enabled` went from 1 to 2 (`auditctl -e 2`), or was 2 when swmon
    /// started: the audit configuration is locked until reboot; no rule
    /// can be added, removed or restored (swmon's included).
    AuditLocked { at_start: bool },
}

impl Health {
    /// The `event.action` this change is reported as.
    pub fn action(&self) -> &'static str {
        match self {
            Health::AuditDisabled { .. } => "audit-disabled",
            Health::AuditEnabled { .. } => "audit-enabled",
            Health::AuditdStopped { .. } => "auditd-stopped",
            Health::AuditdStarted { .. } => "auditd-started",
            Health::AuditLocked { .. } => "audit-locked",
        }
    }
}

/// What one status snapshot changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    pub changes: Vec<Health>,
    /// Records the kernel's `lost` counter grew by since the last snapshot.
    pub kernel_lost: u64,
}

/// Turns status snapshots into changes.
#[derive(Clone, Debug, Default)]
pub struct HealthTracker {
    last: Option<AuditStatus>,
    /// The daemon pid as we judge it: the kernel's, or 0 if its process is
    /// gone.
    daemon: u32,
    kernel_lost: u64,
}

impl HealthTracker {
    /// The last snapshot.
    pub fn last(&self) -> Option<&AuditStatus> {
        self.last.as_ref()
    }

    /// Records the kernel lost since the first snapshot.
    pub fn kernel_lost(&self) -> u64 {
        self.kernel_lost
    }

    /// Takes the enabled flag a CONFIG_CHANGE record (`op=set
    /// audit_enabled=N`) reported, at once rather than at the next poll;
    /// returns the change and the last snapshot with the new flag. A later
    /// poll that shows the same flag then reports nothing again.
    pub fn observe_enabled(&mut self, enabled: u32) -> Option<(Health, AuditStatus)> {
        let last = self.last.as_mut()?;
        let was = last.enabled;
        last.enabled = enabled;
        let change = if was != 0 && enabled == 0 {
            Health::AuditDisabled { at_start: false }
        } else if was == 1 && enabled == 2 {
            Health::AuditLocked { at_start: false }
        } else if was == 0 && enabled != 0 {
            Health::AuditEnabled {
                locked: enabled == 2,
            }
        } else {
            return None;
        };
        Some((change, *last))
    }

    /// Takes a snapshot; `daemon_alive` says whether `status.pid`'s process
    /// exists (ignored when the pid is 0).
    pub fn observe(&mut self, status: AuditStatus, daemon_alive: bool) -> Observed {
        let mut out = Observed::default();
        let daemon = if status.pid != 0 && daemon_alive {
            status.pid
        } else {
            0
        };
        let reason = if status.pid == 0 {
            "unregistered"
        } else {
            "process-gone"
        };
        match self.last {
            None => {
                if status.enabled == 0 {
                    out.changes.push(Health::AuditDisabled { at_start: true });
                } else if status.enabled == 2 {
                    out.changes.push(Health::AuditLocked { at_start: true });
                }
                if daemon == 0 {
                    out.changes.push(Health::AuditdStopped {
                        pid: status.pid,
                        at_start: true,
                        reason: if status.pid == 0 { "none" } else { reason },
                    });
                }
            }
            Some(last) => {
                if last.enabled != 0 && status.enabled == 0 {
                    out.changes.push(Health::AuditDisabled { at_start: false });
                } else if last.enabled == 1 && status.enabled == 2 {
                    out.changes.push(Health::AuditLocked { at_start: false });
                } else if last.enabled == 0 && status.enabled != 0 {
                    out.changes.push(Health::AuditEnabled {
                        locked: status.enabled == 2,
                    });
                }
                if self.daemon != daemon {
                    if self.daemon != 0 {
                        out.changes.push(Health::AuditdStopped {
                            pid: self.daemon,
                            at_start: false,
                            reason: if daemon != 0 { "replaced" } else { reason },
                        });
                    }
                    if daemon != 0 {
                        out.changes.push(Health::AuditdStarted { pid: daemon });
                    }
                }
                // A counter that went down was reset (auditctl --reset-lost):
                // what it shows now was lost since the reset.
                let delta = if status.lost >= last.lost {
                    status.lost - last.lost
                } else {
                    status.lost
                };
                out.kernel_lost = u64::from(delta);
                self.kernel_lost += u64::from(delta);
            }
        }
        self.daemon = daemon;
        self.last = Some(status);
        out
    }
}

/// Whether a process with this pid exists (in our pid namespace, which for
/// audit requests is the initial one).
pub fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(enabled: u32, pid: u32, lost: u32) -> AuditStatus {
        AuditStatus {
            enabled,
            pid,
            lost,
            ..AuditStatus::default()
        }
    }

    #[test]
    fn decodes_the_44_byte_struct_and_the_old_40() {
        let words: [u32; 11] = [0x7f, 1, 1, 4242, 0, 8192, 7, 3, 0x7f, 60000, 12];
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_ne_bytes()).collect();
        let s = AuditStatus::decode(&bytes).unwrap();
        assert_eq!(
            s,
            AuditStatus {
                mask: 0x7f,
                enabled: 1,
                failure: 1,
                pid: 4242,
                rate_limit: 0,
                backlog_limit: 8192,
                lost: 7,
                backlog: 3,
                feature_bitmap: 0x7f,
                backlog_wait_time: 60000,
                backlog_wait_time_actual: Some(12),
            }
        );
        let old = AuditStatus::decode(&bytes[..40]).unwrap();
        assert_eq!(old.backlog_wait_time_actual, None);
        assert_eq!(old.backlog_wait_time, 60000);
        assert!(AuditStatus::decode(&bytes[..39]).is_err());
    }

    #[test]
    fn reports_the_state_at_start() {
        let mut t = HealthTracker::default();
        let o = t.observe(status(0, 0, 5), false);
        assert_eq!(
            o.changes,
            vec![
                Health::AuditDisabled { at_start: true },
                Health::AuditdStopped {
                    pid: 0,
                    at_start: true,
                    reason: "none"
                }
            ]
        );
        // Loss before we started is not ours to report.
        assert_eq!(o.kernel_lost, 0);
        let mut t = HealthTracker::default();
        assert!(t.observe(status(1, 77, 0), true).changes.is_empty());
    }

    #[test]
    fn transitions() {
        let mut t = HealthTracker::default();
        t.observe(status(1, 0, 0), false);
        assert_eq!(
            t.observe(status(0, 0, 0), false).changes,
            vec![Health::AuditDisabled { at_start: false }]
        );
        assert_eq!(
            t.observe(status(2, 0, 0), false).changes,
            vec![Health::AuditEnabled { locked: true }]
        );
        assert_eq!(
            t.observe(status(2, 900, 0), true).changes,
            vec![Health::AuditdStarted { pid: 900 }]
        );
        assert!(t.observe(status(2, 900, 0), true).changes.is_empty());
        // Killed: the kernel still names it until it next fails to send.
        assert_eq!(
            t.observe(status(2, 900, 0), false).changes,
            vec![Health::AuditdStopped {
                pid: 900,
                at_start: false,
                reason: "process-gone"
            }]
        );
        assert!(t.observe(status(2, 0, 0), false).changes.is_empty());
        t.observe(status(2, 901, 0), true);
        assert_eq!(
            t.observe(status(2, 0, 0), false).changes,
            vec![Health::AuditdStopped {
                pid: 901,
                at_start: false,
                reason: "unregistered"
            }]
        );
        t.observe(status(2, 902, 0), true);
        assert_eq!(
            t.observe(status(2, 903, 0), true).changes,
            vec![
                Health::AuditdStopped {
                    pid: 902,
                    at_start: false,
                    reason: "replaced"
                },
                Health::AuditdStarted { pid: 903 }
            ]
        );
    }

    #[test]
    fn a_config_change_record_changes_the_flag_at_once_and_once() {
        let mut t = HealthTracker::default();
        assert_eq!(t.observe_enabled(0), None, "nothing before the first poll");
        t.observe(status(1, 0, 0), false);
        let (h, s) = t.observe_enabled(0).unwrap();
        assert_eq!(h, Health::AuditDisabled { at_start: false });
        assert_eq!(s.enabled, 0);
        // The poll that follows shows what the record said: no repeat.
        assert!(t.observe(status(0, 0, 0), false).changes.is_empty());
        assert_eq!(t.observe_enabled(0), None);
        // `-e 1` from 0 logs no record; the poll sees it.
        assert_eq!(
            t.observe(status(1, 0, 0), false).changes,
            vec![Health::AuditEnabled { locked: false }]
        );
        assert_eq!(t.observe_enabled(1), None, "a no-op -e 1");
        assert_eq!(
            t.observe_enabled(2).map(|c| c.0),
            Some(Health::AuditLocked { at_start: false }),
            "-e 2 locks"
        );
        assert_eq!(t.observe_enabled(2), None, "once");
        assert!(t.observe(status(2, 0, 0), false).changes.is_empty());
    }

    #[test]
    fn a_locked_configuration_is_a_health_change() {
        let mut t = HealthTracker::default();
        let first = t.observe(status(2, 0, 0), false).changes;
        assert!(
            first.contains(&Health::AuditLocked { at_start: true }),
            "{first:?}"
        );
        let mut t = HealthTracker::default();
        t.observe(status(1, 0, 0), false);
        assert_eq!(
            t.observe(status(2, 0, 0), false).changes,
            vec![Health::AuditLocked { at_start: false }]
        );
        assert_eq!(
            Health::AuditLocked { at_start: false }.action(),
            "audit-locked"
        );
        assert_eq!(
            serde_json::to_value(Health::AuditLocked { at_start: true }).unwrap()["change"],
            "audit-locked"
        );
    }

    #[test]
    fn lost_deltas_survive_a_reset() {
        let mut t = HealthTracker::default();
        t.observe(status(1, 0, 10), false);
        assert_eq!(t.observe(status(1, 0, 15), false).kernel_lost, 5);
        assert_eq!(t.observe(status(1, 0, 15), false).kernel_lost, 0);
        assert_eq!(t.observe(status(1, 0, 2), false).kernel_lost, 2);
        assert_eq!(t.kernel_lost(), 7);
    }

    #[test]
    fn our_own_pid_is_alive_and_a_huge_one_is_not() {
        assert!(pid_alive(std::process::id()));
        assert!(!pid_alive(0));
        assert!(!pid_alive(u32::MAX));
    }
}
