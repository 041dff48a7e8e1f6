//! swmon's kernel side: a pre-filter on every exec that passes only installer
//! runs to user space, and the exit of each process it passed.
//!
//! The filter runs on the `sched_process_exec` tracepoint, attached raw (a
//! raw tracepoint gets the tracepoint's arguments, `task` and `bprm`, with
//! none of the classic tracepoint's record building, and needs no tracefs):
//! it fires once for every successful exec, whatever the path (execve,
//! execveat, fexecve, a memfd, a script through binfmt_script), after the
//! new image is in place, so `current->mm` is the new program's. An exec
//! passes when:
//! - the base name of the filename given to exec, or the name of the file
//!   really executed (its dentry: after symlinks, and for fexecve), is an
//!   installer name from the trie user space fills from the catalogue;
//! - the file's (device, inode) is an installer found on the host (hard
//!   links, bind mounts);
//! - the file's size equals a binary installer's (a renamed copy; nlink 0
//!   for a memfd or deleted file): user space then confirms by content;
//! - the start of the file (`bprm->buf`, the bytes the kernel read to pick
//!   a loader), masked to the ELF header and program header fields that
//!   place the program in memory, equals a binary installer's (a
//!   near-copy: bytes appended or patched past the headers): user space
//!   then confirms by the build-id note;
//! - it is an interpreter or the loader (by its name, or, under another
//!   name, by its (device, inode) or ELF key: a hard link or renamed copy
//!   of python3.11 gets the same scan) and its argv (all of it that is
//!   captured, [`ARGV_MAX`] bytes, scanned with `bpf_loop`) holds an
//!   argument whose base name or one of whose folders is an installer name
//!   (`-m pip`, `.../npm-cli.js`, `/usr/bin/dpkg` after `ld-linux`,
//!   `node .../node_modules/npm/lib/cli.js`), a short-option cluster with an
//!   installer module glued after its `m` (`-mpip`, `-Impip`), or a code
//!   needle (`-c 'import pip'`); or its standard input is an installer's
//!   file on the host (`python3 - < /usr/bin/pip3`). The argv rules are
//!   `swmon_common::scan`'s, shared with user space's tests. An
//!   interpreter whose argv is longer than the copy (or could not be read)
//!   and names no installer in it passes too (`ARGV_UNSCANNED`): user
//!   space reads the rest.
//!
//! Everything else costs a few map lookups and never leaves the kernel. The
//! name checks here look at one byte after the matched prefix only
//! (`swmon_common::suffix`); user space applies the catalogue's full rule
//! again. Struct offsets come from user space (read from BTF), since rustc
//! emits no CO-RE relocations.
//!
//! `swmon run --ebpf-log` (off by default): the stages log their decision
//! on each *candidate* exec (one a name, the inode, the size or the ELF key
//! matched, or an interpreter whose argv is scanned) through aya-log: which
//! rules passed it, what the argv scan found or that it found nothing, a
//! failed read, a full ring buffer. Every log call is behind [`EBPF_LOG`],
//! a global user space sets at load: with the flag off a candidate costs one
//! load of it per log point, and an ordinary exec (no match) reaches no log
//! point at all.

#![no_std]
#![no_main]
#![feature(asm_experimental_arch)]

use aya_ebpf::{
    helpers::{
        bpf_get_current_cgroup_id, bpf_get_current_comm, bpf_get_current_pid_tgid,
        bpf_get_current_task, bpf_get_current_uid_gid, bpf_ktime_get_boot_ns,
        bpf_probe_read_kernel, bpf_probe_read_kernel_str_bytes, generated,
    },
    macros::{map, raw_tracepoint},
    maps::{
        lpm_trie::Key, Array, HashMap, LpmTrie, LruHashMap, PerCpuArray, ProgramArray, RingBuf,
    },
    programs::RawTracePointContext,
    EbpfContext, Global,
};
use swmon_common::{
    canonical_elf_key, capture_flag, counter, flag, identity, module, name_kind, reason,
    scan::{ArgScan, Name},
    suffix, Capture, CaptureOffsets, ElfKey, ExecEvent, ExitEvent, InodeKey, KernelOffsets,
    NameValue, ScanOffsets, ANCESTORS_MAX, ARGV_MAX, CGROUP_COMPONENT, CGROUP_DEPTH, EVENT_EXEC,
    EVENT_EXIT, FILENAME_MAX, NAME_MAX, PATH_COMPONENT, PATH_DEPTH,
};

mod state;

const NONE: u16 = u16::MAX;

/// `--ebpf-log`'s level, set by user space at load: 0 off (the default),
/// 2 warn, 3 info, 4 debug (aya-log's numbering). aya-log's own
/// `AYA_LOG_LEVEL` is set alike; this one is what every log point tests
/// first, and what it costs with the flag off.
#[no_mangle]
static EBPF_LOG: Global<u8> = Global::new(0);

const LOG_WARN: u8 = 2;
const LOG_INFO: u8 = 3;
const LOG_DEBUG: u8 = 4;

/// One `--ebpf-log` record at `$level` (`warn`, `info`, `debug`), prefixed
/// with the task it concerns: `tgid=N pid=N comm=HEX ` (the comm as its 16
/// bytes in hex, lossless whatever they are; user space decodes it). The
/// format string must begin with that prefix's three placeholders. Counted
/// in `LOG_RECORDS` after the call, so user space can tell records the log
/// ring had no room for (aya-log drops those silently).
macro_rules! elog {
    ($gate:expr, $mac:ident, $ctx:expr, $fmt:tt $(, $arg:expr)* $(,)?) => {
        if EBPF_LOG.load() >= $gate {
            let pid_tgid = bpf_get_current_pid_tgid();
            let comm = bpf_get_current_comm().unwrap_or([0; 16]);
            aya_log_ebpf::$mac!(
                $ctx,
                $fmt,
                (pid_tgid >> 32) as u32,
                pid_tgid as u32,
                &comm[..]
                $(, $arg)*
            );
            count(counter::LOG_RECORDS);
        }
    };
}

#[no_mangle]
pub(crate) static OFFSETS: Global<KernelOffsets> = Global::new(KernelOffsets::UNSET);
/// Offsets only the capture stages read (the filter's load stays as small).
#[no_mangle]
pub(crate) static CAPTURE_OFFSETS: Global<CaptureOffsets> = Global::new(CaptureOffsets::UNSET);
/// Offsets only the argv scan stage reads (fd 0 of an interpreter).
#[no_mangle]
pub(crate) static SCAN_OFFSETS: Global<ScanOffsets> = Global::new(ScanOffsets::UNSET);
/// Offset of `linux_binprm.buf` (from BTF; 0 when unset: no near-copy
/// lookup is made).
#[no_mangle]
static BPRM_BUF: Global<u32> = Global::new(0);
/// 1 when `sched_process_exit` passes `group_dead` (its second argument,
/// 6.x kernels), from BTF; 0 otherwise (then the leader's exit counts).
#[no_mangle]
static EXIT_GROUP_DEAD: Global<u32> = Global::new(0);

