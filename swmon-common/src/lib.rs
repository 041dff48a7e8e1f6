//! The kernel/user boundary: every struct and constant that swmon's eBPF
//! program and its user space must agree on, byte for byte.
//!
//! Everything here is `#[repr(C)]`, `Copy`, with explicit padding and no
//! `bool`, so the layout is the same under the BPF target and x86_64. The
//! `layout` tests pin each struct's size and field offsets: a change here
//! that moves a field fails them before it can corrupt a ring-buffer read.
//! This crate holds no logic; the filter lives in `swmon-ebpf`, decoding in
//! `swmon::ebpf`.

#![no_std]

/// Bytes of argv copied from `mm->arg_start` for one exec (at least 4 KiB
/// and 128 arguments is the promise; 8 KiB keeps most real command lines whole).
pub const ARGV_MAX: usize = 8192;
/// Bytes of the exec'd filename as the tracepoint gives it.
pub const FILENAME_MAX: usize = 256;
/// Dentry components walked for the executable's path, one slot each.
pub const PATH_DEPTH: usize = 16;
/// Bytes of one path component's slot (with its NUL).
pub const PATH_COMPONENT: usize = 64;
/// Levels of the exec's cgroup captured, leaf first (`docker-ID.scope`,
/// `system.slice`): enough for kubepods' four and a few more.
pub const CGROUP_DEPTH: usize = 8;
/// Bytes of one cgroup name's slot (with its NUL): `cri-containerd-<64 hex>.scope`
/// is 85 bytes, a kubepods pod slice about 70.
pub const CGROUP_COMPONENT: usize = 128;
/// Processes above an installer captured at its exec, nearest first.
pub const ANCESTORS_MAX: usize = 8;
/// Bytes of an ancestor's executable name (its `mm->exe_file` dentry).
pub const ANCESTOR_NAME: usize = 64;
/// Bytes of a name in the installer-name trie (keys are
/// `{prefix_len: u32, data: [u8; NAME_MAX]}`, most significant byte first).
pub const NAME_MAX: usize = 32;

/// Bytes at the start of an exec'd file that make its [`ElfKey`]: the
/// 64-byte ELF64 header and the three program headers after it (56 bytes
/// each), all within the kernel's `bprm->buf` (`BINPRM_BUF_SIZE`, 256).
pub const ELF_KEY_LEN: usize = 64 + 3 * 56;
/// [`ELF_KEY_LEN`] in 8-byte words.
pub const ELF_KEY_WORDS: usize = ELF_KEY_LEN / 8;
const _: () = assert!(ELF_KEY_LEN <= 256 && ELF_KEY_LEN.is_multiple_of(8));

/// The byte ranges of the first [`ELF_KEY_LEN`] bytes that count in an
/// [`ElfKey`] (ELF64 layout): where the program goes in memory, never what
/// the kernel's loader and `ld.so` ignore or take any value of (so
/// rewriting those does not change the key). Kept: the magic, class and
/// data encoding (0..6), `e_type` and `e_machine` (16..20), `e_entry` and
/// `e_phoff` (24..40), `e_phentsize` and `e_phnum` (54..58); of each
/// program header `p_type` (0..4), `p_offset` and `p_vaddr` (8..24) and
/// `p_filesz` (32..40). Left out: `EI_VERSION`, the OS ABI and padding,
/// `e_version`, the section header fields (`e_shoff`, `e_shnum`, ...: a
/// stripper or `objcopy` rewrites them), `e_flags`, `e_ehsize`, and of
/// each program header `p_flags`, `p_paddr`, `p_memsz` (a segment's flags
/// or a larger `.bss` still run) and `p_align`.
pub const ELF_KEY_KEPT: [(usize, usize); 13] = [
    (0, 6),
    (16, 20),
    (24, 40),
    (54, 58),
    (64, 64 + 4),
    (64 + 8, 64 + 24),
    (64 + 32, 64 + 40),
    (120, 120 + 4),
    (120 + 8, 120 + 24),
    (120 + 32, 120 + 40),
    (176, 176 + 4),
    (176 + 8, 176 + 24),
    (176 + 32, 176 + 40),
];

