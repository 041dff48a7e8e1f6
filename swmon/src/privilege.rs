//! Least privilege: once `swmon run` has loaded its BPF programs, opened its
//! sockets and installed its seed rules, it gives up every capability it no
//! longer needs, sets `no_new_privs` and installs a seccomp filter. Its uid
//! stays 0: see "What the drop does not bound" below before relying on it.
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
//! - `CAP_SETUID` and `CAP_SETGID`, in the permitted set only (out of the
//!   effective set of every thread; `held` in `swmon.privileges`): a local
//!   package file an install names (`dpkg -i /tmp/x/a.deb`) is opened as
//!   the run's user, so that the kernel, not a reading of mode bits,
//!   decides whether that user could reach and read it (folder search
//!   permission, ACLs, LSMs) and swmon never tells a user the name inside
//!   a file it could not read. The reading worker thread raises both into
//!   its own effective set, takes the run's fsuid, fsgid and groups with
//!   the raw `setfsuid`, `setfsgid` and `setgroups` system calls (which
//!   change the calling thread only), drops both again before the open,
//!   and puts its own credentials back after. A non-zero fsuid also
//!   clears `CAP_DAC_READ_SEARCH` from that thread's effective set, which
//!   is what makes the open the user's. No other way gives the kernel's
//!   answer: `faccessat2(AT_EACCESS)` checks the caller's credentials, and
//!   mode bits miss folders, ACLs and LSMs. With uid 0 and
//!   `CAP_SYS_PTRACE` kept these add little to what a compromised swmon
//!   could do (see below).
//! - `--output-group` takes no capability: the group is added to swmon's
//!   supplementary groups before the drop, and a file's owner may give it a
//!   group it is a member of (`CAP_CHOWN` is not kept).
//!
//! Not needed after the drop, so dropped: `CAP_BPF`, `CAP_PERFMON` and
//! `CAP_SYS_ADMIN` on a kernel that checks `kernel.unprivileged_bpf_disabled`
//! only where maps and programs are created (map lookups and updates, and
//! object info, on descriptors already open are then not capability-checked).
//! Older kernels check it on every `bpf()` call: before the drop, swmon reads
//! one of its maps with those three out of its effective set; refused, it
//! keeps `CAP_BPF` (`CAP_SYS_ADMIN` on a kernel without `CAP_BPF`) and says
//! so (`bpf_kept: true`). After the drop it reads a map once more and stops
//! with an error naming the kernel and the sysctl if that fails.
//! `CAP_AUDIT_READ` (checked at `bind` of the multicast group only),
//! `CAP_NET_ADMIN` (`SO_RCVBUFFORCE` is set at open), `CAP_DAC_OVERRIDE`
//! (the output file and `/run/swmon` are root's own; swmon's euid stays 0),
//! `CAP_CHOWN`, and everything else.
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
//! Then a seccomp filter ([`install_seccomp`]) makes `ptrace`,
//! `process_vm_readv`, `process_vm_writev` and `pidfd_getfd` fail with
//! `EPERM` for swmon and every thread it starts (`Seccomp: 2` in
//! `/proc/PID/status`); system calls through another architecture's entry
//! (x86's `int 0x80`, x32) are refused whole.
//!
//! # What the drop does not bound
//!
//! Read this before counting on it: the drop makes mistakes in swmon's own
//! code harder to turn into damage; it does **not** contain an attacker who
//! takes over the swmon process.
//! - swmon's uid, euid and fsuid stay 0. With no capability at all, uid 0
//!   still owns every root-owned file and folder: it may create files in
//!   `/etc/cron.d`, write `/usr/bin/*`, and `chmod` then write
//!   `/etc/shadow`. A compromised swmon is root for the file system. Moving
//!   to a dedicated uid (keeping capabilities across `setresuid` with
//!   `SECBIT_KEEP_CAPS`, then locking the securebits) is not done: `/run/
//!   swmon`, the output folder and the audit state file would have to be
//!   that user's.
//! - `CAP_SYS_PTRACE` with uid 0 is root-equivalent: it passes
//!   `ptrace_may_access()` for every process, pid 1 included. The seccomp
//!   filter closes the `ptrace`, `process_vm_*` and `pidfd_getfd` calls,
//!   but not `/proc/PID/mem`, which opens with the same check: a
//!   compromised swmon can still write any process's memory through it. It
//!   is kept because `/proc/PID/exe` (the content of a size-matched copy of
//!   an installer) and `/proc/PID/cwd` (the fallback when the kernel did
//!   not capture the folder) need it for other users' processes.
//! - `CAP_DAC_READ_SEARCH` reads every file on the host.
//! - `CAP_AUDIT_CONTROL` can switch kernel audit off and delete every rule.
//!
//! # Another uid than 0
//!
//! swmon checks capabilities, never uid 0 ([`missing_effective`]): started
//! as another user holding the package unit's set (ambient capabilities,
//! `setpriv --reuid ... --ambient-caps ...`) it loads, drops to the same
//! kept set and catches installs (`tests/tests/package.rs`). What such a
//! uid lacks: `/run/swmon`, the records of the rules runs added, is root's
//! and must be (a record decides which rules a later run deletes), so
//! `--audit-rules seed` and `swmon rules install|remove` are refused and a
//! dead run's leftovers are not removed (said in `monitor-started`). The
//! package-file worker drops `CAP_DAC_READ_SEARCH` itself while it holds a
//! run's fsuid (the kernel drops it only when the fsuid leaves 0), so the
//! user's permissions still decide. The package's unit runs as root with
//! the bounded set.
//!
//! What it does bound: no module loading, no mounts, no new BPF programs
//! (unless `bpf_kept`), no raw network, no `setuid` to another user, no
//! capability regained through an `execve`.

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
    #[error("after the capability drop this kernel ({kernel}) refuses bpf() on swmon's own maps: {0}; kernel.unprivileged_bpf_disabled is {sysctl}", kernel = kernel_release(), sysctl = unprivileged_bpf_disabled())]
    Bpf(std::io::Error),
    #[error("can't install the seccomp filter: {0}")]
    Seccomp(std::io::Error),
    #[error("can't add the --output-group group to swmon's groups: {0}")]
    Groups(std::io::Error),
    #[error("the capability drop did not hold: {set} is {found:?}, wanted {wanted:?}")]
    Check {
        set: &'static str,
        found: Vec<String>,
        wanted: Vec<String>,
    },
}