#[map]
pub(crate) static EVENTS: RingBuf = RingBuf::with_byte_size(4 << 20, 0);
#[map]
static NAMES: LpmTrie<[u8; NAME_MAX], NameValue> = LpmTrie::with_max_entries(256, 0);
#[map]
static INODES: HashMap<InodeKey, u16> = HashMap::with_max_entries(1024, 0);
/// Sizes of the binary installers found on the host.
#[map]
static SIZES: HashMap<u64, u16> = HashMap::with_max_entries(1024, 0);
/// ELF keys of the binary installers found on the host (those with a
/// build-id note, by which user space confirms a near-copy).
#[map]
static ELF_KEYS: HashMap<ElfKey, u16> = HashMap::with_max_entries(1024, 0);
/// Per-CPU room for the ELF key of the exec being filtered (the BPF
/// stack is too small for it).
#[map]
static ELF_KEY: PerCpuArray<ElfKey> = PerCpuArray::with_max_entries(1, 0);
/// Processes that passed, by tgid (the value is the exec's boot time), so
/// their exit is reported.
#[map]
static TRACKED: HashMap<u32, u64> = HashMap::with_max_entries(16384, 0);
#[map]
static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(counter::COUNT, 0);
#[map]
static SCRATCH: PerCpuArray<Scratch> = PerCpuArray::with_max_entries(1, 0);
/// The cgroup and parent chain of a passed exec, filled by the capture
/// stages and copied into the event by the emitter (one block copy).
#[map]
static CAPTURE: PerCpuArray<Capture> = PerCpuArray::with_max_entries(1, 0);
/// The later stages of the exec program, filled by user space.
#[map]
static STAGES: ProgramArray = ProgramArray::with_max_entries(STAGE_COUNT, 0);
/// Processes whose current program is an interpreter or the loader (the
/// exec filter found its name in `NAMES`), by tgid, with that program's
/// `mm`: the module-load witness looks further only at their reads (only
/// an interpreter runs an installer's code by reading it; user space
/// requires one too). Least recently used entries go first: the map holds
/// the live interpreters of a busy host many times over. A process forked
/// from one inherits its entry (`sched_process_fork`), with its own `mm`
/// and [`INHERITED`] set; an exec of a program that is no interpreter's,
/// and the exit of the process, remove it.
#[map]
static INTERPRETERS: LruHashMap<u32, u64> = LruHashMap::with_max_entries(65536, 0);
/// Set in an `INTERPRETERS` value inherited at a fork: the process runs
/// the interpreter's program without having exec'd it, with its parent's
/// argv ([`flag::FORKED`] in its record). An `mm` is at least 8-byte
/// aligned, so its low bit is free.
const INHERITED: u64 = 1;
/// Processes the module-load witness reported, by tgid: the `mm` of the
/// program that read the entry module (a later exec gets a new one, and
/// may be reported again). Least recently used entries go first; an exec
/// of a program that is no interpreter's and the exit remove the entry.
#[map]
static MODULE_REPORTED: LruHashMap<u32, u64> = LruHashMap::with_max_entries(4096, 0);
/// How many `INTERPRETERS` entries may hold a tgid of each slot (tgid
/// modulo [`SLOTS`]), and how many `TRACKED` entries: 0 means none, for
/// sure; more means look in the map. The programs that run for every
/// read, exit, fork and exec of the host test this first, an array load
/// the verifier inlines, instead of a hash lookup (a few hundred ns on a
/// VM with retpolines). Each insert of a new entry adds one after the
/// insert; each successful delete takes one off; an entry the LRU evicts
/// keeps its count (a slot then costs the lookup it saves until its count
/// is back to 0, never a missed entry). Every entry in the maps was
/// counted: inserts go through [`counted_insert_lru`] and
/// [`counted_insert`], which replace an entry only with `BPF_EXIST`.
/// Anything that fills either map (user space seeding the interpreters
/// that ran before swmon, say) must count its entries too, or their
/// reads and exits are skipped.
#[map]
static INTERPRETER_SLOTS: Array<u64> = Array::with_max_entries(SLOTS, 0);
#[map]
static TRACKED_SLOTS: Array<u64> = Array::with_max_entries(SLOTS, 0);
/// Slots of `INTERPRETER_SLOTS` and `TRACKED_SLOTS` (a power of two).
const SLOTS: u32 = 32768;
const BPF_NOEXIST: u64 = 1;
const BPF_EXIST: u64 = 2;

/// Whether `slots` may have an entry for `tgid` (false: none, for sure).
#[inline(always)]
fn may_hold(slots: &Array<u64>, tgid: u32) -> bool {
    slots.get(tgid & (SLOTS - 1)).is_none_or(|n| *n != 0)
}

#[inline(always)]
fn slot_add(slots: &Array<u64>, tgid: u32, delta: u64) {
    if let Some(p) = slots.get_ptr_mut(tgid & (SLOTS - 1)) {
        // SAFETY: a valid, aligned u64 in map memory, shared by the CPUs
        // and changed only by this atomic add (BPF's `atomic_add`; core's
        // atomics have no read-modify-write for BPF).
        unsafe {
            core::arch::asm!(
                "lock *(u64 *)({p} + 0) += {d}",
                p = in(reg) p,
                d = in(reg) delta,
            )
        };
    }
}

/// Inserts or replaces `tgid`'s entry in an LRU map, counting a new one
/// in `slots`. False when it could not be inserted.
#[inline(always)]
fn counted_insert_lru(map: &LruHashMap<u32, u64>, slots: &Array<u64>, tgid: u32, v: u64) -> bool {
    if map.insert(tgid, v, BPF_NOEXIST).is_ok() {
        slot_add(slots, tgid, 1);
        return true;
    }
    if map.insert(tgid, v, BPF_EXIST).is_ok() {
        return true;
    }
    // Evicted in between: new again.
    if map.insert(tgid, v, BPF_NOEXIST).is_ok() {
        slot_add(slots, tgid, 1);
        return true;
    }
    false
}

/// [`counted_insert_lru`] for a hash map.
#[inline(always)]
fn counted_insert(map: &HashMap<u32, u64>, slots: &Array<u64>, tgid: u32, v: u64) -> bool {
    if map.insert(tgid, v, BPF_NOEXIST).is_ok() {
        slot_add(slots, tgid, 1);
        return true;
    }
    map.insert(tgid, v, BPF_EXIST).is_ok()
}

/// Tracks the current process, whose exec event was just emitted, for its
/// exit: 1 if it is, 0 if `TRACKED` is full. A function of its own (a
/// BPF-to-BPF call), called after the emitter: inlined into it, the
/// compiler's code for it led the verifier to reject the emitter's
/// ring-buffer writes.
#[inline(never)]
fn track() -> u32 {
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    // SAFETY: a plain helper call.
    let boot_ns = unsafe { bpf_ktime_get_boot_ns() };
    u32::from(counted_insert(&TRACKED, &TRACKED_SLOTS, tgid, boot_ns))
}

/// Deletes `tgid`'s entry, if the slot says there may be one; true if one
/// was deleted (and uncounted).
#[inline(always)]
fn counted_remove_lru(map: &LruHashMap<u32, u64>, slots: &Array<u64>, tgid: u32) -> bool {
    if !may_hold(slots, tgid) {
        return false;
    }
    // Looked up first: a lookup takes no lock, a delete takes the
    // bucket's, and most slots' other tgids have no entry.
    // SAFETY: only whether the entry exists is read.
    if unsafe { map.get(tgid) }.is_none() || map.remove(tgid).is_err() {
        return false;
    }
    slot_add(slots, tgid, u64::MAX);
    true
}

/// Per-CPU working memory: the BPF stack has 512 bytes. Loop results also
/// pass through here: a value read back from map memory is unknown to the
/// verifier, so the many ways out of a loop merge into one state instead of
/// each being verified through the rest of the program.
///
/// It also carries one exec's facts from stage to stage: the program is
/// split by tail calls (filter, then argv scan, then emit) so that each
/// stage's loops are verified on their own, within the verifier's budget.
#[repr(C)]
pub struct Scratch {
    filename: [u8; FILENAME_MAX],
    key: Key<[u8; NAME_MAX]>,
    name_len: u32,
    filename_len: u32,
    reasons: u32,
    installer: u16,
    interpreter: u16,
    argv_len: u32,
    /// How an interpreter no name matched was known
    /// ([`reason::INTERPRETER_INODE`], [`reason::INTERPRETER_ELF`]), added
    /// to the reasons when its scan passes it.
    interpreter_how: u32,
    /// 1 when argv was longer than the copy the scan reads, or could not
    /// be read: a scan with no match passes it (`ARGV_UNSCANNED`).
    argv_unscanned: u32,
    /// 1 when the interpreter is the dynamic loader: a scan with no match
    /// passes it (`LOADER_PROGRAM`), for user space to look at its program.
    loader: u32,
    /// Bits of [`flag`] the emitter starts the event with (`FORKED` for a
    /// module load of a forked interpreter; 0 for an exec).
    flags: u32,
    /// The argv scan's state, and what it found (a bit of `reason`, the
    /// installer's id; `code`: a code needle was seen).
    scan: ArgScan,
    found_reason: u32,
    found_id: u32,
    code: u32,
    argv: [u8; ARGV_MAX],
}

/// Indices of the tail-call stages in `STAGES` (user space fills them in
/// this order: `swmon_scan`, `swmon_emit`, `swmon_cgroup`, `swmon_parents`).
/// A passed exec goes filter → (scan) → cgroup → parents → emit: each loop
/// of the capture has a stage of its own, verified on its own, and none of
/// it runs for an exec the filter drops.
const STAGE_SCAN: u32 = 0;
const STAGE_EMIT: u32 = 1;
const STAGE_CGROUP: u32 = 2;
const STAGE_PARENTS: u32 = 3;
const STAGE_COUNT: u32 = 4;

#[raw_tracepoint(tracepoint = "sched_process_exec")]
pub fn sched_process_exec(ctx: RawTracePointContext) -> u32 {
    match try_exec(&ctx) {
        Ok(r) | Err(r) => r,
    }
}

/// Stage 2, for interpreters and the loader: does argv name an installer?
#[raw_tracepoint(tracepoint = "sched_process_exec")]
pub fn swmon_scan(ctx: RawTracePointContext) -> u32 {
    match try_scan(&ctx) {
        Ok(r) | Err(r) => r,
    }
}

