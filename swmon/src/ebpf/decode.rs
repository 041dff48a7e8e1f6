//! Ring-buffer records into owned Rust values: the only place that reads the
//! raw layout of `swmon_common`'s structs.
//!
//! A record of the wrong size or kind is an error, counted by the caller;
//! lengths the kernel wrote are clamped to the buffers they index.

use std::mem::size_of;

use swmon_common::{
    capture_flag, flag, module, reason, AncestorEvent, Capture, ExecEvent, ExitEvent, StateEvent,
    ANCESTORS_MAX, ARGV_MAX, CGROUP_DEPTH, EVENT_EXEC, EVENT_EXIT, EVENT_STATE, FILENAME_MAX,
    PATH_DEPTH,
};

use crate::catalogue::{self, Role};

/// One exec that passed the kernel filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecRecord {
    pub tgid: u32,
    pub pid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub euid: u32,
    pub gid: u32,
    pub loginuid: u32,
    pub sessionid: u32,
    pub reasons: u32,
    pub flags: u32,
    pub installer_id: Option<u16>,
    pub interpreter_id: Option<u16>,
    pub dev: u32,
    pub ino: u64,
    pub size: u64,
    pub nlink: u32,
    pub cgroup_id: u64,
    pub boot_ns: u64,
    pub comm: Vec<u8>,
    /// The filename as given to exec (`/dev/fd/3` for fexecve).
    pub filename: Vec<u8>,
    /// The executable's path from its dentries (`/usr/bin/dpkg`; a memfd's
    /// is `/memfd:NAME`), with ` (deleted)` when it has no link left.
    pub executable: Vec<u8>,
    /// The working directory at the exec (empty when it could not be read).
    pub cwd: Vec<u8>,
    pub argv: Vec<Vec<u8>>,
    /// Bytes of argv the process has; more than were copied when truncated.
    pub argv_total: u32,
    /// The cgroup (default hierarchy, from the root: `/system.slice/x.scope`)
    /// as the kernel read it at the exec; `None` when it could not.
    pub cgroup: Option<Vec<u8>>,
    /// The cgroup path lost levels at the top or a cut name: no container
    /// is trusted from it.
    pub cgroup_truncated: bool,
    /// The cgroup path is whole from the root but its leaf levels (below
    /// [`CGROUP_DEPTH`]) are left out: the top ones still decide trust.
    pub cgroup_leaf_cut: bool,
    /// `start_boottime` of the exec'ing process (ns since boot; 0 when
    /// unknown): with `pid`, it names this process even after pid reuse.
    pub start_ns: u64,
    /// The processes above this one at the exec, parent first.
    pub ancestors: Vec<KernelAncestor>,
    /// The chain went on above the last one kept.
    pub ancestors_truncated: bool,
}

/// One process above an exec, as the kernel saw it at the exec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelAncestor {
    pub pid: u32,
    pub uid: u32,
    /// `start_boottime` of the process (ns since boot): with `pid`, it names
    /// one process even after its pid is reused.
    pub start_ns: u64,
    pub comm: Vec<u8>,
    /// The base name of its executable; empty for a kernel thread.
    pub exe_name: Vec<u8>,
}

#[cfg(test)]
impl ExecRecord {
    /// A plain exec of `exe` by process `tgid` (root, parent 1), for tests.
    pub(crate) fn sample(tgid: u32, exe: &str, boot_ns: u64) -> ExecRecord {
        ExecRecord {
            tgid,
            pid: tgid,
            ppid: 1,
            uid: 0,
            euid: 0,
            gid: 0,
            loginuid: u32::MAX,
            sessionid: u32::MAX,
            reasons: 0,
            flags: 0,
            installer_id: None,
            interpreter_id: None,
            dev: 0,
            ino: 0,
            size: 0,
            nlink: 1,
            cgroup_id: 0,
            boot_ns,
            comm: vec![],
            filename: exe.into(),
            executable: exe.into(),
            cwd: vec![],
            argv: vec![exe.into()],
            argv_total: 0,
            cgroup: None,
            cgroup_truncated: false,
            cgroup_leaf_cut: false,
            start_ns: 0,
            ancestors: vec![],
            ancestors_truncated: false,
        }
    }
}