/// [`ELF_KEY_KEPT`] as a mask over the key's words (native byte order, as
/// the words are loaded from the file's bytes on either side).
pub const ELF_KEY_MASK: [u64; ELF_KEY_WORDS] = elf_key_mask();

const fn elf_key_mask() -> [u64; ELF_KEY_WORDS] {
    let mut bytes = [0u8; ELF_KEY_LEN];
    let mut r = 0;
    while r < ELF_KEY_KEPT.len() {
        let (start, end) = ELF_KEY_KEPT[r];
        let mut i = start;
        while i < end {
            bytes[i] = 0xff;
            i += 1;
        }
        r += 1;
    }
    let mut words = [0u64; ELF_KEY_WORDS];
    let mut w = 0;
    while w < ELF_KEY_WORDS {
        let mut b = [0u8; 8];
        let mut i = 0;
        while i < 8 {
            b[i] = bytes[w * 8 + i];
            i += 1;
        }
        words[w] = u64::from_ne_bytes(b);
        w += 1;
    }
    words
}

/// Key of the near-copy map: the first [`ELF_KEY_LEN`] bytes of an ELF
/// file (zero past its end), as native-order words, each ANDed with
/// [`ELF_KEY_MASK`]. Appending bytes to a binary, or patching its code or
/// data, leaves it unchanged.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ElfKey {
    pub words: [u64; ELF_KEY_WORDS],
}

/// Event kinds, the first `u32` of every ring-buffer record.
pub const EVENT_EXEC: u32 = 1;
pub const EVENT_EXIT: u32 = 2;

/// Why an exec passed the in-kernel filter (bits of [`ExecEvent::reasons`]).
pub mod reason {
    /// The basename of the filename passed to exec is an installer name.
    pub const FILENAME: u32 = 1 << 0;
    /// The name of the executed file itself (its dentry, after symlinks and
    /// for fexecve) is an installer name.
    pub const EXE_NAME: u32 = 1 << 1;
    /// The executed file's (device, inode) is an installer found on the host.
    pub const INODE: u32 = 1 << 2;
    /// An interpreter or loader whose argv names an installer.
    pub const INTERPRETER_ARG: u32 = 1 << 3;
    /// The executed file's size equals an installer's: a copy candidate that
    /// user space confirms by content.
    pub const SIZE: u32 = 1 << 4;
    /// The executed file has no link left (memfd, deleted): a candidate that
    /// user space identifies by content.
    pub const FILELESS: u32 = 1 << 5;
    /// The start of the executed file, masked to [`crate::ElfKey`], equals a
    /// binary installer's: a near-copy candidate (bytes appended or patched
    /// past the headers) that user space confirms by its build-id note.
    pub const NEAR_COPY: u32 = 1 << 6;
}

/// Flags of [`ExecEvent::flags`].
pub mod flag {
    /// argv was longer than [`crate::ARGV_MAX`] and was cut.
    pub const ARGV_TRUNCATED: u32 = 1 << 0;
    /// The path walk stopped at [`crate::PATH_DEPTH`] components, or a
    /// component was longer than its slot.
    pub const PATH_TRUNCATED: u32 = 1 << 1;
    /// Reading argv from user memory failed (the pages were not resident).
    pub const ARGV_UNREADABLE: u32 = 1 << 2;
    /// The filename was longer than [`crate::FILENAME_MAX`].
    pub const FILENAME_TRUNCATED: u32 = 1 << 3;
    /// The working directory's walk stopped short, like `PATH_TRUNCATED`.
    pub const CWD_TRUNCATED: u32 = 1 << 4;
    /// The task's `fs` could not be read (an exiting or kernel task).
    pub const CWD_UNREADABLE: u32 = 1 << 5;
}