/// Stage 3: the task's cgroup names, into `CAPTURE`.
#[raw_tracepoint(tracepoint = "sched_process_exec")]
pub fn swmon_cgroup(ctx: RawTracePointContext) -> u32 {
    match try_cgroup(&ctx, &STAGES) {
        Ok(r) | Err(r) => r,
    }
}

/// Stage 4: the parent chain, into `CAPTURE`.
#[raw_tracepoint(tracepoint = "sched_process_exec")]
pub fn swmon_parents(ctx: RawTracePointContext) -> u32 {
    match try_parents(&ctx, &STAGES) {
        Ok(r) | Err(r) => r,
    }
}

/// Stage 5: writes the event for an exec that passed.
#[raw_tracepoint(tracepoint = "sched_process_exec")]
pub fn swmon_emit(ctx: RawTracePointContext) -> u32 {
    match try_emit(&ctx) {
        Ok(r) => {
            // Tracked for its exit once its event is out (apart from the
            // emitter: see `track`).
            if track() == 0 {
                count(counter::TRACK_FAILED);
            }
            r
        }
        Err(r) => r,
    }
}

#[raw_tracepoint(tracepoint = "sched_process_exit")]
pub fn sched_process_exit(ctx: RawTracePointContext) -> u32 {
    match try_exit(&ctx) {
        Ok(r) | Err(r) => r,
    }
}

/// For the module-load witness: a process forked from an interpreter runs
/// the interpreter's program too (`os.fork()`, multiprocessing's `fork`
/// start method), under a new tgid and `mm` and without an exec; it
/// inherits the parent's `INTERPRETERS` entry. One lookup per fork of any
/// other process.
#[raw_tracepoint(tracepoint = "sched_process_fork")]
pub fn sched_process_fork(ctx: RawTracePointContext) -> u32 {
    match try_fork(&ctx) {
        Ok(r) | Err(r) => r,
    }
}

#[inline(always)]
pub(crate) fn count(index: u32) {
    if let Some(c) = COUNTERS.get_ptr_mut(index) {
        // SAFETY: a per-CPU slot, not shared with another CPU.
        unsafe { *c += 1 };
    }
}

#[inline(always)]
pub(crate) fn read<T>(base: *const u8, offset: u32) -> Result<T, u32> {
    // SAFETY: bpf_probe_read_kernel checks the address; a bad one is an error.
    unsafe { bpf_probe_read_kernel(base.wrapping_add(offset as usize).cast::<T>()) }.map_err(|_| 0)
}

#[inline(always)]
pub(crate) fn read_ptr(base: *const u8, offset: u32) -> Result<*const u8, u32> {
    let p: *const u8 = read(base, offset)?;
    if p.is_null() {
        Err(0)
    } else {
        Ok(p)
    }
}

/// Looks `key` up in the installer-name trie; `name_len` is the length of
/// the whole name (which may be longer than the key holds).
#[inline(always)]
fn lookup_name(key: &Key<[u8; NAME_MAX]>, name_len: usize) -> Option<NameValue> {
    if name_len == 0 {
        return None;
    }
    let v = *NAMES.get(key)?;
    let len = v.len as usize;
    let next = if len >= name_len {
        0
    } else {
        key.data[len & (NAME_MAX - 1)]
    };
    suffix::next_allows(v.suffix, next).then_some(v)
}

/// Reads `scratch.name_len` back from map memory. The verifier knows
/// nothing of a value read from a map, so the loops below can hand a length
/// over without the states of their iterations staying apart (a length
/// the verifier knew exactly would be marked precise at the first branch
/// on it, and every iteration's state would then be verified on its own).
#[inline(always)]
fn opaque_name_len(scratch: &Scratch) -> usize {
    // SAFETY: a read of this CPU's scratch slot.
    unsafe { core::ptr::read_volatile(&scratch.name_len) as usize }
}

/// Sets the trie key's prefix length for a name of `len` bytes.
#[inline(always)]
fn set_prefix(key: &mut Key<[u8; NAME_MAX]>, len: usize) {
    key.prefix_len = (if len < NAME_MAX { len } else { NAME_MAX } * 8) as u32;
}

/// Looks the base name of the filename (`scratch.filename[..len]`) up in
/// the trie. The loop only finds where the base name starts; the name is
/// then copied with one helper call.
#[inline(always)]
fn lookup_basename(scratch: &mut Scratch, len: usize) -> Option<NameValue> {
    let mut base = 0usize;
    let mut i = 0usize;
    while i < FILENAME_MAX {
        if i >= len {
            break;
        }
        if scratch.filename[i] == b'/' {
            base = i + 1;
        }
        i += 1;
    }
    scratch.name_len = (len - base) as u32;
    let name_len = opaque_name_len(scratch);
    let start = (len.saturating_sub(name_len)) & (FILENAME_MAX - 1);
    let src = scratch.filename.as_ptr().wrapping_add(start);
    // SAFETY: a kernel string read, bounded by the key.
    let n = unsafe { bpf_probe_read_kernel_str_bytes(src, &mut scratch.key.data) }
        .map(|s| s.len())
        .unwrap_or(0);
    set_prefix(&mut scratch.key, n);
    lookup_name(&scratch.key, name_len)
}

/// A near-copy of a binary installer: the first bytes of the exec'd file,
/// as the kernel read them into `bprm->buf` to choose a loader (for a
/// script, its interpreter's), masked to an [`ElfKey`] and looked up among
/// the installers'. One bounded read and one lookup; called only for an
/// exec no name or inode passed. Appending bytes to a binary, or patching
/// its code or data or a header field the loaders do not use, leaves the
/// key as it was; user space confirms a match by the build-id note. The
/// value is an installer's catalogue id, or an interpreter's with
/// [`identity::INTERPRETER`] (a renamed copy of python: scan its argv).
#[inline(always)]
fn near_copy(bprm: *const u8) -> Option<u16> {
    let off = BPRM_BUF.load();
    if off == 0 {
        return None;
    }
    // SAFETY: this CPU's slot; the program is not re-entered.
    let key = unsafe { &mut *ELF_KEY.get_ptr_mut(0)? };
    // SAFETY: the helper checks the source; the destination is the slot.
    let r = unsafe {
        generated::bpf_probe_read_kernel(
            (key as *mut ElfKey).cast(),
            core::mem::size_of::<ElfKey>() as u32,
            bprm.wrapping_add(off as usize).cast(),
        )
    };
    if r != 0 {
        return None;
    }
    canonical_elf_key(&mut key.words);
    // By reference: a copy would put the key on the 512-byte BPF stack.
    let key: &ElfKey = key;
    // SAFETY: the value is copied out at once.
    unsafe { ELF_KEYS.get(key) }.copied()
}

/// Looks one name the argv scan handed back up in the trie (the bytes are
/// read from this CPU's copy of argv, from `name.at` to the argument's
/// NUL, bounded by the key); an installer whose suffix rule allows what
/// follows the name within its `name.len` bytes.
#[inline(always)]
fn lookup_arg(scratch: &mut Scratch, name: Name) -> Option<NameValue> {
    if name.len == 0 {
        return None;
    }
    let at = name.at as usize & (ARGV_MAX - 1);
    let src = scratch.argv.as_ptr().wrapping_add(at);
    // SAFETY: a read of our own scratch copy, bounded by the key.
    let n = unsafe { bpf_probe_read_kernel_str_bytes(src, &mut scratch.key.data) }
        .map(|s| s.len())
        .unwrap_or(0);
    set_prefix(&mut scratch.key, n);
    let v = *NAMES.get(&scratch.key)?;
    let len = v.len as usize;
    let next = if len >= name.len as usize {
        0
    } else {
        scratch.key.data[len & (NAME_MAX - 1)]
    };
    (v.kind == name_kind::INSTALLER && suffix::arg_next_allows(v.suffix, next)).then_some(v)
}

/// `bpf_loop`'s callback: one byte of the captured argv through the shared
/// scan (`swmon_common::scan`). A name match stops the loop (1); a code
/// needle is remembered and the scan goes on, so a name rule is the one
/// recorded when both hold. The callback is verified once, whatever the
/// argv's length; its state lives in this CPU's scratch.
#[inline(never)]
extern "C" fn scan_byte(index: u64, _ctx: *mut core::ffi::c_void) -> i64 {
    let Some(p) = SCRATCH.get_ptr_mut(0) else {
        return 1;
    };
    // SAFETY: this CPU's slot; the stage is not re-entered.
    let scratch = unsafe { &mut *p };
    let i = index as usize;
    if i >= ARGV_MAX {
        return 1;
    }
    let c = scratch.argv[i];
    let step = scratch.scan.step(i as u32, c);
    if step.code {
        scratch.code = 1;
    }
    for name in [step.segment, step.module] {
        if let Some(v) = lookup_arg(scratch, name) {
            scratch.found_reason = name.reason;
            scratch.found_id = u32::from(v.id);
            return 1;
        }
    }
    0
}

