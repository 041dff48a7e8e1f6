//! The state witness: writes to package state, seen where the page cache
//! marks a file's page dirty (`writeback:writeback_dirty_folio`, attached
//! raw), in the writing task, whatever system call or mapping made the
//! write. A write is to package state when its file's dentry names match a
//! `swmon_common::state` rule (a dpkg status rewrite, a file in a
//! `.dist-info` folder, an npm package's `package.json`, ...) or its
//! folder is one of the host's `PATH` folders user space put in
//! [`WATCHED_DIRS`]. Each match is sent once per writer, file (or, for a
//! folder rule, folder) and two seconds, with the writer's identity and
//! parent chain read at the write, so that a writer gone before user space
//! looks is still named.
//!
//! Why here: a syscall tracepoint (`openat`, `renameat2`, `fchmodat` exits)
//! puts every task on the traced syscall path, a cost on every syscall on
//! the host (measured about 55 ns a syscall on these machines, 2.5% of a
//! no-op exec); fentry and BPF LSM programs are refused on these kernels.
//! This tracepoint fires once per page a write dirties (not again while
//! the page stays dirty), and costs an ordinary write a few reads of the
//! file's names. What it does not see (README, "Not yet"): renames, links,
//! `chmod` and unlinks (no page is dirtied: a file moved into a `PATH`
//! folder, or made executable there, after it was written elsewhere), and
//! writes on filesystems whose pages are not dirtied through the page
//! cache's accounting (tmpfs, `O_DIRECT`, DAX).

use aya_ebpf::{
    helpers::{
        bpf_get_current_cgroup_id, bpf_get_current_comm, bpf_get_current_pid_tgid,
        bpf_get_current_task, bpf_get_current_uid_gid, bpf_ktime_get_boot_ns,
        bpf_probe_read_kernel_str_bytes,
    },
    macros::{map, raw_tracepoint},
    maps::{HashMap, LruHashMap},
    programs::RawTracePointContext,
    Global,
};
use swmon_common::{
    counter, flag,
    state::{self, Place},
    DentryHead, InodeKey, StateEvent, StateKey, ANCESTORS_MAX, EVENT_STATE,
};

use crate::{count, read, read_ptr, walk_path, CAPTURE_OFFSETS, EVENTS, OFFSETS, SCAN_OFFSETS};

/// The host's `PATH` folders user space watches, by (device, inode).
#[map]
pub static WATCHED_DIRS: HashMap<InodeKey, u32> = HashMap::with_max_entries(256, 0);

/// `I_DIRTY_SYNC | I_DIRTY_DATASYNC | I_DIRTY_PAGES` on this kernel (from
/// BTF: 6.x renumbered them), set by user space at load.
#[no_mangle]
static I_DIRTY: Global<u32> = Global::new(7);

/// When each (unit, writer) was last sent, so that a file written page by
/// page, or a folder written file by file, is sent once per writer and
/// [`RESEND_NS`].
#[map]
static STATE_SENT: LruHashMap<StateKey, u64> = LruHashMap::with_max_entries(8192, 0);

/// A unit already sent by the same writer is sent again after this long.
const RESEND_NS: u64 = 2_000_000_000;

const S_IFMT: u16 = 0o170000;
const S_IFREG: u16 = 0o100000;

/// Names of a written file looked at: its dentry aliases, newest first.
const ALIASES_MAX: usize = 4;

#[raw_tracepoint(tracepoint = "writeback_dirty_folio")]
pub fn swmon_state(ctx: RawTracePointContext) -> u32 {
    match try_state(&ctx) {
        Ok(r) | Err(r) => r,
    }
}

/// One field of a global the loader sets (`OFFSETS`, `SCAN_OFFSETS`), read
/// alone: `Global::load` reads the whole struct (a volatile read: every
/// field a load, on every call, each kept by the compiler), where these
/// programs, run on every dirtied page, need a few fields.
macro_rules! field {
    ($global:expr, $field:ident) => {
        // SAFETY: `Global` is `repr(transparent)` over its value, which the
        // loader set before the program runs; volatile like `Global::load`,
        // so the read is not folded into the value it was compiled with.
        unsafe { core::ptr::read_volatile(core::ptr::addr_of!((*inner(&$global)).$field)) }
    };
}