/// Flags of [`Capture::flags`].
pub mod capture_flag {
    /// The cgroup had more than [`crate::CGROUP_DEPTH`] levels (the top ones
    /// are missing) or a name was longer than its slot.
    pub const CGROUP_TRUNCATED: u32 = 1 << 0;
    /// The task's cgroup could not be read.
    pub const CGROUP_UNREADABLE: u32 = 1 << 1;
    /// The parent chain went on above [`crate::ANCESTORS_MAX`].
    pub const ANCESTORS_TRUNCATED: u32 = 1 << 2;
    /// The capture stages did not all run (set by the first, cleared by
    /// the last), its memory was missing, or it was another exec's: nothing
    /// in [`Capture`] is valid.
    pub const MISSING: u32 = 1 << 3;
    /// `cgroup` holds the names from the top down (`system.slice`,
    /// `docker-ID.scope`), read through `cgroup.ancestors`; without it
    /// they are leaf first.
    pub const CGROUP_TOP_DOWN: u32 = 1 << 4;
    /// The cgroup is deeper than [`crate::CGROUP_DEPTH`] and its leaf
    /// levels are missing: the top ones, which decide trust, are whole.
    pub const CGROUP_LEAF_CUT: u32 = 1 << 5;
}

/// What a trie entry names (the `kind` of [`NameValue`]).
pub mod name_kind {
    pub const INSTALLER: u8 = 1;
    /// Passes only when its argv names an installer.
    pub const INTERPRETER: u8 = 2;
    /// The dynamic loader: like an interpreter, its argv names the program.
    pub const LOADER: u8 = 3;
}

/// What may follow a trie prefix for the name to match (the `suffix` of
/// [`NameValue`]).
pub mod suffix {
    /// Nothing: the name must match exactly.
    pub const EXACT: u8 = 0;
    /// A version: digits and dots, or a dash before a digit (`pip3.11`, `dnf-3`).
    pub const VERSION: u8 = 1;
    /// Anything (`ld-linux-x86-64.so.2`).
    pub const ANY: u8 = 2;
}

/// Indices of the per-CPU counter array.
pub mod counter {
    /// Every exec the program saw.
    pub const SEEN: u32 = 0;
    /// Execs sent to user space.
    pub const PASSED: u32 = 1;
    /// Exec events lost because the ring buffer was full.
    pub const EXEC_RESERVE_FAILED: u32 = 2;
    /// Exit events lost because the ring buffer was full.
    pub const EXIT_RESERVE_FAILED: u32 = 3;
    /// Interpreter execs whose argv named no installer (dropped in the kernel).
    pub const INTERPRETER_DROPPED: u32 = 4;
    /// Installer pids that could not be tracked for their exit (map full).
    pub const TRACK_FAILED: u32 = 5;
    /// Exit events sent.
    pub const EXITS: u32 = 6;
    /// Tail calls into a later stage that failed (the exec is lost).
    pub const STAGE_FAILED: u32 = 7;
    pub const COUNT: u32 = 8;
}

/// Value of the installer-name trie.
///
/// The kernel checks only the one byte after the matched prefix against
/// `suffix` (cheap, loop-free); user space applies the full rule again and
/// counts what it rejects.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NameValue {
    /// Index of the entry in swmon's installer catalogue.
    pub id: u16,
    /// One of [`name_kind`].
    pub kind: u8,
    /// One of [`suffix`].
    pub suffix: u8,
    /// Length of the stored name in bytes.
    pub len: u8,
    pub _pad: [u8; 3],
}

/// Key of the (device, inode) map: the kernel's `s_dev` encoding
/// (`major << 20 | minor`) and the inode number.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct InodeKey {
    pub dev: u32,
    pub _pad: u32,
    pub ino: u64,
}

/// Offsets of kernel struct fields, read from BTF by user space at start,
/// since rustc emits no CO-RE relocations. A zero offset that should not be
/// zero means the loader did not fill it; user space refuses to load then.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelOffsets {
    pub task_real_parent: u32,
    pub task_tgid: u32,
    pub task_mm: u32,
    pub task_loginuid: u32,
    pub task_sessionid: u32,
    pub task_cred: u32,
    pub task_exit_code: u32,
    pub cred_euid: u32,
    pub mm_arg_start: u32,
    pub mm_arg_end: u32,
    pub mm_exe_file: u32,
    pub file_path: u32,
    pub file_inode: u32,
    pub path_mnt: u32,
    pub path_dentry: u32,
    pub inode_ino: u32,
    pub inode_sb: u32,
    pub inode_size: u32,
    pub inode_nlink: u32,
    pub sb_dev: u32,
    pub dentry_name: u32,
    pub dentry_parent: u32,
    pub qstr_len: u32,
    pub qstr_name: u32,
    pub mount_parent: u32,
    pub mount_mountpoint: u32,
    pub mount_mnt: u32,
    pub vfsmount_root: u32,
    pub bprm_filename: u32,
    pub task_fs: u32,
    pub fs_pwd: u32,
    pub _pad: u32,
}