/// The installer whose file is the task's standard input (fd 0), by its
/// (device, inode) in `INODES`: `python3 - install x < /usr/bin/pip3`. A
/// pipe (`cat pip3 | python3 -`) has no such identity: not known here.
#[inline(always)]
fn stdin_installer() -> Option<u16> {
    let off = OFFSETS.load();
    let soff = SCAN_OFFSETS.load();
    // SAFETY: a plain helper call.
    let task = unsafe { bpf_get_current_task() } as *const u8;
    let files = read_ptr(task, soff.task_files).ok()?;
    let fdt = read_ptr(files, soff.files_fdt).ok()?;
    let fds = read_ptr(fdt, soff.fdtable_fd).ok()?;
    let file = read_ptr(fds, 0).ok()?;
    let inode = read_ptr(file, off.file_inode).ok()?;
    let sb = read_ptr(inode, off.inode_sb).ok()?;
    let dev: u32 = read(sb, off.sb_dev).ok()?;
    let ino: u64 = read(inode, off.inode_ino).ok()?;
    // SAFETY: the value is copied out at once.
    let id = unsafe { INODES.get(InodeKey { dev, _pad: 0, ino }) }.copied()?;
    // An interpreter's own file on standard input runs no installer.
    (id & identity::INTERPRETER == 0).then_some(id)
}

/// Reports the end of a tracked process and stops tracking it. A tracked
/// process that execs a program the filter does not pass stays tracked: an
/// installer run is the whole life of the process (a pyenv shim execs
/// env, bash, then python in one process), and it ends at its exit.
#[inline(always)]
fn untrack(tgid: u32, pid: u32, exit_code: u32) {
    if !may_hold(&TRACKED_SLOTS, tgid) {
        return;
    }
    // SAFETY: the value is only read to test presence.
    if unsafe { TRACKED.get(tgid) }.is_none() || TRACKED.remove(tgid).is_err() {
        return;
    }
    slot_add(&TRACKED_SLOTS, tgid, u64::MAX);
    match EVENTS.reserve::<ExitEvent>(0) {
        Some(mut entry) => {
            entry.write(ExitEvent {
                kind: EVENT_EXIT,
                tgid,
                pid,
                exit_code,
                // SAFETY: a plain helper call.
                boot_ns: unsafe { bpf_ktime_get_boot_ns() },
            });
            entry.submit(0);
            count(counter::EXITS);
        }
        None => count(counter::EXIT_RESERVE_FAILED),
    }
}

fn try_exec(ctx: &RawTracePointContext) -> Result<u32, u32> {
    count(counter::SEEN);
    let off = OFFSETS.load();
    // SAFETY: the scratch slot is this CPU's; the program is not re-entered.
    let scratch = unsafe { &mut *SCRATCH.get_ptr_mut(0).ok_or(0u32)? };

    // The filename as given to exec: `bprm->filename`, the tracepoint's
    // third argument.
    // https://github.com/torvalds/linux/blob/v6.18/fs/exec.c#L1775
    let bprm = ctx.arg::<u64>(2) as *const u8;
    let fname = read_ptr(bprm, off.bprm_filename)?;
    // SAFETY: a kernel string read, bounded by the buffer.
    let fname_len = unsafe { bpf_probe_read_kernel_str_bytes(fname, &mut scratch.filename) }
        .map(|s| s.len())
        .unwrap_or(0);
    let by_filename = lookup_basename(scratch, fname_len);

    // The file really executed: current->mm->exe_file.
    let task = ctx.arg::<u64>(0) as *const u8;
    let mm = read_ptr(task, off.task_mm)?;
    let file = read_ptr(mm, off.mm_exe_file)?;
    let inode = read_ptr(file, off.file_inode)?;
    let dentry = read_ptr(file, off.file_path + off.path_dentry)?;
    let qname = read_ptr(dentry, off.dentry_name + off.qstr_name)?;
    let qlen: u32 = read(dentry, off.dentry_name + off.qstr_len)?;
    // SAFETY: a kernel string read, bounded by the key.
    let key_len = unsafe { bpf_probe_read_kernel_str_bytes(qname, &mut scratch.key.data) }
        .map(|s| s.len())
        .unwrap_or(0);
    scratch.key.prefix_len = (key_len * 8) as u32;
    let by_exe = lookup_name(&scratch.key, qlen as usize);

    let sb = read_ptr(inode, off.inode_sb)?;
    let dev: u32 = read(sb, off.sb_dev)?;
    let ino: u64 = read(inode, off.inode_ino)?;
    let size: u64 = read(inode, off.inode_size)?;
    let nlink: u32 = read(inode, off.inode_nlink)?;

    let mut reasons = 0u32;
    let mut installer = NONE;
    let mut interpreter = NONE;
    let mut loader = 0u32;
    for (found, why) in [(by_filename, reason::FILENAME), (by_exe, reason::EXE_NAME)] {
        if let Some(v) = found {
            if v.kind == name_kind::INSTALLER {
                reasons |= why;
                installer = v.id;
            } else {
                interpreter = v.id;
                loader |= u32::from(v.kind == name_kind::LOADER);
            }
        }
    }
    let ikey = InodeKey { dev, _pad: 0, ino };
    let mut interpreter_how = 0u32;
    // SAFETY: the value is copied out at once.
    if let Some(id) = unsafe { INODES.get(ikey) }.copied() {
        if id & identity::INTERPRETER == 0 {
            reasons |= reason::INODE;
            installer = id;
        } else if interpreter == NONE {
            // An interpreter's file under a name no rule knows (a hard
            // link): its argv is scanned as that interpreter's.
            interpreter = id & identity::ID;
            interpreter_how = reason::INTERPRETER_INODE;
            loader = u32::from(id & identity::LOADER != 0);
        }
    }
    // SAFETY: as above.
    if let Some(id) = unsafe { SIZES.get(size) }.filter(|_| reasons == 0) {
        reasons |= reason::SIZE;
        installer = *id;
        if nlink == 0 {
            reasons |= reason::FILELESS;
        }
    }
    if reasons & !(reason::SIZE | reason::FILELESS) == 0 {
        match near_copy(bprm) {
            Some(id) if id & identity::INTERPRETER == 0 => {
                reasons |= reason::NEAR_COPY;
                installer = id;
                if nlink == 0 {
                    reasons |= reason::FILELESS;
                }
            }
            // A copy of an interpreter under another name: scanned as it.
            Some(id) if interpreter == NONE && reasons == 0 => {
                interpreter = id & identity::ID;
                interpreter_how = reason::INTERPRETER_ELF;
                loader = u32::from(id & identity::LOADER != 0);
            }
            _ => {}
        }
    }
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    if interpreter == NONE {
        // The process runs no interpreter's program now: an entry it
        // inherited at a fork, or had as an interpreter before this exec,
        // would only make each of its reads look further. Most execs have
        // none: the slot's count says so. Its report mark goes with it: a
        // later interpreter in this process, or a process that reuses the
        // tgid, whose `mm` happens to sit at the same address, must not
        // find it.
        if counted_remove_lru(&INTERPRETERS, &INTERPRETER_SLOTS, tgid) {
            let _ = MODULE_REPORTED.remove(tgid);
        }
    }
    if reasons == 0 && interpreter == NONE {
        return Ok(0);
    }
    if interpreter != NONE {
        // For the module-load witness (`swmon_read`): this program is an
        // interpreter's. A failed insert leaves its reads unwatched.
        if !counted_insert_lru(&INTERPRETERS, &INTERPRETER_SLOTS, tgid, mm as u64) {
            count(counter::TRACK_FAILED);
        }
    }
    scratch.filename_len = fname_len as u32;
    scratch.flags = 0;
    scratch.reasons = reasons;
    scratch.installer = installer;
    scratch.interpreter = interpreter;
    scratch.interpreter_how = interpreter_how;
    scratch.loader = loader;
    if reasons != 0 {
        elog!(
            LOG_INFO,
            info,
            ctx,
            "tgid={} pid={} comm={:x} passed: reasons=0x{:x} installer={} interpreter={} size={} nlink={}",
            reasons,
            installer,
            interpreter,
            size,
            nlink
        );
        // SAFETY: the stage has the same program type and context.
        unsafe { STAGES.tail_call(ctx, STAGE_CGROUP) };
        count(counter::STAGE_FAILED);
        elog!(
            LOG_WARN,
            warn,
            ctx,
            "tgid={} pid={} comm={:x} lost: tail call to the capture stage failed"
        );
        return Err(0);
    }
    // An interpreter or the loader: copy argv (as much as an event holds)
    // for the scan.
    let arg_start: u64 = read(mm, off.mm_arg_start)?;
    let arg_end: u64 = read(mm, off.mm_arg_end)?;
    let total = arg_end.saturating_sub(arg_start) as usize;
    let n = if total < ARGV_MAX { total } else { ARGV_MAX };
    scratch.argv_unscanned = u32::from(total > ARGV_MAX);
    scratch.argv_len = if read_user(&mut scratch.argv, n, arg_start) {
        n as u32
    } else {
        elog!(
            LOG_WARN,
            warn,
            ctx,
            "tgid={} pid={} comm={:x} interpreter={}: argv unreadable ({} bytes): scanned as empty",
            interpreter,
            total
        );
        count(counter::ARGV_UNREADABLE);
        scratch.argv_unscanned = 1;
        0
    };
    elog!(
        LOG_DEBUG,
        debug,
        ctx,
        "tgid={} pid={} comm={:x} interpreter={}: scanning {} of {} argv bytes",
        interpreter,
        n,
        total
    );
    // SAFETY: as above.
    unsafe { STAGES.tail_call(ctx, STAGE_SCAN) };
    count(counter::STAGE_FAILED);
    elog!(
        LOG_WARN,
        warn,
        ctx,
        "tgid={} pid={} comm={:x} lost: tail call to the argv scan stage failed"
    );
    Err(0)
}