/// `uname -r`, for error messages.
fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "unknown".to_owned(), |s| s.trim().to_owned())
}

/// `kernel.unprivileged_bpf_disabled`, for error messages.
fn unprivileged_bpf_disabled() -> String {
    std::fs::read_to_string("/proc/sys/kernel/unprivileged_bpf_disabled")
        .map_or_else(|_| "unknown".to_owned(), |s| s.trim().to_owned())
}

/// What the rest of the run still does, and so what it still needs.
#[derive(Clone, Copy, Debug, Default)]
pub struct Needs {
    /// Talks to kernel audit (status poll, rule restore, removal at stop).
    pub audit: bool,
    /// The `--output-group` a reopened output file is given: made one of
    /// swmon's supplementary groups before the drop, so that `fchown` to it
    /// needs no capability (the file's owner may give it any group it is a
    /// member of).
    pub output_group: Option<u32>,
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
    /// `CAP_BPF` (or `CAP_SYS_ADMIN` on a kernel without it) had to be kept:
    /// this kernel checks `kernel.unprivileged_bpf_disabled` on every
    /// `bpf()` call, map lookups on open descriptors included.
    pub bpf_kept: bool,
    /// The seccomp filter ([`install_seccomp`]) is in place.
    pub seccomp: bool,
    /// Capabilities in the permitted set only, raised by one thread around
    /// one switch of credentials ([`held`]).
    pub held: Vec<String>,
}

/// The capabilities kept out of the effective set, in the permitted set
/// only: the package-file reader's switch to the run's credentials (see
/// the module doc).
pub fn held() -> CapsHashSet {
    [Capability::CAP_SETUID, Capability::CAP_SETGID]
        .into_iter()
        .collect()
}

/// The capabilities `needs` calls for (see the module doc).
pub fn kept(needs: Needs) -> CapsHashSet {
    let mut keep = CapsHashSet::new();
    keep.insert(Capability::CAP_SYS_PTRACE);
    keep.insert(Capability::CAP_DAC_READ_SEARCH);
    if needs.audit {
        keep.insert(Capability::CAP_AUDIT_CONTROL);
    }
    keep
}