/// The exit of a process that passed the filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExitRecord {
    pub tgid: u32,
    pub pid: u32,
    /// The wait status: `code << 8`, or the terminating signal.
    pub status: u32,
    pub boot_ns: u64,
}

impl ExitRecord {
    /// The exit code as a shell shows it: the code, or 128 + the signal.
    pub fn exit_code(&self) -> i32 {
        let sig = self.status & 0x7f;
        if sig == 0 {
            ((self.status >> 8) & 0xff) as i32
        } else {
            128 + sig as i32
        }
    }

    /// The signal that ended the process, if one did.
    pub fn signal(&self) -> Option<u32> {
        Some(self.status & 0x7f).filter(|s| *s != 0)
    }
}

/// A write to package state the kernel matched (`swmon_common::state`),
/// with the writer as the kernel saw it at the write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateRecord {
    /// One of `swmon_common::state`'s rules.
    pub rule: u32,
    pub tgid: u32,
    pub pid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub euid: u32,
    pub loginuid: u32,
    pub sessionid: u32,
    /// The written file's device (`major << 20 | minor`), inode and mode.
    pub dev: u32,
    pub ino: u64,
    pub mode: u32,
    pub cgroup_id: u64,
    pub boot_ns: u64,
    /// `start_boottime` of the writer (ns since boot).
    pub start_ns: u64,
    pub comm: Vec<u8>,
    /// The base name of the writer's executable.
    pub exe_name: Vec<u8>,
    /// Its path, from the kernel at the write (`/` when unread).
    pub executable: Vec<u8>,
    /// The path lost its top folders.
    pub executable_truncated: bool,
    /// The file's path from its filesystem's root (not from the host's:
    /// see `StateEvent`).
    pub fs_path: Vec<u8>,
    /// The path lost its top folders (deeper than the slots).
    pub path_truncated: bool,
    /// `fs_path` is already the host's path (the folder watch's records).
    pub on_host: bool,
    /// The writer's parent chain, parent first.
    pub ancestors: Vec<KernelAncestor>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    Exec(Box<ExecRecord>),
    Exit(ExitRecord),
    State(Box<StateRecord>),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("ring-buffer record of {0} bytes is too short")]
    Short(usize),
    #[error("ring-buffer record of unknown kind {0}")]
    Kind(u32),
}

/// Decodes one ring-buffer record.
pub fn decode(bytes: &[u8]) -> Result<Record, DecodeError> {
    let kind_bytes: [u8; 4] = bytes
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or(DecodeError::Short(bytes.len()))?;
    match u32::from_ne_bytes(kind_bytes) {
        EVENT_EXEC => {
            if bytes.len() < size_of::<ExecEvent>() {
                return Err(DecodeError::Short(bytes.len()));
            }
            // SAFETY: the length is checked; ExecEvent is plain integers, so
            // any bytes are a valid value; read_unaligned needs no alignment.
            let ev: ExecEvent = unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast()) };
            Ok(Record::Exec(Box::new(exec_record(&ev))))
        }
        EVENT_EXIT => {
            if bytes.len() < size_of::<ExitEvent>() {
                return Err(DecodeError::Short(bytes.len()));
            }
            // SAFETY: as above.
            let ev: ExitEvent = unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast()) };
            Ok(Record::Exit(ExitRecord {
                tgid: ev.tgid,
                pid: ev.pid,
                status: ev.exit_code,
                boot_ns: ev.boot_ns,
            }))
        }
        EVENT_STATE => {
            if bytes.len() < size_of::<StateEvent>() {
                return Err(DecodeError::Short(bytes.len()));
            }
            // SAFETY: as above.
            let ev: StateEvent = unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast()) };
            Ok(Record::State(Box::new(state_record(&ev))))
        }
        other => Err(DecodeError::Kind(other)),
    }
}