fn try_scan(ctx: &RawTracePointContext) -> Result<u32, u32> {
    let mut reasons = 0u32;
    let mut installer = NONE;
    if let Some(id) = stdin_installer() {
        reasons |= reason::STDIN;
        installer = id;
    }
    // SAFETY: the scratch slot is this CPU's; stages run on the same CPU.
    let scratch = unsafe { &mut *SCRATCH.get_ptr_mut(0).ok_or(0u32)? };
    scratch.scan = ArgScan::START;
    scratch.found_reason = 0;
    scratch.found_id = u32::from(NONE);
    scratch.code = 0;
    let n = scratch.argv_len;
    // SAFETY: the callback is a static function of this program; it takes
    // no context (its state is in the scratch slot).
    unsafe {
        generated::bpf_loop(
            n,
            scan_byte as *const () as *mut core::ffi::c_void,
            core::ptr::null_mut(),
            0,
        )
    };
    // Read back from map memory: the callback wrote them.
    // SAFETY: reads of this CPU's scratch slot.
    let (found, id, code) = unsafe {
        (
            core::ptr::read_volatile(&scratch.found_reason),
            core::ptr::read_volatile(&scratch.found_id),
            core::ptr::read_volatile(&scratch.code),
        )
    };
    if found != 0 {
        reasons |= found;
        if installer == NONE {
            installer = id as u16;
        }
    } else if code != 0 {
        reasons |= reason::ARG_CODE;
    }
    // SAFETY: as above.
    if reasons == 0 && unsafe { core::ptr::read_volatile(&scratch.argv_unscanned) } != 0 {
        // Longer than the copy (or unreadable), and nothing in the copy:
        // user space reads it whole. Rare: a command line over 8 KiB.
        reasons |= reason::ARGV_UNSCANNED;
    }
    // SAFETY: as above.
    if reasons == 0 && unsafe { core::ptr::read_volatile(&scratch.loader) } != 0 {
        // The loader run by hand, naming no installer: its program may be
        // a renamed installer copy, which only user space can look at.
        reasons |= reason::LOADER_PROGRAM;
    }
    if reasons == 0 {
        count(counter::INTERPRETER_DROPPED);
        elog!(
            LOG_INFO,
            info,
            ctx,
            "tgid={} pid={} comm={:x} dropped: interpreter={} scanned {} argv bytes, no installer in argv, none on stdin",
            scratch.interpreter,
            n
        );
        return Ok(0);
    }
    // SAFETY: as above.
    scratch.reasons = reasons | unsafe { core::ptr::read_volatile(&scratch.interpreter_how) };
    scratch.installer = installer;
    elog!(
        LOG_INFO,
        info,
        ctx,
        "tgid={} pid={} comm={:x} passed: reasons=0x{:x} installer={} interpreter={} scanned {} argv bytes",
        reasons,
        installer,
        scratch.interpreter,
        n
    );
    // SAFETY: as in try_exec.
    unsafe { STAGES.tail_call(ctx, STAGE_CGROUP) };
    count(counter::STAGE_FAILED);
    elog!(
        LOG_WARN,
        warn,
        ctx,
        "tgid={} pid={} comm={:x} lost: tail call to the capture stage failed"
    );
    Err(0)
}

/// The capture slot of this CPU. Without it the exec is lost, and counted
/// like a failed stage.
#[inline(always)]
fn capture_slot() -> Result<&'static mut Capture, u32> {
    match CAPTURE.get_ptr_mut(0) {
        // SAFETY: the slot is this CPU's; the stages of one exec run on the
        // same CPU, one after the other, and the program is not re-entered.
        Some(p) => Ok(unsafe { &mut *p }),
        None => {
            count(counter::STAGE_FAILED);
            Err(0)
        }
    }
}

/// Writes the names of the task's cgroup in the default hierarchy, from
/// its kernfs node up to (not including) the root, one per slot. Read
/// here, not from `/proc/PID/cgroup` later: a short run has exited by then,
/// and `/proc` shows the path relative to the reader's cgroup namespace.
#[inline(always)]
fn try_cgroup<C: EbpfContext>(ctx: &C, stages: &ProgramArray) -> Result<u32, u32> {
    let off = CAPTURE_OFFSETS.load();
    let cap = capture_slot()?;
    // MISSING stays set until the parents stage has finished, and the
    // capture names its exec: the emitter takes nothing half-done or stale.
    cap.flags = capture_flag::MISSING;
    cap.pid_tgid = bpf_get_current_pid_tgid();
    cap.cgroup_depth = 0;
    cap.ancestor_count = 0;
    // SAFETY: a plain helper call.
    let task = unsafe { bpf_get_current_task() } as *const u8;
    let cgrp =
        read_ptr(task, off.task_cgroups).and_then(|cset| read_ptr(cset, off.css_set_dfl_cgrp));
    let mut flags = capture_flag::MISSING;
    match cgrp {
        Ok(cgrp) if off.cgroup_ancestors != 0 => {
            // From the top down: the levels that decide trust are the
            // ones kept when the cgroup is deeper than the slots.
            flags |= capture_flag::CGROUP_TOP_DOWN;
            match read::<i32>(cgrp, off.cgroup_level) {
                Ok(level) if level >= 0 => {
                    let (depth, f) = top_down_cgroup(&mut cap.cgroup, &off, cgrp, level as u32);
                    cap.cgroup_depth = depth;
                    flags |= f;
                }
                _ => flags |= capture_flag::CGROUP_UNREADABLE,
            }
        }
        Ok(cgrp) => match read_ptr(cgrp, off.cgroup_kn) {
            Ok(kn) => {
                let (depth, truncated) = walk_cgroup(&mut cap.cgroup, &off, kn);
                cap.cgroup_depth = depth;
                if truncated {
                    flags |= capture_flag::CGROUP_TRUNCATED;
                }
            }
            Err(_) => flags |= capture_flag::CGROUP_UNREADABLE,
        },
        Err(_) => flags |= capture_flag::CGROUP_UNREADABLE,
    }
    cap.flags = flags;
    // SAFETY: the stage has the same program type and context.
    unsafe { stages.tail_call(ctx, STAGE_PARENTS) };
    count(counter::STAGE_FAILED);
    elog!(
        LOG_WARN,
        warn,
        ctx,
        "tgid={} pid={} comm={:x} lost: tail call to the parents stage failed"
    );
    Err(0)
}