/// The value a `Global` wraps.
#[inline(always)]
fn inner<T>(global: &'static Global<T>) -> *const T {
    (global as *const Global<T>).cast()
}

/// What one read of a dentry's head gives: its parent (null at a
/// filesystem's root, where the dentry is its own parent, or when the read
/// failed), its name's length and first 16 bytes, where the name is, and
/// its inode.
#[derive(Clone, Copy)]
struct Named {
    parent: *const u8,
    len: u32,
    name: *const u8,
    inode: *const u8,
    words: [u64; 2],
}

impl Named {
    /// A dentry whose head could not be read: no parent, no name.
    const NONE: Named = Named {
        parent: core::ptr::null(),
        len: 0,
        name: core::ptr::null(),
        inode: core::ptr::null(),
        words: [0; 2],
    };
}

/// Reads a dentry's head (`DentryHead`: `d_parent`, `d_name`, `d_inode`
/// and the inline name's first 16 bytes, adjacent: the layout is
/// checked against BTF at load) in one probe read. A name under the
/// inline length (`DNAME_INLINE_LEN`: 40 bytes on this 6.18) is kept in the
/// dentry itself (`d_iname`; `d_shortname` in newer kernels, this 6.18
/// among them) and `d_name.name`
/// points there: its first 16 bytes are the ones the head read holds,
/// the same memory the name pointer would have been read through. A
/// longer name is in a buffer of its own, read (when `want_name`) as
/// before: 16 bytes can always be read from either.
#[inline(always)]
fn head_of(dentry: *const u8, dentry_parent: u32, want_name: bool) -> Named {
    match read::<DentryHead>(dentry, dentry_parent) {
        Ok(h) => named(dentry, dentry_parent, &h, want_name),
        Err(_) => Named::NONE,
    }
}

/// What a dentry's head says (`h`, read from `dentry` + `dentry_parent`).
#[inline(always)]
fn named(dentry: *const u8, dentry_parent: u32, h: &DentryHead, want_name: bool) -> Named {
    let name = h.name as *const u8;
    let inline = dentry.wrapping_add((dentry_parent + DentryHead::INLINE) as usize);
    let words = if name == inline {
        h.inline
    } else if want_name && !name.is_null() {
        read::<[u64; 2]>(name, 0).unwrap_or([0; 2])
    } else {
        [0; 2]
    };
    let parent = h.parent as *const u8;
    Named {
        parent: if parent == dentry {
            core::ptr::null()
        } else {
            parent
        },
        // `hash_len`: the hash in the low half, the length in the high.
        len: (h.hash_len >> 32) as u32,
        name,
        inode: h.inode as *const u8,
        words,
    }
}

fn try_state(ctx: &RawTracePointContext) -> Result<u32, u32> {
    // TP_PROTO(struct folio *folio, struct address_space *mapping)
    let mapping = ctx.arg::<u64>(1) as *const u8;
    let inode = read_ptr(mapping, field!(SCAN_OFFSETS, mapping_host))?;
    // The file's type is looked at only once its names match: a write
    // that matches no rule, most of them, costs no read of it. The block
    // device's own pages (filesystem metadata) stop at the first test
    // below as they stopped at this one: its inode has no dentry.
    let (rule, dentry) = match_inode(inode, false)?;
    if rule == 0 {
        return Ok(0);
    }
    let mode: u16 = read(inode, field!(SCAN_OFFSETS, inode_mode))?;
    if mode & S_IFMT != S_IFREG {
        // A folder or symlink whose pages the filesystem keeps in the
        // page cache (ext2's folders, ext4's long symlinks), and the rest.
        return Ok(0);
    }
    Ok(send(rule, inode, dentry))
}

