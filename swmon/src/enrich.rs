//! Facts about a process that the kernel record does not carry: user and
//! host names, the working directory, and how the installer was reached
//! (`swmon.via`).
//!
//! `/proc` reads race with the process: an installer that has exited by the
//! time its record is read has no cwd to read, so `working_directory` is
//! read as soon as the exec record arrives and left out when it is gone.
//! Names are looked up once per id (through NSS) and cached.

use std::{borrow::Cow, collections::HashMap, path::Path};

use swmon_common::reason;

use crate::{
    catalogue::{self, Role},
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

/// The terminal of the exec'ing process, read from `/proc` only while the
/// pid is still that process (its kernel-captured start time).
pub fn tty(rec: &ExecRecord) -> Option<String> {
    LiveProcess::open(rec.pid, rec.start_ns).and_then(|p| tty_name(p.stat.tty_nr))
}

/// The working directory of the exec'ing process from `/proc` (the
/// fallback when the kernel could not read it), only while the pid is
/// still that process.
pub fn cwd_of(rec: &ExecRecord) -> Option<Vec<u8>> {
    let live = LiveProcess::open(rec.pid, rec.start_ns)?;
    live.readlink(c"cwd")
}

/// What `/proc` says of one process, every field read through one open
/// `/proc/PID` folder, so all are of the same process: once it exits the
/// reads fail, even if the pid is reused.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcSnapshot {
    pub ppid: u32,
    /// Its start, ns since boot (whole clock ticks).
    pub start_ns: u64,
    pub comm: Vec<u8>,
    /// `/proc/PID/exe` (empty when it cannot be read).
    pub executable: Vec<u8>,
    /// Real uid (`status`'s `Uid:`; the folder's owner is root for a
    /// process that is not dumpable); `u32::MAX` when unknown.
    pub uid: u32,
    pub loginuid: u32,
    pub sessionid: u32,
}