/// Which of `wanted` the calling thread's effective set lacks, by kernel
/// name (all of them when the set can't be read). What a command checks
/// before it starts: capabilities, not uid 0, so that a service given only
/// its capability set (the unit's `AmbientCapabilities=`, or `setpriv`)
/// passes as root does.
pub fn missing_effective(wanted: &[Capability]) -> Vec<String> {
    let effective = caps::read(None, CapSet::Effective).unwrap_or_default();
    wanted
        .iter()
        .filter(|c| !effective.contains(c))
        .map(ToString::to_string)
        .collect()
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

/// `bpf()` commands the probe uses (`include/uapi/linux/bpf.h`).
const BPF_MAP_GET_NEXT_KEY: libc::c_long = 4;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
/// `BPF_MAP_TYPE_RINGBUF`: has no keys to step through.
const BPF_MAP_TYPE_RINGBUF: u32 = 27;

/// The BPF maps this process holds open (`anon_inode:bpf-map` in
/// `/proc/self/fd`).
fn held_maps() -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return Vec::new();
    };
    dir.flatten()
        .filter(|e| {
            std::fs::read_link(e.path()).is_ok_and(|t| t.as_os_str() == "anon_inode:bpf-map")
        })
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect()
}

/// One `bpf()` call with `attr` (a zero-padded `union bpf_attr` prefix).
fn bpf(cmd: libc::c_long, attr: &mut [u64]) -> std::io::Result<()> {
    // SAFETY: `attr` is valid for its whole length, which is passed as the
    // size; the kernel reads no further and writes only into buffers the
    // attribute points at, which the caller keeps alive.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr.as_mut_ptr(),
            std::mem::size_of_val(attr),
        )
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Does what the run does with its maps after the drop (read them through
/// the descriptors it holds) once, with the calling thread's current
/// capabilities: `Err(EPERM)` on a kernel that checks
/// `kernel.unprivileged_bpf_disabled` on every `bpf()` call. A process that
/// holds no map has nothing to probe.
pub fn probe_bpf() -> std::io::Result<()> {
    for fd in held_maps() {
        // struct bpf_map_info: type, id, key_size, ... (zeroed tail).
        let mut info = [0u32; 64];
        let mut attr = [0u64; 2];
        attr[0] = u64::from(fd as u32) | (((std::mem::size_of_val(&info)) as u64) << 32);
        attr[1] = info.as_mut_ptr() as u64;
        match bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => return Err(e),
            // Closed meanwhile, or not a map after all: the next one.
            Err(_) => continue,
        }
        let (map_type, key_size) = (info[0], info[2] as usize);
        if map_type == BPF_MAP_TYPE_RINGBUF || key_size == 0 || key_size > 512 {
            continue;
        }
        let mut next = vec![0u8; key_size];
        // map_fd (u32, padded), key = NULL (the first key), next_key.
        let mut attr = [u64::from(fd as u32), 0, next.as_mut_ptr() as u64];
        match bpf(BPF_MAP_GET_NEXT_KEY, &mut attr) {
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => return Err(e),
            // ENOENT: an empty map; other errors: a map type without
            // key stepping. The info call above was a bpf() call too.
            _ => return Ok(()),
        }
    }
    Ok(())
}

/// Whether this kernel refuses `bpf()` on held maps without `CAP_BPF`:
/// probed with `CAP_BPF`, `CAP_PERFMON` and `CAP_SYS_ADMIN` out of the
/// effective set for the probe only, then restored.
fn bpf_needs_capability() -> Result<bool, PrivilegeError> {
    let err = |what| move |source| PrivilegeError::Caps { what, source };
    let effective = caps::read(None, CapSet::Effective).map_err(err("read the effective set"))?;
    for cap in [
        Capability::CAP_BPF,
        Capability::CAP_PERFMON,
        Capability::CAP_SYS_ADMIN,
    ] {
        if effective.contains(&cap) {
            caps::drop(None, CapSet::Effective, cap).map_err(err("probe bpf() without CAP_BPF"))?;
        }
    }
    let probe = probe_bpf();
    caps::set(None, CapSet::Effective, &effective).map_err(err("restore the effective set"))?;
    match probe {
        Ok(()) => Ok(false),
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => Ok(true),
        Err(e) => Err(PrivilegeError::Bpf(e)),
    }
}