/// Writes the names of levels 1..=`level` of `cgrp` (level 0, the root, has
/// none) through `cgroup.ancestors`, top first, one per slot; returns the
/// slots used and the flags: `CGROUP_LEAF_CUT` when levels below the slots
/// are left out, `CGROUP_TRUNCATED` when a name was cut or empty (a read
/// failed), `CGROUP_UNREADABLE` when an ancestor could not be read.
#[inline(always)]
fn top_down_cgroup(
    slots: &mut [[u8; CGROUP_COMPONENT]; CGROUP_DEPTH],
    off: &CaptureOffsets,
    cgrp: *const u8,
    level: u32,
) -> (u32, u32) {
    let mut flags = 0u32;
    let mut depth = 0usize;
    while depth < CGROUP_DEPTH {
        let lvl = depth as u32 + 1;
        if lvl > level {
            break;
        }
        slots[depth][0] = 0;
        let at = off.cgroup_ancestors + lvl * 8;
        let Ok(name) = read_ptr(cgrp, at)
            .and_then(|c| read_ptr(c, off.cgroup_kn))
            .and_then(|kn| read_ptr(kn, off.kernfs_node_name))
        else {
            flags |= capture_flag::CGROUP_UNREADABLE;
            break;
        };
        // SAFETY: a kernel string read, bounded by the slot.
        match unsafe { bpf_probe_read_kernel_str_bytes(name, &mut slots[depth]) } {
            Ok(s) if !s.is_empty() && s.len() < CGROUP_COMPONENT - 1 => {}
            _ => flags |= capture_flag::CGROUP_TRUNCATED,
        }
        depth += 1;
    }
    if level as usize > CGROUP_DEPTH {
        flags |= capture_flag::CGROUP_LEAF_CUT;
    }
    (depth as u32, flags)
}

/// Writes kernfs names from `kn` up, one per slot, stopping below the root
/// (the node without a parent). True in the second place when the walk
/// stopped at the depth limit or a name was cut.
#[inline(always)]
fn walk_cgroup(
    slots: &mut [[u8; CGROUP_COMPONENT]; CGROUP_DEPTH],
    off: &CaptureOffsets,
    kn: *const u8,
) -> (u32, bool) {
    let mut kn = kn;
    let mut depth = 0usize;
    let mut done = false;
    let mut cut = false;
    while depth < CGROUP_DEPTH {
        // A parent that cannot be read is a hole, not the root.
        let Ok(parent) = read::<*const u8>(kn, off.kernfs_node_parent) else {
            cut = true;
            break;
        };
        if parent.is_null() {
            done = true;
            break;
        }
        slots[depth][0] = 0;
        // A name that cannot be read, or is empty, is a hole in the path:
        // counted as cut, so no container is trusted from it.
        match read_ptr(kn, off.kernfs_node_name) {
            // SAFETY: a kernel string read, bounded by the slot.
            Ok(name) => match unsafe { bpf_probe_read_kernel_str_bytes(name, &mut slots[depth]) } {
                Ok(s) => cut |= s.is_empty() || s.len() >= CGROUP_COMPONENT - 1,
                Err(_) => cut = true,
            },
            Err(_) => cut = true,
        }
        kn = parent;
        depth += 1;
    }
    if !done {
        // Exactly CGROUP_DEPTH levels is whole when the next node is the root.
        let parent: *const u8 = read(kn, off.kernfs_node_parent).unwrap_or(core::ptr::null());
        done = parent.is_null();
    }
    (depth as u32, cut || !done)
}

/// Writes the parent chain: for each process above the exec (the
/// thread-group leader of `real_parent`), its pid, start time, uid, comm
/// and executable name, up to init or `ANCESTORS_MAX`.
#[inline(always)]
fn try_parents<C: EbpfContext>(ctx: &C, stages: &ProgramArray) -> Result<u32, u32> {
    let off = OFFSETS.load();
    let cap_off = CAPTURE_OFFSETS.load();
    let cap = capture_slot()?;
    // SAFETY: a plain helper call.
    let task = unsafe { bpf_get_current_task() } as *const u8;
    let mut t = task;
    let mut n = 0usize;
    let mut done = false;
    while n < ANCESTORS_MAX {
        let Ok(parent) = read_ptr(t, off.task_real_parent) else {
            done = true;
            break;
        };
        let leader = read_ptr(parent, cap_off.task_group_leader).unwrap_or(parent);
        let tgid: u32 = read(leader, off.task_tgid).unwrap_or(0);
        if tgid == 0 {
            // The idle task above init (or a bad read): the chain ends.
            done = true;
            break;
        }
        let a = &mut cap.ancestors[n];
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
            .and_then(|dentry| read_ptr(dentry, off.dentry_name + off.qstr_name));
        if let Ok(name) = name {
            // SAFETY: a kernel string read, bounded by the slot.
            let _ = unsafe { bpf_probe_read_kernel_str_bytes(name, &mut a.exe) };
        }
        n += 1;
        if tgid == 1 {
            done = true;
            break;
        }
        t = leader;
    }
    cap.ancestor_count = n as u32;
    let mut flags = cap.flags;
    if cap.pid_tgid == bpf_get_current_pid_tgid() {
        flags &= !capture_flag::MISSING;
    }
    if !done {
        // A full chain is whole when the last one's parent is the idle task.
        let above = read_ptr(t, off.task_real_parent)
            .and_then(|p| read_ptr(p, cap_off.task_group_leader))
            .and_then(|l| read::<u32>(l, off.task_tgid))
            .unwrap_or(0);
        if above != 0 {
            flags |= capture_flag::ANCESTORS_TRUNCATED;
        }
    }
    cap.flags = flags;
    // SAFETY: the stage has the same program type and context.
    unsafe { stages.tail_call(ctx, STAGE_EMIT) };
    count(counter::STAGE_FAILED);
    elog!(
        LOG_WARN,
        warn,
        ctx,
        "tgid={} pid={} comm={:x} lost: tail call to the emit stage failed"
    );
    Err(0)
}

