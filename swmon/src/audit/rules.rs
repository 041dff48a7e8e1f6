//! Audit rules: the kernel's `struct audit_rule_data` encoded and decoded,
//! shown the way `auditctl -l` shows them, listed, added and deleted over
//! netlink; the seed set swmon installs; and the guard that notices when
//! someone removes them.
//!
//! The seed is what "pure auditd" means in swmon's reports:
//! `-a always,exit -F arch=b64 -S all -F perm=x -F path=P -F key=software-installer`
//! for every catalogue installer found on this host, by canonical path (a
//! watch on a symlink would watch the link, not what exec opens). swmon adds
//! and deletes only rules of that exact shape and never flushes: a delete
//! names the rule field by field, the way the kernel's `audit_compare_rule`
//! matches it, so a rule that differs in anything is left alone.
//!
//! netlink-packet-audit's rule type models `exe=` as a number and then
//! misreads every string field after it, so the encoding is done here
//! (see include/uapi/linux/audit.h for the layout). Encoding, decoding and
//! the text form are pure and tested without a kernel; the rest needs root.

use std::{
    collections::BTreeSet,
    fmt, fs,
    io::Write,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use netlink_packet_audit::constants::{
    AUDIT_ADD_RULE, AUDIT_ARCH, AUDIT_ARCH_X86_64, AUDIT_BITMASK_SIZE, AUDIT_DEL_RULE, AUDIT_DIR,
    AUDIT_EXE, AUDIT_FILTERKEY, AUDIT_LIST_RULES, AUDIT_MAX_FIELDS, AUDIT_MAX_KEY_LEN, AUDIT_PERM,
    AUDIT_PERM_EXEC, AUDIT_WATCH,
};
use serde::Serialize;

use super::{
    assemble::AuditEvent,
    error::AuditError,
    netlink::{ControlSocket, Reply},
    ownership::{
        pid_of_name, read_state, LifeLock, Liveness, Owner, Recorded, StateDir, StateError,
        STATE_DIR,
    },
    types::RecordType,
    value::KEY_SEPARATOR,
};
use crate::ebpf::filter::FoundInstaller;

/// The key of the seed's rules, as in audit-userspace's `44-installers.rules`.
pub const SEED_KEY: &str = "software-installer";

/// How long a rule request may take; the kernel answers in microseconds.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

// include/uapi/linux/audit.h
const AUDIT_FILTER_USER: u32 = 0;
const AUDIT_FILTER_TASK: u32 = 1;
const AUDIT_FILTER_ENTRY: u32 = 2;
const AUDIT_FILTER_WATCH: u32 = 3;
const AUDIT_FILTER_EXIT: u32 = 4;
const AUDIT_FILTER_EXCLUDE: u32 = 5;
const AUDIT_FILTER_FS: u32 = 6;
const AUDIT_FILTER_URING_EXIT: u32 = 7;
const AUDIT_FILTER_PREPEND: u32 = 0x10;
const AUDIT_FSTYPE: u32 = 26;
const AUDIT_NEVER: u32 = 0;
const AUDIT_POSSIBLE: u32 = 1;
const AUDIT_ALWAYS: u32 = 2;
const AUDIT_SYSCALL_CLASSES: usize = 16;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const AUDIT_PERM_WRITE: u32 = 2;
const AUDIT_PERM_READ: u32 = 4;
const AUDIT_PERM_ATTR: u32 = 8;

/// Field operators (the top bits of `fieldflags`).
pub mod op {
    pub const BIT_MASK: u32 = 0x0800_0000;
    pub const LESS_THAN: u32 = 0x1000_0000;
    pub const GREATER_THAN: u32 = 0x2000_0000;
    pub const NOT_EQUAL: u32 = 0x3000_0000;
    pub const EQUAL: u32 = 0x4000_0000;
    pub const BIT_TEST: u32 = BIT_MASK | EQUAL;
    pub const LESS_THAN_OR_EQUAL: u32 = LESS_THAN | EQUAL;
    pub const GREATER_THAN_OR_EQUAL: u32 = GREATER_THAN | EQUAL;
}

/// Fixed part of `struct audit_rule_data`: flags, action, field_count,
/// mask[64], fields[64], values[64], fieldflags[64], buflen.
const RULE_HEADER_LEN: usize = 4 * (3 + AUDIT_BITMASK_SIZE + 3 * AUDIT_MAX_FIELDS + 1);

/// A field's value: a number, or a string carried in the rule's buffer.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FieldValue {
    Num(u32),
    Str(Vec<u8>),
}

/// One `-F name<op>value`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RuleField {
    /// `AUDIT_*` field id (`AUDIT_WATCH` is `path`).
    pub field: u32,
    /// One of [`op`].
    pub op: u32,
    pub value: FieldValue,
}

/// One audit rule as the kernel holds it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AuditRule {
    /// Filter list (`exit` is 4), without the prepend flag.
    pub list: u32,
    pub prepend: bool,
    /// `always`, `never`.
    pub action: u32,
    /// Syscall bitmap, normalized (see [`AuditRule::normalize`]).
    pub mask: Vec<u32>,
    pub fields: Vec<RuleField>,
}