impl KernelOffsets {
    /// All offsets unset; the loader replaces this before the program runs.
    pub const UNSET: KernelOffsets = KernelOffsets {
        task_real_parent: 0,
        task_tgid: 0,
        task_mm: 0,
        task_loginuid: 0,
        task_sessionid: 0,
        task_cred: 0,
        task_exit_code: 0,
        cred_euid: 0,
        mm_arg_start: 0,
        mm_arg_end: 0,
        mm_exe_file: 0,
        file_path: 0,
        file_inode: 0,
        path_mnt: 0,
        path_dentry: 0,
        inode_ino: 0,
        inode_sb: 0,
        inode_size: 0,
        inode_nlink: 0,
        sb_dev: 0,
        dentry_name: 0,
        dentry_parent: 0,
        qstr_len: 0,
        qstr_name: 0,
        mount_parent: 0,
        mount_mountpoint: 0,
        mount_mnt: 0,
        vfsmount_root: 0,
        bprm_filename: 0,
        task_fs: 0,
        fs_pwd: 0,
        _pad: 0,
    };
}

/// Offsets only the capture stages use (the cgroup and the parent chain),
/// kept apart from [`KernelOffsets`] so that the filter, which runs on
/// every exec, loads no more than it did before them.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaptureOffsets {
    pub task_group_leader: u32,
    pub task_start_boottime: u32,
    pub task_comm: u32,
    pub task_cgroups: u32,
    pub cred_uid: u32,
    pub css_set_dfl_cgrp: u32,
    pub cgroup_kn: u32,
    pub kernfs_node_name: u32,
    pub kernfs_node_parent: u32,
    /// `cgroup.level` (the root is 0).
    pub cgroup_level: u32,
    /// `cgroup.ancestors` (6.1+: the cgroups from the root down to this
    /// one, indexed by level); 0 when the kernel has none, and then the
    /// names are walked from the leaf up.
    pub cgroup_ancestors: u32,
}

impl CaptureOffsets {
    /// All offsets unset; the loader replaces this before the program runs.
    pub const UNSET: CaptureOffsets = CaptureOffsets {
        task_group_leader: 0,
        task_start_boottime: 0,
        task_comm: 0,
        task_cgroups: 0,
        cred_uid: 0,
        css_set_dfl_cgrp: 0,
        cgroup_kn: 0,
        kernfs_node_name: 0,
        kernfs_node_parent: 0,
        cgroup_level: 0,
        cgroup_ancestors: 0,
    };
}

/// One process above an installer, as the kernel saw it at the exec.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct AncestorEvent {
    /// The process id (`tgid`) in the initial pid namespace.
    pub tgid: u32,
    /// The real uid.
    pub uid: u32,
    /// `task_struct.start_boottime` of the thread-group leader (ns since
    /// boot): with the pid, it names one process even after pid reuse.
    pub start_ns: u64,
    pub comm: [u8; 16],
    /// The base name of the executable (`mm->exe_file`'s dentry); empty for
    /// a kernel thread.
    pub exe: [u8; ANCESTOR_NAME],
}