fn opt_id(id: u16) -> Option<u16> {
    (id != u16::MAX).then_some(id)
}

fn until_nul(bytes: &[u8]) -> &[u8] {
    bytes.split(|c| *c == 0).next().unwrap_or(bytes)
}

fn exec_record(ev: &ExecEvent) -> ExecRecord {
    let filename_len = (ev.filename_len as usize).min(FILENAME_MAX);
    let argv_len = (ev.argv_len as usize).min(ARGV_MAX);
    let own = own_capture(ev);
    let executable = join_path(
        &ev.path[..(ev.path_depth as usize).min(PATH_DEPTH)],
        ev.nlink == 0,
    );
    let (installer_id, interpreter_id) = if ev.reasons & reason::MODULE_LOAD != 0 {
        module_load_ids(ev.installer_id, &executable)
    } else {
        (opt_id(ev.installer_id), opt_id(ev.interpreter_id))
    };
    ExecRecord {
        tgid: ev.tgid,
        pid: ev.pid,
        ppid: ev.ppid,
        uid: ev.uid,
        euid: ev.euid,
        gid: ev.gid,
        loginuid: ev.loginuid,
        sessionid: ev.sessionid,
        reasons: ev.reasons,
        flags: ev.flags,
        installer_id,
        interpreter_id,
        dev: ev.dev,
        ino: ev.ino,
        size: ev.size,
        nlink: ev.nlink,
        cgroup_id: ev.cgroup_id,
        boot_ns: ev.boot_ns,
        comm: until_nul(&ev.comm).to_vec(),
        filename: until_nul(&ev.filename[..filename_len]).to_vec(),
        executable,
        cwd: if ev.flags & swmon_common::flag::CWD_UNREADABLE != 0 {
            Vec::new()
        } else {
            join_path(&ev.cwd[..(ev.cwd_depth as usize).min(PATH_DEPTH)], false)
        },
        argv: split_argv(&ev.argv[..argv_len]),
        argv_total: ev.argv_total,
        cgroup: cgroup(&ev.capture, own),
        cgroup_truncated: own && ev.capture.flags & capture_flag::CGROUP_TRUNCATED != 0,
        cgroup_leaf_cut: own && ev.capture.flags & capture_flag::CGROUP_LEAF_CUT != 0,
        start_ns: ev.capture.start_ns,
        ancestors: ancestors(&ev.capture, own),
        ancestors_truncated: own && ev.capture.flags & capture_flag::ANCESTORS_TRUNCATED != 0,
    }
}

/// A module-load record names the rule the opened file matched (an index
/// of `swmon_common::module::RULES`): the installer is that rule's, by its
/// catalogue name (`None` for an index out of the table); the interpreter
/// is the process's executable when the catalogue knows its name (the
/// kernel looked no name up).
fn module_load_ids(rule: u16, executable: &[u8]) -> (Option<u16>, Option<u16>) {
    let installer = module::INSTALLERS
        .get(usize::from(rule))
        .and_then(|name| catalogue::lookup(name.as_bytes()))
        .filter(|(_, p)| matches!(p.role, Role::Installer(_)))
        .map(|(id, _)| id);
    let exe = executable.strip_suffix(b" (deleted)").unwrap_or(executable);
    let interpreter = catalogue::lookup(super::filter::basename(exe))
        .filter(|(_, p)| matches!(p.role, Role::Interpreter(_) | Role::Loader))
        .map(|(id, _)| id);
    (installer, interpreter)
}

/// True when the capture is whole and this exec's own (stamped with its
/// `tgid << 32 | pid`): anything else is no capture at all.
fn own_capture(ev: &ExecEvent) -> bool {
    ev.capture.flags & capture_flag::MISSING == 0
        && ev.capture.pid_tgid == (u64::from(ev.tgid) << 32 | u64::from(ev.pid))
}