/// Why a rule could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("a rule has at most {AUDIT_MAX_FIELDS} fields, this one {0}")]
    TooManyFields(usize),
    #[error("field {field} is a string field and needs a string value")]
    NotAString { field: &'static str },
    #[error("field {field} is a number field and needs a number value")]
    NotANumber { field: &'static str },
    #[error("the key is {0} bytes, the kernel takes at most {AUDIT_MAX_KEY_LEN}")]
    KeyTooLong(usize),
    #[error("{field} must be an absolute path without a trailing slash, not {value:?}")]
    BadPath { field: &'static str, value: String },
    #[error("the string value of {field} is empty")]
    Empty { field: &'static str },
}

/// Field ids, their `auditctl` names, and whether their value is a string.
const FIELD_NAMES: &[(u32, &str, bool)] = &[
    (0, "pid", false),
    (1, "uid", false),
    (2, "euid", false),
    (3, "suid", false),
    (4, "fsuid", false),
    (5, "gid", false),
    (6, "egid", false),
    (7, "sgid", false),
    (8, "fsgid", false),
    (9, "auid", false),
    (10, "pers", false),
    (11, "arch", false),
    (12, "msgtype", false),
    (13, "subj_user", true),
    (14, "subj_role", true),
    (15, "subj_type", true),
    (16, "subj_sen", true),
    (17, "subj_clr", true),
    (18, "ppid", false),
    (19, "obj_user", true),
    (20, "obj_role", true),
    (21, "obj_type", true),
    (22, "obj_lev_low", true),
    (23, "obj_lev_high", true),
    (24, "loginuid_set", false),
    (25, "sessionid", false),
    (26, "fstype", false),
    (100, "devmajor", false),
    (101, "devminor", false),
    (102, "inode", false),
    (103, "exit", false),
    (104, "success", false),
    (105, "path", true),
    (106, "perm", false),
    (107, "dir", true),
    (108, "filetype", false),
    (109, "obj_uid", false),
    (110, "obj_gid", false),
    (111, "field_compare", false),
    (112, "exe", true),
    (113, "saddr_fam", false),
    (200, "a0", false),
    (201, "a1", false),
    (202, "a2", false),
    (203, "a3", false),
    (210, "key", true),
];

fn field_info(field: u32) -> Option<(&'static str, bool)> {
    FIELD_NAMES
        .iter()
        .find(|(id, _, _)| *id == field)
        .map(|&(_, name, is_str)| (name, is_str))
}

fn field_name(field: u32) -> String {
    field_info(field)
        .map(|(n, _)| n.to_owned())
        .unwrap_or_else(|| format!("field{field}"))
}

fn is_string_field(field: u32) -> bool {
    field_info(field).is_some_and(|(_, s)| s)
}

/// x86_64 syscall numbers `auditctl -l` users meet in rules; others print as
/// numbers, which `auditctl -S` accepts too.
const SYSCALLS_X86_64: &[(u32, &str)] = &[
    (2, "open"),
    (41, "socket"),
    (42, "connect"),
    (43, "accept"),
    (49, "bind"),
    (59, "execve"),
    (76, "truncate"),
    (77, "ftruncate"),
    (82, "rename"),
    (83, "mkdir"),
    (84, "rmdir"),
    (85, "creat"),
    (86, "link"),
    (87, "unlink"),
    (88, "symlink"),
    (90, "chmod"),
    (91, "fchmod"),
    (92, "chown"),
    (93, "fchown"),
    (94, "lchown"),
    (101, "ptrace"),
    (105, "setuid"),
    (106, "setgid"),
    (159, "adjtimex"),
    (164, "settimeofday"),
    (165, "mount"),
    (166, "umount2"),
    (170, "sethostname"),
    (171, "setdomainname"),
    (175, "init_module"),
    (176, "delete_module"),
    (188, "setxattr"),
    (189, "lsetxattr"),
    (190, "fsetxattr"),
    (197, "removexattr"),
    (198, "lremovexattr"),
    (199, "fremovexattr"),
    (227, "clock_settime"),
    (246, "kexec_load"),
    (257, "openat"),
    (258, "mkdirat"),
    (260, "fchownat"),
    (263, "unlinkat"),
    (264, "renameat"),
    (265, "linkat"),
    (266, "symlinkat"),
    (268, "fchmodat"),
    (288, "accept4"),
    (313, "finit_module"),
    (316, "renameat2"),
    (319, "memfd_create"),
    (321, "bpf"),
    (322, "execveat"),
    (437, "openat2"),
    (452, "fchmodat2"),
];

/// The bitmap for "every syscall", as the kernel keeps it: the top
/// [`AUDIT_SYSCALL_CLASSES`] bits name syscall classes, which the kernel
/// expands and clears when it takes a rule (`audit_to_entry_common`).
fn mask_all() -> Vec<u32> {
    let mut m = vec![u32::MAX; AUDIT_BITMASK_SIZE];
    m[AUDIT_BITMASK_SIZE - 1] &= class_bits_cleared();
    m
}

fn class_bits_cleared() -> u32 {
    u32::MAX >> AUDIT_SYSCALL_CLASSES
}

impl AuditRule {
    /// The seed's shape:
    /// `-a always,exit -F arch=b64 -S all -F perm=x -F path=PATH -F key=KEY`.
    pub fn exec_watch(path: &Path, key: &str) -> AuditRule {
        use std::os::unix::ffi::OsStrExt;
        AuditRule {
            list: AUDIT_FILTER_EXIT,
            prepend: false,
            action: AUDIT_ALWAYS,
            mask: mask_all(),
            fields: vec![
                RuleField {
                    field: AUDIT_ARCH,
                    op: op::EQUAL,
                    value: FieldValue::Num(AUDIT_ARCH_X86_64),
                },
                RuleField {
                    field: AUDIT_PERM,
                    op: op::EQUAL,
                    value: FieldValue::Num(AUDIT_PERM_EXEC),
                },
                RuleField {
                    field: AUDIT_WATCH,
                    op: op::EQUAL,
                    value: FieldValue::Str(path.as_os_str().as_bytes().to_vec()),
                },
                RuleField {
                    field: AUDIT_FILTERKEY,
                    op: op::EQUAL,
                    value: FieldValue::Str(key.as_bytes().to_vec()),
                },
            ],
        }
    }

    /// `-a always,exit -F arch=b64 -S SYSCALL... -F key=KEY`: every call of
    /// these syscalls (an execve-all rule with `execve`).
    pub fn syscalls(syscalls: &[u32], key: &str) -> AuditRule {
        let mut mask = vec![0u32; AUDIT_BITMASK_SIZE];
        for &nr in syscalls {
            if let Some(word) = mask.get_mut(nr as usize / 32) {
                *word |= 1 << (nr % 32);
            }
        }
        AuditRule {
            list: AUDIT_FILTER_EXIT,
            prepend: false,
            action: AUDIT_ALWAYS,
            mask,
            fields: vec![
                RuleField {
                    field: AUDIT_ARCH,
                    op: op::EQUAL,
                    value: FieldValue::Num(AUDIT_ARCH_X86_64),
                },
                RuleField {
                    field: AUDIT_FILTERKEY,
                    op: op::EQUAL,
                    value: FieldValue::Str(key.as_bytes().to_vec()),
                },
            ],
        }
    }

    /// Clears the class bits, as the kernel does, so a rule compares equal to
    /// its listing.
    pub fn normalize(&mut self) {
        self.mask.resize(AUDIT_BITMASK_SIZE, 0);
        if let Some(last) = self.mask.last_mut() {
            *last &= class_bits_cleared();
        }
    }

    /// Whether swmon could have added this rule: an `always,exit` rule with
    /// a key that the kernel would take. A state file naming anything else
    /// is refused (see [`super::ownership`]).
    pub fn swmon_could_add(&self) -> bool {
        self.list == AUDIT_FILTER_EXIT
            && self.action == AUDIT_ALWAYS
            && !self.keys().is_empty()
            && self.encode().is_ok()
    }

    /// Whether the rule is exactly [`AuditRule::exec_watch`] of its path
    /// and its one key: the only shape `swmon run` adds, so the only one a
    /// state file may name.
    pub fn is_exec_watch(&self) -> bool {
        use std::os::unix::ffi::OsStrExt;
        let keys = self.keys();
        let (Some(path), [key]) = (self.path(), keys.as_slice()) else {
            return false;
        };
        let Ok(key) = std::str::from_utf8(key) else {
            return false;
        };
        !self.prepend
            && AuditRule::exec_watch(Path::new(std::ffi::OsStr::from_bytes(path)), key)
                .same_as(self)
            && self.encode().is_ok()
    }

    /// Whether the rule names every syscall (`-S all`).
    pub fn all_syscalls(&self) -> bool {
        let n = self.mask.len();
        n == AUDIT_BITMASK_SIZE
            && self.mask[..n - 1].iter().all(|w| *w == u32::MAX)
            && self.mask[n - 1] | !class_bits_cleared() == u32::MAX
    }

    fn has_syscall(&self, nr: u32) -> bool {
        self.mask
            .get(nr as usize / 32)
            .is_some_and(|w| w & (1 << (nr % 32)) != 0)
    }

    fn string(&self, field: u32) -> Option<&[u8]> {
        self.fields
            .iter()
            .find_map(|f| match (&f.value, f.field == field) {
                (FieldValue::Str(s), true) => Some(s.as_slice()),
                _ => None,
            })
    }

    fn number(&self, field: u32) -> Option<u32> {
        self.fields
            .iter()
            .find_map(|f| match (&f.value, f.field == field) {
                (FieldValue::Num(n), true) if f.op == op::EQUAL => Some(*n),
                _ => None,
            })
    }

    /// `path=` (a watch).
    pub fn path(&self) -> Option<&[u8]> {
        self.string(AUDIT_WATCH)
    }

    /// The rule's keys (`-F key=a -F key=b` travel as one string split by
    /// 0x01).
    pub fn keys(&self) -> Vec<Vec<u8>> {
        self.fields
            .iter()
            .filter(|f| f.field == AUDIT_FILTERKEY)
            .flat_map(|f| match &f.value {
                FieldValue::Str(s) => split_key_bytes(s),
                FieldValue::Num(_) => Vec::new(),
            })
            .collect()
    }

    /// Whether the rule can match an x86_64 exec: no other arch named, and
    /// `perm=x` or `execve`/`execveat` in its syscalls.
    fn applies_to_exec(&self) -> bool {
        if self
            .number(AUDIT_ARCH)
            .is_some_and(|a| a != AUDIT_ARCH_X86_64)
        {
            return false;
        }
        match self.number(AUDIT_PERM) {
            Some(perm) => perm & AUDIT_PERM_EXEC != 0,
            None => self.has_syscall(59) || self.has_syscall(322),
        }
    }

    /// Whether the rule's file fields can match an exec of `path`: none
    /// (any file), `path=` naming it, `dir=` holding it (`exe=` and other
    /// fields are taken as matching: the alert errs on the safe side).
    fn may_match_file(&self, path: &[u8]) -> bool {
        if let Some(p) = self.path() {
            return p == path;
        }
        if let Some(d) = self.string(AUDIT_DIR) {
            let d = d.strip_suffix(b"/").unwrap_or(d);
            return path.starts_with(d) && path.get(d.len()) == Some(&b'/');
        }
        true
    }

    /// For a filesystem-list rule: whether the file system holding `path`
    /// has the rule's `fstype=` (true when the rule names none, or when
    /// the file system can't be asked: the alert errs on the safe side).
    fn fstype_holds(&self, path: &[u8]) -> bool {
        let Some(want) = self.number(AUDIT_FSTYPE) else {
            return true;
        };
        let Ok(c) = std::ffi::CString::new(path) else {
            return true;
        };
        // SAFETY: statfs is plain data; all-zero is a valid value.
        let mut st: libc::statfs = unsafe { std::mem::zeroed() };
        // SAFETY: a NUL-terminated path and a statfs buffer we own.
        if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
            return true;
        }
        st.f_type as u32 == want
    }

    /// Whether an exec of the file at `canonical` (a canonical path) fires
    /// this rule: an always/exit rule on it by `path=`, `exe=` or `dir=`,
    /// for exec (by `perm=x`, or by `execve`/`execveat` in the syscalls), on
    /// x86_64 or any arch.
    pub fn covers_exec_of(&self, canonical: &Path) -> bool {
        use std::os::unix::ffi::OsStrExt;
        if self.list != AUDIT_FILTER_EXIT || self.action != AUDIT_ALWAYS {
            return false;
        }
        if self
            .number(AUDIT_ARCH)
            .is_some_and(|a| a != AUDIT_ARCH_X86_64)
        {
            return false;
        }
        let for_exec = match self.number(AUDIT_PERM) {
            Some(perm) => perm & AUDIT_PERM_EXEC != 0,
            None => self.has_syscall(59) || self.has_syscall(322),
        };
        if !for_exec {
            return false;
        }
        let resolve = |p: &[u8]| -> PathBuf {
            let p = Path::new(std::ffi::OsStr::from_bytes(p));
            fs::canonicalize(p).unwrap_or_else(|_| p.to_owned())
        };
        let target = canonical;
        if let Some(p) = self.path().or_else(|| self.string(AUDIT_EXE)) {
            if resolve(p) == target {
                return true;
            }
        }
        if let Some(d) = self.string(AUDIT_DIR) {
            if target.starts_with(resolve(d)) {
                return true;
            }
        }
        false
    }

    /// Checks what the kernel would refuse for sure, with a clearer message.
    fn validate(&self) -> Result<(), RuleError> {
        if self.fields.len() > AUDIT_MAX_FIELDS {
            return Err(RuleError::TooManyFields(self.fields.len()));
        }
        for f in &self.fields {
            let name = field_info(f.field).map_or("unknown", |(n, _)| n);
            match (&f.value, is_string_field(f.field)) {
                (FieldValue::Num(_), true) => return Err(RuleError::NotAString { field: name }),
                (FieldValue::Str(_), false) => return Err(RuleError::NotANumber { field: name }),
                (FieldValue::Str(s), true) => {
                    if s.is_empty() {
                        return Err(RuleError::Empty { field: name });
                    }
                    if f.field == AUDIT_FILTERKEY && s.len() > AUDIT_MAX_KEY_LEN {
                        return Err(RuleError::KeyTooLong(s.len()));
                    }
                    if matches!(f.field, AUDIT_WATCH | AUDIT_DIR | AUDIT_EXE)
                        && (s[0] != b'/' || (s.len() > 1 && s.ends_with(b"/")))
                    {
                        return Err(RuleError::BadPath {
                            field: name,
                            value: String::from_utf8_lossy(s).into_owned(),
                        });
                    }
                }
                (FieldValue::Num(_), false) => {}
            }
        }
        Ok(())
    }

    /// `struct audit_rule_data` for `AUDIT_ADD_RULE` / `AUDIT_DEL_RULE`.
    pub fn encode(&self) -> Result<Vec<u8>, RuleError> {
        self.validate()?;
        let strings: usize = self
            .fields
            .iter()
            .map(|f| match &f.value {
                FieldValue::Str(s) => s.len(),
                FieldValue::Num(_) => 0,
            })
            .sum();
        let mut out = vec![0u8; RULE_HEADER_LEN + strings];
        let put = |out: &mut Vec<u8>, word: usize, v: u32| {
            out[word * 4..word * 4 + 4].copy_from_slice(&v.to_ne_bytes());
        };
        let flags = self.list
            | if self.prepend {
                AUDIT_FILTER_PREPEND
            } else {
                0
            };
        put(&mut out, 0, flags);
        put(&mut out, 1, self.action);
        put(&mut out, 2, self.fields.len() as u32);
        for (i, w) in self.mask.iter().take(AUDIT_BITMASK_SIZE).enumerate() {
            put(&mut out, 3 + i, *w);
        }
        let fields_at = 3 + AUDIT_BITMASK_SIZE;
        let values_at = fields_at + AUDIT_MAX_FIELDS;
        let flags_at = values_at + AUDIT_MAX_FIELDS;
        let buflen_at = flags_at + AUDIT_MAX_FIELDS;
        let mut buf_at = RULE_HEADER_LEN;
        for (i, f) in self.fields.iter().enumerate() {
            put(&mut out, fields_at + i, f.field);
            put(&mut out, flags_at + i, f.op);
            match &f.value {
                FieldValue::Num(n) => put(&mut out, values_at + i, *n),
                FieldValue::Str(s) => {
                    put(&mut out, values_at + i, s.len() as u32);
                    out[buf_at..buf_at + s.len()].copy_from_slice(s);
                    buf_at += s.len();
                }
            }
        }
        put(&mut out, buflen_at, strings as u32);
        Ok(out)
    }

    /// Reads a rule as `AUDIT_LIST_RULES` sends it.
    pub fn decode(data: &[u8]) -> Result<AuditRule, String> {
        if data.len() < RULE_HEADER_LEN {
            return Err(format!(
                "{} bytes, shorter than the {RULE_HEADER_LEN}-byte rule header",
                data.len()
            ));
        }
        let get = |word: usize| {
            let b = &data[word * 4..word * 4 + 4];
            u32::from_ne_bytes([b[0], b[1], b[2], b[3]])
        };
        let flags = get(0);
        let count = get(2) as usize;
        if count > AUDIT_MAX_FIELDS {
            return Err(format!("{count} fields, more than {AUDIT_MAX_FIELDS}"));
        }
        let fields_at = 3 + AUDIT_BITMASK_SIZE;
        let values_at = fields_at + AUDIT_MAX_FIELDS;
        let flags_at = values_at + AUDIT_MAX_FIELDS;
        let buflen = get(flags_at + AUDIT_MAX_FIELDS) as usize;
        let buf = data
            .get(RULE_HEADER_LEN..RULE_HEADER_LEN.saturating_add(buflen))
            .ok_or_else(|| format!("string buffer of {buflen} bytes runs past the message"))?;
        let mut at = 0usize;
        let mut fields = Vec::with_capacity(count);
        for i in 0..count {
            let field = get(fields_at + i);
            let value = get(values_at + i);
            let value = if is_string_field(field) {
                let end = at.saturating_add(value as usize);
                let s = buf.get(at..end).ok_or_else(|| {
                    format!("string of field {} runs past the buffer", field_name(field))
                })?;
                at = end;
                FieldValue::Str(s.to_vec())
            } else {
                FieldValue::Num(value)
            };
            fields.push(RuleField {
                field,
                op: get(flags_at + i),
                value,
            });
        }
        let mut rule = AuditRule {
            list: flags & !AUDIT_FILTER_PREPEND,
            prepend: flags & AUDIT_FILTER_PREPEND != 0,
            action: get(1),
            mask: (0..AUDIT_BITMASK_SIZE).map(|i| get(3 + i)).collect(),
            fields,
        };
        rule.normalize();
        Ok(rule)
    }

    /// Whether `other` is the same rule for the kernel (`audit_compare_rule`).
    /// The prepend flag is not part of the comparison, as in the kernel.
    pub fn same_as(&self, other: &AuditRule) -> bool {
        // Compared in place (no clone, no allocation): this runs in the
        // guard's loops over every loaded rule on every poll.
        let word = |r: &AuditRule, i: usize| {
            let w = r.mask.get(i).copied().unwrap_or(0);
            if i == AUDIT_BITMASK_SIZE - 1 {
                w & class_bits_cleared()
            } else {
                w
            }
        };
        self.list == other.list
            && self.action == other.action
            && self.fields == other.fields
            && (0..AUDIT_BITMASK_SIZE).all(|i| word(self, i) == word(other, i))
    }
}

fn split_key_bytes(s: &[u8]) -> Vec<Vec<u8>> {
    s.split(|&b| b == KEY_SEPARATOR)
        .map(<[u8]>::to_vec)
        .collect()
}

fn list_name(list: u32) -> String {
    match list {
        AUDIT_FILTER_USER => "user".into(),
        AUDIT_FILTER_TASK => "task".into(),
        AUDIT_FILTER_ENTRY => "entry".into(),
        AUDIT_FILTER_WATCH => "watch".into(),
        AUDIT_FILTER_EXIT => "exit".into(),
        AUDIT_FILTER_EXCLUDE => "exclude".into(),
        AUDIT_FILTER_FS => "filesystem".into(),
        AUDIT_FILTER_URING_EXIT => "io_uring".into(),
        n => format!("list{n}"),
    }
}

fn action_name(action: u32) -> String {
    match action {
        AUDIT_NEVER => "never".into(),
        AUDIT_POSSIBLE => "possible".into(),
        AUDIT_ALWAYS => "always".into(),
        n => format!("action{n}"),
    }
}

fn op_text(o: u32) -> &'static str {
    match o {
        op::EQUAL => "=",
        op::NOT_EQUAL => "!=",
        op::LESS_THAN => "<",
        op::GREATER_THAN => ">",
        op::LESS_THAN_OR_EQUAL => "<=",
        op::GREATER_THAN_OR_EQUAL => ">=",
        op::BIT_MASK => "&",
        op::BIT_TEST => "&=",
        _ => "?",
    }
}

/// A string value as auditctl would take it back: plain when it has no
/// space, quote or control byte, otherwise quoted with `\xNN` escapes.
fn write_str(f: &mut fmt::Formatter<'_>, s: &[u8]) -> fmt::Result {
    let plain = !s.is_empty()
        && s.iter()
            .all(|&b| b.is_ascii_graphic() && b != b'"' && b != b'\\');
    if plain {
        return f.write_str(&String::from_utf8_lossy(s));
    }
    f.write_str("\"")?;
    for &b in s {
        if b.is_ascii_graphic() && b != b'"' && b != b'\\' || b == b' ' {
            write!(f, "{}", b as char)?;
        } else {
            write!(f, "\\x{b:02x}")?;
        }
    }
    f.write_str("\"")
}

fn write_num(f: &mut fmt::Formatter<'_>, field: u32, v: u32) -> fmt::Result {
    match field {
        AUDIT_ARCH if v == AUDIT_ARCH_X86_64 => f.write_str("b64"),
        AUDIT_ARCH if v == AUDIT_ARCH_I386 => f.write_str("b32"),
        AUDIT_PERM => {
            for (bit, c) in [
                (AUDIT_PERM_READ, 'r'),
                (AUDIT_PERM_WRITE, 'w'),
                (AUDIT_PERM_EXEC, 'x'),
                (AUDIT_PERM_ATTR, 'a'),
            ] {
                if v & bit != 0 {
                    write!(f, "{c}")?;
                }
            }
            Ok(())
        }
        // Login uid and the uid family: unset is -1, as auditctl 3.0 prints it.
        1..=9 | 109 | 110 if v == u32::MAX => f.write_str("-1"),
        // exit= and the syscall arguments are signed.
        103 => write!(f, "{}", v as i32),
        _ => write!(f, "{v}"),
    }
}

/// The `auditctl -l` form: `-a always,exit -F arch=b64 -S all -F perm=x ...`.
impl fmt::Display for AuditRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flag = if self.prepend { "-A" } else { "-a" };
        write!(
            f,
            "{flag} {},{}",
            action_name(self.action),
            list_name(self.list)
        )?;
        let field = |f: &mut fmt::Formatter<'_>, rf: &RuleField| -> fmt::Result {
            match &rf.value {
                FieldValue::Str(s) if rf.field == AUDIT_FILTERKEY => {
                    for key in split_key_bytes(s) {
                        f.write_str(" -F key=")?;
                        write_str(f, &key)?;
                    }
                    Ok(())
                }
                FieldValue::Str(s) => {
                    write!(f, " -F {}{}", field_name(rf.field), op_text(rf.op))?;
                    write_str(f, s)
                }
                FieldValue::Num(n) => {
                    write!(f, " -F {}{}", field_name(rf.field), op_text(rf.op))?;
                    write_num(f, rf.field, *n)
                }
            }
        };
        // auditctl prints the arch first, then the syscalls, then the rest.
        for rf in self.fields.iter().filter(|rf| rf.field == AUDIT_ARCH) {
            field(f, rf)?;
        }
        let syscall_list = matches!(
            self.list,
            AUDIT_FILTER_EXIT | AUDIT_FILTER_ENTRY | AUDIT_FILTER_URING_EXIT
        );
        if syscall_list && self.mask.iter().any(|w| *w != 0) {
            if self.all_syscalls() {
                f.write_str(" -S all")?;
            } else {
                let b32 = self.number(AUDIT_ARCH) == Some(AUDIT_ARCH_I386);
                let mut first = true;
                for nr in 0..(AUDIT_BITMASK_SIZE as u32 * 32) {
                    if !self.has_syscall(nr) {
                        continue;
                    }
                    f.write_str(if first { " -S " } else { "," })?;
                    first = false;
                    match SYSCALLS_X86_64.iter().find(|(n, _)| *n == nr) {
                        Some((_, name)) if !b32 => f.write_str(name)?,
                        _ => write!(f, "{nr}")?,
                    }
                }
            }
        }
        for rf in self.fields.iter().filter(|rf| rf.field != AUDIT_ARCH) {
            field(f, rf)?;
        }
        Ok(())
    }
}

impl Serialize for AuditRule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// The rules loaded in the kernel now, in its order.
pub fn list_rules(ctl: &mut ControlSocket) -> Result<Vec<AuditRule>, AuditError> {
    const WHAT: &str = "the rule list request (AUDIT_LIST_RULES)";
    let replies = ctl.request(WHAT, AUDIT_LIST_RULES, false, &[], REQUEST_TIMEOUT, |r| {
        r.iter().any(|r| matches!(r, Reply::Done))
    })?;
    replies
        .iter()
        .filter_map(|r| match r {
            Reply::Data(AUDIT_LIST_RULES, p) => Some(p),
            _ => None,
        })
        .map(|p| {
            AuditRule::decode(p).map_err(|why| AuditError::Malformed {
                request: WHAT.into(),
                why,
            })
        })
        .collect()
}

fn rule_request(
    ctl: &mut ControlSocket,
    msg_type: u16,
    verb: &str,
    rule: &AuditRule,
) -> Result<(), AuditError> {
    let what = format!("{verb} rule `{rule}`");
    let data = rule.encode().map_err(|e| AuditError::Malformed {
        request: what.clone(),
        why: e.to_string(),
    })?;
    ctl.request(&what, msg_type, true, &data, REQUEST_TIMEOUT, |r| {
        r.iter().any(|r| matches!(r, Reply::Ack))
    })?;
    Ok(())
}

pub fn add_rule(ctl: &mut ControlSocket, rule: &AuditRule) -> Result<(), AuditError> {
    rule_request(ctl, AUDIT_ADD_RULE, "adding", rule)
}

/// Deletes the one rule the kernel holds that is the same as `rule`, field
/// by field; the kernel answers ENOENT if there is none.
pub fn delete_rule(ctl: &mut ControlSocket, rule: &AuditRule) -> Result<(), AuditError> {
    rule_request(ctl, AUDIT_DEL_RULE, "deleting", rule)
}

/// The seed set for these installers: one exec rule per canonical path,
/// sorted, duplicates (symlinks to one file) once.
pub fn seed_rules(found: &[FoundInstaller]) -> Vec<AuditRule> {
    // A multiplexer (rustup behind `cargo`) would put every rustc run in
    // the trail; its installer is watched by name in the kernel stream.
    let paths: BTreeSet<PathBuf> = found
        .iter()
        .filter(|f| !f.multiplexed)
        .filter_map(|f| fs::canonicalize(&f.path).ok())
        .collect();
    paths
        .iter()
        .map(|p| AuditRule::exec_watch(p, SEED_KEY))
        .collect()
}

/// What [`install`] did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Installed {
    /// Rules this call added: swmon's to remove.
    pub added: Vec<AuditRule>,
    /// Rules already loaded (by swmon before, or by someone else): left as
    /// they are, and not ours to remove.
    pub present: Vec<AuditRule>,
}

/// Adds the rules not already loaded. If the kernel refuses one, the rules
/// this call added are deleted again and the error names the refused rule.
pub fn install(ctl: &mut ControlSocket, rules: &[AuditRule]) -> Result<Installed, AuditError> {
    let loaded = list_rules(ctl)?;
    let mut out = Installed::default();
    for rule in rules {
        if loaded.iter().any(|l| l.same_as(rule)) || out.added.iter().any(|a| a.same_as(rule)) {
            out.present.push(rule.clone());
            continue;
        }
        if let Err(e) = add_rule(ctl, rule) {
            for added in out.added.iter().rev() {
                // Best effort: the error that matters is the refusal.
                let _ = delete_rule(ctl, added);
            }
            return Err(e);
        }
        out.added.push(rule.clone());
    }
    Ok(out)
}

/// What [`remove`] did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Removed {
    pub removed: Vec<AuditRule>,
    /// Not loaded (or not exactly): nothing done.
    pub absent: Vec<AuditRule>,
}