/// Where an exec ran and who ran it, captured by the kernel at the exec
/// (only for execs that passed the filter), so that a short run whose
/// parents have exited before user space looks keeps both.
///
/// `cgroup` holds the default hierarchy's kernfs names, from the top down
/// (`system.slice`, `docker-ID.scope`) when [`capture_flag::CGROUP_TOP_DOWN`]
/// is set, else from the task's cgroup up; the root's empty name is not
/// written. `ancestors` holds the parent, its parent, and
/// so on, up to init (pid 1, included) or [`ANCESTORS_MAX`].
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Capture {
    /// Slots of `cgroup` in use.
    pub cgroup_depth: u32,
    /// Entries of `ancestors` in use.
    pub ancestor_count: u32,
    /// Bits of [`capture_flag`].
    pub flags: u32,
    pub _pad: u32,
    /// `bpf_get_current_pid_tgid()` of the exec the stages captured: the
    /// emitter and the decoder take the capture only when it is the
    /// event's own (`tgid << 32 | pid`), never a stale one of another exec.
    pub pid_tgid: u64,
    /// `start_boottime` of the exec'ing task itself (ns since boot; 0 when
    /// it could not be read), written by the emitter whether or not the
    /// rest is valid: every later `/proc` read of the installer is bound
    /// to it, so a reused pid never lends another process's data.
    pub start_ns: u64,
    pub cgroup: [[u8; CGROUP_COMPONENT]; CGROUP_DEPTH],
    pub ancestors: [AncestorEvent; ANCESTORS_MAX],
}

/// One exec that passed the filter, as written to the ring buffer.
///
/// `path` holds the executable's dentry names from the file up to the root,
/// one per slot (`dpkg`, `bin`, `usr`); an empty slot is a crossed mount
/// point. User space reverses them.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ExecEvent {
    /// [`EVENT_EXEC`].
    pub kind: u32,
    pub tgid: u32,
    pub pid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub euid: u32,
    pub gid: u32,
    pub loginuid: u32,
    pub sessionid: u32,
    /// Bits of [`reason`].
    pub reasons: u32,
    /// Bits of [`flag`].
    pub flags: u32,
    /// Catalogue index of the installer the filter matched, or `u16::MAX`.
    pub installer_id: u16,
    /// Catalogue index of the interpreter or loader, or `u16::MAX`.
    pub interpreter_id: u16,
    pub dev: u32,
    pub nlink: u32,
    pub ino: u64,
    pub size: u64,
    pub cgroup_id: u64,
    /// `bpf_ktime_get_boot_ns` at the exec.
    pub boot_ns: u64,
    /// Bytes of argv copied into `argv`.
    pub argv_len: u32,
    /// Bytes of argv the process really has (`arg_end - arg_start`).
    pub argv_total: u32,
    /// Slots of `path` and of `cwd` in use.
    pub path_depth: u32,
    pub cwd_depth: u32,
    /// Bytes of `filename` before its NUL.
    pub filename_len: u32,
    pub _pad: u32,
    pub comm: [u8; 16],
    pub filename: [u8; FILENAME_MAX],
    pub path: [[u8; PATH_COMPONENT]; PATH_DEPTH],
    /// The working directory at the exec, like `path`.
    pub cwd: [[u8; PATH_COMPONENT]; PATH_DEPTH],
    /// The cgroup and the parent chain at the exec.
    pub capture: Capture,
    pub argv: [u8; ARGV_MAX],
}

/// The exit of a process whose exec passed the filter.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ExitEvent {
    /// [`EVENT_EXIT`].
    pub kind: u32,
    pub tgid: u32,
    pub pid: u32,
    /// `task_struct.exit_code`: the wait status (`code << 8`, or the signal).
    pub exit_code: u32,
    pub boot_ns: u64,
}

#[cfg(feature = "user")]
mod pod {
    // SAFETY: every type is repr(C), Copy, and made of integers and integer
    // arrays with explicit padding, so any bit pattern is a valid value.
    unsafe impl aya::Pod for super::NameValue {}
    unsafe impl aya::Pod for super::InodeKey {}
    unsafe impl aya::Pod for super::ElfKey {}
    unsafe impl aya::Pod for super::KernelOffsets {}
    unsafe impl aya::Pod for super::CaptureOffsets {}
}

#[cfg(test)]
mod elf_key {
    use super::*;

    #[test]
    fn the_mask_keeps_exactly_the_listed_ranges() {
        let mut kept = 0;
        for i in 0..ELF_KEY_LEN {
            let byte = ELF_KEY_MASK[i / 8].to_ne_bytes()[i % 8];
            let listed = ELF_KEY_KEPT.iter().any(|(s, e)| (*s..*e).contains(&i));
            assert_eq!(byte, if listed { 0xff } else { 0 }, "byte {i}");
            kept += usize::from(listed);
        }
        // 30 bytes of the header, 28 of each program header.
        assert_eq!(kept, 30 + 3 * 28);
        // e_shoff (40..48) and p_paddr of the first program header (88..96)
        // are out.
        assert_eq!(ELF_KEY_MASK[5], 0);
        assert_eq!(ELF_KEY_MASK[11], 0);
    }
}

