//! Typed views of the record types swmon reads: SYSCALL, EXECVE, PATH, CWD,
//! PROCTITLE, CONFIG_CHANGE.
//!
//! A view is a borrowed record plus accessors that know what each field means
//! (decimal, hex, octal, or an untrusted string); it looks fields up when
//! asked, so making one costs nothing. A missing or unparsable field gives
//! `None` rather than an error, since the kernel leaves fields out (`exit=` is
//! absent for a syscall that never returned). Reassembling argv across EXECVE
//! records is an event-level job: see [`super::execve`].

use super::{
    record::Record,
    types::RecordType,
    value::{split_keys, Text, Value},
};

/// The login uid (and session id) the kernel writes when none is set:
/// `(uid_t)-1`.
pub const UNSET_ID: u32 = u32::MAX;

/// The kernel cuts the proctitle at this many bytes
/// (`MAX_PROCTITLE_AUDIT_LEN`).
pub const PROCTITLE_MAX: usize = 128;

impl Record {
    pub fn syscall(&self) -> Option<SyscallRecord<'_>> {
        (self.record_type() == RecordType::SYSCALL).then_some(SyscallRecord(self))
    }

    pub fn path(&self) -> Option<PathRecord<'_>> {
        (self.record_type() == RecordType::PATH).then_some(PathRecord(self))
    }

    /// The `cwd=` of a CWD record.
    pub fn cwd(&self) -> Option<Text<'_>> {
        if self.record_type() != RecordType::CWD {
            return None;
        }
        self.get("cwd").map(|v| v.text())
    }

    pub fn proctitle(&self) -> Option<Proctitle> {
        if self.record_type() != RecordType::PROCTITLE {
            return None;
        }
        self.get("proctitle").map(|v| Proctitle::decode(v.text()))
    }

    pub fn config_change(&self) -> Option<ConfigChangeRecord<'_>> {
        (self.record_type() == RecordType::CONFIG_CHANGE).then_some(ConfigChangeRecord(self))
    }

    pub fn execve(&self) -> Option<ExecveRecord<'_>> {
        (self.record_type() == RecordType::EXECVE).then_some(ExecveRecord(self))
    }

    /// True for the empty record that ends a multi-record event.
    pub fn is_eoe(&self) -> bool {
        self.record_type() == RecordType::EOE
    }
}

fn text<'a>(r: &'a Record, key: &str) -> Option<Text<'a>> {
    r.get(key).map(|v| v.text())
}

fn u32_of(r: &Record, key: &str) -> Option<u32> {
    r.get(key).and_then(|v| v.to_u32())
}

/// A SYSCALL record: which syscall, its result, and who made it.
#[derive(Clone, Copy, Debug)]
pub struct SyscallRecord<'a>(&'a Record);

