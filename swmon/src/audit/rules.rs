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
    path::{Path, PathBuf},
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
        let mut a = self.clone();
        let mut b = other.clone();
        a.normalize();
        b.normalize();
        a.prepend = false;
        b.prepend = false;
        a == b
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
/// filter searches them: trusted system folders only, never `$PATH` (see
/// [`crate::ebpf::filter`]).
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

/// Someone removed a rule swmon relies on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RulesRemoved {
    /// The CONFIG_CHANGE event's serial and time.
    pub serial: u64,
    pub timestamp_ms: u64,
    /// `remove_rule` (auditctl -d/-D), or the kernel's own when a watched
    /// path's folder went away.
    pub op: String,
    /// The removed rules' keys, from the records.
    pub keys: Vec<String>,
    /// `path=` when the kernel names it (watch removals only).
    pub path: Option<String>,
    /// Who removed it: login uid and session.
    pub auid: Option<u32>,
    pub ses: Option<u32>,
    /// swmon's own rules no longer loaded, when the guard could list them.
    pub rules: Vec<AuditRule>,
}

/// Watches for the removal of swmon's rules, or any seed-keyed rule, and
/// puts swmon's back.
#[derive(Clone, Debug, Default)]
pub struct RuleGuard {
    ours: Vec<AuditRule>,
    keys: BTreeSet<Vec<u8>>,
}

impl RuleGuard {
    /// Guards `ours` (what swmon added) and every rule keyed
    /// [`SEED_KEY`] or with one of `ours`' keys.
    pub fn new(ours: Vec<AuditRule>) -> RuleGuard {
        let mut keys: BTreeSet<Vec<u8>> = ours.iter().flat_map(AuditRule::keys).collect();
        keys.insert(SEED_KEY.as_bytes().to_vec());
        RuleGuard { ours, keys }
    }

    pub fn ours(&self) -> &[AuditRule] {
        &self.ours
    }

    /// Looks at one assembled event: a successful `remove_rule`
    /// CONFIG_CHANGE for a guarded key gives an alert. With `ctl`, the guard
    /// lists the loaded rules (one request, a few microseconds) to say which
    /// of its own are gone; the CONFIG_CHANGE record names only the key.
    pub fn check(
        &self,
        event: &AuditEvent,
        ctl: Option<&mut ControlSocket>,
    ) -> Option<RulesRemoved> {
        let mut found: Option<RulesRemoved> = None;
        for change in event
            .records_of(RecordType::CONFIG_CHANGE)
            .filter_map(|r| r.config_change())
        {
            if change.op() != Some(b"remove_rule".as_slice()) || change.res() == Some(false) {
                continue;
            }
            let keys = change.keys();
            if !keys.iter().any(|k| self.keys.contains(k)) {
                continue;
            }
            let item = found.get_or_insert_with(|| RulesRemoved {
                serial: event.serial,
                timestamp_ms: event.timestamp.as_millis(),
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
            });
            for k in keys {
                let k = String::from_utf8_lossy(&k).into_owned();
                if !item.keys.contains(&k) {
                    item.keys.push(k);
                }
            }
        }
        let mut item = found?;
        if let Some(ctl) = ctl {
            if let Ok(loaded) = list_rules(ctl) {
                item.rules = self
                    .ours
                    .iter()
                    .filter(|o| !loaded.iter().any(|l| l.same_as(o)))
                    .cloned()
                    .collect();
            }
        }
        Some(item)
    }

    /// Adds back those of swmon's rules that are no longer loaded; returns
    /// them.
    pub fn restore(&self, ctl: &mut ControlSocket) -> Result<Vec<AuditRule>, AuditError> {
        Ok(install(ctl, &self.ours)?.added)
    }

    /// Deletes swmon's rules that are still loaded exactly (at shutdown).
    pub fn remove_ours(&self, ctl: &mut ControlSocket) -> Result<Removed, AuditError> {
        remove(ctl, &self.ours)
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
    fn the_guard_alerts_on_removal_of_guarded_keys_only() {
        let guard = RuleGuard::new(vec![AuditRule::exec_watch(
            Path::new("/usr/bin/dpkg"),
            "mine",
        )]);
        let e = event(&[
            "audit(1700000000.123:42): auid=1000 ses=3 subj=unconfined op=remove_rule key=\"other\" list=4 res=1",
            "audit(1700000000.123:42): auid=1000 ses=3 subj=unconfined op=remove_rule key=\"software-installer\" list=4 res=1",
        ]);
        let alert = guard.check(&e, None).unwrap();
        assert_eq!(alert.keys, vec!["software-installer"]);
        assert_eq!(alert.auid, Some(1000));
        assert_eq!(alert.ses, Some(3));
        assert_eq!(alert.serial, 42);
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
}