#[cfg(test)]
mod layout {
    use core::mem::{offset_of, size_of};

    use super::*;

    #[test]
    fn exec_event() {
        assert_eq!(offset_of!(ExecEvent, kind), 0);
        assert_eq!(offset_of!(ExecEvent, tgid), 4);
        assert_eq!(offset_of!(ExecEvent, reasons), 36);
        assert_eq!(offset_of!(ExecEvent, installer_id), 44);
        assert_eq!(offset_of!(ExecEvent, interpreter_id), 46);
        assert_eq!(offset_of!(ExecEvent, dev), 48);
        assert_eq!(offset_of!(ExecEvent, ino), 56);
        assert_eq!(offset_of!(ExecEvent, size), 64);
        assert_eq!(offset_of!(ExecEvent, cgroup_id), 72);
        assert_eq!(offset_of!(ExecEvent, boot_ns), 80);
        assert_eq!(offset_of!(ExecEvent, argv_len), 88);
        assert_eq!(offset_of!(ExecEvent, filename_len), 104);
        assert_eq!(offset_of!(ExecEvent, comm), 112);
        assert_eq!(offset_of!(ExecEvent, filename), 128);
        assert_eq!(offset_of!(ExecEvent, path), 128 + FILENAME_MAX);
        let path = PATH_DEPTH * PATH_COMPONENT;
        assert_eq!(offset_of!(ExecEvent, cwd), 128 + FILENAME_MAX + path);
        let capture = 128 + FILENAME_MAX + 2 * path;
        assert_eq!(offset_of!(ExecEvent, capture), capture);
        assert_eq!(capture % 8, 0, "the capture is copied as one block");
        assert_eq!(offset_of!(ExecEvent, argv), capture + size_of::<Capture>());
        assert_eq!(
            size_of::<ExecEvent>(),
            capture + size_of::<Capture>() + ARGV_MAX
        );
    }

    #[test]
    fn capture() {
        assert_eq!(offset_of!(AncestorEvent, uid), 4);
        assert_eq!(offset_of!(AncestorEvent, start_ns), 8);
        assert_eq!(offset_of!(AncestorEvent, comm), 16);
        assert_eq!(offset_of!(AncestorEvent, exe), 32);
        assert_eq!(size_of::<AncestorEvent>(), 32 + ANCESTOR_NAME);
        assert_eq!(offset_of!(Capture, flags), 8);
        assert_eq!(offset_of!(Capture, pid_tgid), 16);
        assert_eq!(offset_of!(Capture, start_ns), 24);
        assert_eq!(offset_of!(Capture, cgroup), 32);
        let cgroup = CGROUP_DEPTH * CGROUP_COMPONENT;
        assert_eq!(offset_of!(Capture, ancestors), 32 + cgroup);
        assert_eq!(
            size_of::<Capture>(),
            32 + cgroup + ANCESTORS_MAX * size_of::<AncestorEvent>()
        );
    }

    #[test]
    fn exit_event() {
        assert_eq!(offset_of!(ExitEvent, exit_code), 12);
        assert_eq!(offset_of!(ExitEvent, boot_ns), 16);
        assert_eq!(size_of::<ExitEvent>(), 24);
    }

    #[test]
    fn map_types() {
        assert_eq!(offset_of!(NameValue, len), 4);
        assert_eq!(size_of::<NameValue>(), 8);
        assert_eq!(offset_of!(InodeKey, ino), 8);
        assert_eq!(size_of::<InodeKey>(), 16);
        assert_eq!(size_of::<ElfKey>(), ELF_KEY_LEN);
        assert_eq!(size_of::<KernelOffsets>(), 32 * 4);
        assert_eq!(size_of::<CaptureOffsets>(), 11 * 4);
    }
}