impl<'a> SyscallRecord<'a> {
    pub fn record(&self) -> &'a Record {
        self.0
    }

    /// `AUDIT_ARCH_*` (`c000003e` is x86_64).
    pub fn arch(&self) -> Option<u32> {
        self.0
            .get("arch")
            .and_then(|v| v.to_hex_u64())
            .and_then(|n| u32::try_from(n).ok())
    }

    /// The syscall number for [`SyscallRecord::arch`] (59 is execve on x86_64).
    pub fn syscall(&self) -> Option<u32> {
        u32_of(self.0, "syscall")
    }

    /// `success=yes|no`; absent when the syscall did not return (exec).
    pub fn success(&self) -> Option<bool> {
        match self.0.get("success")?.raw() {
            b"yes" => Some(true),
            b"no" => Some(false),
            _ => None,
        }
    }

    pub fn exit(&self) -> Option<i64> {
        self.0.get("exit").and_then(|v| v.to_i64())
    }

    /// One of the first four syscall arguments, `a0`..`a3`, as the kernel
    /// logs them (hex).
    pub fn arg(&self, n: usize) -> Option<u64> {
        let key = ["a0", "a1", "a2", "a3"].get(n)?;
        self.0.get(key).and_then(|v| v.to_hex_u64())
    }

    /// How many PATH records follow.
    pub fn items(&self) -> Option<u32> {
        u32_of(self.0, "items")
    }

    pub fn ppid(&self) -> Option<u32> {
        u32_of(self.0, "ppid")
    }

    pub fn pid(&self) -> Option<u32> {
        u32_of(self.0, "pid")
    }

    /// The login uid; [`UNSET_ID`] when the process has none.
    pub fn auid(&self) -> Option<u32> {
        u32_of(self.0, "auid")
    }

    pub fn uid(&self) -> Option<u32> {
        u32_of(self.0, "uid")
    }

    pub fn gid(&self) -> Option<u32> {
        u32_of(self.0, "gid")
    }

    pub fn euid(&self) -> Option<u32> {
        u32_of(self.0, "euid")
    }

    /// The audit session id; [`UNSET_ID`] when none.
    pub fn ses(&self) -> Option<u32> {
        u32_of(self.0, "ses")
    }

    /// `tty=pts0`, or `(none)`; the kernel writes it plain, not as an
    /// untrusted string.
    pub fn tty(&self) -> Option<&'a [u8]> {
        self.0.get("tty").map(|v| v.raw())
    }

    pub fn comm(&self) -> Option<Text<'a>> {
        text(self.0, "comm")
    }

    pub fn exe(&self) -> Option<Text<'a>> {
        text(self.0, "exe")
    }

    /// The `key=` field as written: `(null)`, a quoted key, or hex when
    /// several keys are joined by 0x01 (see [`SyscallRecord::keys`]).
    pub fn key(&self) -> Option<Text<'a>> {
        text(self.0, "key")
    }

    /// The rule keys that matched; empty for `key=(null)`.
    pub fn keys(&self) -> Vec<Vec<u8>> {
        self.key().map(|t| split_keys(&t)).unwrap_or_default()
    }

    pub fn get(&self, key: &str) -> Option<Value<'a>> {
        self.0.get(key)
    }
}

/// A PATH record: one file name the syscall touched.
#[derive(Clone, Copy, Debug)]
pub struct PathRecord<'a>(&'a Record);

impl<'a> PathRecord<'a> {
    pub fn record(&self) -> &'a Record {
        self.0
    }

    pub fn item(&self) -> Option<u32> {
        u32_of(self.0, "item")
    }

    pub fn name(&self) -> Option<Text<'a>> {
        text(self.0, "name")
    }

    pub fn inode(&self) -> Option<u64> {
        self.0.get("inode").and_then(|v| v.to_u64())
    }

    /// `dev=fe:00` as (major, minor); the kernel prints both in hex.
    pub fn dev(&self) -> Option<(u32, u32)> {
        dev_pair(self.0.get("dev")?.raw())
    }

    /// The file's identity as the kernel holds it in memory: `dev` in the
    /// kernel-internal encoding (`MKDEV`: `major << 20 | minor`, what
    /// `super_block.s_dev` and so swmon's eBPF side read), and the inode.
    /// `None` when either is missing or the numbers do not fit the
    /// encoding (a major past 12 bits, a minor past 20).
    pub fn file_id(&self) -> Option<(u32, u64)> {
        let (major, minor) = self.dev()?;
        Some((kernel_dev(major, minor)?, self.inode()?))
    }

    pub fn rdev(&self) -> Option<(u32, u32)> {
        dev_pair(self.0.get("rdev")?.raw())
    }

    /// `mode=0100755`, octal, file type bits included.
    pub fn mode(&self) -> Option<u32> {
        self.0.get("mode").and_then(|v| v.to_octal_u32())
    }

    pub fn ouid(&self) -> Option<u32> {
        u32_of(self.0, "ouid")
    }

    pub fn ogid(&self) -> Option<u32> {
        u32_of(self.0, "ogid")
    }

    /// `NORMAL`, `PARENT`, `CREATE`, `DELETE` or `UNKNOWN`.
    pub fn nametype(&self) -> Option<&'a [u8]> {
        self.0.get("nametype").map(|v| v.raw())
    }

    pub fn get(&self, key: &str) -> Option<Value<'a>> {
        self.0.get(key)
    }
}