/// [`ProcSnapshot`] of process `pid`; `None` when it is gone (or its
/// `stat` cannot be read).
pub fn proc_snapshot(pid: u32) -> Option<ProcSnapshot> {
    if pid == 0 {
        return None;
    }
    let dir = std::fs::File::open(format!("/proc/{pid}")).ok()?;
    let stat = Stat::parse(&read_at(&dir, c"stat", 4096)?)?;
    let number = |name: &std::ffi::CStr| -> u32 {
        read_at(&dir, name, 64)
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(u32::MAX)
    };
    let uid = read_at(&dir, c"status", 16 * 1024)
        .and_then(|b| {
            String::from_utf8_lossy(&b)
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(u32::MAX);
    let (loginuid, sessionid) = (number(c"loginuid"), number(c"sessionid"));
    let live = LiveProcess { dir, stat };
    let snap = ProcSnapshot {
        ppid: live.stat.ppid,
        start_ns: tick_ns().and_then(|t| live.stat.start_ticks.checked_mul(t))?,
        comm: read_at(&live.dir, c"comm", 64)
            .map(|c| c.strip_suffix(b"\n").map(<[u8]>::to_vec).unwrap_or(c))
            .unwrap_or_default(),
        executable: live.executable().unwrap_or_default(),
        uid,
        loginuid,
        sessionid,
    };
    // Still there after the reads: they were all of it.
    read_at(&live.dir, c"stat", 4096)?;
    Some(snap)
}

/// The working directory of process `pid` started at `start_ns` (boot
/// ns), from `/proc` while the pid is still that process.
pub fn process_cwd(pid: u32, start_ns: u64) -> Option<Vec<u8>> {
    LiveProcess::open(pid, start_ns)?.readlink(c"cwd")
}

/// The `/proc/PID` folder of the exec'ing process, opened only while the
/// pid is still that process (its kernel-captured start time); reads
/// through it fail once the process exits, even if the pid is reused.
pub fn live_proc_dir(rec: &ExecRecord) -> Option<std::fs::File> {
    LiveProcess::open(rec.pid, rec.start_ns).map(|p| p.dir)
}

/// Bytes of a command line [`full_argv`] reads at most: a longer one
/// stays cut (and the reading uncertain).
pub const FULL_ARGV_MAX: usize = 256 * 1024;

/// The whole argv of an exec the kernel copied only in part (longer than
/// its [`swmon_common::ARGV_MAX`] bytes, or unreadable then), from
/// `/proc/PID/cmdline` while the pid is the same process (its start
/// time), and only when it is still the exec's argv: as long as the
/// kernel saw (`argv_total`), starting with the kernel's copy (an exec
/// since, or a rewritten command line, fails both or the first) and, with
/// no copy to compare, the same executable. `None` when it cannot be
/// read whole: gone, another program, or over [`FULL_ARGV_MAX`].
pub fn full_argv(rec: &ExecRecord) -> Option<Vec<Vec<u8>>> {
    let live = LiveProcess::open(rec.pid, rec.start_ns)?;
    let cmdline = live.cmdline(FULL_ARGV_MAX)?;
    if cmdline.truncated
        || cmdline.total != Some(u64::from(rec.argv_total))
        || cmdline.bytes.len() != rec.argv_total as usize
    {
        return None;
    }
    if rec.argv.is_empty() {
        let exe = live.executable()?;
        let exe = exe.strip_suffix(b" (deleted)").unwrap_or(&exe);
        let ours = rec
            .executable
            .strip_suffix(b" (deleted)")
            .unwrap_or(&rec.executable);
        if exe != ours {
            return None;
        }
    } else if !cmdline.bytes.starts_with(&rec.argv.join(&0u8)) {
        return None;
    }
    Some(crate::ebpf::decode::split_argv(&cmdline.bytes))
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
/// counts it and drops the record. A size, ELF key or inode match is
/// trusted here; a size or ELF key match is confirmed by content (the
/// facts stage) before this is called.
pub fn identify(rec: &ExecRecord) -> Option<Identified> {
    let exe_name = basename(
        rec.executable
            .strip_suffix(b" (deleted)")
            .unwrap_or(&rec.executable),
    );
    let file_name = basename(&rec.filename);
    if rec.reasons & reason::MODULE_LOAD != 0 {
        // The kernel saw the process read an installer's entry module:
        // that installer's code runs, whatever argv says or hides. Only
        // an interpreter runs it by reading it; another program that
        // opens the file reads it as data (`cp -r`, `tar`, `grep -r` over
        // site-packages) and is no run.
        rec.interpreter_id
            .and_then(catalogue::program)
            .filter(|p| matches!(p.role, Role::Interpreter(_) | Role::Loader))?;
        let id = rec.installer_id.filter(|id| {
            matches!(
                catalogue::program(*id).map(|p| p.role),
                Some(Role::Installer(_))
            )
        })?;
        return Some(Identified {
            installer_id: id,
            via: "module-load",
        });
    }
    if rec.reasons & reason::INTERPRETER_SCAN != 0 {
        // Only the program the interpreter runs (its script, `-m` module,
        // inline code) decides: an installer's name among the script's
        // own arguments is not a run of that installer.
        let role = rec
            .interpreter_id
            .and_then(catalogue::program)
            .map(|p| p.role)?;
        let argv: Vec<&[u8]> = rec.argv.iter().map(Vec::as_slice).collect();
        if let Some(t) = crate::classify::command::through(role, &argv) {
            return Some(Identified {
                installer_id: t.installer_id,
                via: t.via,
            });
        }
        // The loader run by hand on a program whose name is no installer's
        // (a renamed copy): the facts stage found its file an installer's
        // (inode, content, or ELF key and build ID) and set the id.
        if rec.reasons & reason::LOADER_PROGRAM != 0 && role == Role::Loader {
            if let Some(id) = rec.installer_id.filter(|id| {
                matches!(
                    catalogue::program(*id).map(|p| p.role),
                    Some(Role::Installer(_))
                )
            }) {
                return Some(Identified {
                    installer_id: id,
                    via: "loader",
                });
            }
        }
        // Its program on standard input: the kernel read fd 0's file at
        // the exec and found it an installer's (by device and inode).
        if rec.reasons & reason::STDIN != 0
            && crate::classify::command::stdin_program(role, &argv).is_some()
        {
            let id = rec.installer_id.filter(|id| {
                matches!(
                    catalogue::program(*id).map(|p| p.role),
                    Some(Role::Installer(_))
                )
            })?;
            return Some(Identified {
                installer_id: id,
                via: "stdin-script",
            });
        }
        return None;
    }
    let by_file = installer_name(file_name);
    let by_exe = installer_name(exe_name);
    let id = by_file.or(by_exe).or(rec.installer_id)?;
    let filter_only = by_file.is_none() && by_exe.is_none();
    if filter_only && rec.reasons & (reason::INODE | reason::SIZE | reason::NEAR_COPY) == 0 {
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

/// Where an installer run's own arguments start in the record's argv,
/// which interpreter options swmon had to guess to find them, and the
/// arguments inline code gives as a list of string literals.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstallerArgs {
    pub start: usize,
    /// Indices of interpreter options swmon does not know, read one way
    /// to find the installer (see [`crate::classify::command::walk`]).
    pub guessed: Vec<usize>,
    /// The installer's arguments when inline code passes them as a list of
    /// string literals (`python3 -c 'from pip._internal.cli.main import
    /// main; main(["install", "x"])'`, what ensurepip runs); argv's from
    /// `start` are then not the installer's.
    pub inline: Option<Vec<Vec<u8>>>,
    /// The reading is a guess for another reason than `guessed`: a
    /// preloaded installer whose arguments are not known
    /// ([`crate::classify::command::PreloadKind`]), or a module load whose
    /// program is not the installer's own script (inline code, a `-m`
    /// module, a preload): `swmon.reading: uncertain`.
    pub uncertain: bool,
    /// Inline code calls the installer with arguments it does not give as
    /// literals: neither `inline` nor argv's are its arguments (see
    /// [`crate::classify::command::Target::args_unknown`]).
    pub args_unknown: bool,
}

impl InstallerArgs {
    /// What a run of `manager` with these arguments does: [`crate::classify::classify`]
    /// of [`Self::args`], or, when they are not known,
    /// [`crate::classify::unknown_args`].
    pub fn classify(
        &self,
        manager: crate::catalogue::Manager,
        argv: &[Vec<u8>],
    ) -> crate::classify::Classification {
        if self.args_unknown {
            return crate::classify::unknown_args(manager);
        }
        let args = self.args(argv);
        let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        crate::classify::classify(manager, &args)
    }

    fn at(start: usize) -> Self {
        Self {
            start,
            ..Self::default()
        }
    }

    fn of(t: crate::classify::command::Target, len: usize) -> Self {
        Self {
            start: t.args_start().min(len),
            guessed: t.guessed,
            inline: t.inline_args,
            uncertain: t.uncertain || t.args_unknown,
            args_unknown: t.args_unknown,
        }
    }

    /// Whether the reading is a guess (`swmon.reading: uncertain`).
    pub fn is_uncertain(&self) -> bool {
        self.uncertain || !self.guessed.is_empty()
    }

    /// The installer's own arguments: inline code's list, else `argv`
    /// from `start`.
    pub fn args<'a>(&'a self, argv: &'a [Vec<u8>]) -> Cow<'a, [Vec<u8>]> {
        if self.args_unknown {
            return Cow::Borrowed(&[]);
        }
        match &self.inline {
            Some(list) => Cow::Borrowed(list.as_slice()),
            None => Cow::Borrowed(argv.get(self.start..).unwrap_or_default()),
        }
    }
}

/// Where the installer's own arguments start in `rec.argv`. argv\[0\] is
/// never trusted (`exec -a` sets it to anything):
/// - reached through an interpreter or the loader (`via` `python -m`,
///   `interpreter-script`, `inline-code`, `loader`): after the program the
///   interpreter runs, read as the kernel's interpreter (the record's
///   executable, not argv\[0\]) reads its options; inline code that
///   passes a list of string literals gives that list
///   ([`InstallerArgs::inline`]);
/// - a program read from standard input (`stdin-script`): after the `-`
///   (or `/dev/stdin`) the interpreter reads it from, or after its options
///   when it names none;
/// - exec'd directly: after the argument equal to the exec'd filename when
///   it is argv\[0\], or one of argv\[1\] to argv\[10\] of a script
///   (the kernel ran the `#!` interpreter, which is not the installer
///   itself, and put the script's path after the interpreter and its one
///   optional argument, once per level of scripts run by scripts, at
///   most 5: [`crate::classify::command::SCRIPT_NESTING_MAX`]); else at 1;
/// - renamed, memfd, fexecve or near-copy: at 1.
pub fn installer_args(rec: &ExecRecord, via: &str) -> InstallerArgs {
    let argv: Vec<&[u8]> = rec.argv.iter().map(Vec::as_slice).collect();
    let role = rec
        .interpreter_id
        .and_then(catalogue::program)
        .map(|p| p.role);
    if matches!(
        via,
        "python -m" | "interpreter-script" | "interpreter-preload" | "inline-code" | "loader"
    ) {
        let target = role.and_then(|r| crate::classify::command::through(r, &argv));
        if let Some(t) = target {
            return InstallerArgs::of(t, argv.len());
        }
        // The loader's program, an installer known by its file only.
        if via == "loader" && role == Some(Role::Loader) {
            match crate::classify::command::loader_readings(&argv).as_slice() {
                [] => {}
                [one] => {
                    return InstallerArgs {
                        guessed: one.guessed.clone(),
                        ..InstallerArgs::at((one.program + 1).min(argv.len()))
                    };
                }
                // Behind an option swmon does not know, two readings: the
                // facts stage took the first whose file is an installer's,
                // which this does not know; neither reading's arguments
                // are trusted (operation `other`, reading uncertain).
                [first, ..] => {
                    return InstallerArgs {
                        guessed: first.guessed.clone(),
                        uncertain: true,
                        args_unknown: true,
                        ..InstallerArgs::at((first.program + 1).min(argv.len()))
                    };
                }
            }
        }
    }
    if via == "module-load" {
        let args = module_load_args(role, &argv);
        if rec.flags & swmon_common::flag::FORKED != 0 {
            return forked_args(args, rec);
        }
        return args;
    }
    if via == "stdin-script" {
        let start = role
            .and_then(|r| crate::classify::command::stdin_program(r, &argv))
            .or_else(|| argv.iter().position(|a| *a == b"-").map(|i| i + 1));
        return InstallerArgs::at(start.unwrap_or(1).min(argv.len()));
    }
    if via != "direct" {
        return InstallerArgs::at(1.min(argv.len()));
    }
    let exe = rec
        .executable
        .strip_suffix(b" (deleted)")
        .unwrap_or(&rec.executable);
    // A script: the program the kernel ran is not an installer (it is
    // the `#!` line's interpreter, `python3.11`, `env`, `bash`).
    let script = installer_name(basename(exe)).is_none();
    InstallerArgs::at(crate::classify::command::exec_args_start(
        &argv,
        &rec.filename,
        rec.flags & swmon_common::flag::FILENAME_TRUNCATED != 0,
        script,
    ))
}

/// The installer's arguments in a module-load run: the interpreter ran
/// some program (a script, a `-m` module, inline code, standard input)
/// whose code loaded the installer's entry module, and the installer reads
/// the program's own arguments (`python3 ./copy-of-pip3 install x`: pip's
/// `main()` reads `sys.argv[1:]`, `install x`). A command line swmon reads
/// as an installer run anyway (inline code naming pip) keeps that reading.
/// The reading is certain for a script or standard input with no unknown
/// option before it; for a module or inline code (which may call the
/// installer with arguments of its own), node's preloads (`-r`,
/// `--require`, `--import`, `--loader`) or an interpreter swmon does not
/// know (a renamed copy: its options are skipped as flags), it is marked
/// uncertain; a module or inline code with no arguments after it passes
/// the installer arguments of its own: unknown.
fn module_load_args(role: Option<Role>, argv: &[&[u8]]) -> InstallerArgs {
    use crate::classify::command::{self, Runs};
    let len = argv.len();
    let Some(Role::Interpreter(kind)) = role else {
        if let Some(t) = role.and_then(|r| command::through(r, argv)) {
            return InstallerArgs::of(t, len);
        }
        // Not an interpreter swmon knows: after the first operand.
        let script = argv.iter().skip(1).position(|a| !a.starts_with(b"-"));
        return InstallerArgs {
            start: script.map_or(len, |i| i + 2).min(len),
            uncertain: true,
            ..InstallerArgs::default()
        };
    };
    if let Some(t) = command::through(Role::Interpreter(kind), argv) {
        return InstallerArgs::of(t, len);
    }
    let preload = |upto: usize| {
        kind == catalogue::Interpreter::Node
            && argv.iter().take(upto).skip(1).any(|a| {
                *a == b"-r"
                    || [
                        &b"--require"[..],
                        b"--import",
                        b"--loader",
                        b"--experimental-loader",
                    ]
                    .iter()
                    .any(|o| {
                        a.strip_prefix(*o)
                            .is_some_and(|r| r.is_empty() || r[0] == b'=')
                    })
            })
    };
    command::walk(kind, argv, |r| {
        let (start, sure) = match r.runs {
            Runs::Script { index, .. } | Runs::Stdin { index } => (index + 1, !preload(index)),
            Runs::Module { index, .. } => (index + 1, false),
            // Code's own arguments start after the options that follow it.
            Runs::Code { end, .. } => (end, false),
            Runs::Nothing | Runs::Check { .. } => (len, false),
        };
        // Inline code or a module with no arguments of its own calls the
        // installer with arguments written in the code (`ruby -e
        // 'Gem.install("./x.gem")'`): not known, and maybe an install.
        let code_only = matches!(r.runs, Runs::Module { .. } | Runs::Code { .. }) && start >= len;
        Some(InstallerArgs {
            start: start.min(len),
            guessed: r.guessed.clone(),
            inline: None,
            uncertain: !sure,
            args_unknown: code_only,
        })
    })
    .unwrap_or(InstallerArgs {
        start: 1.min(len),
        uncertain: true,
        ..InstallerArgs::default()
    })
}

/// The installer's arguments in a module-load run of a process forked
/// from an interpreter (`flag::FORKED`): its argv is its parent's command
/// line (`python3 t.py install x`), and what the child passes the installer
/// (`sys.argv = [...]` before running pip) is not in the record. The
/// parent's arguments are read as a guess, always `uncertain`; a guess
/// that changes nothing (`python3 t.py list`, no arguments at all) may be a
/// decoy and is not taken: the arguments are then unknown (an
/// `installer-exec` of type `installation`, never `info`).
fn forked_args(mut args: InstallerArgs, rec: &ExecRecord) -> InstallerArgs {
    use crate::classify::Operation;
    args.uncertain = true;
    if args.args_unknown {
        return args;
    }
    let manager = rec
        .installer_id
        .and_then(catalogue::program)
        .and_then(|p| match p.role {
            Role::Installer(m) => Some(m),
            _ => None,
        });
    let changes = manager.is_some_and(|m| {
        matches!(
            args.classify(m, &rec.argv).operation,
            Operation::Install | Operation::Remove | Operation::Upgrade
        )
    });
    if !changes {
        args.args_unknown = true;
        args.inline = None;
    }
    args
}

/// [`installer_args`]' start.
pub fn installer_args_start(rec: &ExecRecord, via: &str) -> usize {
    installer_args(rec, via).start
}

/// Where an audit exec's installer arguments start: after the program an
/// interpreter or the loader runs when `exe` is one (audit's `exe=` is the
/// program the kernel ran; inline code's list of arguments too), else at 1
/// (argv\[0\] is not trusted).
pub fn audit_installer_args(exe: &[u8], argv: &[Vec<u8>]) -> InstallerArgs {
    let args: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
    let target = catalogue::lookup(basename(exe)).and_then(|(_, p)| match p.role {
        Role::Interpreter(_) | Role::Loader => crate::classify::command::through(p.role, &args),
        Role::Installer(_) => None,
    });
    match target {
        Some(t) => InstallerArgs::of(t, argv.len()),
        None => InstallerArgs::at(1.min(argv.len())),
    }
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
    ticks.checked_mul(tick_ns()?)
}

/// Clock ticks since boot in nanoseconds; `None` for a tick count no boot
/// time can have (checked: the count comes from `/proc`).
pub fn ticks_to_ns(ticks: u64, hz: u64) -> Option<u64> {
    ticks.checked_mul(1_000_000_000u64.checked_div(hz)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proc_snapshot_is_of_one_live_process_and_none_once_it_is_gone() {
        let me = std::process::id();
        let s = proc_snapshot(me).expect("this process");
        assert_eq!(s.ppid, std::os::unix::process::parent_id());
        assert_eq!(Some(s.start_ns), start_boot_ns(me));
        assert_eq!(
            s.executable,
            std::fs::read_link("/proc/self/exe")
                .unwrap()
                .as_os_str()
                .as_encoded_bytes()
        );
        assert_eq!(s.uid, nix::unistd::getuid().as_raw());
        assert!(!s.comm.is_empty() && !s.comm.ends_with(b"\n"));
        let mut child = std::process::Command::new("/bin/true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert_eq!(proc_snapshot(pid), None);
        assert_eq!(proc_snapshot(0), None);
    }

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
    fn a_loader_program_known_by_its_file_gets_the_arguments_after_it() {
        let loader = |argv: &[&str]| {
            let r = rec(
                "/lib64/ld-linux-x86-64.so.2",
                "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
                argv,
                reason::LOADER_PROGRAM,
            );
            let a = installer_args(&r, "loader");
            let args: Vec<String> = a
                .args(&r.argv)
                .iter()
                .map(|x| String::from_utf8_lossy(x).into_owned())
                .collect();
            (args, a.args_unknown, a.is_uncertain())
        };
        // Review: glibc's `--glibc-hwcaps-prepend` takes a value (the
        // table said `--glibc-hwcaps-prefix`, and `/bin/true` was read as
        // the program, `/tmp/dk --version` as its arguments).
        assert_eq!(
            loader(&[
                "ld.so",
                "--glibc-hwcaps-prepend",
                "/bin/true",
                "/tmp/dk",
                "-i",
                "x.deb"
            ]),
            (vec!["-i".to_owned(), "x.deb".to_owned()], false, false)
        );
        // Behind an option swmon does not know: which reading's file the
        // facts stage took is not known here; arguments unknown, flagged.
        assert_eq!(
            loader(&["ld.so", "--frob", "/bin/true", "/tmp/dk", "-l"]),
            (vec![], true, true)
        );
    }

    /// A module-load record as the decoder gives it: the rule's installer,
    /// the interpreter from the executable, no filename.
    fn module_load(executable: &str, argv: &[&str], installer: &str) -> ExecRecord {
        let mut r = rec("", executable, argv, reason::MODULE_LOAD);
        r.installer_id = catalogue::lookup(installer.as_bytes()).map(|(id, _)| id);
        r
    }

    #[test]
    fn module_loads_give_the_installer_and_its_arguments() {
        let args = |r: &ExecRecord| {
            let a = installer_args(r, "module-load");
            (a.args(&r.argv).to_vec(), a.uncertain)
        };
        let owned = |v: &[&str]| v.iter().map(|a| a.as_bytes().to_vec()).collect::<Vec<_>>();
        // A copy of the pip script: the script's own arguments, certain.
        let r = module_load(
            "/usr/bin/python3.11",
            &["python3", "./helper", "install", "x"],
            "pip",
        );
        assert_eq!(via(&r), Some(("pip", "module-load")));
        assert_eq!(args(&r), (owned(&["install", "x"]), false));
        // pip's folder run from inside it.
        let r = module_load(
            "/usr/bin/python3.11",
            &["python3", "-I", ".", "install", "x"],
            "pip",
        );
        assert_eq!(args(&r), (owned(&["install", "x"]), false));
        // Code that hides the module: the code's arguments, a guess.
        let r = module_load(
            "/usr/bin/python3.11",
            &["python3", "-c", "exec('import p'+'ip')", "install", "x"],
            "pip",
        );
        assert_eq!(via(&r), Some(("pip", "module-load")));
        assert_eq!(args(&r), (owned(&["install", "x"]), true));
        // Another module that loads pip: a guess too.
        let r = module_load(
            "/usr/bin/python3.11",
            &["python3", "-m", "tool", "install"],
            "pip",
        );
        assert_eq!(args(&r), (owned(&["install"]), true));
        // node preloading npm's cli: the script's arguments, which npm
        // reads (`process.argv` is `[node, x.js, i, y]`), as classify
        // reads the preload.
        let r = module_load(
            "/usr/bin/node",
            &["node", "-r", "/x/npm/bin/npm-cli.js", "x.js", "i", "y"],
            "npm",
        );
        assert_eq!(via(&r), Some(("npm", "module-load")));
        assert_eq!(args(&r), (owned(&["i", "y"]), false));
        let r = module_load("/usr/bin/node", &["node", "x.js", "i", "y"], "npm");
        assert_eq!(args(&r), (owned(&["i", "y"]), false));
        // Inline code swmon reads anyway keeps its reading (the list).
        let r = module_load(
            "/usr/bin/python3.11",
            &[
                "python3",
                "-c",
                "from pip._internal.cli.main import main; main(['install', 'z'])",
            ],
            "pip",
        );
        assert_eq!(args(&r), (owned(&["install", "z"]), false));
        // A copy of the gem launcher run by ruby (it opened
        // `rubygems/gem_runner.rb`): the script's arguments, certain, and
        // an install of the `.gem` named.
        let gem_args = ["install", "--local", "--install-dir", "/h", "./x.gem"];
        let r = module_load(
            "/usr/bin/ruby3.1",
            &[&["ruby", "./g"][..], &gem_args].concat(),
            "gem",
        );
        assert_eq!(via(&r), Some(("gem", "module-load")));
        assert_eq!(args(&r), (owned(&gem_args), false));
        let a = installer_args(&r, "module-load");
        let parsed = a.classify(crate::catalogue::Manager::Gem, &r.argv);
        assert_eq!(parsed.operation, crate::classify::Operation::Install);
        // The runner's name built at run time: the code's arguments after
        // `--`, a guess.
        let r = module_load(
            "/usr/bin/ruby3.1",
            &[
                &[
                    "ruby",
                    "-e",
                    "require 'rubygems/gem_' + 'runner'; Gem::GemRunner.new.run ARGV",
                    "--",
                ][..],
                &gem_args,
            ]
            .concat(),
            "gem",
        );
        assert_eq!(via(&r), Some(("gem", "module-load")));
        assert_eq!(args(&r), (owned(&gem_args), true));
        // What `bin/gem` does, as inline code: classify reads it (the
        // kernel's argv scan does not pass it; the module load does).
        let r = module_load(
            "/usr/bin/ruby3.1",
            &[
                &[
                    "ruby",
                    "-rrubygems/gem_runner",
                    "-e",
                    "Gem::GemRunner.new.run ARGV",
                ][..],
                &gem_args,
            ]
            .concat(),
            "gem",
        );
        assert_eq!(via(&r), Some(("gem", "module-load")));
        assert_eq!(args(&r), (owned(&gem_args), false));
        // RubyGems' installer loaded by code that never loads the
        // runner: `Gem::CommandManager` run on the code's arguments (a
        // guess, an install of the `.gem` named), and `Gem.install` with
        // arguments of its own (none in argv: uncertain, no package).
        let r = module_load(
            "/usr/bin/ruby3.1",
            &[
                &[
                    "ruby",
                    "-e",
                    "require 'rubygems/command_manager'; Gem::CommandManager.instance.run(ARGV)",
                ][..],
                &gem_args,
            ]
            .concat(),
            "gem",
        );
        assert_eq!(via(&r), Some(("gem", "module-load")));
        assert_eq!(args(&r), (owned(&gem_args), true));
        let r = module_load(
            "/usr/bin/ruby3.1",
            &[
                "ruby",
                "-e",
                "Gem.install('./x.gem', nil, install_dir: '/h')",
            ],
            "gem",
        );
        assert_eq!(via(&r), Some(("gem", "module-load")));
        assert_eq!(args(&r), (owned(&[]), true));
        assert!(installer_args(&r, "module-load").args_unknown);
        // pipx's entry module under a copy of its launcher.
        let r = module_load(
            "/usr/bin/python3.11",
            &["python3", "./px", "install", "app"],
            "pipx",
        );
        assert_eq!(via(&r), Some(("pipx", "module-load")));
        assert_eq!(args(&r), (owned(&["install", "app"]), false));
        // A program that is no interpreter reads the file as data: no run.
        assert_eq!(
            via(&module_load("/usr/bin/cat", &["cat", "main.py"], "pip")),
            None
        );
        assert_eq!(
            via(&module_load(
                "/usr/bin/cat",
                &["cat", "gem_runner.rb"],
                "gem"
            )),
            None
        );
        // A rule index outside the table decodes to no installer: no run.
        let mut r = module_load("/usr/bin/python3.11", &["python3", "x"], "pip");
        r.installer_id = None;
        assert_eq!(via(&r), None);
    }

    #[test]
    fn a_forked_childs_module_load_is_a_guess_never_a_query() {
        use crate::{catalogue::Manager, classify::Operation};
        let forked = |argv: &[&str]| {
            let mut r = module_load("/usr/bin/python3.11", argv, "pip");
            r.flags |= swmon_common::flag::FORKED;
            r
        };
        let read = |r: &ExecRecord| {
            let a = installer_args(r, "module-load");
            let op = a.classify(Manager::Pip, &r.argv).operation;
            (
                a.args(&r.argv).to_vec(),
                a.is_uncertain(),
                a.args_unknown,
                op,
            )
        };
        let owned = |v: &[&str]| v.iter().map(|a| a.as_bytes().to_vec()).collect::<Vec<_>>();
        // The parent's script arguments, which the child may pass on: a
        // guess, marked so (the same record exec'd is certain).
        let r = forked(&["python3", "t.py", "install", "x"]);
        assert_eq!(via(&r), Some(("pip", "module-load")));
        assert_eq!(
            read(&r),
            (owned(&["install", "x"]), true, false, Operation::Install)
        );
        let mut exec = r.clone();
        exec.flags = 0;
        assert!(!installer_args(&exec, "module-load").is_uncertain());
        // A decoy that would read as a query, or nothing to read: unknown
        // arguments, never a query.
        for argv in [
            &["python3", "t.py", "list"][..],
            &["python3", "t.py"],
            &["python3", "-c", "import os"],
        ] {
            assert_eq!(
                read(&forked(argv)),
                (Vec::new(), true, true, Operation::Other),
                "{argv:?}"
            );
        }
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
        // An installer's name among a script's own arguments is not a run
        // of that installer.
        assert_eq!(
            via(&rec(
                "/usr/bin/python3",
                "/usr/bin/python3.11",
                &["python3", "tool.py", "npm", "install", "x"],
                INTERPRETER_ARG
            )),
            None
        );
    }

    #[test]
    fn inline_code_and_standard_input_give_the_installer_arguments() {
        use reason::*;
        let args = |r: &ExecRecord| {
            let id = identify(r).expect("an installer");
            let a = installer_args(r, id.via);
            (id.via, a.args(&r.argv).into_owned(), a.guessed)
        };
        let words =
            |w: &[&str]| -> Vec<Vec<u8>> { w.iter().map(|a| a.as_bytes().to_vec()).collect() };
        // Inline code's list of string literals is the installer's
        // arguments, whatever argv holds after the code; argv[0] forged.
        let r = rec(
            "/usr/bin/python3",
            "/usr/bin/python3.11",
            &[
                "dpkg",
                "-I",
                "-c",
                "from pip._internal.cli.main import main; main(['install', './x.whl'])",
                "remove",
                "y",
            ],
            ARG_CODE,
        );
        assert_eq!(
            args(&r),
            ("inline-code", words(&["install", "./x.whl"]), vec![])
        );
        // Behind an unknown option, read both ways: the guess is listed.
        let r = rec(
            "/usr/bin/python3",
            "/usr/bin/python3.11",
            &["python3", "-Z", "-c", "import pip", "install", "x"],
            ARG_CODE,
        );
        let (via, _, guessed) = args(&r);
        assert_eq!((via, guessed), ("inline-code", vec![1]));
        // node -e: process.argv's third on.
        let r = rec(
            "/usr/bin/node",
            "/usr/bin/node",
            &["node", "-e", "require('npm')", "--", "x", "install", "y"],
            ARG_CODE,
        );
        assert_eq!(args(&r), ("inline-code", words(&["install", "y"]), vec![]));
        // A preloaded npm cli reads the script's arguments (node -r).
        let r = rec(
            "/usr/bin/node",
            "/usr/bin/node",
            &[
                "npm",
                "-r",
                "/usr/lib/node_modules/npm/bin/npm-cli.js",
                "x.js",
                "install",
                "y",
            ],
            ARG_FOLDER,
        );
        assert_eq!(
            args(&r),
            ("interpreter-preload", words(&["install", "y"]), vec![])
        );
        assert!(!installer_args(&r, "interpreter-preload").is_uncertain());
        // Through the loader's hooks thread: no arguments known, uncertain.
        let r = rec(
            "/usr/bin/node",
            "/usr/bin/node",
            &[
                "node",
                "--loader",
                "/usr/lib/node_modules/npm/bin/npm-cli.js",
                "x.js",
                "install",
                "y",
            ],
            ARG_FOLDER,
        );
        assert_eq!(args(&r), ("interpreter-preload", words(&[]), vec![]));
        assert!(installer_args(&r, "interpreter-preload").is_uncertain());
        // A program on standard input the kernel found an installer's:
        // after the `-`, the interpreter's options read as its own (argv[0]
        // is not looked at).
        let pip = catalogue::lookup(b"pip3").map(|(id, _)| id);
        for (argv, want) in [
            (
                &["python3", "-I", "-", "install", "x"][..],
                &["install", "x"][..],
            ),
            (&["pip3", "-W", "-", "-", "install", "x"], &["install", "x"]),
            (&["x", "/dev/stdin", "install", "x"], &["install", "x"]),
            (&["python3", "-u"], &[]),
        ] {
            let r = ExecRecord {
                installer_id: pip,
                ..rec("/usr/bin/python3", "/usr/bin/python3.11", argv, STDIN)
            };
            assert_eq!(args(&r), ("stdin-script", words(want), vec![]), "{argv:?}");
        }
    }

    #[test]
    fn installer_arguments_are_never_read_from_a_forged_argv0() {
        use reason::*;
        let start = |r: &ExecRecord| {
            let id = identify(r).expect("an installer");
            installer_args(r, id.via)
        };
        // `exec -a 'install evil' dpkg -l`, `exec -a python3 dpkg -m pip
        // install x`: argv[0] is not the program.
        for argv in [
            &["install evil", "-l"][..],
            &["python3", "-m", "pip", "install", "x"],
            &["ld.so", "--list", "/usr/bin/apt", "install", "x"],
            &["x", "-i", "./a.deb", "/tmp/pip"],
        ] {
            let r = rec("/usr/bin/dpkg", "/usr/bin/dpkg", argv, FILENAME | EXE_NAME);
            assert_eq!(start(&r).start, 1, "{argv:?}");
        }
        // Its own path as an argument hides nothing either.
        let r = rec(
            "/usr/bin/dpkg",
            "/usr/bin/dpkg",
            &["dpkg", "-i", "/usr/bin/dpkg", "evil.deb"],
            FILENAME | EXE_NAME,
        );
        assert_eq!(start(&r).start, 1);
        // A script: the kernel ran its `#!` interpreter with the script's
        // path after it.
        let r = rec(
            "/usr/local/bin/pip",
            "/usr/bin/env",
            &[
                "/usr/bin/env",
                "python3",
                "/usr/local/bin/pip",
                "install",
                "x",
            ],
            FILENAME,
        );
        assert_eq!(start(&r).start, 3);
        // Through an interpreter, the interpreter's own options are read
        // (the record's executable says which), not argv[0]'s.
        let r = rec(
            "/usr/bin/python3",
            "/usr/bin/python3.11",
            &["dpkg", "-m", "pip", "install", "x"],
            INTERPRETER_ARG,
        );
        assert_eq!(via(&r), Some(("pip", "python -m")));
        assert_eq!(start(&r).start, 3);
        // An unknown option guessed: listed.
        let r = rec(
            "/usr/bin/node",
            "/usr/bin/node",
            &[
                "node",
                "--frob",
                "/tmp",
                "/usr/lib/node_modules/npm/bin/npm-cli.js",
                "i",
                "x",
            ],
            INTERPRETER_ARG,
        );
        assert_eq!(via(&r), Some(("npm-cli.js", "interpreter-script")));
        assert_eq!(
            start(&r),
            InstallerArgs {
                start: 4,
                guessed: vec![1],
                inline: None,
                uncertain: false,
                args_unknown: false,
            }
        );
        // A renamed copy: at 1.
        let dpkg = catalogue::lookup(b"dpkg").map(|(id, _)| id);
        let copy = ExecRecord {
            installer_id: dpkg,
            ..rec(
                "/tmp/x/y",
                "/tmp/x/y",
                &["python3", "-m", "pip", "i"],
                INODE,
            )
        };
        assert_eq!(start(&copy).start, 1);
    }

    #[test]
    fn an_interpreter_checking_or_printing_its_version_runs_no_installer() {
        use reason::*;
        for argv in [
            &[
                "node",
                "-c",
                "/usr/lib/node_modules/npm/bin/npm-cli.js",
                "i",
                "x",
            ][..],
            &[
                "node",
                "--check",
                "/usr/lib/node_modules/npm/bin/npm-cli.js",
            ],
            &["node", "--version", "/usr/bin/npm", "i", "x"],
        ] {
            assert_eq!(
                via(&rec(
                    "/usr/bin/node",
                    "/usr/bin/node",
                    argv,
                    INTERPRETER_ARG
                )),
                None,
                "{argv:?}"
            );
        }
        for argv in [
            &["python3", "-V", "/usr/bin/pip", "install", "x"][..],
            &["python3", "-h", "-m", "pip", "install", "x"],
            &["python3", "--version", "-m", "pip"],
        ] {
            assert_eq!(
                via(&rec(
                    "/usr/bin/python3",
                    "/usr/bin/python3.11",
                    argv,
                    INTERPRETER_ARG
                )),
                None,
                "{argv:?}"
            );
        }
    }

    #[test]
    fn audit_execs_read_the_interpreter_from_exe_not_argv0() {
        let argv = |a: &[&str]| a.iter().map(|s| s.as_bytes().to_vec()).collect::<Vec<_>>();
        let a = audit_installer_args(
            b"/usr/bin/python3.11",
            &argv(&["dpkg", "-m", "pip", "i", "x"]),
        );
        assert_eq!(a.start, 3);
        let a = audit_installer_args(
            b"/usr/bin/dpkg",
            &argv(&["python3", "-m", "pip", "-i", "x"]),
        );
        assert_eq!(a.start, 1);
        assert_eq!(audit_installer_args(b"/usr/bin/dpkg", &[]).start, 0);
    }

    #[test]
    fn own_start_time_is_readable() {
        assert!(start_boot_ns(std::process::id()).is_some());
        assert!(start_boot_ns(u32::MAX).is_none());
    }

    #[test]
    fn installer_proc_reads_are_bound_to_its_start() {
        let me = std::process::id();
        let tick = tick_ns().expect("USER_HZ");
        let start = start_boot_ns(me).expect("own start") + tick / 2;
        let mut r = ExecRecord::sample(me, "/usr/bin/dpkg", 1);
        r.start_ns = start;
        let here = std::env::current_dir().expect("cwd");
        assert_eq!(
            cwd_of(&r),
            Some(here.as_os_str().as_encoded_bytes().to_vec())
        );
        assert!(placement(&r).cgroup.is_some(), "own /proc/self/cgroup");
        // The same pid with another start time is another process (pid
        // reuse), and an unknown start binds to nothing: no /proc data.
        for other in [start + 5 * tick, 0] {
            r.start_ns = other;
            assert_eq!(cwd_of(&r), None);
            assert_eq!(tty(&r), None);
            assert_eq!(placement(&r), Placement::default());
        }
    }
}

/// One process above an installer run (`swmon.ancestors[]`).
///
/// `pid`, `uid`, `comm` and `name` are the kernel's, read at the exec, so
/// they are there even when the process has exited since. The full
/// `executable` path and `args` come from `/proc` and are only there when
/// that pid is still the same process (its start time matches the
/// kernel's): never another process's after pid reuse.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ancestor {
    pub pid: u32,
    pub uid: u32,
    /// Start time, ns since boot (the kernel's `start_boottime`).
    pub start_ns: u64,
    pub comm: Vec<u8>,
    /// The base name of its executable, from the kernel.
    pub name: Vec<u8>,
    pub executable: Option<Vec<u8>>,
    /// At most [`ANCESTOR_ARGS_MAX`] bytes of its command line.
    pub args: Vec<Vec<u8>>,
    /// The command line was longer than was kept.
    pub args_truncated: bool,
    /// Bytes of the command line the process has (`arg_end - arg_start`).
    pub args_bytes: Option<u64>,
}

impl Ancestor {
    /// The ancestor as the event shows it (untrusted bytes escaped).
    pub fn to_out(&self) -> crate::event::AncestorOut {
        use crate::event::lossless;
        crate::event::AncestorOut {
            pid: self.pid,
            name: lossless(&self.name),
            comm: lossless(&self.comm),
            uid: self.uid,
            executable: self.executable.as_deref().map(lossless),
            args: self.args.iter().map(|a| lossless(a)).collect(),
            args_truncated: self.args_truncated,
            args_bytes: self.args_bytes,
        }
    }
}

/// Most ancestors per run (the kernel's capture).
pub const ANCESTORS_MAX: usize = swmon_common::ANCESTORS_MAX;
/// Bytes of an ancestor's command line kept, like the kernel's argv cap: an
/// unprivileged parent with a 2 MiB argv must not make every event huge.
pub const ANCESTOR_ARGS_MAX: usize = 8192;
/// Bytes of command lines kept for the whole chain, so the ancestors of one
/// run stay well under a 64 KiB line; the nearest ancestors come first.
pub const ANCESTORS_ARGS_TOTAL: usize = 16384;

/// True when `/proc/PID/exe` (`exe`) is the program whose base name the
/// kernel captured (`name`, cut to its slot): a process that exec'd since
/// shows another. An empty `name` (unreadable at the exec) matches nothing.
fn same_program(exe: Option<&[u8]>, name: &[u8]) -> bool {
    let Some(exe) = exe else { return false };
    let exe = exe.strip_suffix(b" (deleted)").unwrap_or(exe);
    let base = exe.rsplit(|c| *c == b'/').next().unwrap_or(exe);
    let cut = swmon_common::ANCESTOR_NAME - 1;
    !name.is_empty() && (base == name || (name.len() == cut && base.starts_with(name)))
}

/// The parent chain the kernel captured at the exec, parent first, with
/// each one's command line and path added from `/proc` while it is the
/// same process.
pub fn ancestors(rec: &ExecRecord) -> Vec<Ancestor> {
    ancestors_of(&rec.ancestors)
}

/// [`ancestors`] of any parent chain the kernel read (a state writer's).
pub fn ancestors_of(chain: &[crate::ebpf::decode::KernelAncestor]) -> Vec<Ancestor> {
    let mut budget = ANCESTORS_ARGS_TOTAL;
    chain
        .iter()
        .map(|k| live_ancestor(k, &mut budget))
        .collect()
}

/// One process the kernel named (pid, start, executable's base name),
/// with its executable's path and command line when it is still that
/// process running that program; `budget` caps the command line's bytes
/// and is charged for them.
pub fn live_ancestor(k: &crate::ebpf::decode::KernelAncestor, budget: &mut usize) -> Ancestor {
    let mut a = kernel_ancestor(k);
    // Same process, and still running the program the kernel saw:
    // one that has exec'd since shows another program's path and
    // arguments, which were not what ran the installer. Checked
    // before and after the command line is read.
    let live = LiveProcess::open(k.pid, k.start_ns)
        .filter(|l| same_program(l.executable().as_deref(), &k.exe_name));
    if let Some(live) = live {
        let exe = live.executable();
        let cmdline = live.cmdline(ANCESTOR_ARGS_MAX.min(*budget));
        if let Some(cmdline) =
            cmdline.filter(|_| same_program(live.executable().as_deref(), &k.exe_name))
        {
            *budget -= cmdline.bytes.len();
            a.executable = exe;
            a.args = crate::ebpf::decode::split_argv(&cmdline.bytes);
            a.args_truncated = cmdline.truncated;
            a.args_bytes = cmdline.total;
        }
    }
    a
}

/// One process as the kernel named it, nothing read from `/proc` (the
/// facts stage's fallback when its host reads are stuck).
pub fn kernel_ancestor(k: &crate::ebpf::decode::KernelAncestor) -> Ancestor {
    Ancestor {
        pid: k.pid,
        uid: k.uid,
        start_ns: k.start_ns,
        comm: k.comm.clone(),
        name: k.exe_name.clone(),
        ..Ancestor::default()
    }
}

/// Where the exec ran from the cgroup path the kernel read alone (no
/// `/proc` fallback; see [`placement`]).
pub fn kernel_placement(rec: &ExecRecord) -> Placement {
    rec.cgroup
        .as_ref()
        .map(|path| {
            placement_of_path(
                &String::from_utf8_lossy(path),
                rec.cgroup_truncated,
                rec.cgroup_leaf_cut,
            )
        })
        .unwrap_or_default()
}

/// A `/proc/PID` folder opened while it was the process the kernel named
/// (same start time). Files read through it belong to that process or
/// fail: once it exits, its `/proc` folder answers ENOENT/ESRCH even if
/// the pid is reused, since the folder is bound to the kernel's `struct
/// pid`, not to the number.
struct LiveProcess {
    dir: std::fs::File,
    stat: Stat,
}

/// A command line read from `/proc`, cut at a cap.
#[derive(Debug, PartialEq, Eq)]
struct Cmdline {
    bytes: Vec<u8>,
    truncated: bool,
    total: Option<u64>,
}

impl LiveProcess {
    fn open(pid: u32, start_ns: u64) -> Option<LiveProcess> {
        if pid == 0 {
            return None;
        }
        let dir = std::fs::File::open(format!("/proc/{pid}")).ok()?;
        let stat = Stat::parse(&read_at(&dir, c"stat", 4096)?)?;
        // The kernel shows `start_boottime` in /proc as whole clock ticks.
        (start_ns != 0 && stat.start_ticks == start_ns / tick_ns()?)
            .then_some(LiveProcess { dir, stat })
    }

    fn executable(&self) -> Option<Vec<u8>> {
        self.readlink(c"exe")
    }

    /// The target of the link `name` in the process's folder.
    fn readlink(&self, name: &std::ffi::CStr) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; 4096];
        // SAFETY: the fd is open, the name NUL-terminated, the buffer sized.
        let n = unsafe {
            libc::readlinkat(
                std::os::fd::AsRawFd::as_raw_fd(&self.dir),
                name.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        let n = usize::try_from(n).ok().filter(|n| *n > 0)?;
        buf.truncate(n);
        Some(buf)
    }

    fn cmdline(&self, cap: usize) -> Option<Cmdline> {
        let mut bytes = read_at(&self.dir, c"cmdline", cap + 1)?;
        let total = self
            .stat
            .arg_end
            .checked_sub(self.stat.arg_start)
            .filter(|t| *t > 0);
        let truncated = bytes.len() > cap || total.is_some_and(|t| t > cap as u64);
        bytes.truncate(cap);
        Some(Cmdline {
            bytes,
            truncated,
            total,
        })
    }
}

/// Nanoseconds in one clock tick of `/proc/PID/stat` (USER_HZ).
fn tick_ns() -> Option<u64> {
    // SAFETY: sysconf has no preconditions.
    let hz = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) })
        .ok()
        .filter(|h| *h > 0)?;
    Some(1_000_000_000 / hz)
}

/// Reads at most `cap` bytes of `name` in the folder `dir`.
fn read_at(dir: &std::fs::File, name: &std::ffi::CStr, cap: usize) -> Option<Vec<u8>> {
    use std::{io::Read, os::fd::FromRawFd};
    // SAFETY: the fd is open and the name NUL-terminated.
    let fd = unsafe {
        libc::openat(
            std::os::fd::AsRawFd::as_raw_fd(dir),
            name.as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
        )
    };
    if fd < 0 {
        return None;
    }
    // SAFETY: a new fd that nothing else owns.
    let file = unsafe { std::fs::File::from_raw_fd(fd) };
    let mut out = Vec::with_capacity(cap.min(8192));
    file.take(cap as u64).read_to_end(&mut out).ok()?;
    Some(out)
}

/// The few `/proc/PID/stat` fields enrichment uses.
#[derive(Clone, Copy, Debug)]
pub struct Stat {
    pub ppid: u32,
    pub session: i64,
    pub tty_nr: u32,
    /// Start time in clock ticks since boot.
    pub start_ticks: u64,
    /// Where argv lies in the process's memory (0 when hidden).
    pub arg_start: u64,
    pub arg_end: u64,
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
            arg_start: fields.get(45).and_then(|f| f.parse().ok()).unwrap_or(0),
            arg_end: fields.get(46).and_then(|f| f.parse().ok()).unwrap_or(0),
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
    /// The cgroup path lost its top levels or a cut name (the kernel keeps
    /// [`swmon_common::CGROUP_DEPTH`] levels): no container is trusted then.
    pub cgroup_truncated: bool,
    pub container_id: Option<String>,
    pub container_runtime: Option<&'static str>,
    pub systemd_unit: Option<String>,
}

/// Where the exec ran, from the cgroup the kernel read at the exec; from
/// `/proc/PID/cgroup` only when the kernel could not read it (that read
/// races with the process's exit).
pub fn placement(rec: &ExecRecord) -> Placement {
    // Only while the pid is still the exec'ing process: a reused pid's
    // cgroup is another process's placement.
    let proc_cgroup = || {
        LiveProcess::open(rec.pid, rec.start_ns)
            .and_then(|p| read_at(&p.dir, c"cgroup", 64 * 1024))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    };
    let Some(path) = &rec.cgroup else {
        return proc_cgroup().map(|t| placement_of(&t)).unwrap_or_default();
    };
    let mut p = placement_of_path(
        &String::from_utf8_lossy(path),
        rec.cgroup_truncated,
        rec.cgroup_leaf_cut,
    );
    if p.container_id.is_none() {
        // A hybrid host's v1 hierarchies are not captured by the kernel (a
        // runtime with the cgroupfs driver names only those): looked up in
        // /proc while the process lives, with the same trust rules.
        let v1 = proc_cgroup().and_then(|t| container_in_v1(&t));
        if let Some((id, runtime)) = v1 {
            p.container_id = Some(id);
            p.container_runtime = Some(runtime);
            p.systemd_unit = None;
        }
    }
    p
}

/// A container named in a v1 hierarchy's line of `/proc/PID/cgroup`.
fn container_in_v1(cgroup_file: &str) -> Option<(String, &'static str)> {
    cgroup_file.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let _id = parts.next()?;
        let controllers = parts.next()?;
        (!controllers.is_empty())
            .then(|| container_in(parts.next()?.trim()))
            .flatten()
    })
}