fn cgroup(c: &Capture, own: bool) -> Option<Vec<u8>> {
    if !own || c.flags & capture_flag::CGROUP_UNREADABLE != 0 {
        return None;
    }
    let slots = &c.cgroup[..(c.cgroup_depth as usize).min(CGROUP_DEPTH)];
    if c.flags & capture_flag::CGROUP_TOP_DOWN != 0 {
        let leaf_first: Vec<_> = slots.iter().rev().collect();
        Some(join_path(&leaf_first, false))
    } else {
        Some(join_path(slots, false))
    }
}

fn state_record(ev: &StateEvent) -> StateRecord {
    StateRecord {
        rule: ev.rule,
        tgid: ev.tgid,
        pid: ev.pid,
        ppid: ev.ppid,
        uid: ev.uid,
        euid: ev.euid,
        loginuid: ev.loginuid,
        sessionid: ev.sessionid,
        dev: ev.dev,
        ino: ev.ino,
        mode: ev.mode,
        cgroup_id: ev.cgroup_id,
        boot_ns: ev.boot_ns,
        start_ns: ev.start_ns,
        comm: until_nul(&ev.comm).to_vec(),
        exe_name: if ev.exe_depth > 0 {
            until_nul(&ev.exe[0]).to_vec()
        } else {
            Vec::new()
        },
        executable: join_path(&ev.exe[..(ev.exe_depth as usize).min(PATH_DEPTH)], false),
        executable_truncated: ev.flags & flag::FILENAME_TRUNCATED != 0,
        fs_path: join_path(&ev.path[..(ev.path_depth as usize).min(PATH_DEPTH)], false),
        path_truncated: ev.flags & flag::PATH_TRUNCATED != 0,
        on_host: false,
        ancestors: ancestor_list(&ev.ancestors[..(ev.ancestor_count as usize).min(ANCESTORS_MAX)]),
    }
}

fn ancestors(c: &Capture, own: bool) -> Vec<KernelAncestor> {
    if !own {
        return Vec::new();
    }
    ancestor_list(&c.ancestors[..(c.ancestor_count as usize).min(ANCESTORS_MAX)])
}

fn ancestor_list(list: &[AncestorEvent]) -> Vec<KernelAncestor> {
    list.iter()
        .map(|a| KernelAncestor {
            pid: a.tgid,
            uid: a.uid,
            start_ns: a.start_ns,
            comm: until_nul(&a.comm).to_vec(),
            exe_name: until_nul(&a.exe).to_vec(),
        })
        .collect()
}

/// Joins dentry names written leaf first, one per slot (`dpkg`, `bin`,
/// `usr`), into a path; empty slots are crossed mount points.
pub fn join_path<S: AsRef<[u8]>>(slots: &[S], deleted: bool) -> Vec<u8> {
    let mut parts: Vec<&[u8]> = slots
        .iter()
        .map(|s| until_nul(s.as_ref()))
        .filter(|p| !p.is_empty())
        .collect();
    parts.reverse();
    let mut path = Vec::with_capacity(64);
    for p in parts {
        path.push(b'/');
        path.extend_from_slice(p);
    }
    if path.is_empty() {
        path.push(b'/');
    }
    if deleted {
        path.extend_from_slice(b" (deleted)");
    }
    path
}