/// The kernel-internal `dev_t` (`MKDEV(major, minor)`, 12 and 20 bits), as
/// opposed to user space's `st_dev` (glibc's `makedev`) or the hex pair
/// audit prints (`dev=fd:01` is major 0xfd, minor 1).
pub fn kernel_dev(major: u32, minor: u32) -> Option<u32> {
    (major < 1 << 12 && minor < 1 << 20).then_some(major << 20 | minor)
}

fn dev_pair(raw: &[u8]) -> Option<(u32, u32)> {
    let colon = raw.iter().position(|&b| b == b':')?;
    let hex = |s: &[u8]| {
        Value::new(s, true)
            .to_hex_u64()
            .and_then(|n| u32::try_from(n).ok())
    };
    Some((hex(&raw[..colon])?, hex(&raw[colon + 1..])?))
}

/// A decoded PROCTITLE: the process's command line as the kernel read it from
/// its memory, cut at [`PROCTITLE_MAX`] bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proctitle {
    /// The bytes, arguments separated by NUL.
    pub bytes: Vec<u8>,
    /// The value was neither quoted nor valid hex; `bytes` holds it raw.
    pub malformed: bool,
}

impl Proctitle {
    fn decode(text: Text<'_>) -> Proctitle {
        let malformed = text.is_malformed();
        let bytes = text
            .lossless_bytes()
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        Proctitle { bytes, malformed }
    }

    /// The arguments, split at NUL.
    pub fn args(&self) -> Vec<Vec<u8>> {
        if self.bytes.is_empty() {
            return Vec::new();
        }
        self.bytes.split(|&b| b == 0).map(<[u8]>::to_vec).collect()
    }

    /// Whether the kernel may have cut the command line. It reads at most
    /// 128 bytes and then trims trailing unprintable bytes (the final NUL), so
    /// a whole command line decodes to at most 127 bytes: 127 may be cut (if
    /// byte 128 was a NUL), 128 certainly is. Use EXECVE for the full argv.
    pub fn maybe_truncated(&self) -> bool {
        self.bytes.len() >= PROCTITLE_MAX - 1
    }
}

/// A CONFIG_CHANGE record: an audit rule added or removed, or a setting
/// changed.
#[derive(Clone, Copy, Debug)]
pub struct ConfigChangeRecord<'a>(&'a Record);

impl<'a> ConfigChangeRecord<'a> {
    pub fn record(&self) -> &'a Record {
        self.0
    }

    /// `add_rule`, `remove_rule`, `set`, ... (written plain by the kernel).
    pub fn op(&self) -> Option<&'a [u8]> {
        self.0.get("op").map(|v| v.inner())
    }

    pub fn key(&self) -> Option<Text<'a>> {
        text(self.0, "key")
    }

    pub fn keys(&self) -> Vec<Vec<u8>> {
        self.key().map(|t| split_keys(&t)).unwrap_or_default()
    }

    /// The rule list (`AUDIT_FILTER_EXIT` is 4).
    pub fn list(&self) -> Option<u32> {
        u32_of(self.0, "list")
    }

    /// `res=1` succeeded, `res=0` failed.
    pub fn res(&self) -> Option<bool> {
        match self.0.get("res")?.raw() {
            b"1" | b"success" | b"yes" => Some(true),
            b"0" | b"failed" | b"no" => Some(false),
            _ => None,
        }
    }

    pub fn auid(&self) -> Option<u32> {
        u32_of(self.0, "auid")
    }

    pub fn ses(&self) -> Option<u32> {
        u32_of(self.0, "ses")
    }

    pub fn get(&self, key: &str) -> Option<Value<'a>> {
        self.0.get(key)
    }
}

/// One EXECVE record. The first of an exec carries `argc`; the arguments of
/// one exec may span several records, so read them through
/// [`super::reassemble_argv`] or [`super::AuditEvent::argv`].
#[derive(Clone, Copy, Debug)]
pub struct ExecveRecord<'a>(&'a Record);

