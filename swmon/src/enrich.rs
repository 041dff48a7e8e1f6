//! Facts about a process that the kernel record does not carry: user and
//! host names, the working directory, and how the installer was reached
//! (`swmon.via`).
//!
//! `/proc` reads race with the process: an installer that has exited by the
//! time its record is read has no cwd to read, so `working_directory` is
//! read as soon as the exec record arrives and left out when it is gone.
//! Names are looked up once per id (through NSS) and cached.

use std::{collections::HashMap, path::Path};

use swmon_common::reason;

use crate::{
    catalogue::{self, Interpreter, Role},
    ebpf::{decode::ExecRecord, filter::basename},
};

/// Caches uid → user name.
#[derive(Debug, Default)]
pub struct Names {
    users: HashMap<u32, Option<String>>,
}

impl Names {
    pub fn user(&mut self, uid: u32) -> Option<String> {
        if uid == u32::MAX {
            return Some("unset".to_owned());
        }
        self.users
            .entry(uid)
            .or_insert_with(|| {
                nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
                    .ok()
                    .flatten()
                    .map(|u| u.name)
            })
            .clone()
    }
}

pub fn host_name() -> String {
    nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The working directory of a live process, as bytes.
pub fn cwd(pid: u32) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    std::fs::read_link(format!("/proc/{pid}/cwd"))
        .ok()
        .map(|p| p.as_os_str().as_bytes().to_vec())
}

/// What user space concluded about a record the kernel passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identified {
    pub installer_id: u16,
    pub via: &'static str,
}

fn installer_name(name: &[u8]) -> Option<u16> {
    match catalogue::lookup(name) {
        Some((id, p)) if matches!(p.role, Role::Installer(_)) => Some(id),
        _ => None,
    }
}

fn is_fd_path(filename: &[u8]) -> bool {
    filename.starts_with(b"/dev/fd/")
        || (filename.starts_with(b"/proc/") && filename.windows(4).any(|w| w == b"/fd/"))
}

/// Applies the catalogue's full name rules to a record the kernel passed
/// (the kernel checks one byte of suffix) and says how the installer was
/// reached. `None` means the kernel's match was too loose: the caller
/// counts it and drops the record. A size or inode match is trusted here;
/// a size match is confirmed by content before this is called.
pub fn identify(rec: &ExecRecord) -> Option<Identified> {
    let exe_name = basename(
        rec.executable
            .strip_suffix(b" (deleted)")
            .unwrap_or(&rec.executable),
    );
    let file_name = basename(&rec.filename);
    if rec.reasons & reason::INTERPRETER_ARG != 0 {
        let interp = rec
            .interpreter_id
            .and_then(catalogue::program)
            .map(|p| p.role);
        let (i, id) = rec
            .argv
            .iter()
            .enumerate()
            .skip(1)
            .find_map(|(i, a)| installer_name(basename(a)).map(|id| (i, id)))?;
        let via = match interp {
            Some(Role::Loader) => "loader",
            Some(Role::Interpreter(Interpreter::Python))
                if rec.argv.get(i - 1).is_some_and(|a| a == b"-m") =>
            {
                "python -m"
            }
            _ => "interpreter-script",
        };
        return Some(Identified {
            installer_id: id,
            via,
        });
    }
    let by_file = installer_name(file_name);
    let by_exe = installer_name(exe_name);
    let id = by_file.or(by_exe).or(rec.installer_id)?;
    let filter_only = by_file.is_none() && by_exe.is_none();
    if filter_only && rec.reasons & (reason::INODE | reason::SIZE) == 0 {
        return None;
    }
    let via = if rec.executable.starts_with(b"/memfd:") {
        "memfd"
    } else if is_fd_path(&rec.filename) {
        "fexecve"
    } else if by_file.is_some() {
        "direct"
    } else {
        // Reached under another name: a symlink, hard link or copy.
        "renamed"
    };
    Some(Identified {
        installer_id: id,
        via,
    })
}

/// Where the installer's own arguments start in `argv`: after the first
/// argument whose base name is an installer's (argv\[0\] for a direct run;
/// `pip` in `python3 -m pip`; the script after a script's interpreter; the
/// program after the loader). A renamed or fileless installer is argv\[0\].
pub fn installer_args_start(argv: &[Vec<u8>], via: &str) -> usize {
    if matches!(via, "renamed" | "memfd" | "fexecve") {
        return 1.min(argv.len());
    }
    argv.iter()
        .position(|a| installer_name(basename(a)).is_some())
        .map_or(1.min(argv.len()), |i| i + 1)
}