/// The placement of one cgroup path of the default hierarchy
/// (`/system.slice/docker-ID.scope`). `truncated`: its top levels or a
/// name are missing (nothing is trusted); `leaf_cut`: only levels below
/// the path are missing (trust is decided by the top, which is whole).
pub fn placement_of_path(path: &str, truncated: bool, leaf_cut: bool) -> Placement {
    let mut p = Placement {
        cgroup: Some(path.to_owned()),
        cgroup_truncated: truncated || leaf_cut,
        ..Placement::default()
    };
    if let Some((id, runtime)) = container_in(path).filter(|_| !truncated) {
        p.container_id = Some(id);
        p.container_runtime = Some(runtime);
    } else {
        p.systemd_unit = unit_in(path);
    }
    p
}

/// The systemd unit of a cgroup path: its first `.service` or `.scope`
/// from the top, where systemd puts it (`system.slice/x.service`,
/// `user.slice/user-1000.slice/user@1000.service`). Levels below a unit are
/// its own making (a user's delegated tree under `user@UID.service`), so a
/// name there never stands for the unit.
fn unit_in(path: &str) -> Option<String> {
    path.split('/')
        .find(|c| c.ends_with(".service") || c.ends_with(".scope"))
        .map(str::to_owned)
}

/// Parses `/proc/PID/cgroup` (the fallback): the unified hierarchy's line
/// is the cgroup; on a hybrid host a runtime may have named its cgroup in
/// a v1 hierarchy only, so every line is looked at for a container.
pub fn placement_of(cgroup_file: &str) -> Placement {
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
    p.systemd_unit = unified.and_then(|(_, path)| unit_in(path));
    p
}