impl<'a> ExecveRecord<'a> {
    pub fn record(&self) -> &'a Record {
        self.0
    }

    pub fn argc(&self) -> Option<u32> {
        u32_of(self.0, "argc")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::record::{parse_log_line, parse_netlink};

    #[test]
    fn syscall_accessors() {
        let r = parse_netlink(1300, br#"audit(1795679932.534:43): arch=c000003e syscall=59 success=yes exit=0 a0=55c9caeb0dd0 a1=55c9caeb7e30 a2=55c9caeb5ea0 a3=d7471af99d047d69 items=2 ppid=26572 pid=26575 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm="dpkg" exe="/usr/bin/dpkg" key="software-installer""#).unwrap();
        let s = r.syscall().unwrap();
        assert_eq!(s.arch(), Some(0xc000_003e));
        assert_eq!(s.syscall(), Some(59));
        assert_eq!(s.success(), Some(true));
        assert_eq!(s.exit(), Some(0));
        assert_eq!(s.arg(0), Some(0x55c9_caeb_0dd0));
        assert_eq!(s.arg(3), Some(0xd747_1af9_9d04_7d69));
        assert_eq!(s.arg(4), None);
        assert_eq!(s.items(), Some(2));
        assert_eq!(s.ppid(), Some(26572));
        assert_eq!(s.pid(), Some(26575));
        assert_eq!(s.auid(), Some(UNSET_ID));
        assert_eq!((s.uid(), s.gid(), s.euid()), (Some(0), Some(0), Some(0)));
        assert_eq!(s.ses(), Some(UNSET_ID));
        assert_eq!(s.tty(), Some(&b"(none)"[..]));
        assert_eq!(s.comm().unwrap().as_bytes(), Some(&b"dpkg"[..]));
        assert_eq!(s.exe().unwrap().as_bytes(), Some(&b"/usr/bin/dpkg"[..]));
        assert_eq!(s.keys(), vec![b"software-installer".to_vec()]);
        assert!(r.path().is_none() && r.cwd().is_none() && r.execve().is_none());
    }

    #[test]
    fn syscall_failed_and_hex_strings() {
        // A comm with a space and an exe with non-ASCII come hex-encoded;
        // two keys come hex-encoded joined by 0x01.
        let r = parse_netlink(1300, b"audit(1.000:2): arch=c000003e syscall=59 success=no exit=-2 comm=6D7920746F6F6C exe=2F746D702F63616FCC81 key=6B31016B32").unwrap();
        let s = r.syscall().unwrap();
        assert_eq!(s.success(), Some(false));
        assert_eq!(s.exit(), Some(-2));
        assert_eq!(s.comm().unwrap().as_bytes(), Some(&b"my tool"[..]));
        assert_eq!(
            s.exe().unwrap().as_bytes(),
            Some("/tmp/cao\u{301}".as_bytes())
        );
        assert_eq!(s.keys(), vec![b"k1".to_vec(), b"k2".to_vec()]);
        let r = parse_netlink(1300, b"audit(1.000:2): syscall=59 key=(null)").unwrap();
        assert!(r.syscall().unwrap().keys().is_empty());
    }

    #[test]
    fn path_accessors() {
        let r = parse_netlink(1302, br#"audit(1.000:43): item=1 name="/lib64/ld-linux-x86-64.so.2" inode=325843 dev=fe:00 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0"#).unwrap();
        let p = r.path().unwrap();
        assert_eq!(p.item(), Some(1));
        assert_eq!(
            p.name().unwrap().as_bytes(),
            Some(&b"/lib64/ld-linux-x86-64.so.2"[..])
        );
        assert_eq!(p.inode(), Some(325_843));
        assert_eq!(p.dev(), Some((0xfe, 0)));
        assert_eq!(p.rdev(), Some((0, 0)));
        assert_eq!(p.mode(), Some(0o100_755));
        // fe:00 is major 254: the kernel's s_dev is 254 << 20, not st_dev's 0xfe00.
        assert_eq!(p.file_id(), Some((254 << 20, 325_843)));
        assert_eq!(kernel_dev(0xfd, 1), Some(0x0fd0_0001));
        assert_eq!(kernel_dev(1 << 12, 0), None, "a major past 12 bits");
        assert_eq!(kernel_dev(0, 1 << 20), None, "a minor past 20 bits");
        assert_eq!((p.ouid(), p.ogid()), (Some(0), Some(0)));
        assert_eq!(p.nametype(), Some(&b"NORMAL"[..]));
        let r = parse_netlink(
            1302,
            b"audit(1.000:43): item=0 name=(null) dev=zz nametype=PARENT",
        )
        .unwrap();
        let p = r.path().unwrap();
        assert_eq!(p.name(), Some(Text::Null));
        assert_eq!(p.dev(), None);
        assert_eq!(p.inode(), None);
    }

    #[test]
    fn cwd_plain_and_hex() {
        let r = parse_netlink(1307, b"audit(1.000:1): cwd=\"/tmp/probe-audit\"").unwrap();
        assert_eq!(r.cwd().unwrap().as_bytes(), Some(&b"/tmp/probe-audit"[..]));
        let r = parse_netlink(1307, b"audit(1.000:1): cwd=2F746D702F6120622F").unwrap();
        assert_eq!(r.cwd().unwrap().as_bytes(), Some(&b"/tmp/a b/"[..]));
    }

    #[test]
    fn proctitle_hex_with_nul_separators() {
        let r = parse_netlink(
            1327,
            b"audit(1.000:1): proctitle=64706B67002D2D76657273696F6E",
        )
        .unwrap();
        let p = r.proctitle().unwrap();
        assert_eq!(p.args(), vec![b"dpkg".to_vec(), b"--version".to_vec()]);
        assert!(!p.maybe_truncated());
        assert!(!p.malformed);
        // One argument and nothing to encode: auditd's own title is quoted.
        let r = parse_log_line(b"type=PROCTITLE msg=audit(1.000:1): proctitle=\"auditd\"").unwrap();
        assert_eq!(r.proctitle().unwrap().args(), vec![b"auditd".to_vec()]);
        // 128 bytes: cut by the kernel.
        let hex = "41".repeat(PROCTITLE_MAX);
        let line = format!("audit(1.000:1): proctitle={hex}");
        let p = parse_netlink(1327, line.as_bytes())
            .unwrap()
            .proctitle()
            .unwrap();
        assert_eq!(p.bytes.len(), PROCTITLE_MAX);
        assert!(p.maybe_truncated());
        let r = parse_netlink(1327, b"audit(1.000:1): proctitle=XYZ").unwrap();
        let p = r.proctitle().unwrap();
        assert!(p.malformed);
        assert_eq!(p.bytes, b"XYZ");
        let r = parse_netlink(1327, b"audit(1.000:1): proctitle=(null)").unwrap();
        assert!(r.proctitle().unwrap().args().is_empty());
    }

    #[test]
    fn config_change_accessors() {
        let r = parse_netlink(1305, br#"audit(1795679886.514:17): auid=4294967295 ses=4294967295 op=add_rule key="software-installer" list=4 res=1"#).unwrap();
        let c = r.config_change().unwrap();
        assert_eq!(c.op(), Some(&b"add_rule"[..]));
        assert_eq!(c.keys(), vec![b"software-installer".to_vec()]);
        assert_eq!(c.list(), Some(4));
        assert_eq!(c.res(), Some(true));
        assert_eq!(c.auid(), Some(UNSET_ID));
        assert_eq!(c.ses(), Some(UNSET_ID));
        let r = parse_netlink(
            1305,
            b"audit(1.000:1): op=set audit_enabled=0 old=1 auid=0 ses=1 res=0",
        )
        .unwrap();
        let c = r.config_change().unwrap();
        assert_eq!(c.res(), Some(false));
        assert_eq!(c.get("audit_enabled").unwrap().to_u64(), Some(0));
        assert!(c.keys().is_empty());
    }

    #[test]
    fn eoe_and_execve() {
        let r = parse_netlink(1320, b"audit(1.000:1): ").unwrap();
        assert!(r.is_eoe());
        let r = parse_netlink(1309, b"audit(1.000:1): argc=2 a0=\"x\" a1=\"y\"").unwrap();
        assert_eq!(r.execve().unwrap().argc(), Some(2));
    }
}