#[inline(always)]
fn try_emit<C: EbpfContext>(ctx: &C) -> Result<u32, u32> {
    let off = OFFSETS.load();
    let pid_tgid = bpf_get_current_pid_tgid();
    let tgid = (pid_tgid >> 32) as u32;
    let pid = pid_tgid as u32;
    // SAFETY: the scratch slot is this CPU's; stages run on the same CPU.
    let scratch = unsafe { &mut *SCRATCH.get_ptr_mut(0).ok_or(0u32)? };
    let task = unsafe { bpf_get_current_task() } as *const u8;
    let file = read_ptr(task, off.task_mm).and_then(|mm| Ok((mm, read_ptr(mm, off.mm_exe_file)?)));
    let inode = file.and_then(|(mm, file)| Ok((mm, file, read_ptr(file, off.file_inode)?)));
    let Ok((mm, file, inode)) = inode else {
        elog!(
            LOG_WARN,
            warn,
            ctx,
            "tgid={} pid={} comm={:x} lost: the executable's file could not be read"
        );
        return Err(0);
    };
    let dentry = read_ptr(file, off.file_path + off.path_dentry)?;
    let sb = read_ptr(inode, off.inode_sb)?;

    let Some(mut entry) = EVENTS.reserve::<ExecEvent>(0) else {
        count(counter::EXEC_RESERVE_FAILED);
        elog!(
            LOG_WARN,
            warn,
            ctx,
            "tgid={} pid={} comm={:x} lost: the event ring buffer is full"
        );
        return Err(0);
    };
    // SAFETY: the reservation is ours until submit or discard; every field
    // the reader uses is written below.
    let ev = unsafe { &mut *entry.as_mut_ptr() };
    ev.flags = scratch.flags & flag::FORKED;
    let arg_start: u64 = read(mm, off.mm_arg_start).unwrap_or(0);
    let arg_end: u64 = read(mm, off.mm_arg_end).unwrap_or(0);
    let total = arg_end.saturating_sub(arg_start) as usize;
    let n = if total > ARGV_MAX {
        ev.flags |= flag::ARGV_TRUNCATED;
        ARGV_MAX
    } else {
        total
    };
    if read_user(&mut ev.argv, n, arg_start) {
        ev.argv_len = n as u32;
    } else {
        ev.flags |= flag::ARGV_UNREADABLE;
        ev.argv_len = 0;
        count(counter::ARGV_UNREADABLE);
    }
    ev.argv_total = total as u32;

    ev.kind = EVENT_EXEC;
    ev.tgid = tgid;
    ev.pid = pid;
    let parent = read_ptr(task, off.task_real_parent).unwrap_or(core::ptr::null());
    ev.ppid = if parent.is_null() {
        0
    } else {
        read(parent, off.task_tgid).unwrap_or(0)
    };
    let uid_gid = bpf_get_current_uid_gid();
    ev.uid = uid_gid as u32;
    ev.gid = (uid_gid >> 32) as u32;
    ev.euid = read_ptr(task, off.task_cred)
        .and_then(|cred| read(cred, off.cred_euid))
        .unwrap_or(u32::MAX);
    ev.loginuid = read(task, off.task_loginuid).unwrap_or(u32::MAX);
    ev.sessionid = read(task, off.task_sessionid).unwrap_or(u32::MAX);
    ev.reasons = scratch.reasons;
    ev.installer_id = scratch.installer;
    ev.interpreter_id = scratch.interpreter;
    ev.dev = read(sb, off.sb_dev).unwrap_or(0);
    ev.nlink = read(inode, off.inode_nlink).unwrap_or(0);
    ev.ino = read(inode, off.inode_ino).unwrap_or(0);
    ev.size = read(inode, off.inode_size).unwrap_or(0);
    // SAFETY: plain helper calls.
    ev.cgroup_id = unsafe { bpf_get_current_cgroup_id() };
    let boot_ns = unsafe { bpf_ktime_get_boot_ns() };
    ev.boot_ns = boot_ns;
    ev.comm = bpf_get_current_comm().unwrap_or([0; 16]);
    ev._pad = 0;
    // The capture stages' work, as one block. Marked missing if it cannot
    // be copied, so user space never reads stale bytes as facts.
    // The slot is reset after the copy: the next exec on this CPU finds it
    // missing unless its own stages fill it.
    let copied = match CAPTURE.get_ptr_mut(0) {
        Some(src) => {
            // SAFETY: both sides are a Capture; the helper checks the source.
            let r = unsafe {
                generated::bpf_probe_read_kernel(
                    (&mut ev.capture as *mut Capture).cast(),
                    core::mem::size_of::<Capture>() as u32,
                    src.cast_const().cast(),
                )
            };
            // SAFETY: this CPU's slot; the stages of one exec run in turn.
            unsafe {
                (*src).flags = capture_flag::MISSING;
                (*src).pid_tgid = 0;
            }
            r == 0 && ev.capture.pid_tgid == pid_tgid
        }
        None => false,
    };
    if !copied {
        ev.capture.flags = capture_flag::MISSING;
        ev.capture.cgroup_depth = 0;
        ev.capture.ancestor_count = 0;
    }
    let cap_off = CAPTURE_OFFSETS.load();
    // The process's start, its leader's: a module load can come from any
    // thread (bundler opens RubyGems' installer in a worker thread), whose
    // own start would read as another process of the same pid. At an exec
    // the current task is the leader.
    let leader = read_ptr(task, cap_off.task_group_leader).unwrap_or(task);
    ev.capture.start_ns = read(leader, cap_off.task_start_boottime).unwrap_or(0);
    let fname_len = scratch.filename_len as usize;
    if fname_len >= FILENAME_MAX - 1 {
        ev.flags |= flag::FILENAME_TRUNCATED;
    }
    // SAFETY: a kernel string read of our own scratch copy, bounded by the buffer.
    ev.filename_len =
        unsafe { bpf_probe_read_kernel_str_bytes(scratch.filename.as_ptr(), &mut ev.filename) }
            .map(|s| s.len() as u32)
            .unwrap_or(0);
    let vfsmount = read_ptr(file, off.file_path + off.path_mnt).unwrap_or(core::ptr::null());
    let (depth, truncated) = walk_path(&mut ev.path, &off, dentry, vfsmount);
    ev.path_depth = depth;
    if truncated {
        ev.flags |= flag::PATH_TRUNCATED;
    }
    // The working directory, read here: by the time user space could read
    // /proc/PID/cwd, a short run has exited.
    let fs = read_ptr(task, off.task_fs).unwrap_or(core::ptr::null());
    let pwd_dentry = if fs.is_null() {
        core::ptr::null()
    } else {
        read_ptr(fs, off.fs_pwd + off.path_dentry).unwrap_or(core::ptr::null())
    };
    if pwd_dentry.is_null() {
        ev.cwd_depth = 0;
        ev.flags |= flag::CWD_UNREADABLE;
    } else {
        let pwd_mnt = read_ptr(fs, off.fs_pwd + off.path_mnt).unwrap_or(core::ptr::null());
        let (depth, truncated) = walk_path(&mut ev.cwd, &off, pwd_dentry, pwd_mnt);
        ev.cwd_depth = depth;
        if truncated {
            ev.flags |= flag::CWD_TRUNCATED;
        }
    }

    entry.submit(0);
    count(counter::PASSED);
    Ok(0)
}

/// Reads `n` bytes of user memory at `src` into `dst`; `n` is clamped to the
/// buffer so the verifier can see the bound.
#[inline(always)]
fn read_user<const N: usize>(dst: &mut [u8; N], n: usize, src: u64) -> bool {
    if n == 0 || n > N {
        return n == 0;
    }
    // SAFETY: dst has N bytes and n <= N; the helper checks src.
    let r = unsafe {
        generated::bpf_probe_read_user(dst.as_mut_ptr().cast(), n as u32, src as *const _)
    };
    r == 0
}

/// Writes a path (the executable's, the working directory's) into `slots`
/// as its dentry names from the leaf up to the root, one per fixed slot (a crossed mount point leaves its
/// slot empty), crossing mount points the way the kernel's `prepend_path`
/// does. Fixed slots keep every write at a constant offset, which keeps the
/// verifier's work linear in the depth.
/// https://github.com/torvalds/linux/blob/v6.18/fs/d_path.c#L95
#[inline(always)]
pub(crate) fn walk_path(
    slots: &mut [[u8; PATH_COMPONENT]; PATH_DEPTH],
    off: &KernelOffsets,
    dentry: *const u8,
    vfsmount: *const u8,
) -> (u32, bool) {
    let mut dentry = dentry;
    let mut vfsmount = vfsmount;
    let mut done = false;
    let mut truncated = false;
    let mut slot = 0usize;
    while slot < PATH_DEPTH {
        slots[slot][0] = 0;
        let Ok(parent) = read_ptr(dentry, off.dentry_parent) else {
            done = true;
            break;
        };
        let mnt_root = if vfsmount.is_null() {
            core::ptr::null()
        } else {
            read_ptr(vfsmount, off.vfsmount_root).unwrap_or(core::ptr::null())
        };
        if dentry == mnt_root || dentry == parent {
            let mount = vfsmount.wrapping_sub(off.mount_mnt as usize);
            let mount_parent = if vfsmount.is_null() {
                core::ptr::null()
            } else {
                read_ptr(mount, off.mount_parent).unwrap_or(core::ptr::null())
            };
            if mount_parent.is_null() || mount_parent == mount {
                // The global root, or a file on an internal mount (a memfd):
                // the latter has only its own name.
                if dentry != mnt_root && slot == 0 {
                    write_component(&mut slots[slot], dentry, off);
                    slot += 1;
                }
                done = true;
                break;
            }
            match read_ptr(mount, off.mount_mountpoint) {
                Ok(mountpoint) => dentry = mountpoint,
                Err(_) => {
                    done = true;
                    break;
                }
            }
            vfsmount = mount_parent.wrapping_add(off.mount_mnt as usize);
        } else {
            if write_component(&mut slots[slot], dentry, off) {
                truncated = true;
            }
            dentry = parent;
        }
        slot += 1;
    }
    (slot as u32, truncated || !done)
}

/// Writes one dentry name into its slot; true when the name was cut.
#[inline(always)]
fn write_component(dst: &mut [u8; PATH_COMPONENT], dentry: *const u8, off: &KernelOffsets) -> bool {
    let Ok(name) = read_ptr(dentry, off.dentry_name + off.qstr_name) else {
        return false;
    };
    // SAFETY: a kernel string read, bounded by dst.
    match unsafe { bpf_probe_read_kernel_str_bytes(name, dst) } {
        Ok(s) => s.len() >= PATH_COMPONENT - 1,
        Err(_) => false,
    }
}

/// The module-load witness, on the page cache's read path
/// (`filemap:mm_filemap_get_pages`, which every buffered read of a file
/// passes, attached raw): did the process just read an installer's entry
/// module (`swmon_common::module::RULES`)? An interpreter reads those files
/// only when it runs the installer's own code, however it was told to
/// (`python3 ./copy-of-pip3 install x`, `exec("import p"+"ip...")`,
/// `cd .../pip && python3 . install x`, node `-r` of npm's cli).
///
/// Not on the `open` syscalls' exit: a syscall tracepoint puts every task
/// on the kernel's traced syscall path, a cost on every syscall of every
/// process (measured about 55 ns a syscall here, 2.5% of a no-op exec);
/// this tracepoint costs only buffered reads, and for a process that is
/// no interpreter one array load while its slot's count is 0. The file is
/// the read's `address_space`'s inode, named by each of its names in the
/// dentry cache (up to [`ALIASES_MAX`], newest first). Not seen: reads on
/// a filesystem that does not read through `filemap_read` (tmpfs, whose
/// shmem has its own read path; ZFS; FUSE with `direct_io`, 9p and
/// virtiofs without a page cache), reads past the page cache (`O_DIRECT`,
/// DAX), files mapped and not read, and a file whose 8 newest cached names
/// are all elsewhere (README, "Not yet").
#[raw_tracepoint(tracepoint = "mm_filemap_get_pages")]
pub fn swmon_read(ctx: RawTracePointContext) -> u32 {
    match try_read(&ctx) {
        Ok(r) | Err(r) => r,
    }
}