/// Deletes each of `rules` that is loaded exactly; touches nothing else.
pub fn remove(ctl: &mut ControlSocket, rules: &[AuditRule]) -> Result<Removed, AuditError> {
    let loaded = list_rules(ctl)?;
    let mut out = Removed::default();
    for rule in rules {
        if loaded.iter().any(|l| l.same_as(rule)) && !out.removed.iter().any(|r| r.same_as(rule)) {
            delete_rule(ctl, rule)?;
            out.removed.push(rule.clone());
        } else {
            out.absent.push(rule.clone());
        }
    }
    Ok(out)
}

/// One installer found on the host and the loaded rule that records its
/// exec, if any.
#[derive(Clone, Debug, Serialize)]
pub struct Coverage {
    pub path: PathBuf,
    pub canonical: PathBuf,
    pub covered_by: Option<AuditRule>,
}

/// Which installers the loaded rules record an exec of.
pub fn coverage(loaded: &[AuditRule], found: &[FoundInstaller]) -> Vec<Coverage> {
    found
        .iter()
        .map(|f| {
            let canonical = fs::canonicalize(&f.path).unwrap_or_else(|_| f.path.clone());
            let covered_by = loaded
                .iter()
                .find(|r| r.covers_exec_of(&canonical))
                .cloned();
            Coverage {
                path: f.path.clone(),
                canonical,
                covered_by,
            }
        })
        .collect()
}

/// The catalogue's installers found on this host, searched as the eBPF
/// filter searches them: trusted folders only (system folders and
/// `$PATH`'s, see [`crate::ebpf::filter`]).
pub fn host_installers() -> Vec<FoundInstaller> {
    crate::ebpf::filter::FilterTables::discover(&[]).found
}

/// A named rule set swmon knows how to install.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RuleSetName {
    /// `perm=x path=<installer> key=software-installer` for each installer
    /// found: what pure auditd records.
    Seed,
}

impl RuleSetName {
    pub fn rules(self, found: &[FoundInstaller]) -> Vec<AuditRule> {
        match self {
            RuleSetName::Seed => seed_rules(found),
        }
    }
}

/// One rule of a set and whether it is loaded exactly.
#[derive(Clone, Debug, Serialize)]
pub struct SetRule {
    pub rule: AuditRule,
    pub loaded: bool,
}

/// What `swmon rules show` prints.
#[derive(Clone, Debug, Serialize)]
pub struct RulesReport {
    pub status: super::AuditStatus,
    pub rules: Vec<AuditRule>,
    pub coverage: Vec<Coverage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set: Option<Vec<SetRule>>,
}

impl RulesReport {
    /// Reads the status and the loaded rules, and judges coverage of the
    /// installers `found` (and of `set`'s rules, if given).
    pub fn build(
        ctl: &mut ControlSocket,
        found: &[FoundInstaller],
        set: Option<&[AuditRule]>,
    ) -> Result<RulesReport, AuditError> {
        let status = super::AuditStatus::get(ctl, REQUEST_TIMEOUT)?;
        let rules = list_rules(ctl)?;
        let coverage = coverage(&rules, found);
        let set = set.map(|set| {
            set.iter()
                .map(|r| SetRule {
                    rule: r.clone(),
                    loaded: rules.iter().any(|l| l.same_as(r)),
                })
                .collect()
        });
        Ok(RulesReport {
            status,
            rules,
            coverage,
            set,
        })
    }
}

impl fmt::Display for RulesReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.status;
        let enabled = match s.enabled {
            0 => "disabled (the kernel logs no syscall records)",
            1 => "enabled",
            2 => "enabled, locked",
            _ => "unknown",
        };
        writeln!(f, "audit: {enabled}")?;
        if s.pid == 0 {
            writeln!(
                f,
                "audit daemon: none registered (nothing writes the audit log)"
            )?;
        } else {
            writeln!(f, "audit daemon: pid {}", s.pid)?;
        }
        writeln!(
            f,
            "backlog {}/{}, lost {}, rate limit {}, failure action {}",
            s.backlog, s.backlog_limit, s.lost, s.rate_limit, s.failure
        )?;
        writeln!(f, "\nrules loaded: {}", self.rules.len())?;
        for r in &self.rules {
            writeln!(f, "  {r}")?;
        }
        let covered = self
            .coverage
            .iter()
            .filter(|c| c.covered_by.is_some())
            .count();
        writeln!(
            f,
            "\ninstallers found on this host: {}, their execs recorded by these rules: {covered}",
            self.coverage.len()
        )?;
        for c in &self.coverage {
            let via = if c.canonical != c.path {
                format!(" (-> {})", c.canonical.display())
            } else {
                String::new()
            };
            match &c.covered_by {
                Some(r) => writeln!(f, "  covered      {}{via}  by {r}", c.path.display())?,
                None => writeln!(f, "  not covered  {}{via}", c.path.display())?,
            }
        }
        if let Some(set) = &self.set {
            let loaded = set.iter().filter(|r| r.loaded).count();
            writeln!(f, "\nrule set: {} rules, {loaded} loaded", set.len())?;
            for r in set {
                let state = if r.loaded { "loaded " } else { "missing" };
                writeln!(f, "  {state}  {}", r.rule)?;
            }
        }
        Ok(())
    }
}

/// A change to the guarded rules: someone removed some (`remove_rule`,
/// `rules-missing`) or put a rule ahead that keeps them from recording
/// (`rules-suppressed`), or the poll put swmon's back (`rules-restored`,
/// `rules-restore-failed`). [`RulesRemoved::action`] names the event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RulesRemoved {
    /// What saw it: `config-change` (the kernel's record of the removal) or
    /// `status-poll` (the rule list compared on a status poll: removals the
    /// kernel does not log, such as `auditctl -D` while audit is disabled).
    pub detected_by: &'static str,
    /// The CONFIG_CHANGE event's serial and time (`config-change` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp_ms: Option<u64>,
    /// `remove_rule` (auditctl -d/-D) or the kernel's own when a watched
    /// path's folder went away; from a poll `rules-missing`,
    /// `rules-suppressed`, `rules-restored`, `rules-restore-failed`,
    /// `rules-list-failed`, `rules-list-back`, `rules-adopted` (seed rules
    /// another instance added and gave up at its stop, added back as this
    /// one's), `rules-adopt-failed`.
    pub op: String,
    /// The removed rules' keys, from the records (or from the rules a poll
    /// found missing).
    pub keys: Vec<String>,
    /// `path=` when the kernel names it (watch removals only).
    pub path: Option<String>,
    /// Who removed it: login uid and session (`config-change` only).
    pub auid: Option<u32>,
    pub ses: Option<u32>,
    /// The guarded rules no longer loaded (when the guard could list
    /// them), suppressed, or put back.
    pub rules: Vec<AuditRule>,
    /// For `rules-restore-failed`: why the poll could not put them back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore_error: Option<String>,
    /// For `rules-suppressed`: the new rules that keep the guarded ones
    /// (listed in `rules`) from recording: an exclude-list rule, a
    /// `task,never` or `never,filesystem` rule, or an exit rule for exec
    /// that the kernel applies first (see `suppresses`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suppressed_by: Vec<AuditRule>,
    /// Rules of swmon's still (or again) loaded that it no longer owns:
    /// another process removed rules of their key and some are back, and
    /// the kernel's record does not say which. swmon leaves them loaded at
    /// stop rather than risk deleting a rule someone else loaded.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub disowned: Vec<AuditRule>,
    /// For `rules-list-failed`: why the poll could not read the kernel's
    /// rule list (the guarded rules are unverified until it can).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list_error: Option<String>,
    /// For `rules-list-back`: how many polls in a row had failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list_failures: Option<u64>,
    /// For `rules-record-failed`: why the record of swmon's rules under
    /// `/run/swmon` could not be updated (a successor may then remove
    /// rules that are no longer swmon's, or miss some that are).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_error: Option<String>,
}

impl RulesRemoved {
    fn from_poll(op: &str) -> RulesRemoved {
        RulesRemoved {
            detected_by: "status-poll",
            serial: None,
            timestamp_ms: None,
            op: op.into(),
            keys: Vec::new(),
            path: None,
            auid: None,
            ses: None,
            rules: Vec::new(),
            restore_error: None,
            suppressed_by: Vec::new(),
            disowned: Vec::new(),
            list_error: None,
            list_failures: None,
            record_error: None,
        }
    }

    /// The poll could not read the rule list (the first failure of a run
    /// of them): the guarded rules are unverified.
    pub fn list_failed(error: String) -> RulesRemoved {
        RulesRemoved {
            list_error: Some(error),
            ..RulesRemoved::from_poll("rules-list-failed")
        }
    }

    /// The poll reads the rule list again after `failures` failed polls.
    pub fn list_back(failures: u64) -> RulesRemoved {
        RulesRemoved {
            list_failures: Some(failures),
            ..RulesRemoved::from_poll("rules-list-back")
        }
    }

    /// The `event.action` this change is written as.
    pub fn action(&self) -> &'static str {
        match self.op.as_str() {
            "rules-list-failed" => "audit-rules-unverifiable",
            "rules-record-failed" => "audit-rules-unrecorded",
            "rules-adopted" => "audit-rules-adopted",
            "rules-adopt-failed" => "audit-rules-adopt-failed",
            "rules-list-back" => "audit-rules-verifiable",
            "rules-suppressed" => "audit-rules-suppressed",
            "rules-restored" => "audit-rules-restored",
            "rules-restore-failed" => "audit-rules-restore-failed",
            _ => "audit-rules-removed",
        }
    }

    /// Whether it is written as an alert (a loss of coverage).
    pub fn is_alert(&self) -> bool {
        matches!(
            self.action(),
            "audit-rules-removed"
                | "audit-rules-suppressed"
                | "audit-rules-unverifiable"
                | "audit-rules-adopt-failed"
                | "audit-rules-unrecorded"
        )
    }
}

/// What `swmon run` found at start of the rules dead predecessors left
/// loaded (see [`super::ownership`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Leftovers {
    /// Rules a dead instance recorded and that were still loaded: deleted.
    pub removed: Vec<AuditRule>,
    /// The dead instances' pids.
    pub dead_pids: Vec<u32>,
    /// Recorded by a dead instance and no longer loaded.
    pub absent: usize,
    /// Recorded by a dead instance and also by a live one: left loaded.
    pub kept_for_live: Vec<AuditRule>,
    /// Running instances whose rules were left alone.
    pub live_pids: Vec<u32>,
    /// Records from an earlier boot, discarded without deleting anything.
    pub other_boot: usize,
    /// Records refused or unreadable, and deletes that failed: nothing
    /// named there was deleted. Also a failed rule list at start (the
    /// host's guarded rules or the suppression baseline not taken).
    pub errors: Vec<String>,
}

/// One guarded rule and what the guard knows of it.
#[derive(Clone, Debug)]
struct Guarded {
    rule: AuditRule,
    /// swmon added it and has not seen it go since: swmon's to delete.
    ours: bool,
    /// swmon added it at start: put back by a restore.
    restorable: bool,
    /// Loaded when last looked at.
    present: bool,
    /// A rule of swmon's seed set that a live instance had added when this
    /// one started: when that instance gives it up (its record no longer
    /// names it: it stopped), this one adds it back as its own.
    adopt_from: Option<Owner>,
}

/// The guard's state, shared by the run loop and the audit stream's poll.
/// Dropping the last handle deletes the rules swmon added and still owns,
/// unless [`RuleGuard::remove_ours`] did already.
#[derive(Debug)]
struct GuardState {
    rules: Vec<Guarded>,
    keys: BTreeSet<Vec<u8>>,
    /// The state file this guard keeps, if any.
    record: Option<(StateDir, Owner)>,
    /// This instance's life lock, held as long as the guard (released
    /// after the drop removed the rules).
    life: Option<LifeLock>,
    /// The guard's own control socket (polls, and removal on the way out).
    ctl: Option<ControlSocket>,
    leftovers: Leftovers,
    /// The last failure to update the state file.
    record_error: Option<String>,
    /// The failure last alerted (each new one is alerted once).
    record_error_said: Option<String>,
    finished: bool,
    /// Rules that could suppress the guarded ones, loaded before the guard
    /// started (the host's own configuration: not alerted). `None` until
    /// the first look.
    baseline: Option<Vec<AuditRule>>,
    /// New suppressing rules already alerted (again once they go and come
    /// back).
    suppressors: Vec<AuditRule>,
    /// What [`Emergency`] removes: the rules swmon owns (or is adding),
    /// kept up to date by every save and by each delete at stop, behind a
    /// lock never held across I/O.
    emergency: Arc<Mutex<Vec<AuditRule>>>,
    /// The stop's removal has begun: polls, checks and restores do nothing
    /// (the stop's own deletes are no tamper, and nothing is put back).
    stopping: bool,
}

/// Guards the rules swmon added, and those with a guarded key loaded at
/// start: notices their removal (from the kernel's CONFIG_CHANGE record, and
/// by diffing the rule list on every status poll), puts swmon's back on
/// request, and removes swmon's own on every way out (explicitly at stop,
/// or when the last handle is dropped: an error return, a panic unwinding).
///
/// A handle is cheap to clone; all clones share one state.
#[derive(Clone, Debug)]
pub struct RuleGuard {
    state: Arc<Mutex<GuardState>>,
}

impl Default for RuleGuard {
    fn default() -> Self {
        RuleGuard::new(Vec::new())
    }
}

/// What [`remove_best_effort`] did.
#[derive(Debug, Default)]
struct BestEffort {
    removed: Vec<AuditRule>,
    /// Not loaded exactly.
    absent: Vec<AuditRule>,
    /// Loaded, and the kernel refused to delete it.
    failed: Vec<(AuditRule, AuditError)>,
}

/// Deletes each rule that is loaded exactly, going on after a failure.
fn remove_best_effort(
    ctl: &mut ControlSocket,
    rules: &[AuditRule],
    mut on_gone: impl FnMut(&AuditRule),
) -> Result<BestEffort, AuditError> {
    let loaded = list_rules(ctl)?;
    let BestEffort {
        mut removed,
        mut absent,
        mut failed,
    } = BestEffort::default();
    for rule in rules {
        if !loaded.iter().any(|l| l.same_as(rule)) || removed.iter().any(|r| rule.same_as(r)) {
            on_gone(rule);
            absent.push(rule.clone());
            continue;
        }
        match delete_rule(ctl, rule) {
            Ok(()) => {
                on_gone(rule);
                removed.push(rule.clone());
            }
            Err(e) if e.errno() == Some(libc::ENOENT) => {
                on_gone(rule);
                absent.push(rule.clone());
            }
            Err(e) => failed.push((rule.clone(), e)),
        }
    }
    Ok(BestEffort {
        removed,
        absent,
        failed,
    })
}

/// Removes what dead predecessors recorded and left loaded, and only that:
/// never a rule a live instance recorded, never anything from a record that
/// cannot be read or trusted.
fn clean_leftovers(
    dir: &StateDir,
    me: &Owner,
    ctl: &mut ControlSocket,
) -> (Leftovers, Vec<Recorded>) {
    let mut out = Leftovers::default();
    let mut live_records = Vec::new();
    let scanned = match dir.scan() {
        Ok(s) => s,
        Err(e) => {
            out.errors.push(e.to_string());
            return (out, live_records);
        }
    };
    let mut live: Vec<AuditRule> = Vec::new();
    let mut dead = Vec::new();
    // A record that can't be read, named for a pid that is running, may be
    // a live instance's: what it names is unknown, so nothing is deleted.
    let mut blocked_by: Option<PathBuf> = None;
    for rec in scanned {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                if pid_of_name(e.path()).is_none_or(super::status::pid_alive) {
                    blocked_by = Some(e.path().to_owned());
                }
                out.errors.push(e.to_string());
                continue;
            }
        };
        match dir.liveness_of(&rec.owner, &me.boot_id) {
            Liveness::Alive => {
                out.live_pids.push(rec.owner.pid);
                live.extend(rec.rules.iter().cloned());
                live_records.push(rec);
            }
            Liveness::OtherBoot => {
                out.other_boot += 1;
                if let Err(e) = fs::remove_file(&rec.path) {
                    out.errors
                        .push(format!("{}: can't remove: {e}", rec.path.display()));
                }
            }
            Liveness::Dead => dead.push(rec),
        }
    }
    if let Some(path) = blocked_by {
        out.errors.push(format!(
            "{}: unreadable, and its process may be running: no leftover deleted",
            path.display()
        ));
        out.dead_pids.extend(dead.iter().map(|r| r.owner.pid));
        return (out, live_records);
    }
    for rec in dead {
        out.dead_pids.push(rec.owner.pid);
        let (mine, kept): (Vec<AuditRule>, Vec<AuditRule>) = rec
            .rules
            .into_iter()
            .partition(|r| !live.iter().any(|l| l.same_as(r)));
        out.kept_for_live.extend(kept);
        match remove_best_effort(ctl, &mine, |_| {}) {
            Ok(BestEffort {
                removed,
                absent,
                failed,
            }) => {
                out.removed.extend(removed);
                out.absent += absent.len();
                for (rule, e) in &failed {
                    out.errors.push(format!(
                        "{}: can't delete `{rule}`: {e}",
                        rec.path.display()
                    ));
                }
                if failed.is_empty() {
                    if let Err(e) = fs::remove_file(&rec.path) {
                        out.errors
                            .push(format!("{}: can't remove: {e}", rec.path.display()));
                    }
                    let _ = fs::remove_file(dir.life_lock_of(rec.owner.pid));
                }
            }
            Err(e) => out
                .errors
                .push(format!("{}: can't list the rules: {e}", rec.path.display())),
        }
    }
    (out, live_records)
}