/// `chmod` and the other attribute changes of a file, seen where the
/// inode is marked dirty whole (`writeback:writeback_mark_inode_dirty`
/// with all of `I_DIRTY_SYNC | I_DIRTY_DATASYNC | I_DIRTY_PAGES`, what
/// `mark_inode_dirty` passes: ext4's and most filesystems' `setattr`; a
/// write's time update and page dirtying pass fewer bits and return at the
/// first test): a regular file with an execute bit in a watched `PATH`
/// folder, so a file written elsewhere in that folder and made executable
/// later (by another process) is seen too.
#[raw_tracepoint(tracepoint = "writeback_mark_inode_dirty")]
pub fn swmon_attr(ctx: RawTracePointContext) -> u32 {
    match try_attr(&ctx) {
        Ok(r) | Err(r) => r,
    }
}

fn try_attr(ctx: &RawTracePointContext) -> Result<u32, u32> {
    // TP_PROTO(struct inode *inode, int flags)
    let all = I_DIRTY.load();
    if ctx.arg::<u64>(1) as u32 & all != all {
        return Ok(0);
    }
    let inode = ctx.arg::<u64>(0) as *const u8;
    let mode: u16 = read(inode, field!(SCAN_OFFSETS, inode_mode))?;
    if mode & S_IFMT != S_IFREG || mode & 0o111 == 0 {
        return Ok(0);
    }
    let (rule, dentry) = match_inode(inode, true)?;
    if rule == 0 {
        return Ok(0);
    }
    Ok(send(rule, inode, dentry))
}

/// Matches a file's names against the rules (only the watched `PATH`
/// folders when `path_only`): the rule (0 for none) and the dentry, of
/// the file's names, that matched.
#[inline(always)]
fn match_inode(inode: *const u8, path_only: bool) -> Result<(u32, *const u8), u32> {
    let dp = field!(OFFSETS, dentry_parent);
    let alias = field!(SCAN_OFFSETS, dentry_alias);
    let mut node = read_ptr(inode, field!(SCAN_OFFSETS, inode_dentry))?;
    let mut k = 0usize;
    while k < ALIASES_MAX && !node.is_null() {
        let dentry = node.wrapping_sub(alias as usize);
        // What every rule looks at first: the parent's and grandparent's
        // names (16 bytes each) and the file's, one read of each dentry's
        // head; the rest (last bytes, a third folder) only where a rule
        // needs them, so an ordinary write costs as few reads as can be.
        let mut p = Place::default();
        let leaf = head_of(dentry, dp, !path_only);
        let mut parent0 = leaf;
        let mut parent1 = leaf;
        if !leaf.parent.is_null() {
            parent0 = head_of(leaf.parent, dp, true);
            p.parents[0] = parent0.words;
            p.depth = 1;
            if !path_only && !parent0.parent.is_null() {
                parent1 = head_of(parent0.parent, dp, true);
                p.parents[1] = parent1.words;
                p.depth = 2;
            }
        }
        if !path_only {
            p.leaf = leaf.words;
        }
        if !path_only && p.depth == 2 {
            if state::is_site(p.parents[1]) && !parent0.name.is_null() {
                let len = parent0.len;
                p.parent_len = len;
                if (10..4096).contains(&len) {
                    // The 2 bytes before the last 8 and those 8, one read.
                    if let Ok(b) = read::<[u8; 10]>(parent0.name, len - 10) {
                        p.parent_head = u16::from_le_bytes([b[0], b[1]]);
                        p.parent_tail =
                            u64::from_le_bytes([b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9]]);
                    }
                }
            }
            if state::PACKAGE_JSON.matches(p.leaf)
                && (p.parents[1][0] & 0xff) == b'@' as u64
                && !parent1.parent.is_null()
            {
                p.parents[2] = head_of(parent1.parent, dp, true).words;
                p.depth = 3;
            }
        }
        if !path_only && p.depth >= 1 && state::SPECIFICATIONS.matches(p.parents[0]) {
            let len = leaf.len;
            p.leaf_len = len;
            if (8..4096).contains(&len) && !leaf.name.is_null() {
                p.leaf_tail = read::<u64>(leaf.name, len - 8).unwrap_or(0);
            }
        }
        // A watched `PATH` folder first: whatever the file's name there
        // (`/usr/local/bin/.crates2.json` is an executable's place).
        let mut rule = 0;
        if state::may_be_path_dir(&p) {
            let watched_rule = if path_only {
                state::PATH_ATTR
            } else {
                state::PATH_DIR
            };
            let dir = parent0.inode;
            if dir.is_null() {
                return Err(0);
            }
            let key = InodeKey {
                dev: read_ptr(dir, field!(OFFSETS, inode_sb))
                    .and_then(|sb| read(sb, field!(OFFSETS, sb_dev)))
                    .unwrap_or(0),
                _pad: 0,
                ino: read(dir, field!(OFFSETS, inode_ino)).unwrap_or(0),
            };
            // SAFETY: the value is not kept.
            if unsafe { WATCHED_DIRS.get(key) }.is_some() {
                rule = watched_rule;
            }
        }
        if rule == 0 && !path_only {
            rule = state::rule_of(&p);
        }
        if rule != 0 {
            return Ok((rule, dentry));
        }
        // hlist_node.next, its first field.
        node = read_ptr(node, 0).unwrap_or(core::ptr::null());
        k += 1;
    }
    Ok((0, core::ptr::null()))
}