/// Splits argv bytes at NULs. A last argument without its NUL (cut by
/// truncation) is kept as it is.
pub fn split_argv(bytes: &[u8]) -> Vec<Vec<u8>> {
    let bytes = bytes.strip_suffix(&[0]).unwrap_or(bytes);
    if bytes.is_empty() {
        return Vec::new();
    }
    bytes.split(|c| *c == 0).map(<[u8]>::to_vec).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_module_load_names_its_rule_s_installer_and_the_interpreter() {
        let pip = catalogue::lookup(b"pip").map(|(id, _)| id);
        let npm = catalogue::lookup(b"npm").map(|(id, _)| id);
        let python = catalogue::lookup(b"python3.11").map(|(id, _)| id);
        assert!(pip.is_some() && npm.is_some() && python.is_some());
        assert_eq!(module_load_ids(0, b"/usr/bin/python3.11"), (pip, python));
        assert_eq!(
            module_load_ids(1, b"/usr/bin/python3.11 (deleted)"),
            (pip, python)
        );
        assert_eq!(module_load_ids(2, b"/usr/bin/node").0, npm);
        let gem = catalogue::lookup(b"gem").map(|(id, _)| id);
        let ruby = catalogue::lookup(b"ruby3.1").map(|(id, _)| id);
        let pipx = catalogue::lookup(b"pipx").map(|(id, _)| id);
        assert!(gem.is_some() && ruby.is_some() && pipx.is_some());
        assert_eq!(module_load_ids(3, b"/usr/bin/ruby3.1"), (gem, ruby));
        assert_eq!(module_load_ids(4, b"/usr/bin/python3.11"), (pipx, python));
        assert_eq!(module_load_ids(5, b"/usr/bin/python3.11"), (pipx, python));
        // RubyGems' installer.rb, pipx in a site-packages folder.
        assert_eq!(module_load_ids(8, b"/usr/bin/ruby3.1"), (gem, ruby));
        assert_eq!(module_load_ids(9, b"/usr/bin/python3.11"), (pipx, python));
        assert_eq!(module_load_ids(10, b"/usr/bin/python3.11"), (pipx, python));
        // Every rule's installer is a catalogued installer.
        for name in module::INSTALLERS {
            assert!(
                matches!(
                    catalogue::lookup(name.as_bytes()).map(|(_, p)| p.role),
                    Some(Role::Installer(_))
                ),
                "{name}"
            );
        }
        // Not an interpreter; a rule index outside the table.
        assert_eq!(module_load_ids(0, b"/usr/bin/cat"), (pip, None));
        assert_eq!(module_load_ids(99, b"/usr/bin/python3.11"), (None, python));
        assert_eq!(module_load_ids(u16::MAX, b"/usr/bin/node").0, None);
    }

    #[test]
    fn paths_are_reversed_components() {
        let slots: [&[u8]; 4] = [b"dpkg\0junk", b"bin\0", b"\0", b"usr\0"];
        assert_eq!(join_path(&slots, false), b"/usr/bin/dpkg");
        assert_eq!(join_path(&[b"memfd:x\0"], true), b"/memfd:x (deleted)");
        assert_eq!(join_path::<&[u8]>(&[], false), b"/");
    }

    #[test]
    fn argv_keeps_empty_and_cut_arguments() {
        assert_eq!(
            split_argv(b"a\0\0b\0"),
            vec![b"a".to_vec(), vec![], b"b".to_vec()]
        );
        assert_eq!(split_argv(b"a\0bc"), vec![b"a".to_vec(), b"bc".to_vec()]);
        assert!(split_argv(b"").is_empty());
    }

    #[test]
    fn exit_codes() {
        let r = |status| ExitRecord {
            tgid: 1,
            pid: 1,
            status,
            boot_ns: 0,
        };
        assert_eq!(r(0).exit_code(), 0);
        assert_eq!(r(2 << 8).exit_code(), 2);
        assert_eq!(r(9).exit_code(), 137);
        assert_eq!(r(9).signal(), Some(9));
    }

    /// An exec event's bytes as the kernel writes them.
    fn event_bytes(ev: &ExecEvent) -> Vec<u8> {
        // SAFETY: ExecEvent is plain integers; its bytes are its value.
        unsafe {
            std::slice::from_raw_parts(std::ptr::from_ref(ev).cast::<u8>(), size_of::<ExecEvent>())
        }
        .to_vec()
    }

    #[test]
    fn the_capture_is_decoded_and_clamped() {
        // SAFETY: all-zero bytes are a valid ExecEvent (plain integers).
        let mut ev: Box<ExecEvent> = Box::new(unsafe { std::mem::zeroed() });
        ev.kind = EVENT_EXEC;
        ev.tgid = 4242;
        ev.pid = 4243;
        let c = &mut ev.capture;
        c.pid_tgid = 4242 << 32 | 4243;
        c.cgroup[0][..16].copy_from_slice(b"docker-ab.scope\0");
        c.cgroup[1][..13].copy_from_slice(b"system.slice\0");
        c.cgroup_depth = 2;
        c.ancestors[0].tgid = 42;
        c.ancestors[0].uid = 1000;
        c.ancestors[0].start_ns = 7;
        c.ancestors[0].comm[..3].copy_from_slice(b"sh\0");
        c.ancestors[0].exe[..5].copy_from_slice(b"dash\0");
        c.ancestor_count = 1;
        c.flags = capture_flag::ANCESTORS_TRUNCATED;
        let Ok(Record::Exec(rec)) = decode(&event_bytes(&ev)) else {
            panic!("an exec record");
        };
        assert_eq!(
            rec.cgroup.as_deref(),
            Some(&b"/system.slice/docker-ab.scope"[..])
        );
        assert!(rec.ancestors_truncated && !rec.cgroup_truncated);
        assert_eq!(
            rec.ancestors,
            vec![KernelAncestor {
                pid: 42,
                uid: 1000,
                start_ns: 7,
                comm: b"sh".to_vec(),
                exe_name: b"dash".to_vec(),
            }]
        );

        // Counts past the arrays are clamped, never an out-of-bounds read.
        ev.capture.cgroup_depth = u32::MAX;
        ev.capture.ancestor_count = u32::MAX;
        let Ok(Record::Exec(rec)) = decode(&event_bytes(&ev)) else {
            panic!("an exec record");
        };
        assert_eq!(rec.ancestors.len(), ANCESTORS_MAX);
        assert!(rec.cgroup.is_some());

        // Another exec's capture (a stale slot) is no capture at all, and
        // its flags say nothing either.
        ev.capture.flags = capture_flag::CGROUP_TRUNCATED;
        ev.capture.pid_tgid = 4242 << 32 | 4242;
        let Ok(Record::Exec(rec)) = decode(&event_bytes(&ev)) else {
            panic!("an exec record");
        };
        assert_eq!((rec.cgroup, rec.ancestors.len()), (None, 0));
        assert!(!rec.cgroup_truncated);

        // A capture the stages did not finish is no capture at all.
        ev.capture.pid_tgid = 4242 << 32 | 4243;
        ev.capture.flags = capture_flag::MISSING;
        let Ok(Record::Exec(rec)) = decode(&event_bytes(&ev)) else {
            panic!("an exec record");
        };
        assert_eq!((rec.cgroup, rec.ancestors.len()), (None, 0));
    }

    #[test]
    fn a_top_down_cgroup_keeps_its_top_when_the_leaf_is_cut() {
        // SAFETY: all-zero bytes are a valid ExecEvent (plain integers).
        let mut ev: Box<ExecEvent> = Box::new(unsafe { std::mem::zeroed() });
        ev.kind = EVENT_EXEC;
        let c = &mut ev.capture;
        c.cgroup[0][..13].copy_from_slice(b"system.slice\0");
        c.cgroup[1][..16].copy_from_slice(b"docker-ab.scope\0");
        c.cgroup[2][..2].copy_from_slice(b"a\0");
        c.cgroup_depth = 3;
        c.flags = capture_flag::CGROUP_TOP_DOWN | capture_flag::CGROUP_LEAF_CUT;
        let Ok(Record::Exec(rec)) = decode(&event_bytes(&ev)) else {
            panic!("an exec record");
        };
        assert_eq!(
            rec.cgroup.as_deref(),
            Some(&b"/system.slice/docker-ab.scope/a"[..])
        );
        assert!(rec.cgroup_leaf_cut && !rec.cgroup_truncated);
    }

    #[test]
    fn bad_records_are_errors() {
        assert_eq!(decode(&[1, 0]), Err(DecodeError::Short(2)));
        assert_eq!(decode(&[9, 0, 0, 0]), Err(DecodeError::Kind(9)));
        assert_eq!(decode(&[1, 0, 0, 0, 0]), Err(DecodeError::Short(5)));
    }
}