impl RuleGuard {
    /// Guards `ours` (what swmon added, kept in no state file) and every
    /// rule keyed [`SEED_KEY`] or with one of `ours`' keys.
    pub fn new(ours: Vec<AuditRule>) -> RuleGuard {
        RuleGuard::with(ours, Vec::new(), Vec::new(), None, Leftovers::default())
    }

    fn with(
        ours: Vec<AuditRule>,
        relied: Vec<AuditRule>,
        adopt: Vec<(AuditRule, Owner)>,
        record: Option<(StateDir, Owner)>,
        leftovers: Leftovers,
    ) -> RuleGuard {
        let mut keys: BTreeSet<Vec<u8>> = ours.iter().flat_map(AuditRule::keys).collect();
        keys.insert(SEED_KEY.as_bytes().to_vec());
        let rules = ours
            .into_iter()
            .map(|rule| Guarded {
                rule,
                ours: true,
                restorable: true,
                present: true,
                adopt_from: None,
            })
            .chain(relied.into_iter().map(|rule| {
                Guarded {
                    adopt_from: adopt
                        .iter()
                        .find(|(r, _)| r.same_as(&rule))
                        .map(|(_, o)| o.clone()),
                    rule,
                    ours: false,
                    restorable: false,
                    present: true,
                }
            }))
            .collect::<Vec<Guarded>>();
        let owned = rules
            .iter()
            .filter(|g| g.ours)
            .map(|g| g.rule.clone())
            .collect();
        RuleGuard {
            state: Arc::new(Mutex::new(GuardState {
                emergency: Arc::new(Mutex::new(owned)),
                stopping: false,
                rules,
                keys,
                record,
                life: None,
                ctl: None,
                leftovers,
                record_error: None,
                record_error_said: None,
                finished: false,
                baseline: None,
                suppressors: Vec::new(),
            })),
        }
    }

    /// `swmon run`'s start: removes dead predecessors' leftovers (recorded
    /// under [`STATE_DIR`]), adds those of `set` not loaded yet, and records
    /// them as this process's. Also guards the rules with a guarded key
    /// already loaded (the host's; never deleted, never put back).
    ///
    /// With an empty `set`, problems with the state folder are reported in
    /// [`RuleGuard::leftovers`] rather than failing.
    pub fn start(ctl: &mut ControlSocket, set: &[AuditRule]) -> Result<RuleGuard, AuditError> {
        RuleGuard::start_in(Path::new(STATE_DIR), ctl, set)
    }

    /// [`RuleGuard::start`] with another state folder.
    pub fn start_in(
        dir: &Path,
        ctl: &mut ControlSocket,
        set: &[AuditRule],
    ) -> Result<RuleGuard, AuditError> {
        let opened = StateDir::open(dir).and_then(|d| Ok((Owner::me()?, d)));
        let (me, dir) = match opened {
            Ok(x) => x,
            Err(e) if set.is_empty() => {
                let mut leftovers = Leftovers {
                    errors: vec![e.to_string()],
                    ..Leftovers::default()
                };
                let relied = relied_or_say(ctl, &[], &mut leftovers);
                let guard = RuleGuard::with(Vec::new(), relied, Vec::new(), None, leftovers);
                guard.set_baseline(ctl);
                return Ok(guard);
            }
            Err(e) => return Err(e.into()),
        };
        let lock = dir.lock();
        let life = dir.hold_life_lock(me.pid);
        // Without the folder's lock another instance may be starting: what
        // looks dead may be its rules half-recorded. Nothing is removed.
        let (mut leftovers, live_records) = match &lock {
            Ok(_) => {
                let cleaned = clean_leftovers(&dir, &me, ctl);
                dir.remove_stale_life_locks();
                cleaned
            }
            Err(_) => (Leftovers::default(), Vec::new()),
        };
        let life = match life {
            Ok(l) => Some(l),
            Err(e) if set.is_empty() => {
                leftovers.errors.push(e.to_string());
                None
            }
            Err(e) => return Err(e.into()),
        };
        if let Err(e) = &lock {
            // Held by another swmon (`lock`), or the folder is not ours to
            // write (`open`: a swmon without uid 0, see privilege.rs).
            let why = if matches!(
                e,
                crate::audit::ownership::StateError::Io { what: "lock", .. }
            ) {
                "another swmon holds the folder's lock"
            } else {
                "can't take the folder's lock"
            };
            leftovers
                .errors
                .push(format!("{e}: {why}; no leftover removed"));
        }
        let mut added = Vec::new();
        if !set.is_empty() {
            let loaded = list_rules(ctl)?;
            let wanted: Vec<AuditRule> = set
                .iter()
                .filter(|r| !loaded.iter().any(|l| l.same_as(r)))
                .cloned()
                .collect();
            // Ahead of the add: a crash in between leaves a record, not an
            // unrecorded rule.
            dir.record(&me, &wanted)?;
            added = match install(ctl, &wanted) {
                Ok(i) => i.added,
                Err(e) => {
                    // install() took back what it added.
                    let _ = dir.record(&me, &[]);
                    return Err(e);
                }
            };
            if let Err(e) = dir.record(&me, &added) {
                let _ = remove(ctl, &added);
                let _ = dir.record(&me, &[]);
                return Err(e.into());
            }
        }
        let relied = relied_or_say(ctl, &added, &mut leftovers);
        drop(lock);
        // Rules of the set a live instance added: this one's when it stops.
        let adopt: Vec<(AuditRule, Owner)> = set
            .iter()
            .filter(|r| !added.iter().any(|a| a.same_as(r)))
            .filter_map(|r| {
                live_records
                    .iter()
                    .find(|rec| rec.rules.iter().any(|x| x.same_as(r)))
                    .map(|rec| (r.clone(), rec.owner.clone()))
            })
            .collect();
        let guard = RuleGuard::with(added, relied, adopt, Some((dir, me)), leftovers);
        guard.lock().life = life;
        guard.set_baseline(ctl);
        Ok(guard)
    }

    /// Takes the rules that could suppress the guarded ones now loaded as
    /// the host's own (not alerted later).
    fn set_baseline(&self, ctl: &mut ControlSocket) {
        match list_rules(ctl) {
            Ok(loaded) => {
                self.lock().baseline = Some(loaded.into_iter().filter(could_suppress).collect());
            }
            Err(e) => self.lock().leftovers.errors.push(format!(
                "can't list the rules for the suppression baseline (the first poll's list is taken): {e}"
            )),
        }
    }

    fn lock(&self) -> MutexGuard<'_, GuardState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The rules swmon added at start (and puts back on request).
    pub fn ours(&self) -> Vec<AuditRule> {
        self.lock()
            .rules
            .iter()
            .filter(|g| g.restorable)
            .map(|g| g.rule.clone())
            .collect()
    }

    /// What the start removed of dead predecessors' rules.
    pub fn leftovers(&self) -> Leftovers {
        self.lock().leftovers.clone()
    }

    /// The last failure to update the state file, if the last update failed.
    pub fn record_error(&self) -> Option<String> {
        self.lock().record_error.clone()
    }

    /// Looks at one assembled event: a successful `remove_rule`
    /// CONFIG_CHANGE for a guarded key, made by another process than this
    /// one (swmon's own deletes of leftovers at start and of its rules at
    /// stop are no tamper), gives an alert. With `ctl`, the guard lists the
    /// loaded rules (one request) to say which guarded rules are gone; the
    /// record names only the key and list, not the rule.
    ///
    /// Ownership: a rule of swmon's that another process removed is no
    /// longer swmon's, even if an identical one is back before the list is
    /// read (`augenrules --load` flushes and reloads within milliseconds).
    /// When more rules of a key were removed than are now missing, some of
    /// them came back, and the record cannot say which: every rule of
    /// swmon's with that key is then disowned (`disowned` in the alert), so
    /// swmon never deletes at stop a rule someone else loaded; the cost is
    /// that those rules stay loaded after swmon stops.
    ///
    /// With the list read, nothing is returned when no guarded rule went
    /// and none was disowned (a rule already reported gone by a poll, or
    /// the second of the records one `auditctl -D` logs).
    pub fn check(
        &self,
        event: &AuditEvent,
        ctl: Option<&mut ControlSocket>,
    ) -> Option<RulesRemoved> {
        self.check_with(event, || ctl.and_then(|c| list_rules(c).ok()))
    }

    /// [`RuleGuard::check`] with the rule list from `list` (called only
    /// for a removal record of a guarded key; `None`: it could not be read).
    fn check_with(
        &self,
        event: &AuditEvent,
        list: impl FnOnce() -> Option<Vec<AuditRule>>,
    ) -> Option<RulesRemoved> {
        if event.syscall().and_then(|s| s.pid()) == Some(std::process::id()) {
            return None;
        }
        let mut state = self.lock();
        if state.stopping {
            return None;
        }
        let mut found: Option<RulesRemoved> = None;
        // Removal records per guarded key.
        let mut removals: Vec<(Vec<u8>, usize)> = Vec::new();
        for change in event
            .records_of(RecordType::CONFIG_CHANGE)
            .filter_map(|r| r.config_change())
        {
            if change.op() != Some(b"remove_rule".as_slice()) || change.res() == Some(false) {
                continue;
            }
            let keys = change.keys();
            if !keys.iter().any(|k| state.keys.contains(k)) {
                continue;
            }
            let item = found.get_or_insert_with(|| RulesRemoved {
                detected_by: "config-change",
                serial: Some(event.serial),
                timestamp_ms: Some(event.timestamp.as_millis()),
                op: "remove_rule".into(),
                keys: Vec::new(),
                path: change.get("path").and_then(|v| {
                    v.text()
                        .lossless_bytes()
                        .map(|b| String::from_utf8_lossy(b).into_owned())
                }),
                auid: change.auid(),
                ses: change.ses(),
                rules: Vec::new(),
                restore_error: None,
                suppressed_by: Vec::new(),
                disowned: Vec::new(),
                list_error: None,
                list_failures: None,
                record_error: None,
            });
            for k in keys {
                if state.keys.contains(&k) {
                    match removals.iter_mut().find(|(x, _)| *x == k) {
                        Some((_, n)) => *n += 1,
                        None => removals.push((k.clone(), 1)),
                    }
                }
                let k = String::from_utf8_lossy(&k).into_owned();
                if !item.keys.contains(&k) {
                    item.keys.push(k);
                }
            }
        }
        let mut item = found?;
        let Some(loaded) = list() else {
            // No list: which rules went can't be told; ownership of every
            // rule of swmon's with a removed key ends.
            item.disowned = state.disown_keys(&removals, |_, _| true);
            if !item.disowned.is_empty() {
                state.save();
            }
            return Some(item);
        };
        let (gone, _) = state.diff(&loaded);
        let gone_ours = gone.iter().any(|g| g.1);
        // Rules another instance gave up at its stop are no tamper: the
        // next poll adopts them.
        item.rules = gone
            .into_iter()
            .map(|g| g.0)
            .filter(|r| !state.given_up(r))
            .collect();
        // Removed more than missing: some came back, unknown which.
        let missing: Vec<(Vec<u8>, usize)> = removals
            .iter()
            .map(|(k, _)| {
                let n = state
                    .rules
                    .iter()
                    .filter(|g| !g.present && g.rule.keys().contains(k))
                    .count();
                (k.clone(), n)
            })
            .collect();
        item.disowned = state.disown_keys(&removals, |k, n| {
            missing
                .iter()
                .find(|(m, _)| m == k)
                .is_none_or(|(_, gone)| n > *gone)
        });
        if gone_ours || !item.disowned.is_empty() {
            state.save();
        }
        if item.rules.is_empty() && item.disowned.is_empty() {
            return None;
        }
        Some(item)
    }

    /// Adds back those of swmon's rules that are no longer loaded; returns
    /// them. They are swmon's again (recorded ahead of the add).
    pub fn restore(&self, ctl: &mut ControlSocket) -> Result<Vec<AuditRule>, AuditError> {
        self.lock().restore(ctl)
    }

    /// Compares the guarded rules with the kernel's list (the audit
    /// stream calls this on every status poll): rules gone since the last
    /// look give an alert, and with `restore` swmon's are put back at once.
    /// New rules that suppress the guarded ones (an exclude-list rule, a
    /// `never` rule ahead of them) give an `audit-rules-suppressed` alert.
    /// Empty when nothing changed; an error when the list could not be read
    /// (counted by the caller as a poll error).
    pub fn poll(&self, restore: bool) -> Result<Vec<RulesRemoved>, AuditError> {
        let mut state = self.lock();
        if state.rules.is_empty() || state.finished || state.stopping {
            return Ok(Vec::new());
        }
        let mut ctl = match state.ctl.take() {
            Some(c) => c,
            None => ControlSocket::open()?,
        };
        let result = state.poll_with(&mut ctl, restore);
        state.ctl = Some(ctl);
        result
    }

    /// Deletes swmon's rules that are still loaded exactly and still its
    /// own (at stop); the state file then records only those that could
    /// not be deleted.
    pub fn remove_ours(&self, ctl: &mut ControlSocket) -> Result<Removed, AuditError> {
        self.lock().remove_ours(ctl)
    }

    /// A handle that removes swmon's rules without this guard's lock: for
    /// the stop watchdog, when the stop sequence is stuck holding it (a
    /// slow removal, a netlink request that does not answer).
    pub fn emergency(&self) -> Emergency {
        let state = self.lock();
        Emergency {
            rules: state.emergency.clone(),
            record: state.record.clone(),
        }
    }
}

/// Whether a rule can keep some exec rule from recording (see
/// [`suppresses`] for which): any exclude-list rule, a `never` rule on the
/// task or filesystem list, or an exit rule for exec (an `always` one with
/// another key takes the record's key).
fn could_suppress(rule: &AuditRule) -> bool {
    match rule.list {
        AUDIT_FILTER_EXCLUDE => true,
        AUDIT_FILTER_TASK | AUDIT_FILTER_FS => rule.action == AUDIT_NEVER,
        AUDIT_FILTER_EXIT => rule.applies_to_exec(),
        _ => false,
    }
}

/// Whether `rule` (at `at` in the loaded list) keeps the guarded rule `g`
/// (at `theirs`) from recording an exec with its key. As the kernel
/// evaluates them (checked on 6.18 with `dpkg --version` under a seed
/// watch): the exit list in order, watches included, the first match
/// setting the state and the key. So:
/// - an exclude-list rule drops records, a `task,never` rule leaves the
///   task without audit context: all guarded rules;
/// - a `never,filesystem` rule keeps inodes of its fstype out: the
///   guarded watches on such a file system;
/// - an exit rule ahead of `g`, for exec (syscall mask with `execve` or
///   `execveat`, or `perm=x`), on a compatible arch, that can match the
///   exec of `g`'s file (no `path=`/`dir=` or one naming it), `never` or
///   `always` with another key (it takes the record's key). A syscall
///   `never` rule for execve ahead of the seed's watches suppresses them
///   all; one for another syscall, another arch, or after them, none.
fn suppresses(rule: &AuditRule, at: Option<usize>, g: &AuditRule, theirs: Option<usize>) -> bool {
    let ahead = matches!((at, theirs), (Some(a), Some(t)) if a < t);
    match rule.list {
        AUDIT_FILTER_EXCLUDE => true,
        AUDIT_FILTER_TASK => rule.action == AUDIT_NEVER,
        AUDIT_FILTER_FS => {
            rule.action == AUDIT_NEVER && g.path().is_some_and(|p| rule.fstype_holds(p))
        }
        AUDIT_FILTER_EXIT => {
            ahead
                && rule.applies_to_exec()
                && (rule.action == AUDIT_NEVER || rule.keys() != g.keys())
                && g.path().is_none_or(|q| rule.may_match_file(q))
        }
        _ => false,
    }
}

/// `AUDIT_MSGTYPE`: an exclude-list rule's record type.
const AUDIT_MSGTYPE: u32 = 12;
/// `AUDIT_SYSCALL`: the record an exec's cross-check needs (EXECVE, PATH
/// and CWD records dropped still leave it, with its key).
const AUDIT_SYSCALL_RECORD: u32 = 1300;

/// What the loaded rules promise about one exec's audit record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Promise {
    /// A rule records it for sure: no rule that could suppress or
    /// exclude it is loaded.
    Records,
    /// Can't tell: a `never` rule or an exclusion that may apply, a rule
    /// with a field only the process answers, or a file judged by a name
    /// from another root (a chroot, a container).
    Unknown,
    /// No loaded rule records it.
    None,
}