/// The system calls the seccomp filter refuses with `EPERM`: with
/// `CAP_SYS_PTRACE` kept and uid 0, these would let a compromised swmon
/// control or read any process (attach to pid 1, write its memory, take its
/// descriptors). swmon itself never makes them.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
const DENIED: [libc::c_long; 4] = [
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_pidfd_getfd,
];

/// The architecture the filter is built for (`AUDIT_ARCH_*`); a system call
/// made through another one (x86's `int 0x80`) is refused whole, since its
/// numbers differ.
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7;

/// The classic BPF seccomp program: the architecture must be ours (and on
/// x86_64 not the x32 ABI), and [`DENIED`] calls return `EPERM`; everything
/// else is allowed.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn seccomp_program() -> Vec<libc::sock_filter> {
    const LD_ABS_W: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
    const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
    const JGE_K: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
    const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
    let stmt = |code, k| libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    };
    let jump = |code, k, jt, jf| libc::sock_filter { code, jt, jf, k };
    let eperm = libc::SECCOMP_RET_ERRNO | (libc::EPERM as u32 & libc::SECCOMP_RET_DATA);
    // struct seccomp_data: nr at 0, arch at 4.
    let mut p = vec![
        stmt(LD_ABS_W, 4),
        // Our architecture: skip the refusal.
        jump(JEQ_K, AUDIT_ARCH, 1, 0),
        stmt(RET_K, eperm),
        stmt(LD_ABS_W, 0),
    ];
    if cfg!(target_arch = "x86_64") {
        // x32 numbers carry bit 30.
        p.push(jump(JGE_K, 0x4000_0000, 0, 1));
        p.push(stmt(RET_K, eperm));
    }
    let n = DENIED.len();
    for (i, nr) in DENIED.iter().enumerate() {
        // Match: jump to the EPERM return after the remaining tests and
        // the ALLOW.
        let to_eperm = u8::try_from(n - i).unwrap_or(u8::MAX);
        p.push(jump(JEQ_K, *nr as u32, to_eperm, 0));
    }
    p.push(stmt(RET_K, libc::SECCOMP_RET_ALLOW));
    p.push(stmt(RET_K, eperm));
    p
}