/// The Python virtual environment a run belongs to: the folder holding
/// `pyvenv.cfg` above the interpreter or script as exec named it (the
/// resolved executable is the base interpreter, outside the venv).
pub fn venv_of(rec: &ExecRecord) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let candidates = [Some(&rec.filename), rec.argv.first(), rec.argv.get(1)];
    for c in candidates.into_iter().flatten() {
        if !c.starts_with(b"/") {
            continue;
        }
        let path = Path::new(std::ffi::OsStr::from_bytes(c));
        if let Some(env) = path.parent().and_then(Path::parent) {
            if env.join("pyvenv.cfg").is_file() {
                return Some(env.as_os_str().as_bytes().to_vec());
            }
        }
    }
    None
}

/// `/proc/PID/exe`, for reading a candidate's content.
pub fn proc_exe(pid: u32) -> std::path::PathBuf {
    Path::new("/proc").join(pid.to_string()).join("exe")
}

/// The boot-time start of a live process, from `/proc/PID/stat` (clock
/// ticks), in nanoseconds; `None` when it is gone.
pub fn start_boot_ns(pid: u32) -> Option<u64> {
    let ticks = Stat::read(pid)?.start_ticks;
    // SAFETY: sysconf has no preconditions.
    let hz = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) })
        .ok()
        .filter(|h| *h > 0)?;
    ticks_to_ns(ticks, hz)
}

/// Clock ticks since boot in nanoseconds; `None` for a tick count no boot
/// time can have (checked: the count comes from `/proc`).
pub fn ticks_to_ns(ticks: u64, hz: u64) -> Option<u64> {
    ticks.checked_mul(1_000_000_000u64.checked_div(hz)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(filename: &str, executable: &str, argv: &[&str], reasons: u32) -> ExecRecord {
        ExecRecord {
            reasons,
            interpreter_id: catalogue::lookup(basename(executable.as_bytes())).map(|(id, _)| id),
            filename: filename.into(),
            argv: argv.iter().map(|a| a.as_bytes().to_vec()).collect(),
            ..ExecRecord::sample(1, executable, 0)
        }
    }

    fn via(r: &ExecRecord) -> Option<(&'static str, &'static str)> {
        identify(r).map(|i| (catalogue::PROGRAMS[usize::from(i.installer_id)].name, i.via))
    }

    #[test]
    fn ways_to_reach_an_installer() {
        use reason::*;
        assert_eq!(
            via(&rec(
                "/usr/bin/dpkg",
                "/usr/bin/dpkg",
                &["dpkg"],
                FILENAME | EXE_NAME
            )),
            Some(("dpkg", "direct"))
        );
        assert_eq!(
            via(&rec(
                "/usr/bin/python3",
                "/usr/bin/python3.11",
                &["python3", "-m", "pip", "install"],
                INTERPRETER_ARG
            )),
            Some(("pip", "python -m"))
        );
        assert_eq!(
            via(&rec(
                "/lib64/ld-linux-x86-64.so.2",
                "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
                &["ld", "/usr/bin/dpkg", "-i"],
                INTERPRETER_ARG
            )),
            Some(("dpkg", "loader"))
        );
        assert_eq!(
            via(&rec(
                "/usr/bin/node",
                "/usr/bin/node",
                &["node", "/usr/lib/node_modules/npm/bin/npm-cli.js"],
                INTERPRETER_ARG
            )),
            Some(("npm-cli.js", "interpreter-script"))
        );
        assert_eq!(
            via(&rec("/dev/fd/3", "/usr/bin/dpkg", &["dpkg"], EXE_NAME)),
            Some(("dpkg", "fexecve"))
        );
        let dpkg = catalogue::lookup(b"dpkg").map(|(id, _)| id);
        let hard_link = ExecRecord {
            installer_id: dpkg,
            ..rec("/tmp/x/mydpkg", "/tmp/x/mydpkg", &["mydpkg"], INODE)
        };
        assert_eq!(via(&hard_link), Some(("dpkg", "renamed")));
        // Without the kernel's inode or size match, an unknown name is not
        // an installer.
        let no_match = ExecRecord {
            installer_id: dpkg,
            ..rec("/tmp/x/mydpkg", "/tmp/x/mydpkg", &["mydpkg"], 0)
        };
        assert_eq!(via(&no_match), None);
    }

    #[test]
    fn loose_kernel_matches_are_rejected() {
        use reason::*;
        // The kernel checks one byte of suffix: `pip-audit` passes it.
        assert_eq!(
            via(&rec(
                "/usr/bin/pip-audit",
                "/usr/bin/python3.11",
                &["python3"],
                FILENAME
            )),
            None
        );
        assert_eq!(
            via(&rec(
                "/usr/bin/python3",
                "/usr/bin/python3.11",
                &["python3", "pip-audit.py"],
                INTERPRETER_ARG
            )),
            None
        );
    }

    #[test]
    fn own_start_time_is_readable() {
        assert!(start_boot_ns(std::process::id()).is_some());
        assert!(start_boot_ns(u32::MAX).is_none());
    }
}

/// One process above an installer run (`swmon.ancestors[]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ancestor {
    pub pid: u32,
    pub executable: Vec<u8>,
    pub args: Vec<Vec<u8>>,
}