/// Names of a read file looked at: its dentry aliases, newest first. A
/// file with more hard links in the dentry cache than this, the newest of
/// them elsewhere, is matched by those only.
const ALIASES_MAX: usize = 8;

fn try_read(ctx: &RawTracePointContext) -> Result<u32, u32> {
    // Only an interpreter's reads are looked at: one lookup for the rest.
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    if !may_hold(&INTERPRETER_SLOTS, tgid) {
        return Ok(0);
    }
    // SAFETY: the value is copied out at once.
    let Some(interp_mm) = (unsafe { INTERPRETERS.get(tgid) }).copied() else {
        return Ok(0);
    };
    let off = OFFSETS.load();
    let soff = SCAN_OFFSETS.load();
    // TP_PROTO(struct address_space *mapping, pgoff_t index, pgoff_t last_index)
    let mapping = ctx.arg::<u64>(0) as *const u8;
    let inode = read_ptr(mapping, soff.mapping_host)?;
    // inode->i_dentry: the `d_u.d_alias` nodes of its dentries, one per
    // name in the dentry cache (hard links), the newest first. The read
    // does not say by which name the file was opened, so each is tried: a
    // hard link elsewhere does not hide pip's own name.
    let mut node = read_ptr(inode, soff.inode_dentry)?;
    let mut k = 0usize;
    while k < ALIASES_MAX && !node.is_null() {
        let dentry = node.wrapping_sub(soff.dentry_alias as usize);
        // The first 8 bytes of the name: a name is inline in the dentry
        // (`d_iname`, 40 bytes) or longer than that, so all 8 can be read
        // (the next 8 only on a hit, in `module_rule`).
        let leaf = read_ptr(dentry, off.dentry_name + off.qstr_name)
            .and_then(|name| read::<u64>(name, 0))
            .unwrap_or(0);
        let mut hit = false;
        let mut i = 0usize;
        while i < module::COUNT {
            hit |= module::RULES[i].leaf_matches(leaf);
            i += 1;
        }
        if hit {
            let rule = module_rule(dentry, leaf);
            if rule != NONE {
                // SAFETY: a plain helper call.
                let task = unsafe { bpf_get_current_task() } as *const u8;
                return module_load(ctx, task, rule, tgid, interp_mm);
            }
        }
        // hlist_node.next, its first field.
        node = read_ptr(node, 0).unwrap_or(core::ptr::null());
        k += 1;
    }
    Ok(0)
}

/// The rule a name whose first 8 bytes matched one matches whole: its
/// parent folders' names against the rules ([`NONE`]: none).
#[inline(always)]
fn module_rule(dentry: *const u8, leaf: u64) -> u16 {
    let off = OFFSETS.load();
    let mut names = [[0u64; 2]; module::PARENTS_MAX];
    let mut depth = 0usize;
    let mut d = dentry;
    while depth < module::PARENTS_MAX {
        let Ok(parent) = read_ptr(d, off.dentry_parent) else {
            break;
        };
        if parent == d {
            break;
        }
        names[depth] = read_ptr(parent, off.dentry_name + off.qstr_name)
            .and_then(|n| read::<[u64; 2]>(n, 0))
            .unwrap_or([0; 2]);
        d = parent;
        depth += 1;
    }
    // The name's bytes 8 to 15 (a whole name like `gem_runner.rb`): read
    // only here, after the first word matched a rule. A name shorter than
    // 40 bytes is inline in the dentry, a longer one in a buffer of its
    // length, so both words can be read; a failed read matches no rule
    // that counts those bytes.
    let tail = read_ptr(dentry, off.dentry_name + off.qstr_name)
        .and_then(|n| read::<u64>(n, 8))
        .unwrap_or(0);
    let mut i = 0usize;
    while i < module::COUNT {
        let r = &module::RULES[i];
        let mut ok =
            r.leaf_matches(leaf) && r.leaf_tail_matches(tail) && r.parent_count as usize <= depth;
        let mut j = 0usize;
        while j < module::PARENTS_MAX {
            if j < r.parent_count as usize && !r.parent_matches(j, names[j]) {
                ok = false;
            }
            j += 1;
        }
        if ok {
            return i as u16;
        }
        i += 1;
    }
    NONE
}

/// A read of an entry module (rule `rule`) by an interpreter: once per
/// process and program, the record (through the capture stages, like an
/// exec's).
#[inline(always)]
fn module_load(
    ctx: &RawTracePointContext,
    task: *const u8,
    rule: u16,
    tgid: u32,
    interp_mm: u64,
) -> Result<u32, u32> {
    let off = OFFSETS.load();
    let mm = read::<u64>(task, off.task_mm)?;
    if mm != interp_mm & !INHERITED {
        // The interpreter has exec'd another program since (the exec
        // filter removes the entry then; this holds if that failed).
        return Ok(0);
    }
    // SAFETY: the value is copied out at once.
    if unsafe { MODULE_REPORTED.get(tgid) }.copied() == Some(mm) {
        return Ok(0);
    }
    // Reported once per program: a full map evicts its oldest entry, and a
    // process whose entry is gone may be reported again (user space joins
    // it to the open run).
    let _ = MODULE_REPORTED.insert(tgid, mm, 0);
    // SAFETY: the scratch slot is this CPU's; the program is not re-entered.
    let scratch = unsafe { &mut *SCRATCH.get_ptr_mut(0).ok_or(0u32)? };
    scratch.filename[0] = 0;
    scratch.filename_len = 0;
    scratch.flags = if interp_mm & INHERITED != 0 {
        flag::FORKED
    } else {
        0
    };
    scratch.reasons = reason::MODULE_LOAD;
    scratch.installer = rule;
    scratch.interpreter = NONE;
    // SAFETY: the stage has the same program type and context.
    unsafe { STAGES.tail_call(ctx, STAGE_CGROUP) };
    count(counter::STAGE_FAILED);
    Err(0)
}

fn try_exit(ctx: &RawTracePointContext) -> Result<u32, u32> {
    let pid_tgid = bpf_get_current_pid_tgid();
    let tgid = (pid_tgid >> 32) as u32;
    let pid = pid_tgid as u32;
    let last = if EXIT_GROUP_DEAD.load() != 0 {
        ctx.arg::<u64>(1) & 0xff != 0
    } else {
        pid == tgid
    };
    if !last {
        return Ok(0);
    }
    // A reused tgid must not find this process's entries (the `mm` check
    // guards too, but a freed `mm` may be allocated again at the same
    // address). Only an interpreter has a module-load entry.
    // Most exits have none: the slot's count says so.
    if counted_remove_lru(&INTERPRETERS, &INTERPRETER_SLOTS, tgid) {
        let _ = MODULE_REPORTED.remove(tgid);
    }
    let off = OFFSETS.load();
    let task = unsafe { bpf_get_current_task() } as *const u8;
    let code: u32 = read(task, off.task_exit_code).unwrap_or(u32::MAX);
    untrack(tgid, pid, code);
    Ok(0)
}

/// `sched_process_fork(parent, child)`, run by the parent: a new process
/// (not a thread: those share the tgid, and its entry) of an interpreter
/// whose entry is its current program's gets one with its own `mm`,
/// marked [`INHERITED`]. A failed insert leaves its reads unwatched, and
/// is counted.
/// https://github.com/torvalds/linux/blob/v6.18/kernel/fork.c#L2660
fn try_fork(ctx: &RawTracePointContext) -> Result<u32, u32> {
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    if !may_hold(&INTERPRETER_SLOTS, tgid) {
        return Ok(0);
    }
    // SAFETY: the value is copied out at once.
    let Some(entry) = (unsafe { INTERPRETERS.get(tgid) }).copied() else {
        return Ok(0);
    };
    let off = OFFSETS.load();
    let parent = ctx.arg::<u64>(0) as *const u8;
    let child = ctx.arg::<u64>(1) as *const u8;
    let child_tgid: u32 = read(child, off.task_tgid)?;
    if child_tgid == tgid || child_tgid == 0 {
        return Ok(0);
    }
    let parent_mm = read::<u64>(parent, off.task_mm)?;
    if parent_mm != entry & !INHERITED {
        // A stale entry: the parent runs another program now.
        return Ok(0);
    }
    let child_mm = read_ptr(child, off.task_mm)?;
    if !counted_insert_lru(
        &INTERPRETERS,
        &INTERPRETER_SLOTS,
        child_tgid,
        child_mm as u64 | INHERITED,
    ) {
        count(counter::TRACK_FAILED);
    }
    Ok(0)
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}