/// Sends a matched write, once per (unit, writer) and [`RESEND_NS`]. A
/// BPF-to-BPF call, one copy for both programs (inlined into the
/// attribute program, the compiler's code for the path walk mixed the
/// ring-buffer pointer with an error value, which the verifier refuses).
#[inline(never)]
fn send(rule: u32, inode: *const u8, dentry: *const u8) -> u32 {
    match try_send(rule, inode, dentry) {
        Ok(r) | Err(r) => r,
    }
}

#[inline(always)]
fn try_send(rule: u32, inode: *const u8, dentry: *const u8) -> Result<u32, u32> {
    let off = OFFSETS.load();
    // A folder rule's unit is the folder: its files are one change.
    let folder = matches!(
        rule,
        state::DIST_INFO | state::EGG_INFO | state::DPKG_UPDATES | state::SITE_PACKAGE
    );
    let (unit, named) = if folder {
        let parent = read_ptr(dentry, off.dentry_parent)?;
        (parent, parent)
    } else {
        (inode, dentry)
    };
    let hash = read::<u32>(named, off.dentry_name).unwrap_or(0);

    count(counter::STATE_MATCHED);
    let pid_tgid = bpf_get_current_pid_tgid();
    let tgid = (pid_tgid >> 32) as u32;
    // SAFETY: a plain helper call.
    let now = unsafe { bpf_ktime_get_boot_ns() };
    let key = StateKey {
        unit: unit as u64,
        tgid,
        hash,
    };
    // SAFETY: the value is copied out at once.
    if let Some(last) = unsafe { STATE_SENT.get(key) }.copied() {
        if now.wrapping_sub(last) < RESEND_NS {
            return Ok(0);
        }
    }
    let _ = STATE_SENT.insert(key, now, 0);
    let Some(mut entry) = EVENTS.reserve::<StateEvent>(0) else {
        count(counter::STATE_RESERVE_FAILED);
        // Sent again at the next write rather than never.
        let _ = STATE_SENT.remove(key);
        return Err(0);
    };
    // SAFETY: the reservation is ours until submit; every field the reader
    // uses is written below.
    let ev = unsafe { &mut *entry.as_mut_ptr() };
    let soff = SCAN_OFFSETS.load();
    let cap_off = CAPTURE_OFFSETS.load();
    ev.kind = EVENT_STATE;
    ev.rule = rule;
    ev.tgid = tgid;
    ev.pid = pid_tgid as u32;
    ev.flags = 0;
    // SAFETY: a plain helper call.
    let task = unsafe { bpf_get_current_task() } as *const u8;
    let leader = read_ptr(task, cap_off.task_group_leader).unwrap_or(task);
    let parent = read_ptr(task, off.task_real_parent).unwrap_or(core::ptr::null());
    ev.ppid = if parent.is_null() {
        0
    } else {
        read(parent, off.task_tgid).unwrap_or(0)
    };
    ev.uid = bpf_get_current_uid_gid() as u32;
    ev.euid = read_ptr(task, off.task_cred)
        .and_then(|cred| read(cred, off.cred_euid))
        .unwrap_or(u32::MAX);
    ev.loginuid = read(task, off.task_loginuid).unwrap_or(u32::MAX);
    ev.sessionid = read(task, off.task_sessionid).unwrap_or(u32::MAX);
    ev.dev = read_ptr(inode, off.inode_sb)
        .and_then(|sb| read(sb, off.sb_dev))
        .unwrap_or(0);
    ev.ino = read(inode, off.inode_ino).unwrap_or(0);
    ev.mode = read::<u16>(inode, soff.inode_mode).unwrap_or(0) as u32;
    // SAFETY: plain helper calls.
    ev.cgroup_id = unsafe { bpf_get_current_cgroup_id() };
    ev.boot_ns = now;
    ev.start_ns = read(leader, cap_off.task_start_boottime).unwrap_or(0);
    ev.comm = bpf_get_current_comm().unwrap_or([0; 16]);
    ev._pad = 0;
    ev.exe_depth = 0;
    ev.exe[0][0] = 0;
    let exe = read_ptr(task, off.task_mm).and_then(|mm| read_ptr(mm, off.mm_exe_file));
    if let Ok(file) = exe {
        let dentry = read_ptr(file, off.file_path + off.path_dentry).unwrap_or(core::ptr::null());
        let mnt = read_ptr(file, off.file_path + off.path_mnt).unwrap_or(core::ptr::null());
        if !dentry.is_null() {
            let (depth, truncated) = walk_path(&mut ev.exe, &off, dentry, mnt);
            ev.exe_depth = depth;
            if truncated {
                ev.flags |= flag::FILENAME_TRUNCATED;
            }
        }
    }
    let (depth, truncated) = walk_path(&mut ev.path, &off, dentry, core::ptr::null());
    ev.path_depth = depth;
    if truncated {
        ev.flags |= flag::PATH_TRUNCATED;
    }
    // The parent chain, as the capture stage reads it for an exec.
    let mut t = leader;
    let mut n = 0usize;
    while n < ANCESTORS_MAX {
        let Ok(parent) = read_ptr(t, off.task_real_parent) else {
            break;
        };
        let leader = read_ptr(parent, cap_off.task_group_leader).unwrap_or(parent);
        let tgid: u32 = read(leader, off.task_tgid).unwrap_or(0);
        if tgid == 0 {
            break;
        }
        let a = &mut ev.ancestors[n];
        a.tgid = tgid;
        a.start_ns = read(leader, cap_off.task_start_boottime).unwrap_or(0);
        a.uid = read_ptr(leader, off.task_cred)
            .and_then(|cred| read(cred, cap_off.cred_uid))
            .unwrap_or(u32::MAX);
        a.comm = read(leader, cap_off.task_comm).unwrap_or([0; 16]);
        a.exe[0] = 0;
        let name = read_ptr(leader, off.task_mm)
            .and_then(|mm| read_ptr(mm, off.mm_exe_file))
            .and_then(|file| read_ptr(file, off.file_path + off.path_dentry))
            .and_then(|d| read_ptr(d, off.dentry_name + off.qstr_name));
        if let Ok(name) = name {
            // SAFETY: a kernel string read, bounded by the slot.
            let _ = unsafe { bpf_probe_read_kernel_str_bytes(name, &mut a.exe) };
        }
        n += 1;
        if tgid == 1 {
            break;
        }
        t = leader;
    }
    ev.ancestor_count = n as u32;
    entry.submit(0);
    count(counter::STATE_SENT);
    Ok(0)
}