/// The exec a judgment is about: the file the process runs (its
/// executable; a script's interpreter) by identity and by the kernel's
/// walk from its namespace's root, and a script it named by name.
#[derive(Clone, Copy, Debug)]
pub struct ExecFile<'a> {
    /// The kernel's path walk of the executable (` (deleted)` stripped);
    /// `None` when it was cut.
    pub path: Option<&'a [u8]>,
    /// The executable's (dev, inode), the kernel's `dev` encoding (0, 0:
    /// unknown).
    pub id: (u32, u64),
    /// The script the exec named (absolute, whole), when the executable
    /// is its interpreter.
    pub script: Option<&'a [u8]>,
    /// The process's paths are known to be from swmon's root (the name it
    /// gave exec is the kernel's walk): names can be judged by name.
    pub same_root: bool,
}

/// The loaded rules with the files their `path=`, `exe=` and `dir=` name,
/// resolved from swmon's root by the rules stage (as `auditctl` resolved
/// them when they were added): the kernel matches a watch or `exe=` by
/// the inode, so an exec is judged by the identity of its file, never by
/// a path string that may be relative to another root.
#[derive(Clone, Debug, Default)]
pub struct LoadedRules {
    pub rules: Vec<AuditRule>,
    /// Per rule: the (dev, inode) of its `path=`/`exe=`/`dir=` file, the
    /// kernel's `dev` encoding; `None` when there is none or it could not
    /// be read.
    pub files: Vec<Option<(u32, u64)>>,
    /// Per rule: its `path=`/`exe=` names a symbolic link. The kernel
    /// marks the link itself (`audit_get_nd`, `audit_alloc_mark` look the
    /// last component up unresolved), which no exec runs: such a rule
    /// matches no exec (`-w /usr/bin/npm` where npm is a link).
    pub links: Vec<bool>,
}

impl LoadedRules {
    /// Resolves each rule's file with `lstat`, the last component not
    /// followed, as the kernel marks it. Reads only paths the rules name.
    pub fn resolve(rules: Vec<AuditRule>) -> LoadedRules {
        use std::os::unix::{ffi::OsStrExt, fs::MetadataExt};
        let mut links = Vec::with_capacity(rules.len());
        let files = rules
            .iter()
            .map(|r| {
                links.push(false);
                let p = r
                    .path()
                    .or_else(|| r.string(AUDIT_EXE))
                    .or_else(|| r.string(AUDIT_DIR))?;
                let m = fs::symlink_metadata(Path::new(std::ffi::OsStr::from_bytes(p))).ok()?;
                if let Some(l) = links.last_mut() {
                    *l = m.file_type().is_symlink() && r.string(AUDIT_DIR).is_none();
                }
                let dev = m.dev();
                let (major, minor) = (libc::major(dev), libc::minor(dev));
                Some((super::views::kernel_dev(major, minor)?, m.ino()))
            })
            .collect();
        LoadedRules {
            rules,
            files,
            links,
        }
    }

    /// Rules whose files are given (tests, or a list already resolved).
    pub fn with_files(rules: Vec<AuditRule>, files: Vec<Option<(u32, u64)>>) -> LoadedRules {
        let mut files = files;
        files.resize(rules.len(), None);
        let links = vec![false; rules.len()];
        LoadedRules {
            rules,
            files,
            links,
        }
    }
}

/// Three-valued match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tri {
    Yes,
    No,
    Maybe,
}

fn tri_and(a: Tri, b: Tri) -> Tri {
    match (a, b) {
        (Tri::No, _) | (_, Tri::No) => Tri::No,
        (Tri::Yes, Tri::Yes) => Tri::Yes,
        _ => Tri::Maybe,
    }
}

/// `a OP b` for the numeric operators.
fn compare(op: u32, a: u32, b: u32) -> Option<bool> {
    Some(match op {
        op::EQUAL => a == b,
        op::NOT_EQUAL => a != b,
        op::LESS_THAN => a < b,
        op::GREATER_THAN => a > b,
        op::LESS_THAN_OR_EQUAL => a <= b,
        op::GREATER_THAN_OR_EQUAL => a >= b,
        op::BIT_MASK => a & b != 0,
        op::BIT_TEST => a & b == b,
        _ => return None,
    })
}

/// Whether an exclude-list rule may drop an exec's SYSCALL record: it
/// does unless every field is a `msgtype` that excludes 1300. The kernel
/// drops a record on any matching exclude rule, `always` or `never`.
fn may_exclude_syscall(rule: &AuditRule) -> bool {
    rule.fields.iter().all(|f| match (f.field, &f.value) {
        (AUDIT_MSGTYPE, FieldValue::Num(v)) => {
            compare(f.op, AUDIT_SYSCALL_RECORD, *v).unwrap_or(true)
        }
        // Any other field (a uid, a pid, a key): it may match.
        _ => true,
    })
}

impl AuditRule {
    /// How the rule's file fields (`path=`, `exe=`, `dir=`) match the
    /// exec: `file` is the rule's file resolved from swmon's root.
    fn file_match(&self, file: Option<(u32, u64)>, e: &ExecFile<'_>) -> Tri {
        let known = e.id != (0, 0);
        let mut t = Tri::Yes;
        for f in &self.fields {
            let FieldValue::Str(p) = &f.value else {
                continue;
            };
            let m = match f.field {
                // A watch fires on any file of the exec it names: the
                // executable (a script's interpreter) by identity, the
                // script by name, only from swmon's root.
                AUDIT_WATCH => {
                    let by_id = match file {
                        Some(id) if known => Some(id == e.id),
                        _ => None,
                    };
                    let by_script = e.script.map(|s| s == p.as_slice());
                    match (by_id, by_script) {
                        (Some(true), _) => Tri::Yes,
                        (_, Some(true)) if e.same_root => Tri::Yes,
                        (_, Some(true)) => Tri::Maybe,
                        (Some(false), _) => Tri::No,
                        (None, _) if e.same_root && e.path == Some(p.as_slice()) => Tri::Yes,
                        (None, _) if e.same_root && e.path.is_some() => Tri::No,
                        (None, _) => Tri::Maybe,
                    }
                }
                // `exe=` is the task's executable, by identity (the kernel
                // marks the inode); `exe!=` the opposite.
                AUDIT_EXE => {
                    let same = match file {
                        Some(id) if known => Some(id == e.id),
                        _ if e.same_root => e.path.map(|x| x == p.as_slice()),
                        _ => None,
                    };
                    match (same, f.op) {
                        (Some(s), op::EQUAL) => {
                            if s {
                                Tri::Yes
                            } else {
                                Tri::No
                            }
                        }
                        (Some(s), op::NOT_EQUAL) => {
                            if s {
                                Tri::No
                            } else {
                                Tri::Yes
                            }
                        }
                        _ => Tri::Maybe,
                    }
                }
                // A tree below a folder: judged by the kernel's walk, only
                // from swmon's root and on the folder's file system.
                AUDIT_DIR => {
                    let d = p.strip_suffix(b"/").unwrap_or(p);
                    let under = e.path.map(|x| {
                        x.starts_with(d) && (d.is_empty() || x.get(d.len()) == Some(&b'/'))
                    });
                    match under {
                        Some(false) if e.same_root => Tri::No,
                        Some(true)
                            if e.same_root
                                && known
                                && file.is_some_and(|(dev, _)| dev == e.id.0) =>
                        {
                            Tri::Yes
                        }
                        _ => Tri::Maybe,
                    }
                }
                _ => continue,
            };
            t = tri_and(t, m);
        }
        t
    }

    /// Whether the rule's other fields let it match any x86_64 exec:
    /// `arch=` (other operators can't be judged), `perm=x` or an exec
    /// syscall in its mask.
    fn exec_match(&self) -> Tri {
        let mut t = Tri::Yes;
        for f in &self.fields {
            let m = match (f.field, &f.value) {
                (AUDIT_ARCH, FieldValue::Num(a)) => match compare(f.op, AUDIT_ARCH_X86_64, *a) {
                    Some(true) => Tri::Yes,
                    Some(false) => Tri::No,
                    None => Tri::Maybe,
                },
                (AUDIT_PERM, FieldValue::Num(p)) if f.op == op::EQUAL => {
                    if p & AUDIT_PERM_EXEC != 0 {
                        Tri::Yes
                    } else {
                        Tri::No
                    }
                }
                (AUDIT_WATCH | AUDIT_DIR | AUDIT_EXE | AUDIT_FILTERKEY, _) => continue,
                // Any other field: only the process could answer.
                _ => Tri::Maybe,
            };
            t = tri_and(t, m);
        }
        if self.number(AUDIT_PERM).is_none() && !(self.has_syscall(59) || self.has_syscall(322)) {
            return Tri::No;
        }
        t
    }
}

/// What one pass of the kernel's exit filter made of an exec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pass {
    /// An `always` rule matched first.
    Records,
    /// A `never` rule matched first.
    Drops,
    /// Can't tell; `never`: a `never` rule may be the first match (else
    /// only an `always` rule or none).
    Unknown { never: bool },
    /// No rule matched.
    NoMatch,
}

/// The first rule of `rules` (exit-list rules, in order) that matches
/// decides, in three answers.
fn first_match<'r>(
    loaded: &'r LoadedRules,
    rules: impl Iterator<Item = (usize, &'r AuditRule)>,
    e: &ExecFile<'_>,
) -> Pass {
    let mut maybe = false;
    for (i, rule) in rules {
        if loaded.links.get(i).copied().unwrap_or(false) {
            // A watch or `exe=` on a symbolic link: no exec runs the link.
            continue;
        }
        let m = tri_and(
            rule.exec_match(),
            rule.file_match(loaded.files.get(i).copied().flatten(), e),
        );
        match (m, rule.action) {
            (Tri::No, _) => {}
            // An `always` rule ahead that may have matched records too.
            (Tri::Yes, AUDIT_ALWAYS) => return Pass::Records,
            (Tri::Yes, AUDIT_NEVER) if maybe => return Pass::Unknown { never: true },
            (Tri::Yes, AUDIT_NEVER) => return Pass::Drops,
            (Tri::Maybe, AUDIT_NEVER) => return Pass::Unknown { never: true },
            // A `possible` rule, or an `always` one that may match.
            _ => maybe = true,
        }
    }
    if maybe {
        Pass::Unknown { never: false }
    } else {
        Pass::NoMatch
    }
}

/// Whether the loaded rules record the exec of `e`, judged as this kernel
/// (6.18) evaluates them, in three answers ([`Promise`]):
/// - the exit list as `__audit_syscall_exit` runs it: first
///   `audit_filter_syscall` over the exit rules without a watch, in
///   order, then `audit_filter_inodes` over the watch rules (`-w`,
///   `path=`: the kernel keeps them in its inode hash, not on the list),
///   in order, whose match overrides the first's. In each, the first rule
///   for exec (x86_64 or any arch, `perm=x` or `execve`/`execveat`) that
///   matches decides: `always` records, `never` does not. A rule's files
///   are matched by identity (`path=` and `exe=` name inodes; `exe!=` is
///   the opposite), a script and `dir=` by name only from swmon's root (a
///   chroot's or container's `/usr/bin/dpkg` is not the host's); a rule
///   that may or may not match (a field only the process answers, a name
///   from another root) makes an `always` one no promise and a `never`
///   one "unknown";
/// - wherever they sit in the listing (the kernel runs each list at its
///   own point), an exclude-list rule that may drop the SYSCALL record
///   (`-a exclude,always` and `never` alike: any match drops; one limited
///   to other `msgtype`s does not), a `task,never` rule, or a
///   `filesystem,never` rule make a promise "unknown".
pub fn judge_exec(loaded: &LoadedRules, e: &ExecFile<'_>) -> Promise {
    let exit = || {
        loaded
            .rules
            .iter()
            .enumerate()
            .filter(|(_, r)| r.list == AUDIT_FILTER_EXIT)
    };
    let syscall = first_match(loaded, exit().filter(|(_, r)| r.path().is_none()), e);
    let inodes = first_match(loaded, exit().filter(|(_, r)| r.path().is_some()), e);
    let answer = match (inodes, syscall) {
        (Pass::Records, _) => Promise::Records,
        (Pass::Drops, _) => Promise::None,
        (Pass::Unknown { never: true }, _) => Promise::Unknown,
        // A watch rule that may record, over a syscall rule that does.
        (Pass::Unknown { never: false }, Pass::Records) => Promise::Records,
        (Pass::Unknown { never: false }, _) => Promise::Unknown,
        (Pass::NoMatch, Pass::Records) => Promise::Records,
        (Pass::NoMatch, Pass::Unknown { .. }) => Promise::Unknown,
        (Pass::NoMatch, Pass::Drops | Pass::NoMatch) => Promise::None,
    };
    let suppressed = loaded.rules.iter().any(|r| match r.list {
        AUDIT_FILTER_EXCLUDE => may_exclude_syscall(r),
        AUDIT_FILTER_TASK | AUDIT_FILTER_FS => r.action == AUDIT_NEVER,
        _ => false,
    });
    if answer == Promise::Records && suppressed {
        return Promise::Unknown;
    }
    answer
}

/// Loaded rules with a guarded key (the seed's, or one of `ours`') that
/// are not `ours`: relied on, never deleted.
fn relied_rules(ctl: &mut ControlSocket, ours: &[AuditRule]) -> Result<Vec<AuditRule>, AuditError> {
    let mut keys: BTreeSet<Vec<u8>> = ours.iter().flat_map(AuditRule::keys).collect();
    keys.insert(SEED_KEY.as_bytes().to_vec());
    Ok(list_rules(ctl)?
        .into_iter()
        .filter(|r| !ours.iter().any(|o| o.same_as(r)))
        .filter(|r| r.keys().iter().any(|k| keys.contains(k)))
        .collect())
}

/// [`relied_rules`], or none and the failure said in `leftovers.errors`
/// (the host's rules with a guarded key are then not watched).
fn relied_or_say(
    ctl: &mut ControlSocket,
    ours: &[AuditRule],
    leftovers: &mut Leftovers,
) -> Vec<AuditRule> {
    relied_rules(ctl, ours).unwrap_or_else(|e| {
        leftovers.errors.push(format!(
            "can't list the rules to watch the host's with a guarded key: {e}"
        ));
        Vec::new()
    })
}

/// Removes the rules swmon owns, as last saved, with a control socket of
/// its own and no lock of the guard's: the way out of a stop that is stuck
/// (see [`RuleGuard::emergency`]). A rule already gone is no error; the
/// state file is emptied only once every rule is gone, so a rule left
/// loaded stays recorded for the next start to remove.
#[derive(Clone, Debug)]
pub struct Emergency {
    rules: Arc<Mutex<Vec<AuditRule>>>,
    record: Option<(StateDir, Owner)>,
}

impl Emergency {
    /// Whether every rule is gone (or there were none). The rules are
    /// recorded first (a local write: the stop may have emptied the record
    /// before its deletes), so whatever this does not get to delete (the
    /// watchdog exits after a bound) is removed by the next start.
    pub fn remove(&self) -> bool {
        let rules = self
            .rules
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if rules.is_empty() {
            return true;
        }
        if let Some((dir, me)) = &self.record {
            let _ = dir.record(me, &rules);
        }
        let mut left = Vec::new();
        match ControlSocket::open() {
            Ok(mut ctl) => {
                for rule in &rules {
                    match delete_rule(&mut ctl, rule) {
                        Ok(()) => {}
                        Err(e) if e.errno() == Some(libc::ENOENT) => {}
                        Err(_) => left.push(rule.clone()),
                    }
                }
            }
            Err(_) => left = rules,
        }
        if let Some((dir, me)) = &self.record {
            let _ = dir.record(me, &left);
        }
        left.is_empty()
    }
}

impl GuardState {
    /// Updates `present` from `loaded`; returns the rules that went since
    /// the last look (with whether each was swmon's), and those that came
    /// back. A rule of swmon's that went is no longer swmon's: if an
    /// identical one appears later, someone else loaded it.
    fn diff(&mut self, loaded: &[AuditRule]) -> (Vec<(AuditRule, bool)>, Vec<AuditRule>) {
        let (mut gone, mut back) = (Vec::new(), Vec::new());
        for g in &mut self.rules {
            let now = loaded.iter().any(|l| l.same_as(&g.rule));
            if g.present && !now {
                gone.push((g.rule.clone(), g.ours));
                g.ours = false;
            } else if !g.present && now {
                back.push(g.rule.clone());
            }
            g.present = now;
        }
        (gone, back)
    }

    /// Ends ownership of the loaded rules of swmon's with a key in
    /// `removals` for which `ambiguous(key, removed)` holds; returns them.
    fn disown_keys(
        &mut self,
        removals: &[(Vec<u8>, usize)],
        ambiguous: impl Fn(&[u8], usize) -> bool,
    ) -> Vec<AuditRule> {
        let mut out = Vec::new();
        for (k, n) in removals {
            if !ambiguous(k, *n) {
                continue;
            }
            for g in &mut self.rules {
                if g.ours && g.rule.keys().contains(k) {
                    g.ours = false;
                    out.push(g.rule.clone());
                }
            }
        }
        out
    }