/// Installs the seccomp filter of [`seccomp_program`] on the calling thread
/// (threads started after inherit it). Needs `no_new_privs`, set by then.
/// `false` on an architecture the filter is not built for.
pub fn install_seccomp() -> Result<bool, PrivilegeError> {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    {
        install_program(&seccomp_program()).map_err(PrivilegeError::Seccomp)?;
        Ok(true)
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    Ok(false)
}

/// `prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER)` with `program`; allocates
/// nothing (the test calls it in a forked child).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn install_program(program: &[libc::sock_filter]) -> std::io::Result<()> {
    let prog = libc::sock_fprog {
        len: u16::try_from(program.len()).unwrap_or(u16::MAX),
        filter: program.as_ptr().cast_mut(),
    };
    // SAFETY: `prog` points at `program`, alive for the call; the kernel
    // copies the filter and never writes through the pointer.
    let r = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            std::ptr::from_ref(&prog),
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Makes `gid` one of this process's supplementary groups (see
/// [`Needs::output_group`]).
fn join_group(gid: u32) -> Result<(), PrivilegeError> {
    use nix::unistd::{getegid, getgroups, setgroups, Gid};
    let gid = Gid::from_raw(gid);
    if getegid() == gid {
        return Ok(());
    }
    let mut groups = getgroups().map_err(|e| PrivilegeError::Groups(e.into()))?;
    if !groups.contains(&gid) {
        groups.push(gid);
        setgroups(&groups).map_err(|e| PrivilegeError::Groups(e.into()))?;
    }
    Ok(())
}

/// Drops every capability but those `needs` calls for, from all sets of the
/// calling (and only) thread, and sets `no_new_privs`. Then reads the sets
/// back and fails unless they are what was asked for, and checks that the
/// run's BPF maps can still be read.
pub fn drop_privileges(needs: Needs) -> Result<Dropped, PrivilegeError> {
    let threads = threads();
    if threads != 1 {
        return Err(PrivilegeError::Threads { threads });
    }
    let err = |what| move |source| PrivilegeError::Caps { what, source };
    // Only what we hold can be kept.
    let permitted = caps::read(None, CapSet::Permitted).map_err(err("read the permitted set"))?;
    let mut keep: CapsHashSet = kept(needs).intersection(&permitted).copied().collect();
    let held: CapsHashSet = held().intersection(&permitted).copied().collect();
    let keep_permitted: CapsHashSet = keep.union(&held).copied().collect();
    // A kernel that checks unprivileged_bpf_disabled on every bpf() call
    // needs CAP_BPF (CAP_SYS_ADMIN before CAP_BPF existed) for the counter
    // reads and the rediscovery's map updates.
    let bpf_kept = bpf_needs_capability()?;
    if bpf_kept {
        if permitted.contains(&Capability::CAP_BPF) {
            keep.insert(Capability::CAP_BPF);
        } else {
            keep.insert(Capability::CAP_SYS_ADMIN);
        }
    }
    if let Some(gid) = needs.output_group {
        join_group(gid)?;
    }

    // The bounding set first: dropping from it needs CAP_SETPCAP, which goes
    // with the effective set below.
    let bounding = caps::read(None, CapSet::Bounding).map_err(err("read the bounding set"))?;
    let bounding_reduced = permitted.contains(&Capability::CAP_SETPCAP);
    if bounding_reduced {
        caps::raise(None, CapSet::Effective, Capability::CAP_SETPCAP)
            .map_err(err("raise CAP_SETPCAP"))?;
        for cap in bounding.difference(&keep_permitted) {
            caps::drop(None, CapSet::Bounding, *cap).map_err(err("drop from the bounding set"))?;
        }
    }
    caps::clear(None, CapSet::Ambient).map_err(err("clear the ambient set"))?;
    caps::clear(None, CapSet::Inheritable).map_err(err("clear the inheritable set"))?;
    // Effective before permitted: the kernel wants effective ⊆ permitted.
    caps::set(None, CapSet::Effective, &keep).map_err(err("set the effective set"))?;
    caps::set(None, CapSet::Permitted, &keep_permitted).map_err(err("set the permitted set"))?;

    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(PrivilegeError::NoNewPrivs(std::io::Error::last_os_error()));
    }

    let wanted_bounding = if bounding_reduced {
        keep_permitted.clone()
    } else {
        bounding
    };
    // Effective and permitted must be exactly the kept set (the run needs
    // all of it); the others must hold nothing beyond what was asked for (a
    // parent may have left a kept capability out of the bounding set).
    for (set, name, wanted, exact) in [
        (CapSet::Effective, "effective", &keep, true),
        (CapSet::Permitted, "permitted", &keep_permitted, true),
        (
            CapSet::Inheritable,
            "inheritable",
            &CapsHashSet::new(),
            false,
        ),
        (CapSet::Ambient, "ambient", &CapsHashSet::new(), false),
        (CapSet::Bounding, "bounding", &wanted_bounding, false),
    ] {
        let found = caps::read(None, set).map_err(err("read the sets back"))?;
        let holds = if exact {
            found == *wanted
        } else {
            found.is_subset(wanted)
        };
        if !holds {
            return Err(PrivilegeError::Check {
                set: name,
                found: names(&found),
                wanted: names(wanted),
            });
        }
    }
    // SAFETY: prctl with integer arguments only.
    let no_new_privs = unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) } == 1;
    // What the run does next with its maps, once, with what is left.
    probe_bpf().map_err(PrivilegeError::Bpf)?;
    // Before any thread: every thread started after inherits it.
    let seccomp = install_seccomp()?;
    Ok(Dropped {
        kept: names(&keep),
        no_new_privs,
        bounding_reduced,
        bpf_kept,
        seccomp,
        held: names(&held),
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
            output_group: Some(4),
        }));
        assert_eq!(
            all,
            ["CAP_AUDIT_CONTROL", "CAP_DAC_READ_SEARCH", "CAP_SYS_PTRACE"]
        );
        // Nothing that loads programs, overrides write permission, gives
        // files away or administers the system is ever kept.
        for needs in [
            Needs::default(),
            Needs {
                audit: true,
                output_group: Some(4),
            },
        ] {
            let k = kept(needs);
            for cap in [
                Capability::CAP_SYS_ADMIN,
                Capability::CAP_BPF,
                Capability::CAP_DAC_OVERRIDE,
                Capability::CAP_CHOWN,
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
        // A thread of our own, parked until the check is done: the process
        // has more than one whatever the test harness does.
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let parked = std::thread::spawn(move || {
            let _ = rx.recv();
        });
        let before = caps::read(None, CapSet::Effective).expect("read");
        let e = drop_privileges(Needs::default()).expect_err("refused");
        assert!(
            matches!(e, PrivilegeError::Threads { threads } if threads >= 2),
            "{e}"
        );
        assert_eq!(caps::read(None, CapSet::Effective).expect("read"), before);
        drop(tx);
        parked.join().expect("join");
    }

    /// A small array map, held open by this process while the test runs.
    fn array_map() -> std::os::fd::OwnedFd {
        use std::os::fd::FromRawFd;
        // map_type = BPF_MAP_TYPE_ARRAY (2), key_size 4, value_size 8,
        // max_entries 1; the rest zero.
        let mut attr = [0u32; 32];
        attr[..4].copy_from_slice(&[2, 4, 8, 1]);
        // SAFETY: `attr` is valid for its length, passed as the size.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                0 as libc::c_long,
                attr.as_mut_ptr(),
                std::mem::size_of_val(&attr),
            )
        };
        assert!(
            fd >= 0,
            "BPF_MAP_CREATE: {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: just created, owned here only.
        unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) }
    }

    #[test]
    fn the_bpf_probe_reads_a_held_map_and_finds_it() {
        // Runs as root (the tests do): a map of our own to find.
        let map = array_map();
        assert!(held_maps().contains(&std::os::fd::AsRawFd::as_raw_fd(&map)));
        probe_bpf().expect("root may read its own map");
        // With CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN out of this thread's
        // effective set, as after the drop: what this kernel says is what
        // the drop decides on, and the sets are restored after.
        let before = caps::read(None, CapSet::Effective).expect("read");
        let needs = bpf_needs_capability().expect("probe");
        assert_eq!(caps::read(None, CapSet::Effective).expect("read"), before);
        let sysctl = unprivileged_bpf_disabled();
        // Since the check moved to map and program creation, a held map is
        // readable without CAP_BPF whatever the sysctl says; before, only
        // with the sysctl at 0.
        if sysctl == "0" {
            assert!(!needs, "sysctl 0 and still refused");
        }
        eprintln!(
            "kernel {} sysctl {sysctl}: CAP_BPF needed: {needs}",
            kernel_release()
        );
    }

    #[test]
    fn joining_the_output_group_needs_no_capability_after() {
        // Adding a group is idempotent: joining twice leaves one entry.
        join_group(4242).expect("join");
        join_group(4242).expect("join again");
        let groups = nix::unistd::getgroups().expect("groups");
        let n = groups.iter().filter(|g| g.as_raw() == 4242).count();
        assert_eq!(n, 1, "{groups:?}");
    }

    #[test]
    fn the_seccomp_filter_refuses_ptrace_and_allows_the_rest() {
        // In a child process: the filter can not be taken off again. The
        // program is built before the fork; the child allocates nothing.
        let program = seccomp_program();
        // SAFETY: the child only makes system calls and exits.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork");
        if pid == 0 {
            // SAFETY: prctl and syscall with integer arguments; _exit.
            unsafe {
                let code = if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                    || install_program(&program).is_err()
                {
                    10
                } else if libc::syscall(libc::SYS_ptrace, libc::PTRACE_ATTACH, 1, 0, 0) != -1
                    || *libc::__errno_location() != libc::EPERM
                {
                    11
                } else if libc::syscall(libc::SYS_pidfd_getfd, -1, 0, 0) != -1
                    || *libc::__errno_location() != libc::EPERM
                {
                    12
                } else if libc::getpid() <= 0 {
                    13
                } else {
                    0
                };
                libc::_exit(code);
            }
        }
        let mut status = 0;
        // SAFETY: waits for the child forked above.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(libc::WIFEXITED(status), "{status}");
        assert_eq!(libc::WEXITSTATUS(status), 0, "see the codes above");
    }
}