/// Runtime prefixes of a container's cgroup name (`docker-ID.scope`).
const RUNTIMES: [(&str, &str); 4] = [
    ("docker-", "docker"),
    ("cri-containerd-", "containerd"),
    ("libpod-", "podman"),
    ("crio-", "cri-o"),
];

/// The container a cgroup path names, trusted only where an unprivileged
/// user cannot create cgroups: a user's delegated subtree
/// (`user.slice/.../user@UID.service/...`) may hold a `docker-<64 hex>.scope`
/// of the user's own making. Trusted shapes, by the path's first level:
/// - `system.slice/<runtime>-ID.scope` (docker, containerd, CRI-O with the
///   systemd driver): the scope right under `system.slice`;
/// - `machine.slice/<runtime>-ID.scope[/...]` (podman, machined);
/// - `kubepods[.slice]/...`: the first `<runtime>-ID[.scope]` below it, or
///   a bare ID right under a `pod*` or `kubepods*` level (cgroupfs driver);
/// - `/docker/ID` (docker's cgroupfs driver): a top-level cgroup, which
///   only root can create.
///
/// Below a trusted container, its processes may make cgroups of any name
/// (docker in docker, systemd in a container): the outermost id wins, so
/// none of them can stand for another container.
fn container_in(path: &str) -> Option<(String, &'static str)> {
    let is_id = |s: &str| s.len() >= 12 && s.bytes().all(|c| c.is_ascii_hexdigit());
    let runtime_id = |c: &str, scope: bool| {
        let stem = match c.strip_suffix(".scope") {
            Some(stem) => stem,
            None if scope => return None,
            None => c,
        };
        RUNTIMES.iter().find_map(|(prefix, runtime)| {
            stem.strip_prefix(prefix)
                .filter(|id| is_id(id))
                .map(|id| (id.to_owned(), *runtime))
        })
    };
    let c: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    match c.first().copied()? {
        "system.slice" | "machine.slice" => runtime_id(c.get(1)?, true),
        "docker" => c
            .get(1)
            .filter(|id| is_id(id))
            .map(|id| ((*id).to_owned(), "docker")),
        top if top == "kubepods" || top.starts_with("kubepods.") => {
            c.iter().enumerate().skip(1).find_map(|(i, comp)| {
                runtime_id(comp, false).or_else(|| {
                    let parent = c[i - 1];
                    (is_id(comp) && (parent.starts_with("pod") || parent.starts_with("kubepods")))
                        .then(|| ((*comp).to_owned(), "kubernetes"))
                })
            })
        }
        _ => None,
    }
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
    fn trusted_places_only() {
        let id = "5ca1ab1e".repeat(8);
        let runtime = |path: &str| {
            let p = placement_of_path(path, false, false);
            (p.container_id, p.container_runtime)
        };
        let docker = (Some(id.clone()), Some("docker"));
        assert_eq!(runtime(&format!("/system.slice/docker-{id}.scope")), docker);
        assert_eq!(runtime(&format!("/docker/{id}")), docker);
        assert_eq!(
            runtime(&format!("/machine.slice/libpod-{id}.scope/container")),
            (Some(id.clone()), Some("podman"))
        );
        assert_eq!(
            runtime(&format!(
                "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0a1b.slice/cri-containerd-{id}.scope"
            )),
            (Some(id.clone()), Some("containerd"))
        );
        assert_eq!(
            runtime(&format!(
                "/kubepods/burstable/pod0a1b2c3d-1111-2222-3333-444455556666/{id}"
            )),
            (Some(id.clone()), Some("kubernetes"))
        );
        // The spoofs: the same names where a user can create cgroups, or
        // deeper than the runtime puts them, or cut at the top.
        for spoof in [
            format!("/user.slice/user-1000.slice/user@1000.service/docker-{id}.scope"),
            format!("/user.slice/user-1000.slice/user@1000.service/app.slice/system.slice/docker-{id}.scope"),
            format!("/user.slice/docker/{id}"),
            format!("/system.slice/user@1000.service/docker-{id}.scope"),
            format!("/system.slice/docker-{id}"),
            format!("/swmon-test/docker-{id}.scope"),
            format!("/docker-{id}.scope"),
            format!("/machine.slice/docker-{id}x.scope"),
        ] {
            assert_eq!(runtime(&spoof), (None, None), "{spoof}");
        }
        assert_eq!(
            container_in_v1(&format!(
                "4:memory:/docker/{id}\n0::/system.slice/docker.service\n"
            )),
            Some((id.clone(), "docker"))
        );
        assert_eq!(
            container_in_v1(&format!("0::/system.slice/docker-{id}.scope\n")),
            None,
            "the v2 line is the kernel's to say"
        );
        // Inside a container, names of its own making do not override it.
        let other = "f00d".repeat(16);
        for nested in [
            format!("/docker/{id}/docker/{other}"),
            format!("/system.slice/docker-{id}.scope/docker-{other}.scope"),
            format!("/kubepods/burstable/pod1/{id}/docker-{other}.scope"),
        ] {
            assert_eq!(runtime(&nested).0, Some(id.clone()), "{nested}");
        }
        let p = placement_of_path(&format!("/system.slice/docker-{id}.scope"), true, false);
        assert_eq!((p.container_id, p.cgroup_truncated), (None, true));
        // Cut below the container: the top levels, which decide, are whole.
        let p = placement_of_path(
            &format!("/system.slice/docker-{id}.scope/a/b/c/d/e/f"),
            false,
            true,
        );
        assert_eq!(
            (p.container_id, p.cgroup_truncated),
            (Some(id.clone()), true)
        );
        // The unit is taken by position, never from a user's delegated tree.
        let p = placement_of_path(
            &format!("/user.slice/user-1000.slice/user@1000.service/docker-{id}.scope"),
            false,
            false,
        );
        assert_eq!(p.systemd_unit.as_deref(), Some("user@1000.service"));
        let p = placement_of_path(
            "/user.slice/user-1000.slice/user@1000.service/app.slice/sshd.service",
            false,
            false,
        );
        assert_eq!(p.systemd_unit.as_deref(), Some("user@1000.service"));
        let p = placement_of_path("/system.slice/cron.service/sub.scope", false, false);
        assert_eq!(p.systemd_unit.as_deref(), Some("cron.service"));
    }

    #[test]
    fn a_live_parent_is_read_only_while_it_is_the_same_process() {
        let me = Stat::read(std::process::id()).expect("own stat");
        let parent = Stat::read(me.ppid).expect("parent stat");
        let tick = tick_ns().expect("USER_HZ");
        // The kernel's start_boottime is finer than a tick: any ns in it.
        let start_ns = parent.start_ticks * tick + tick / 2;
        let live = LiveProcess::open(me.ppid, start_ns).expect("same process");
        assert!(live.executable().is_some_and(|e| e.starts_with(b"/")));
        let cmd = live.cmdline(ANCESTOR_ARGS_MAX).expect("cmdline");
        assert!(!cmd.bytes.is_empty());
        // Another start time: a reused pid. Nothing is read.
        assert!(LiveProcess::open(me.ppid, start_ns + tick).is_none());
        assert!(LiveProcess::open(me.ppid, 0).is_none());
        assert!(LiveProcess::open(u32::MAX, start_ns).is_none());
        // The cap: this process's own command line, cut at 4 bytes.
        let mine = Stat::read(std::process::id()).expect("own stat");
        let me_live =
            LiveProcess::open(std::process::id(), mine.start_ticks * tick).expect("own /proc");
        let cut = me_live.cmdline(4).expect("own cmdline");
        assert_eq!(cut.bytes.len(), 4);
        assert!(cut.truncated);
        assert!(cut.total.is_some_and(|t| t > 4), "{cut:?}");
    }

    #[test]
    fn an_ancestor_that_exec_d_since_lends_no_path_or_args() {
        use crate::ebpf::decode::KernelAncestor;
        let me = std::process::id();
        let tick = tick_ns().expect("USER_HZ");
        let exe = std::fs::read_link("/proc/self/exe").expect("own exe");
        let name = exe.file_name().expect("name").as_encoded_bytes().to_vec();
        let ancestor = |exe_name: &[u8]| KernelAncestor {
            pid: me,
            uid: 0,
            start_ns: start_boot_ns(me).expect("own start") + tick / 2,
            comm: b"x".to_vec(),
            exe_name: exe_name.to_vec(),
        };
        let mut rec = ExecRecord::sample(1, "/usr/bin/dpkg", 1);
        rec.ancestors = vec![ancestor(&name), ancestor(b"bash"), ancestor(b"")];
        let a = ancestors(&rec);
        assert_eq!(
            a[0].executable.as_deref(),
            Some(exe.as_os_str().as_encoded_bytes())
        );
        assert!(!a[0].args.is_empty());
        // The kernel saw bash there: this pid now runs another program.
        for other in &a[1..] {
            assert_eq!((other.executable.as_deref(), other.args.len()), (None, 0));
        }
        assert!(same_program(Some(b"/usr/bin/dash (deleted)"), b"dash"));
        let long = "n".repeat(80);
        let cut = &long.as_bytes()[..swmon_common::ANCESTOR_NAME - 1];
        assert!(same_program(Some(format!("/x/{long}").as_bytes()), cut));
        assert!(!same_program(Some(b"/x/dashx"), b"dash"));
        assert!(!same_program(None, b"dash"));
    }

    #[test]
    fn ancestors_come_from_the_kernel_even_when_gone() {
        use crate::ebpf::decode::KernelAncestor;
        let rec = ExecRecord {
            ancestors: vec![KernelAncestor {
                // A pid that cannot be live: nothing from /proc.
                pid: u32::MAX - 1,
                uid: 1000,
                start_ns: 5,
                comm: b"sh".to_vec(),
                exe_name: b"dash".to_vec(),
            }],
            ..ExecRecord::sample(7, "/usr/bin/dpkg", 0)
        };
        let a = ancestors(&rec);
        assert_eq!(a.len(), 1);
        assert_eq!((a[0].pid, a[0].uid), (u32::MAX - 1, 1000));
        assert_eq!((&a[0].name[..], &a[0].comm[..]), (&b"dash"[..], &b"sh"[..]));
        assert_eq!((a[0].executable.as_ref(), a[0].args.len()), (None, 0));
    }

    #[test]
    fn stat_lines() {
        let line = b"12 (a) b) c) S 1 12 12 34816 0 0 0 0 0 0 0 0 0 0 0 0 0 0 777 0";
        assert!(Stat::parse(line)
            .is_some_and(|s| s.ppid == 1 && s.session == 12 && s.start_ticks == 777));
        assert!(Stat::parse(b"garbage").is_none());
    }
}