    /// Whether `rule` is one to adopt whose live owner at start gave it
    /// up: its record no longer names it (gone: the owner stopped), or now
    /// belongs to another process.
    fn given_up(&self, rule: &AuditRule) -> bool {
        let Some(owner) = self
            .rules
            .iter()
            .find(|g| g.rule.same_as(rule))
            .and_then(|g| g.adopt_from.as_ref())
        else {
            return false;
        };
        let Some((dir, _)) = &self.record else {
            return false;
        };
        match read_state(&dir.file_of(owner.pid)) {
            Ok(rec) => rec.owner != *owner || !rec.rules.iter().any(|r| r.same_as(rule)),
            Err(StateError::Io { source, .. }) => source.kind() == std::io::ErrorKind::NotFound,
            // Unreadable: its owner may still hold it.
            Err(_) => false,
        }
    }

    /// Adds as swmon's own the seed rules a live instance had added, once
    /// that instance gave them up and they are gone (it stopped): this
    /// instance asked for them and relied on them. Tried once per rule.
    fn adopt(&mut self, ctl: &mut ControlSocket) -> Option<RulesRemoved> {
        let wanted: Vec<AuditRule> = self
            .rules
            .iter()
            .filter(|g| !g.present && g.adopt_from.is_some() && self.given_up(&g.rule))
            .map(|g| g.rule.clone())
            .collect();
        if wanted.is_empty() {
            return None;
        }
        self.save_with(&wanted);
        let result = install(ctl, &wanted);
        for g in &mut self.rules {
            if wanted.iter().any(|w| w.same_as(&g.rule)) {
                g.adopt_from = None;
                if let Ok(done) = &result {
                    if done.added.iter().any(|a| a.same_as(&g.rule)) {
                        g.ours = true;
                        g.restorable = true;
                        g.present = true;
                    } else if done.present.iter().any(|a| a.same_as(&g.rule)) {
                        // Someone loaded it meanwhile: theirs.
                        g.present = true;
                    }
                }
            }
        }
        self.save();
        let (op, rules, restore_error) = match result {
            Ok(done) => ("rules-adopted", done.added, None),
            Err(e) => ("rules-adopt-failed", wanted, Some(e.to_string())),
        };
        let mut keys: Vec<String> = Vec::new();
        for k in rules.iter().flat_map(AuditRule::keys) {
            let k = String::from_utf8_lossy(&k).into_owned();
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        Some(RulesRemoved {
            keys,
            rules,
            restore_error,
            ..RulesRemoved::from_poll(op)
        })
    }

    /// A failure to update the record, alerted once per distinct failure
    /// (it also fails a clean stop's update, so it is seen there too).
    fn record_alert(&mut self) -> Option<RulesRemoved> {
        if self.record_error == self.record_error_said {
            return None;
        }
        self.record_error_said.clone_from(&self.record_error);
        let error = self.record_error.clone()?;
        Some(RulesRemoved {
            record_error: Some(error),
            rules: self.owned(),
            ..RulesRemoved::from_poll("rules-record-failed")
        })
    }

    fn owned(&self) -> Vec<AuditRule> {
        self.rules
            .iter()
            .filter(|g| g.ours)
            .map(|g| g.rule.clone())
            .collect()
    }

    /// Rewrites the state file with the rules swmon owns now, plus `ahead`.
    fn save_with(&mut self, ahead: &[AuditRule]) {
        let mut rules = self.owned();
        rules.extend(ahead.iter().cloned());
        rules.clone_into(
            &mut self
                .emergency
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        if let Some((dir, me)) = &self.record {
            self.record_error = dir.record(me, &rules).err().map(|e| e.to_string());
        }
    }

    fn save(&mut self) {
        self.save_with(&[]);
    }

    fn restore(&mut self, ctl: &mut ControlSocket) -> Result<Vec<AuditRule>, AuditError> {
        if self.stopping {
            return Ok(Vec::new());
        }
        let loaded = list_rules(ctl)?;
        let wanted: Vec<AuditRule> = self
            .rules
            .iter()
            .filter(|g| g.restorable && !loaded.iter().any(|l| l.same_as(&g.rule)))
            .map(|g| g.rule.clone())
            .collect();
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        self.save_with(&wanted);
        let result = install(ctl, &wanted);
        if let Ok(done) = &result {
            for g in &mut self.rules {
                if done.added.iter().any(|a| a.same_as(&g.rule)) {
                    g.ours = true;
                    g.present = true;
                }
            }
        }
        self.save();
        Ok(result?.added)
    }

    fn poll_with(
        &mut self,
        ctl: &mut ControlSocket,
        restore: bool,
    ) -> Result<Vec<RulesRemoved>, AuditError> {
        let loaded = list_rules(ctl)?;
        let mut out = self.removed(ctl, &loaded, restore);
        out.extend(self.adopt(ctl));
        out.extend(self.record_alert());
        if let Some(item) = self.suppressed(&loaded) {
            out.push(item);
        }
        Ok(out)
    }

    /// New rules in `loaded` that keep guarded rules from recording, once
    /// each; the baseline is the first look's.
    fn suppressed(&mut self, loaded: &[AuditRule]) -> Option<RulesRemoved> {
        let now: Vec<AuditRule> = loaded
            .iter()
            .filter(|r| could_suppress(r))
            .cloned()
            .collect();
        let Some(baseline) = &self.baseline else {
            self.baseline = Some(now);
            return None;
        };
        let new: Vec<AuditRule> = now
            .iter()
            .filter(|r| !baseline.iter().any(|b| b.same_as(r)))
            .cloned()
            .collect();
        // Forget those gone, so a rule that comes back is alerted again.
        self.suppressors
            .retain(|r| new.iter().any(|n| n.same_as(r)));
        let mut by = Vec::new();
        let mut hit: Vec<AuditRule> = Vec::new();
        for r in new {
            if self.suppressors.iter().any(|x| x.same_as(&r)) {
                continue;
            }
            let victims = self.suppressed_by(&r, loaded);
            if victims.is_empty() {
                continue;
            }
            for v in victims {
                if !hit.iter().any(|h| h.same_as(&v)) {
                    hit.push(v);
                }
            }
            self.suppressors.push(r.clone());
            by.push(r);
        }
        if by.is_empty() {
            return None;
        }
        let mut keys: Vec<String> = Vec::new();
        for k in hit.iter().flat_map(AuditRule::keys) {
            let k = String::from_utf8_lossy(&k).into_owned();
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        Some(RulesRemoved {
            detected_by: "status-poll",
            serial: None,
            timestamp_ms: None,
            op: "rules-suppressed".into(),
            keys,
            path: None,
            auid: None,
            ses: None,
            rules: hit,
            restore_error: None,
            suppressed_by: by,
            disowned: Vec::new(),
            list_error: None,
            list_failures: None,
            record_error: None,
        })
    }

    /// The guarded rules loaded that `rule` keeps from recording (see
    /// [`suppresses`]).
    fn suppressed_by(&self, rule: &AuditRule, loaded: &[AuditRule]) -> Vec<AuditRule> {
        let at = loaded.iter().position(|l| l.same_as(rule));
        self.rules
            .iter()
            .filter(|g| g.present && !g.rule.same_as(rule))
            .filter(|g| {
                let theirs = loaded.iter().position(|l| l.same_as(&g.rule));
                suppresses(rule, at, &g.rule, theirs)
            })
            .map(|g| g.rule.clone())
            .collect()
    }

    /// Rules gone since the last look, then their restore if asked.
    fn removed(
        &mut self,
        ctl: &mut ControlSocket,
        loaded: &[AuditRule],
        restore: bool,
    ) -> Vec<RulesRemoved> {
        let (gone, _) = self.diff(loaded);
        if gone.iter().any(|g| g.1) {
            self.save();
        }
        // Given up by the instance that added them (it stopped): adopted,
        // no alert.
        let gone: Vec<(AuditRule, bool)> =
            gone.into_iter().filter(|g| !self.given_up(&g.0)).collect();
        if gone.is_empty() {
            return Vec::new();
        }
        let mut keys: Vec<String> = Vec::new();
        for k in gone.iter().flat_map(|g| g.0.keys()) {
            let k = String::from_utf8_lossy(&k).into_owned();
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        let item = RulesRemoved {
            detected_by: "status-poll",
            serial: None,
            timestamp_ms: None,
            op: "rules-missing".into(),
            keys,
            path: None,
            auid: None,
            ses: None,
            rules: gone.into_iter().map(|g| g.0).collect(),
            restore_error: None,
            suppressed_by: Vec::new(),
            disowned: Vec::new(),
            list_error: None,
            list_failures: None,
            record_error: None,
        };
        let mut out = vec![item.clone()];
        if restore {
            let (op, rules, restore_error) = match self.restore(ctl) {
                Ok(put_back) if put_back.is_empty() => return out,
                Ok(put_back) => ("rules-restored", put_back, None),
                Err(e) => ("rules-restore-failed", Vec::new(), Some(e.to_string())),
            };
            out.push(RulesRemoved {
                op: op.into(),
                rules,
                restore_error,
                ..item
            });
        }
        out
    }

    fn remove_ours(&mut self, ctl: &mut ControlSocket) -> Result<Removed, AuditError> {
        let restorable: Vec<AuditRule> = self
            .rules
            .iter()
            .filter(|g| g.restorable && !g.ours)
            .map(|g| g.rule.clone())
            .collect();
        let owned = self.owned();
        // Given up ahead of the deletes: another instance relying on these
        // rules sees from the record that their removal is this stop, not
        // tamper (and adopts them). A crash in between leaves them loaded
        // and unrecorded: never deleted by another, the safe side.
        if let Some((dir, me)) = &self.record {
            self.record_error = dir.record(me, &[]).err().map(|e| e.to_string());
        }
        // From here on the rules are going: no poll, check or restore
        // acts on them. Each one gone leaves the emergency list at once, so
        // a watchdog that cuts this short deletes only what is still ours
        // (not an identical rule someone loads once ours is gone).
        self.stopping = true;
        let emergency = self.emergency.clone();
        let BestEffort {
            removed,
            mut absent,
            failed,
        } = match remove_best_effort(ctl, &owned, |gone| {
            emergency
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .retain(|r| !r.same_as(gone));
        }) {
            Ok(r) => r,
            Err(e) => {
                self.save();
                return Err(e);
            }
        };
        for g in &mut self.rules {
            if removed.iter().any(|r| r.same_as(&g.rule))
                || absent.iter().any(|r| r.same_as(&g.rule))
            {
                g.ours = false;
            }
        }
        self.save();
        absent.extend(restorable);
        match failed.into_iter().next() {
            Some((_, e)) => Err(e),
            None => {
                self.finished = true;
                Ok(Removed { removed, absent })
            }
        }
    }
}

impl Drop for GuardState {
    /// The way out that was not a clean stop (an error returned, a panic
    /// unwinding, the audit side dropped): deletes swmon's rules, best
    /// effort, with the guard's own control socket.
    fn drop(&mut self) {
        if self.finished || !self.rules.iter().any(|g| g.ours) {
            if let Some((dir, me)) = &self.record {
                let _ = dir.record(me, &[]);
            }
            return;
        }
        let lock = self.record.as_ref().and_then(|(dir, _)| dir.lock().ok());
        let Some(mut ctl) = self.ctl.take().or_else(|| ControlSocket::open().ok()) else {
            let _ = writeln!(
                std::io::stderr(),
                "swmon: can't open the audit socket to remove the rules it added; the next swmon run removes them"
            );
            return;
        };
        match self.remove_ours(&mut ctl) {
            Ok(r) => {
                let _ = writeln!(
                    std::io::stderr(),
                    "swmon: removed the {} audit rules it had added",
                    r.removed.len()
                );
            }
            Err(e) => {
                let _ = writeln!(
                    std::io::stderr(),
                    "swmon: can't remove all the audit rules it added ({e}); the next swmon run removes them"
                );
            }
        }
        drop(lock);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{parse_netlink, Assembler};

    #[test]
    fn the_seed_shape_prints_as_auditctl_lists_it() {
        let r = AuditRule::exec_watch(Path::new("/usr/bin/dpkg"), SEED_KEY);
        assert_eq!(
            r.to_string(),
            "-a always,exit -F arch=b64 -S all -F perm=x -F path=/usr/bin/dpkg -F key=software-installer"
        );
        let r = AuditRule::syscalls(&[59, 322], "k");
        assert_eq!(
            r.to_string(),
            "-a always,exit -F arch=b64 -S execve,execveat -F key=k"
        );
    }

    #[test]
    fn encodes_the_kernel_layout() {
        let r = AuditRule::exec_watch(Path::new("/usr/bin/dpkg"), "k1");
        let b = r.encode().unwrap();
        let word = |i: usize| u32::from_ne_bytes(b[i * 4..i * 4 + 4].try_into().unwrap());
        assert_eq!(b.len(), 1040 + "/usr/bin/dpkg".len() + 2);
        assert_eq!(word(0), 4); // exit list
        assert_eq!(word(1), 2); // always
        assert_eq!(word(2), 4); // four fields
        assert_eq!(word(3), u32::MAX);
        assert_eq!(word(3 + 63), 0xFFFF);
        let (fields, values, flags) = (67, 131, 195);
        assert_eq!(
            (0..4).map(|i| word(fields + i)).collect::<Vec<_>>(),
            vec![11, 106, 105, 210]
        );
        assert_eq!(
            (0..4).map(|i| word(values + i)).collect::<Vec<_>>(),
            vec![0xC000_003E, 1, 13, 2]
        );
        assert!((0..4).all(|i| word(flags + i) == op::EQUAL));
        assert_eq!(word(259), 15); // buflen
        assert_eq!(&b[1040..], b"/usr/bin/dpkgk1");
    }

    #[test]
    fn decode_inverts_encode_for_string_fields_after_exe() {
        // exe= before key= is what netlink-packet-audit misreads.
        let mut r = AuditRule::exec_watch(Path::new("/usr/bin/apt-get"), SEED_KEY);
        r.fields[2].field = AUDIT_EXE;
        r.fields.push(RuleField {
            field: 9,
            op: op::NOT_EQUAL,
            value: FieldValue::Num(u32::MAX),
        });
        let back = AuditRule::decode(&r.encode().unwrap()).unwrap();
        assert_eq!(back, r);
        assert_eq!(
            back.to_string(),
            "-a always,exit -F arch=b64 -S all -F perm=x -F exe=/usr/bin/apt-get -F key=software-installer -F auid!=-1"
        );
    }

    #[test]
    fn the_kernel_clearing_class_bits_still_compares_equal() {
        let r = AuditRule::exec_watch(Path::new("/usr/bin/dpkg"), SEED_KEY);
        let mut as_auditctl_sends_it = r.clone();
        as_auditctl_sends_it.mask = vec![u32::MAX; AUDIT_BITMASK_SIZE];
        assert!(as_auditctl_sends_it.all_syscalls());
        assert!(r.same_as(&as_auditctl_sends_it));
        let other = AuditRule::exec_watch(Path::new("/usr/bin/dpkg"), "other");
        assert!(!r.same_as(&other));
    }

    #[test]
    fn refuses_what_the_kernel_would() {
        let r = AuditRule::exec_watch(Path::new("usr/bin/dpkg"), SEED_KEY);
        assert!(matches!(r.encode(), Err(RuleError::BadPath { .. })));
        let r = AuditRule::exec_watch(Path::new("/usr/bin/dpkg"), &"k".repeat(257));
        assert_eq!(r.encode(), Err(RuleError::KeyTooLong(257)));
        let mut r = AuditRule::exec_watch(Path::new("/usr/bin/dpkg"), SEED_KEY);
        r.fields[0].value = FieldValue::Str(b"x".to_vec());
        assert!(matches!(r.encode(), Err(RuleError::NotANumber { .. })));
        assert!(AuditRule::decode(&[0; 100]).is_err());
        let mut b = AuditRule::exec_watch(Path::new("/usr/bin/dpkg"), SEED_KEY)
            .encode()
            .unwrap();
        b.truncate(1045);
        assert!(AuditRule::decode(&b).is_err());
    }

    #[test]
    fn odd_strings_are_quoted_and_escaped() {
        let r = AuditRule::exec_watch(Path::new("/tmp/a b\"c"), "k");
        assert!(r.to_string().contains("-F path=\"/tmp/a b\\x22c\""));
    }

    #[test]
    fn coverage_by_path_exe_or_dir() {
        let dpkg = Path::new("/usr/bin/dpkg");
        assert!(AuditRule::exec_watch(dpkg, SEED_KEY).covers_exec_of(dpkg));
        assert!(!AuditRule::exec_watch(Path::new("/usr/bin/apt"), SEED_KEY).covers_exec_of(dpkg));
        assert!(!AuditRule::syscalls(&[59], "k").covers_exec_of(dpkg));
        let mut exe = AuditRule::syscalls(&[59], "k");
        exe.fields.insert(
            1,
            RuleField {
                field: AUDIT_EXE,
                op: op::EQUAL,
                value: FieldValue::Str(b"/usr/bin/dpkg".to_vec()),
            },
        );
        assert!(exe.covers_exec_of(dpkg));
        let mut write_only = AuditRule::exec_watch(dpkg, SEED_KEY);
        write_only.fields[1].value = FieldValue::Num(AUDIT_PERM_WRITE);
        assert!(!write_only.covers_exec_of(dpkg));
    }

    fn event(lines: &[&str]) -> AuditEvent {
        let mut a = Assembler::default();
        for l in lines {
            a.push(parse_netlink(1305, l.as_bytes()).unwrap(), 0);
        }
        a.flush_all();
        a.pop_ready().unwrap()
    }

    #[test]
    fn the_diff_reports_each_removal_once_and_disowns_what_went() {
        let dpkg = AuditRule::exec_watch(Path::new("/usr/bin/dpkg"), SEED_KEY);
        let apt = AuditRule::exec_watch(Path::new("/usr/bin/apt-get"), SEED_KEY);
        let host = AuditRule::exec_watch(Path::new("/usr/bin/rpm"), SEED_KEY);
        let other = AuditRule::syscalls(&[59], "unrelated");
        let guard = RuleGuard::with(
            vec![dpkg.clone(), apt.clone()],
            vec![host.clone()],
            vec![],
            None,
            Leftovers::default(),
        );
        let all = vec![other.clone(), dpkg.clone(), apt.clone(), host.clone()];
        let mut s = guard.lock();
        // A unit test never touches the kernel: nothing to remove on drop.
        s.finished = true;
        assert_eq!(s.diff(&all), (vec![], vec![]));
        // `-D`: everything went, each reported once, with whether it was ours.
        let (gone, back) = s.diff(std::slice::from_ref(&other));
        assert_eq!(
            gone,
            vec![
                (dpkg.clone(), true),
                (apt.clone(), true),
                (host.clone(), false)
            ]
        );
        assert!(back.is_empty());
        assert_eq!(s.diff(std::slice::from_ref(&other)), (vec![], vec![]));
        assert!(s.owned().is_empty(), "what went is no longer ours");
        // Someone else loads an identical rule: it is back, but not ours to
        // delete at stop.
        let (gone, back) = s.diff(std::slice::from_ref(&dpkg));
        assert!(gone.is_empty());
        assert_eq!(back, vec![dpkg.clone()]);
        assert!(s.owned().is_empty());
        // Its removal is reported again.
        assert_eq!(s.diff(&[]).0, vec![(dpkg.clone(), false)]);
        drop(s);
        // Only what was added at start is put back by a restore.
        assert_eq!(guard.ours(), vec![dpkg, apt]);
    }

    #[test]
    fn new_never_and_exclude_rules_ahead_of_ours_are_suppression() {
        let dpkg = AuditRule::exec_watch(Path::new("/usr/bin/dpkg"), SEED_KEY);
        let guard = RuleGuard::with(
            vec![dpkg.clone()],
            vec![],
            vec![],
            None,
            Leftovers::default(),
        );
        let mut s = guard.lock();
        s.finished = true;
        let mut hosts_never = AuditRule::syscalls(&[159], "time");
        hosts_never.action = AUDIT_NEVER;
        let mut never_watch = AuditRule::exec_watch(Path::new("/usr/bin/dpkg"), "quiet");
        never_watch.action = AUDIT_NEVER;
        let mut exclude = AuditRule::syscalls(&[], "drop");
        exclude.list = AUDIT_FILTER_EXCLUDE;
        exclude.fields = vec![RuleField {
            field: 12, // msgtype
            op: op::EQUAL,
            value: FieldValue::Num(1300),
        }];
        // The host's own `never` rule, there at the first look: no alert.
        assert_eq!(s.suppressed(&[hosts_never.clone(), dpkg.clone()]), None);
        // A `never` watch on the same path after ours wins nothing.
        let after = [hosts_never.clone(), dpkg.clone(), never_watch.clone()];
        assert_eq!(s.suppressed(&after), None);
        // Put ahead of ours (`auditctl -A`): an alert naming both, once.
        let ahead = [never_watch.clone(), hosts_never.clone(), dpkg.clone()];
        let alert = s.suppressed(&ahead).unwrap();
        assert_eq!(alert.action(), "audit-rules-suppressed");
        assert_eq!(alert.rules, vec![dpkg.clone()]);
        assert_eq!(alert.suppressed_by, vec![never_watch.clone()]);
        assert_eq!(alert.keys, vec![SEED_KEY]);
        assert_eq!(s.suppressed(&ahead), None);
        // Gone and back: alerted again. An exclude rule anywhere counts.
        assert_eq!(s.suppressed(std::slice::from_ref(&dpkg)), None);
        assert!(s.suppressed(&ahead).is_some());
        let with_exclude = [never_watch, dpkg.clone(), exclude.clone()];
        assert_eq!(
            s.suppressed(&with_exclude).unwrap().suppressed_by,
            vec![exclude]
        );
    }

    #[test]
    fn suppression_follows_the_kernels_evaluation() {
        let dpkg = AuditRule::exec_watch(Path::new("/usr/bin/dpkg"), SEED_KEY);
        let apt = AuditRule::exec_watch(Path::new("/usr/bin/apt-get"), SEED_KEY);
        let all = AuditRule::syscalls(&[59, 322], SEED_KEY);
        let never = |mut r: AuditRule| {
            r.action = AUDIT_NEVER;
            r
        };
        let (at, after) = (Some(0), Some(1));
        // A syscall `never` rule for execve ahead of a watch or a syscall
        // rule wins (the exit list, watches included, first match), not
        // after it.
        let never_exec = never(AuditRule::syscalls(&[59, 322], "k"));
        assert!(suppresses(&never_exec, at, &dpkg, after));
        assert!(suppresses(&never_exec, at, &all, after));
        assert!(!suppresses(&never_exec, after, &dpkg, at));
        // For another syscall only (adjtimex), or another arch: none.
        assert!(!suppresses(
            &never(AuditRule::syscalls(&[159], "k")),
            at,
            &dpkg,
            after
        ));
        let mut b32 = never_exec.clone();
        b32.fields[0].value = FieldValue::Num(AUDIT_ARCH_I386);
        assert!(!suppresses(&b32, at, &dpkg, after));
        // A watch only for its own file: `never`, or `always` with another
        // key (it takes the key), not the same key.
        let never_dpkg = never(AuditRule::exec_watch(Path::new("/usr/bin/dpkg"), "k"));
        assert!(suppresses(&never_dpkg, at, &dpkg, after));
        assert!(!suppresses(&never_dpkg, at, &apt, after));
        assert!(suppresses(&never_dpkg, at, &all, after), "partly");
        let other_key = AuditRule::exec_watch(Path::new("/usr/bin/dpkg"), "other");
        assert!(suppresses(&other_key, at, &dpkg, after));
        assert!(!suppresses(&dpkg.clone(), at, &dpkg, after), "same key");
        // `dir=` by path components.
        let mut dir = never_exec.clone();
        dir.fields.push(RuleField {
            field: AUDIT_DIR,
            op: op::EQUAL,
            value: FieldValue::Str(b"/usr/bin".to_vec()),
        });
        assert!(suppresses(&dir, at, &dpkg, after));
        if let Some(f) = dir.fields.last_mut() {
            f.value = FieldValue::Str(b"/usr/bi".to_vec());
        }
        assert!(!suppresses(&dir, at, &dpkg, after));
        // A write-only watch is not for exec.
        let mut write_only = never_dpkg.clone();
        write_only.fields[1].value = FieldValue::Num(AUDIT_PERM_WRITE);
        assert!(!suppresses(&write_only, at, &dpkg, after));
        assert!(!could_suppress(&write_only));
        // task,never: everything; never,filesystem: watches on it.
        let mut task = never(AuditRule::syscalls(&[], "k"));
        task.list = AUDIT_FILTER_TASK;
        assert!(suppresses(&task, after, &dpkg, at));
        assert!(could_suppress(&task));
        let mut fs_rule = never(AuditRule::syscalls(&[], "k"));
        fs_rule.list = AUDIT_FILTER_FS;
        assert!(could_suppress(&fs_rule));
        assert!(suppresses(&fs_rule, after, &dpkg, at), "no fstype: any");
        assert!(!suppresses(&fs_rule, at, &all, after), "no inode to drop");
        fs_rule.fields = vec![RuleField {
            field: AUDIT_FSTYPE,
            op: op::EQUAL,
            value: FieldValue::Num(0x0102_1994), // tmpfs
        }];
        let on_root = AuditRule::exec_watch(Path::new("/"), SEED_KEY);
        // SAFETY: statfs is plain data; all-zero is a valid value.
        let mut root_fs: libc::statfs = unsafe { std::mem::zeroed() };
        // SAFETY: a NUL-terminated path and a buffer we own.
        assert_eq!(unsafe { libc::statfs(c"/".as_ptr(), &mut root_fs) }, 0);
        assert_eq!(
            suppresses(&fs_rule, at, &on_root, after),
            root_fs.f_type as u32 == 0x0102_1994,
            "by the file system's type"
        );
    }

    #[test]
    fn a_removal_record_for_our_key_disowns_the_rules_gone() {
        let guard = RuleGuard::new(vec![AuditRule::exec_watch(
            Path::new("/usr/bin/dpkg"),
            "mine",
        )]);
        guard.lock().finished = true;
        let e = event(&[
            "audit(1700000000.123:50): auid=0 ses=1 op=remove_rule key=\"mine\" list=4 res=1",
        ]);
        let alert = guard.check(&e, None).unwrap();
        assert_eq!(alert.detected_by, "config-change");
        assert_eq!(alert.rules, vec![], "no list without a socket");
        let json = serde_json::to_value(&alert).unwrap();
        assert_eq!(json["serial"], 50);
        assert!(json.get("restore_error").is_none());
        assert!(alert.is_alert());
    }

    /// A removal event as `auditctl -d` by process `pid` logs it: one
    /// CONFIG_CHANGE record per rule, then the SYSCALL record.
    fn removal_by(serial: u64, pid: u32, key: &str, rules: usize) -> AuditEvent {
        let mut a = Assembler::default();
        for _ in 0..rules {
            let cc = format!(
                "audit(1700000000.123:{serial}): auid=0 ses=1 op=remove_rule key=\"{key}\" list=4 res=1"
            );
            a.push(parse_netlink(1305, cc.as_bytes()).unwrap(), 0);
        }
        let sc = format!(
            "audit(1700000000.123:{serial}): arch=c000003e syscall=44 success=yes exit=1096 a0=3 items=0 ppid=1 pid={pid} auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=1 comm=\"auditctl\" exe=\"/usr/sbin/auditctl\" key=(null)"
        );
        a.push(parse_netlink(1300, sc.as_bytes()).unwrap(), 0);
        a.push(
            parse_netlink(1320, format!("audit(1700000000.123:{serial}): ").as_bytes()).unwrap(),
            0,
        );
        a.flush_all();
        a.pop_ready().unwrap()
    }

    fn two_of_mine() -> (RuleGuard, AuditRule, AuditRule) {
        let dpkg = AuditRule::exec_watch(Path::new("/usr/bin/dpkg"), "mine");
        let apt = AuditRule::exec_watch(Path::new("/usr/bin/apt-get"), "mine");
        let guard = RuleGuard::new(vec![dpkg.clone(), apt.clone()]);
        // No kernel in a unit test: nothing to remove on drop.
        guard.lock().finished = true;
        (guard, dpkg, apt)
    }

    #[test]
    fn a_rule_removed_and_re_added_by_another_process_is_no_longer_ours() {
        let (guard, dpkg, apt) = two_of_mine();
        // `auditctl -d` of the dpkg rule, then the same rule loaded again
        // before swmon reads the list: both are listed, one removal logged.
        let e = removal_by(60, 1, "mine", 1);
        let alert = guard
            .check_with(&e, || Some(vec![dpkg.clone(), apt.clone()]))
            .expect("an alert");
        assert_eq!(alert.rules, vec![], "nothing is missing");
        assert_eq!(alert.disowned, vec![dpkg.clone(), apt.clone()]);
        assert!(
            guard.lock().owned().is_empty(),
            "swmon deletes neither at stop"
        );
        assert_eq!(guard.ours().len(), 2, "still put back on request");
        let json = serde_json::to_value(&alert).unwrap();
        assert_eq!(json["disowned"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn a_plain_removal_disowns_only_the_rule_that_went() {
        let (guard, dpkg, apt) = two_of_mine();
        let e = removal_by(61, 1, "mine", 1);
        let alert = guard.check_with(&e, || Some(vec![apt.clone()])).unwrap();
        assert_eq!(alert.rules, vec![dpkg]);
        assert_eq!(alert.disowned, vec![]);
        assert_eq!(guard.lock().owned(), vec![apt], "the other stays ours");
        // Without a list, nothing can be told apart: all of the key goes.
        let (guard, dpkg, apt) = two_of_mine();
        let alert = guard.check_with(&e, || None).unwrap();
        assert_eq!(alert.disowned, vec![dpkg, apt]);
    }

    #[test]
    fn swmons_own_removals_are_no_alert_and_keep_ownership() {
        let (guard, dpkg, apt) = two_of_mine();
        let e = removal_by(62, std::process::id(), "mine", 2);
        let mut listed = false;
        assert_eq!(
            guard.check_with(&e, || {
                listed = true;
                Some(vec![])
            }),
            None
        );
        assert!(!listed, "no list for swmon's own records");
        assert_eq!(guard.lock().owned(), vec![dpkg, apt]);
    }

    #[test]
    fn a_flush_is_one_alert_and_its_other_records_none() {
        let (guard, dpkg, apt) = two_of_mine();
        // The poll or an earlier record already saw them go: nothing new.
        let first = guard
            .check_with(&removal_by(63, 1, "mine", 2), || Some(vec![]))
            .unwrap();
        assert_eq!(first.rules, vec![dpkg, apt]);
        assert_eq!(first.disowned, vec![]);
        assert_eq!(
            guard.check_with(&removal_by(64, 1, "mine", 1), || Some(vec![])),
            None,
            "no empty alert"
        );
    }

    #[test]
    fn a_rule_is_given_up_when_its_live_owners_record_stops_naming_it() {
        let dir = std::env::temp_dir().join(format!("swmon-adopt-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let state = StateDir::open(&dir).unwrap();
        let me = Owner::me().unwrap();
        let other = Owner {
            pid: me.pid.wrapping_add(1),
            ..me.clone()
        };
        let dpkg = AuditRule::exec_watch(Path::new("/usr/bin/dpkg"), SEED_KEY);
        let apt = AuditRule::exec_watch(Path::new("/usr/bin/apt-get"), SEED_KEY);
        state.record(&other, &[dpkg.clone(), apt.clone()]).unwrap();
        let guard = RuleGuard::with(
            vec![],
            vec![dpkg.clone(), apt.clone()],
            vec![(dpkg.clone(), other.clone())],
            Some((state.clone(), me.clone())),
            Leftovers::default(),
        );
        let mut s = guard.lock();
        s.finished = true;
        assert!(!s.given_up(&dpkg), "its owner still records it");
        assert!(!s.given_up(&apt), "not one to adopt");
        state.record(&other, std::slice::from_ref(&apt)).unwrap();
        assert!(s.given_up(&dpkg), "the owner's record dropped it");
        state.record(&other, &[]).unwrap();
        assert!(s.given_up(&dpkg), "the owner stopped: no record");
        drop(s);
        drop(guard);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_emergency_handle_follows_what_swmon_owns() {
        let dpkg = AuditRule::exec_watch(Path::new("/usr/bin/dpkg"), SEED_KEY);
        let guard = RuleGuard::new(vec![dpkg.clone()]);
        let emergency = guard.emergency();
        let snapshot = || emergency.rules.lock().unwrap().clone();
        assert_eq!(snapshot(), vec![dpkg.clone()], "owned from the start");
        {
            let mut s = guard.lock();
            let apt = AuditRule::exec_watch(Path::new("/usr/bin/apt"), SEED_KEY);
            s.save_with(std::slice::from_ref(&apt));
            assert_eq!(snapshot(), vec![dpkg.clone(), apt], "being added counts");
            s.rules[0].ours = false;
            s.save();
        }
        assert!(
            snapshot().is_empty(),
            "given up: never removed by the watchdog"
        );
        assert!(emergency.remove(), "nothing to remove needs no socket");
    }

    #[test]
    fn a_record_that_cannot_be_updated_is_alerted_once() {
        let dir = std::env::temp_dir().join(format!("swmon-recfail-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let state = StateDir::open(&dir).unwrap();
        let me = Owner::me().unwrap();
        let dpkg = AuditRule::exec_watch(Path::new("/usr/bin/dpkg"), SEED_KEY);
        let guard = RuleGuard::with(
            vec![dpkg.clone()],
            vec![],
            vec![],
            Some((state, me)),
            Leftovers::default(),
        );
        let mut s = guard.lock();
        s.save();
        assert_eq!(s.record_alert(), None, "written: nothing to say");
        fs::remove_dir_all(&dir).unwrap();
        s.save();
        let alert = s.record_alert().expect("the failed update is alerted");
        assert_eq!(alert.action(), "audit-rules-unrecorded");
        assert!(alert.is_alert());
        assert_eq!(alert.rules, vec![dpkg]);
        assert!(alert
            .record_error
            .as_deref()
            .unwrap()
            .contains("swmon-recfail"));
        s.save();
        assert_eq!(s.record_alert(), None, "the same failure once");
        s.finished = true;
        drop(s);
        drop(guard);
    }

    #[test]
    fn config_change_records_of_the_enabled_flag_parse() {
        // As this kernel (6.18) multicasts them: `auditctl -e 0` logs one;
        // `-e 1` from 0 logs none (audit_do_config_change logs only while
        // enabled), and `-D` while disabled logs no remove_rule either.
        let e = event(&[
            "audit(1796095736.734:22510): op=set audit_enabled=0 old=1 auid=4294967295 ses=4294967295 res=1",
        ]);
        let cc = e.config_change().unwrap();
        assert_eq!(cc.op(), Some(b"set".as_slice()));
        assert_eq!(
            cc.record().get("audit_enabled").and_then(|v| v.to_u32()),
            Some(0)
        );
        assert_eq!(cc.res(), Some(true));
    }

    #[test]
    fn the_guard_alerts_on_removal_of_guarded_keys_only() {
        let guard = RuleGuard::new(vec![AuditRule::exec_watch(
            Path::new("/usr/bin/dpkg"),
            "mine",
        )]);
        // Not loaded: nothing to remove on drop (and no kernel in a unit test).
        guard.lock().finished = true;
        let e = event(&[
            "audit(1700000000.123:42): auid=1000 ses=3 subj=unconfined op=remove_rule key=\"other\" list=4 res=1",
            "audit(1700000000.123:42): auid=1000 ses=3 subj=unconfined op=remove_rule key=\"software-installer\" list=4 res=1",
        ]);
        let alert = guard.check(&e, None).unwrap();
        assert_eq!(alert.keys, vec!["software-installer"]);
        assert_eq!(alert.auid, Some(1000));
        assert_eq!(alert.ses, Some(3));
        assert_eq!(alert.serial, Some(42));
        assert_eq!(alert.detected_by, "config-change");
        let mine = event(&[
            "audit(1700000000.123:43): auid=0 ses=1 op=remove_rule key=\"mine\" list=4 res=1",
        ]);
        assert_eq!(guard.check(&mine, None).unwrap().keys, vec!["mine"]);
        for quiet in [
            "audit(1700000000.123:44): auid=0 ses=1 op=remove_rule key=\"other\" list=4 res=1",
            "audit(1700000000.123:45): auid=0 ses=1 op=add_rule key=\"mine\" list=4 res=1",
            "audit(1700000000.123:46): auid=0 ses=1 op=remove_rule key=\"mine\" list=4 res=0",
        ] {
            assert_eq!(guard.check(&event(&[quiet]), None), None, "{quiet}");
        }
    }

    fn never(mut r: AuditRule) -> AuditRule {
        r.action = AUDIT_NEVER;
        r
    }

    fn with_field(mut r: AuditRule, field: u32, o: u32, value: FieldValue) -> AuditRule {
        r.fields.push(RuleField {
            field,
            op: o,
            value,
        });
        r
    }

    const DPKG_ID: (u32, u64) = (254 << 20, 247_111);

    /// An ELF exec from swmon's root.
    fn elf(path: &'static [u8], id: (u32, u64)) -> ExecFile<'static> {
        ExecFile {
            path: Some(path),
            id,
            script: None,
            same_root: true,
        }
    }

    fn judge(rules: Vec<AuditRule>, files: &[Option<(u32, u64)>], e: &ExecFile<'_>) -> Promise {
        judge_exec(&LoadedRules::with_files(rules, files.to_vec()), e)
    }

    #[test]
    fn an_exec_is_recorded_by_the_first_exit_rule_that_can_judge_it() {
        let dpkg = AuditRule::exec_watch(Path::new("/usr/bin/dpkg"), SEED_KEY);
        let all = AuditRule::syscalls(&[59, 322], "swmon-test-all");
        let exec = elf(b"/usr/bin/dpkg", DPKG_ID);
        let copy = elf(b"/tmp/mydpkg", (254 << 20, 5));
        assert_eq!(
            judge(vec![dpkg.clone()], &[Some(DPKG_ID)], &exec),
            Promise::Records
        );
        assert_eq!(
            judge(vec![dpkg.clone()], &[Some(DPKG_ID)], &copy),
            Promise::None
        );
        assert_eq!(judge(vec![], &[], &exec), Promise::None, "no rule");
        assert_eq!(judge(vec![all.clone()], &[], &copy), Promise::Records);
        // Among syscall rules a `never` ahead wins; after, it is too late.
        let never_all = never(AuditRule::syscalls(&[59], "k"));
        assert_eq!(
            judge(vec![never_all.clone(), all.clone()], &[], &exec),
            Promise::None
        );
        assert_eq!(
            judge(vec![all.clone(), never_all.clone()], &[], &exec),
            Promise::Records
        );
        // A watch rule (the kernel's inode hash, filtered after the exit
        // list) overrides the syscall rules wherever it is listed.
        for rules in [
            vec![never_all.clone(), dpkg.clone()],
            vec![dpkg.clone(), never_all.clone()],
        ] {
            let files: Vec<_> = rules.iter().map(|r| r.path().map(|_| DPKG_ID)).collect();
            assert_eq!(judge(rules, &files, &exec), Promise::Records);
        }
        // ... and a `never` watch drops what a syscall rule records.
        let never_dpkg = never(dpkg.clone());
        assert_eq!(
            judge(
                vec![all.clone(), never_dpkg.clone()],
                &[None, Some(DPKG_ID)],
                &exec
            ),
            Promise::None
        );
        assert_eq!(
            judge(vec![all.clone(), never_dpkg], &[None, Some(DPKG_ID)], &copy),
            Promise::Records,
            "a watch on another file leaves the syscall rule's answer"
        );
        // A rule with a field only the process could answer: an `always` one
        // promises nothing (nor its absence), a `never` one may suppress.
        let by_auid = with_field(all.clone(), 9, op::EQUAL, FieldValue::Num(1000));
        assert_eq!(judge(vec![by_auid.clone()], &[], &exec), Promise::Unknown);
        assert_eq!(
            judge(vec![never(by_auid.clone()), all.clone()], &[], &exec),
            Promise::Unknown
        );
        assert_eq!(
            judge(
                vec![never(by_auid), dpkg.clone()],
                &[None, Some(DPKG_ID)],
                &exec
            ),
            Promise::Records,
            "the watch overrides"
        );
        // Another arch or syscall records none; `arch!=b32` is x86_64.
        let mut b32 = all.clone();
        b32.fields[0].value = FieldValue::Num(AUDIT_ARCH_I386);
        assert_eq!(judge(vec![b32.clone()], &[], &exec), Promise::None);
        b32.fields[0].op = op::NOT_EQUAL;
        assert_eq!(judge(vec![b32], &[], &exec), Promise::Records);
        assert_eq!(
            judge(vec![AuditRule::syscalls(&[159], "k")], &[], &exec),
            Promise::None
        );
    }

    #[test]
    fn a_rule_naming_a_symbolic_link_matches_no_exec() {
        use std::os::unix::fs::MetadataExt;
        let dir = std::env::temp_dir().join(format!("swmon-link-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("dir");
        let real = dir.join("npm-cli.js");
        fs::write(&real, b"#!/usr/bin/env node\n").expect("file");
        let link = dir.join("npm");
        std::os::unix::fs::symlink(&real, &link).expect("link");
        let m = fs::metadata(&real).expect("stat");
        let (major, minor) = (libc::major(m.dev()), libc::minor(m.dev()));
        let id = (
            super::super::views::kernel_dev(major, minor).expect("dev"),
            m.ino(),
        );
        let real_b = real.as_os_str().as_encoded_bytes();
        let link_b = link.as_os_str().as_encoded_bytes();
        let node = ExecFile {
            path: Some(b"/usr/bin/node"),
            id: (254 << 20, 77),
            script: Some(link_b),
            same_root: true,
        };
        let elf_exec = ExecFile {
            path: Some(real_b),
            id,
            script: None,
            same_root: true,
        };
        for rule in [
            AuditRule::exec_watch(&link, SEED_KEY),
            AuditRule::exec_watch(&real, SEED_KEY),
        ] {
            let on_link = rule.path() == Some(link_b);
            let loaded = LoadedRules::resolve(vec![rule]);
            assert_eq!(loaded.links, [on_link]);
            let want = if on_link {
                Promise::None
            } else {
                Promise::Records
            };
            assert_eq!(judge_exec(&loaded, &elf_exec), want, "link {on_link}");
            if on_link {
                assert_eq!(judge_exec(&loaded, &node), Promise::None, "by name");
            }
        }
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn exe_is_judged_by_identity_and_exe_not_equal_is_its_opposite() {
        let all = AuditRule::syscalls(&[59, 322], "k");
        let by_exe = with_field(
            all.clone(),
            AUDIT_EXE,
            op::EQUAL,
            FieldValue::Str(b"/usr/bin/dpkg".to_vec()),
        );
        let not_exe = with_field(
            all,
            AUDIT_EXE,
            op::NOT_EQUAL,
            FieldValue::Str(b"/usr/bin/dpkg".to_vec()),
        );
        let dpkg = elf(b"/usr/bin/dpkg", DPKG_ID);
        let rpm = elf(b"/usr/bin/rpm", (254 << 20, 9));
        assert_eq!(
            judge(vec![by_exe.clone()], &[Some(DPKG_ID)], &dpkg),
            Promise::Records
        );
        assert_eq!(
            judge(vec![by_exe.clone()], &[Some(DPKG_ID)], &rpm),
            Promise::None
        );
        // `exe!=/usr/bin/dpkg` records every exec but dpkg's.
        assert_eq!(
            judge(vec![not_exe.clone()], &[Some(DPKG_ID)], &dpkg),
            Promise::None
        );
        assert_eq!(
            judge(vec![not_exe.clone()], &[Some(DPKG_ID)], &rpm),
            Promise::Records
        );
        // A `never` with `exe!=` ahead of a watch: dpkg still recorded.
        let watch = AuditRule::exec_watch(Path::new("/usr/bin/dpkg"), SEED_KEY);
        assert_eq!(
            judge(
                vec![never(not_exe.clone()), watch],
                &[Some(DPKG_ID), Some(DPKG_ID)],
                &dpkg
            ),
            Promise::Records
        );
        // The rule's file unreadable: by name from swmon's root only.
        assert_eq!(
            judge(vec![by_exe.clone()], &[None], &dpkg),
            Promise::Records
        );
        let other_root = ExecFile {
            same_root: false,
            ..dpkg
        };
        assert_eq!(judge(vec![by_exe], &[None], &other_root), Promise::Unknown);
        assert_eq!(judge(vec![not_exe], &[None], &other_root), Promise::Unknown);
    }

    #[test]
    fn paths_are_not_judged_across_chroot_and_container_roots() {
        let watch = AuditRule::exec_watch(Path::new("/usr/bin/dpkg"), SEED_KEY);
        // `chroot /target dpkg`: the kernel walks to /target/usr/bin/dpkg,
        // another inode than the host's: the host's watch does not cover it.
        let chroot = ExecFile {
            path: Some(b"/target/usr/bin/dpkg"),
            id: (254 << 20, 880),
            script: None,
            same_root: false,
        };
        assert_eq!(
            judge(vec![watch.clone()], &[Some(DPKG_ID)], &chroot),
            Promise::None
        );
        // A container's /usr/bin/dpkg (its own root and file system): the
        // same walk as the host's, another inode.
        let container = ExecFile {
            path: Some(b"/usr/bin/dpkg"),
            id: (0x2d, 12),
            script: None,
            same_root: false,
        };
        assert_eq!(
            judge(vec![watch.clone()], &[Some(DPKG_ID)], &container),
            Promise::None
        );
        // A hard link in the chroot is the watched inode: covered.
        let linked = ExecFile {
            id: DPKG_ID,
            ..chroot
        };
        assert_eq!(
            judge(vec![watch.clone()], &[Some(DPKG_ID)], &linked),
            Promise::Records
        );
        // A script named by its chroot-relative path: not judged by name.
        let pip = AuditRule::exec_watch(Path::new("/usr/bin/pip3"), SEED_KEY);
        let script = |same_root| ExecFile {
            path: Some(b"/target/usr/bin/python3.11"),
            id: (254 << 20, 70),
            script: Some(b"/usr/bin/pip3"),
            same_root,
        };
        assert_eq!(
            judge(vec![pip.clone()], &[Some((254 << 20, 71))], &script(false)),
            Promise::Unknown
        );
        assert_eq!(
            judge(vec![pip.clone()], &[Some((254 << 20, 71))], &script(true)),
            Promise::Records
        );
        // `dir=`: by the walk, from swmon's root, on the folder's file system.
        let mut dir = watch.clone();
        dir.fields[2] = RuleField {
            field: AUDIT_DIR,
            op: op::EQUAL,
            value: FieldValue::Str(b"/usr/bin".to_vec()),
        };
        let host = elf(b"/usr/bin/dpkg", DPKG_ID);
        assert_eq!(
            judge(vec![dir.clone()], &[Some((254 << 20, 2))], &host),
            Promise::Records
        );
        assert_eq!(
            judge(vec![dir.clone()], &[Some((254 << 20, 2))], &container),
            Promise::Unknown
        );
        assert_eq!(
            judge(
                vec![dir.clone()],
                &[Some((254 << 20, 2))],
                &elf(b"/usr/sbin/x", DPKG_ID)
            ),
            Promise::None
        );
        assert_eq!(
            judge(
                vec![dir],
                &[Some((254 << 20, 2))],
                &elf(b"/usr/binx/dpkg", DPKG_ID)
            ),
            Promise::None
        );
    }

    #[test]
    fn exclusions_and_never_rules_make_a_promise_unknown() {
        let watch = AuditRule::exec_watch(Path::new("/usr/bin/dpkg"), SEED_KEY);
        let exec = elf(b"/usr/bin/dpkg", DPKG_ID);
        let exclude = |fields: Vec<RuleField>| AuditRule {
            list: AUDIT_FILTER_EXCLUDE,
            prepend: false,
            action: AUDIT_ALWAYS,
            mask: mask_all(),
            fields,
        };
        let msgtype = |o, v| RuleField {
            field: AUDIT_MSGTYPE,
            op: o,
            value: FieldValue::Num(v),
        };
        // Listed after the exit list (the kernel lists list by list), an
        // exclusion of SYSCALL records still drops the exec's record.
        for ex in [
            exclude(vec![msgtype(op::EQUAL, 1300)]),
            never(exclude(vec![msgtype(op::EQUAL, 1300)])),
            exclude(vec![msgtype(op::NOT_EQUAL, 1309)]),
            exclude(vec![msgtype(op::GREATER_THAN, 1299)]),
            exclude(vec![RuleField {
                field: 0, // AUDIT_PID
                op: op::EQUAL,
                value: FieldValue::Num(1),
            }]),
        ] {
            assert_eq!(
                judge(
                    vec![watch.clone(), ex.clone()],
                    &[Some(DPKG_ID), None],
                    &exec
                ),
                Promise::Unknown,
                "{ex}"
            );
        }
        // An exclusion of other records only (EXECVE, CWD) leaves it.
        for ex in [
            exclude(vec![msgtype(op::EQUAL, 1309)]),
            exclude(vec![msgtype(op::EQUAL, 1307)]),
            exclude(vec![msgtype(op::LESS_THAN, 1300)]),
        ] {
            assert_eq!(
                judge(
                    vec![watch.clone(), ex.clone()],
                    &[Some(DPKG_ID), None],
                    &exec
                ),
                Promise::Records,
                "{ex}"
            );
        }
        // `task,never` and `filesystem,never`, wherever listed.
        let mut task = never(AuditRule::syscalls(&[], "k"));
        task.list = AUDIT_FILTER_TASK;
        let mut fs = task.clone();
        fs.list = AUDIT_FILTER_FS;
        for r in [task, fs] {
            assert_eq!(
                judge(
                    vec![r.clone(), watch.clone()],
                    &[None, Some(DPKG_ID)],
                    &exec
                ),
                Promise::Unknown
            );
            assert_eq!(
                judge(vec![watch.clone(), r], &[Some(DPKG_ID), None], &exec),
                Promise::Unknown
            );
        }
        // Nothing promised stays nothing.
        assert_eq!(
            judge(
                vec![exclude(vec![msgtype(op::EQUAL, 1300)])],
                &[],
                &elf(b"/tmp/x", (1, 1))
            ),
            Promise::None
        );
    }
}