/// Most ancestors read per run.
pub const ANCESTORS_MAX: usize = 8;

/// The parent chain from `ppid` up, to the session leader or
/// [`ANCESTORS_MAX`] levels, whichever comes first. Read from `/proc` as
/// the exec record arrives: the parents of a running installer are usually
/// alive (they wait for it); one that is gone ends the chain early.
pub fn ancestors(ppid: u32) -> Vec<Ancestor> {
    let mut chain = Vec::new();
    let mut pid = ppid;
    while pid > 0 && chain.len() < ANCESTORS_MAX {
        let Some(stat) = Stat::read(pid) else { break };
        use std::os::unix::ffi::OsStrExt;
        let executable = std::fs::read_link(format!("/proc/{pid}/exe"))
            .map(|p| p.as_os_str().as_bytes().to_vec())
            .unwrap_or_default();
        let args = std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|b| crate::ebpf::decode::split_argv(&b))
            .unwrap_or_default();
        chain.push(Ancestor {
            pid,
            executable,
            args,
        });
        if stat.session == pid as i64 {
            break;
        }
        pid = stat.ppid;
    }
    chain
}

/// The few `/proc/PID/stat` fields enrichment uses.
#[derive(Clone, Copy, Debug)]
pub struct Stat {
    pub ppid: u32,
    pub session: i64,
    pub tty_nr: u32,
    /// Start time in clock ticks since boot.
    pub start_ticks: u64,
}

impl Stat {
    pub fn read(pid: u32) -> Option<Stat> {
        let stat = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
        Stat::parse(&stat)
    }

    /// Parses the text of `/proc/PID/stat`; `None` when a field is missing
    /// or out of range.
    pub fn parse(stat: &[u8]) -> Option<Stat> {
        // The command name may hold spaces and parentheses: fields follow the last ')'.
        let after = stat.iter().rposition(|c| *c == b')')?;
        let fields: Vec<&str> = std::str::from_utf8(&stat[after + 1..])
            .ok()?
            .split_whitespace()
            .collect();
        Some(Stat {
            ppid: fields.get(1)?.parse().ok()?,
            session: fields.get(3)?.parse().ok()?,
            tty_nr: fields.get(4)?.parse().ok()?,
            start_ticks: fields.get(19)?.parse().ok()?,
        })
    }
}

/// The terminal a `tty_nr` names (`pts/3`, `tty1`), if any.
pub fn tty_name(tty_nr: u32) -> Option<String> {
    if tty_nr == 0 {
        return None;
    }
    let major = (tty_nr >> 8) & 0xfff;
    let minor = (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00);
    Some(match major {
        136..=143 => format!("pts/{}", (major - 136) * 256 + minor),
        4 if minor < 64 => format!("tty{minor}"),
        4 => format!("ttyS{}", minor - 64),
        _ => format!("{major}:{minor}"),
    })
}

/// Where a process runs: a container, or a systemd unit on the host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Placement {
    pub cgroup: Option<String>,
    pub container_id: Option<String>,
    pub container_runtime: Option<&'static str>,
    pub systemd_unit: Option<String>,
}

/// Reads `/proc/PID/cgroup` (the unified hierarchy's line).
pub fn placement(pid: u32) -> Placement {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .map(|t| placement_of(&t))
        .unwrap_or_default()
}

/// Container ids as the common runtimes name their cgroups: docker
/// (`docker-ID.scope`, `/docker/ID`), containerd (`cri-containerd-ID.scope`),
/// podman (`libpod-ID.scope`), CRI-O (`crio-ID.scope`), and kubepods paths
/// ending in an ID. Otherwise the nearest systemd unit (`*.service`, `*.scope`).
pub fn placement_of(cgroup_file: &str) -> Placement {
    // Hybrid hosts list v1 hierarchies too; a runtime may have named its
    // cgroup in any of them, so every line is read.
    let paths: Vec<(&str, &str)> = cgroup_file
        .lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ':');
            let _id = parts.next()?;
            let controllers = parts.next()?;
            Some((controllers, parts.next()?.trim()))
        })
        .collect();
    let unified = paths
        .iter()
        .find(|(c, _)| c.is_empty())
        .or_else(|| paths.iter().find(|(c, _)| *c == "name=systemd"));
    let mut p = Placement {
        cgroup: unified.map(|(_, path)| (*path).to_owned()),
        ..Placement::default()
    };
    for (_, path) in &paths {
        if let Some((id, runtime)) = container_in(path) {
            p.container_id = Some(id);
            p.container_runtime = Some(runtime);
            return p;
        }
    }
    p.systemd_unit = unified.and_then(|(_, path)| {
        path.split('/')
            .rev()
            .find(|c| c.ends_with(".service") || c.ends_with(".scope"))
            .map(str::to_owned)
    });
    p
}

fn container_in(path: &str) -> Option<(String, &'static str)> {
    let is_id = |s: &str| s.len() >= 12 && s.bytes().all(|c| c.is_ascii_hexdigit());
    let components: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    for (i, c) in components.iter().enumerate().rev() {
        let stem = c.strip_suffix(".scope").unwrap_or(c);
        for (prefix, runtime) in [
            ("docker-", "docker"),
            ("cri-containerd-", "containerd"),
            ("libpod-", "podman"),
            ("crio-", "cri-o"),
        ] {
            if let Some(id) = stem.strip_prefix(prefix).filter(|id| is_id(id)) {
                return Some((id.to_owned(), runtime));
            }
        }
        if is_id(stem) && i > 0 {
            let parent = components[i - 1];
            if parent == "docker" {
                return Some((stem.to_owned(), "docker"));
            }
            if parent.starts_with("kubepods") || parent.starts_with("pod") {
                return Some((stem.to_owned(), "kubernetes"));
            }
        }
    }
    None
}

#[cfg(test)]
mod placement_tests {
    use super::*;

    #[test]
    fn container_ids_from_cgroups() {
        let id = "3f2a1b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708";
        let p = placement_of(&format!("0::/system.slice/docker-{id}.scope\n"));
        assert_eq!(
            (p.container_id.as_deref(), p.container_runtime),
            (Some(id), Some("docker"))
        );
        let p = placement_of(&format!("0::/docker/{id}\n"));
        assert_eq!(p.container_runtime, Some("docker"));
        let p = placement_of(&format!(
            "0::/kubepods.slice/kubepods-burstable.slice/pod1/cri-containerd-{id}.scope\n"
        ));
        assert_eq!(p.container_runtime, Some("containerd"));
        let p = placement_of(&format!("0::/machine.slice/libpod-{id}.scope/container\n"));
        assert_eq!(
            (p.container_id.as_deref(), p.container_runtime),
            (Some(id), Some("podman"))
        );
        let p = placement_of("0::/system.slice/cron.service\n");
        assert_eq!(
            (p.container_id, p.systemd_unit.as_deref()),
            (None, Some("cron.service"))
        );
        let p = placement_of("0::/\n");
        assert_eq!(
            p,
            Placement {
                cgroup: Some("/".into()),
                ..Placement::default()
            }
        );
        assert_eq!(placement_of("garbage"), Placement::default());
        // A hybrid host: the runtime named only a v1 hierarchy.
        let p = placement_of(&format!("4:memory:/docker/{id}\n1:name=systemd:/\n0::/\n"));
        assert_eq!(
            (p.container_id.as_deref(), p.cgroup.as_deref()),
            (Some(id), Some("/"))
        );
    }

    #[test]
    fn ttys() {
        assert_eq!(tty_name(0), None);
        assert_eq!(tty_name((136 << 8) | 3), Some("pts/3".into()));
        assert_eq!(tty_name((4 << 8) | 1), Some("tty1".into()));
    }

    #[test]
    fn own_ancestors_reach_a_session_leader_or_the_cap() {
        let me = Stat::read(std::process::id()).expect("own stat");
        let chain = ancestors(me.ppid);
        assert!(!chain.is_empty());
        assert_eq!(chain[0].pid, me.ppid);
        assert!(chain.len() <= ANCESTORS_MAX);
        let line = b"12 (a) b) c) S 1 12 12 34816 0 0 0 0 0 0 0 0 0 0 0 0 0 0 777 0";
        assert!(Stat::parse(line)
            .is_some_and(|s| s.ppid == 1 && s.session == 12 && s.start_ticks == 777));
        assert!(Stat::parse(b"garbage").is_none());
    }
}
