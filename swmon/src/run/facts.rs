//! The facts stage: on its own thread, off the readers' path, it
//! identifies copy candidates by content (size-matched ones by the
//! SHA-256 of the file, near-copies by their ELF key and build ID, read
//! within caps), applies the catalogue's full rules, and reads
//! what the kernel record lacks from `/proc` (ancestors, cgroup, tty) while
//! the process most likely still runs. Exits pass through in order, so an
//! exit never overtakes its exec on the way to the decide stage.
//!
//! Its input queue is bounded (the kernel reader drops and counts when it
//! is full); its output waits for room in the decide stage's queue (the
//! decide stage never waits on anything).
//!
//! Every read of the host (`/proc/PID/exe` and the file behind it, a
//! command line whose pages a process may have mapped from a file, the
//! paths an exec named) can wait on a file system: with audit on, even
//! resolving a path on a FUSE mount asks its server (`audit_copy_inode`),
//! and a server that never answers holds the reader for ever. So those
//! reads run on a host reader thread, [`HOST_DEADLINE`] per record; a
//! record not done by then is sent on with what the kernel captured at the
//! exec or write (`swmon.facts_unread`, counted `facts_timed_out`), the
//! stuck reader is given up and a new one started ([`super::bounded`]), at
//! most [`MAX_STUCK_READERS`] stuck at once (then `busy`, counted
//! `facts_busy`). The stage itself never waits on the host for longer.

use std::{
    path::PathBuf,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use swmon_common::{flag, reason};

use super::{
    bounded::{Bounded, Unread},
    changes::{Places, StateWrite},
    counters::Counters,
    kernel_reader::KernelItem,
    queue::{Rx, Tx},
    Ended,
};
use crate::{
    correlate::Facts,
    ebpf::{
        decode::{self, ExecRecord, ExitRecord, Record, StateRecord},
        filter::{Content, ContentMatcher, ExecFile, InterpreterCopy, Ways},
    },
    enrich,
};

/// How long the facts stage waits for one record's host reads: above the
/// package files' own deadline ([`crate::package_file::DEADLINE`]), so a
/// stuck package file is reported as one and the rest of the facts kept.
pub const HOST_DEADLINE: Duration = Duration::from_secs(3);

/// Host readers given up at the deadline that may still be stuck; with
/// this many, no new one is started until one of them ends.
pub const MAX_STUCK_READERS: usize = 4;

/// A new content matcher from a rediscovery, for the facts stage to take.
pub type MatcherUpdate = Arc<Mutex<Option<ContentMatcher>>>;

/// A record ready for the decide stage.
#[derive(Debug)]
pub enum Prepared {
    Exec(Box<ExecRecord>, Box<Facts>),
    Exit(ExitRecord),
    /// The kernel reader's watermark (boot ns), after every record ahead
    /// of it.
    Watermark(u64),
    /// A write to package state, placed on the host.
    State(Box<StateWrite>),
}

impl Prepared {
    /// About how many bytes it holds (for the queue's byte budget).
    pub fn size(&self) -> usize {
        match self {
            Prepared::Exec(rec, facts) => crate::correlate::exec_bytes(rec) + facts.bytes(),
            Prepared::Exit(_) => std::mem::size_of::<ExitRecord>(),
            Prepared::Watermark(_) => 16,
            Prepared::State(w) => w.bytes(),
        }
    }
}

/// The stage's loop: runs until the kernel reader's queue closes (or the
/// decide stage is gone).
pub fn run(
    mut input: Rx<KernelItem>,
    output: Tx<Prepared>,
    matcher: ContentMatcher,
    update: MatcherUpdate,
    counters: Arc<Counters>,
    _ended: Ended,
) {
    let mut host = HostReads::new(matcher, counters.clone());
    while let Some(item) = input.blocking_recv() {
        // The installers were discovered again (the kernel reader's
        // rediscovery): hashes cached by path are stale.
        if let Some(m) = update.lock().unwrap_or_else(PoisonError::into_inner).take() {
            host.set_matcher(m);
        }
        let record = match item {
            KernelItem::Decoded(r) => Ok(r),
            KernelItem::Raw(bytes) => decode::decode(&bytes),
            KernelItem::Watermark(t) => {
                if output.blocking_send(Prepared::Watermark(t), 16).is_err() {
                    return;
                }
                continue;
            }
        };
        let prepared = match record {
            Ok(Record::Exec(rec)) => host.exec(rec),
            Ok(Record::Exit(exit)) => Some(Prepared::Exit(exit)),
            Ok(Record::State(rec)) => Some(host.state(rec)),
            Err(_) => {
                Counters::add(&counters.decode_errors, 1);
                None
            }
        };
        if let Some(p) = prepared {
            let size = p.size();
            if output.blocking_send(p, size).is_err() {
                return;
            }
        }
        super::stages::mark(super::stages::Stage::Facts);
    }
}

/// What the host reader keeps between records.
struct HostState {
    matcher: ContentMatcher,
    places: Places,
}

/// The facts stage's reads of the host, on a [`Bounded`] reader under
/// [`HOST_DEADLINE`], with the kernel's facts alone when it is stuck.
struct HostReads {
    reader: Bounded<HostState>,
    /// The matcher a new reader starts with (caches empty).
    seed: Arc<Mutex<ContentMatcher>>,
    /// Places writes when the reader is stuck (mount table only).
    kernel_places: Places,
    counters: Arc<Counters>,
}

impl HostReads {
    fn new(matcher: ContentMatcher, counters: Arc<Counters>) -> HostReads {
        let seed = Arc::new(Mutex::new(matcher));
        let fresh = {
            let seed = seed.clone();
            move || HostState {
                matcher: seed.lock().unwrap_or_else(PoisonError::into_inner).fresh(),
                places: Places::default(),
            }
        };
        HostReads {
            reader: Bounded::new("swmon-facts-host", HOST_DEADLINE, MAX_STUCK_READERS, fresh),
            seed,
            kernel_places: Places::default(),
            counters,
        }
    }

    fn set_matcher(&mut self, matcher: ContentMatcher) {
        *self.seed.lock().unwrap_or_else(PoisonError::into_inner) = matcher.fresh();
        // A reader stuck now starts its successor from the seed.
        let _ = self.reader.call(move |h| h.matcher = matcher);
    }

    /// Counts a call with no answer; its `swmon.facts_unread`.
    fn unread(&self, why: Unread) -> &'static str {
        match why {
            Unread::TimedOut => Counters::add(&self.counters.facts_timed_out, 1),
            Unread::Busy => Counters::add(&self.counters.facts_busy, 1),
        }
        why.as_str()
    }

    fn exec(&mut self, rec: Box<ExecRecord>) -> Option<Prepared> {
        let kept = rec.clone();
        let counters = self.counters.clone();
        match self
            .reader
            .call(move |h| prepare(*rec, &mut h.matcher, &counters))
        {
            Ok(prepared) => prepared,
            Err(why) => {
                let why = self.unread(why);
                kernel_only(*kept, why, &self.counters)
            }
        }
    }

    fn state(&mut self, rec: Box<StateRecord>) -> Prepared {
        let kept = rec.clone();
        let write = match self.reader.call(move |h| h.places.place(*rec)) {
            Ok(w) => w,
            Err(why) => {
                self.unread(why);
                self.kernel_places.place_kernel_only(*kept)
            }
        };
        Prepared::State(Box::new(write))
    }
}

/// An exec's facts from what the kernel captured alone, when the host
/// reads for it were stuck: a copy candidate or a renamed interpreter is
/// reported on the kernel's match, unverified (never dropped: a hung file
/// system must not be a way past swmon); an interpreter's cut argv is
/// classified as it is, marked uncertain.
fn kernel_only(rec: ExecRecord, why: &'static str, c: &Counters) -> Option<Prepared> {
    let candidate = reason::SIZE | reason::NEAR_COPY;
    let copy = rec.reasons & candidate != 0 && rec.reasons & !(candidate | reason::FILELESS) == 0;
    let unverified = copy || rec.reasons & reason::INTERPRETER_ELF != 0;
    let argv_incomplete = rec.reasons & reason::INTERPRETER_SCAN != 0
        && rec.flags & (flag::ARGV_TRUNCATED | flag::ARGV_UNREADABLE) != 0;
    let Some(mut id) = enrich::identify(&rec) else {
        Counters::add(&c.rejected, 1);
        return None;
    };
    if rec.reasons & reason::NEAR_COPY != 0 && id.via == "renamed" {
        id.via = "near-copy";
    }
    let facts = Facts {
        installer_id: id.installer_id,
        via: id.via,
        cwd: (!rec.cwd.is_empty()).then(|| rec.cwd.clone()),
        sha256: None,
        build_id: None,
        unverified,
        build_id_flag: None,
        argv_incomplete,
        ancestors: rec.ancestors.iter().map(enrich::kernel_ancestor).collect(),
        placement: enrich::kernel_placement(&rec),
        tty: None,
        venv: None,
        package_files: Vec::new(),
        exe_owner: None,
        facts_unread: Some(why),
    };
    Some(Prepared::Exec(Box::new(rec), Box::new(facts)))
}

/// Identifies an exec and gathers its facts; `None` when it is no
/// installer's after all (counted).
fn prepare(rec: ExecRecord, matcher: &mut ContentMatcher, c: &Counters) -> Option<Prepared> {
    let mut sha256 = None;
    let mut build_id = None;
    let mut build_id_flag = None;
    let mut near_copy = false;
    let mut unverified = false;
    let mut rec = rec;
    let candidate = reason::SIZE | reason::NEAR_COPY;
    if rec.reasons & candidate != 0 && rec.reasons & !(candidate | reason::FILELESS) == 0 {
        // A copy candidate: only its content can tell. The process may
        // have exited already (`/proc/PID/exe` is gone); a file still on
        // disk is read by its path then. Either is opened once and must be
        // the exec'd (device, inode, size), checked on the open descriptor.
        let exec = ExecFile {
            dev: rec.dev,
            ino: rec.ino,
            size: rec.size,
        };
        let ways = Ways {
            exact: rec.reasons & reason::SIZE != 0,
            near: rec.reasons & reason::NEAR_COPY != 0,
        };
        let mut content = matcher.examine(&enrich::proc_exe(rec.pid), exec, ways);
        if content == Content::Unreadable && rec.nlink != 0 {
            let path = PathBuf::from(crate::ebpf::filter::os(&rec.executable));
            content = matcher.examine(&path, exec, ways);
        }
        match content {
            Content::Installer(id, hash) => {
                rec.installer_id = Some(id);
                sha256 = Some(hash);
            }
            Content::NearCopy(id, bid) => {
                rec.installer_id = Some(id);
                build_id = Some(bid.to_string());
                near_copy = true;
            }
            // An installer's ELF key with its build-id note gone or
            // broken: reported, marked unverified and flagged.
            Content::NearCopyUnconfirmed(id, flag) => {
                Counters::add(&c.near_copy_unconfirmed, 1);
                rec.installer_id = Some(id);
                build_id_flag = Some(flag);
                near_copy = true;
                unverified = true;
            }
            // An installer's ELF key with another build ID: another build
            // of it, or a copy whose build ID was rewritten. Reported,
            // unverified, with the copy's build ID, never dropped: a
            // rewritten build ID must not be a way past swmon.
            Content::NearCopyMismatch(id, bid) => {
                Counters::add(&c.near_copy_mismatch, 1);
                rec.installer_id = Some(id);
                build_id = Some(bid.to_string());
                build_id_flag = Some("mismatch");
                near_copy = true;
                unverified = true;
            }
            Content::Other => {
                if ways.near {
                    Counters::add(&c.near_copy_mismatch, 1);
                } else {
                    Counters::add(&c.content_mismatch, 1);
                }
                return None;
            }
            // A fileless exec of an installer's size or ELF key, gone
            // before it could be read: reported, marked unverified,
            // rather than dropped.
            Content::Unreadable if rec.reasons & reason::FILELESS != 0 => {
                Counters::add(&c.content_unverified, 1);
                unverified = true;
            }
            Content::Unreadable => {
                Counters::add(&c.content_unreadable, 1);
                return None;
            }
        }
    }
    // A renamed copy of an interpreter (the kernel matched its ELF key):
    // confirmed by its build ID; any doubt is reported with the event.
    if rec.reasons & reason::INTERPRETER_ELF != 0 {
        if let Some(interp) = rec.interpreter_id {
            let exec = ExecFile {
                dev: rec.dev,
                ino: rec.ino,
                size: rec.size,
            };
            let mut copy = matcher.interpreter(&enrich::proc_exe(rec.pid), exec, interp);
            if copy == InterpreterCopy::Unconfirmed("unreadable") && rec.nlink != 0 {
                let path = PathBuf::from(crate::ebpf::filter::os(&rec.executable));
                copy = matcher.interpreter(&path, exec, interp);
            }
            match copy {
                InterpreterCopy::Confirmed(bid) => build_id = Some(bid.to_string()),
                InterpreterCopy::Mismatch(bid) => {
                    build_id = Some(bid.to_string());
                    build_id_flag = Some("mismatch");
                    unverified = true;
                }
                InterpreterCopy::Unconfirmed(why) => {
                    build_id_flag = Some(why);
                    unverified = true;
                }
            }
        }
    }
    // An interpreter's argv longer than the kernel's copy (or unreadable
    // then): the rest from /proc while it is the same process, else
    // classified on the copy and marked uncertain.
    let mut argv_incomplete = false;
    if rec.reasons & reason::INTERPRETER_SCAN != 0
        && rec.flags & (flag::ARGV_TRUNCATED | flag::ARGV_UNREADABLE) != 0
    {
        match enrich::full_argv(&rec) {
            Some(argv) => {
                rec.argv = argv;
                rec.flags &= !(flag::ARGV_TRUNCATED | flag::ARGV_UNREADABLE);
            }
            None => {
                Counters::add(&c.interpreter_argv_unread, 1);
                argv_incomplete = true;
            }
        }
    }
    // The loader run by hand on a program no name marks (`ld.so ./copy`):
    // the program's file, opened as the process sees it, identified like
    // a copy candidate. Behind an option swmon does not know, each of the
    // loader's readings in turn (`classify::command::loader_readings`),
    // the first file that is an installer's winning; the arguments are
    // then reported unknown (`enrich::installer_args`).
    if rec.reasons & reason::LOADER_PROGRAM != 0 {
        let argv: Vec<&[u8]> = rec.argv.iter().map(Vec::as_slice).collect();
        let programs: Vec<Vec<u8>> = crate::classify::command::loader_readings(&argv)
            .iter()
            .map(|r| argv[r.program].to_vec())
            .collect();
        for program in programs {
            match crate::package_file::open_program(&rec, &program) {
                Ok(file) => match matcher.program(&file) {
                    Content::Installer(id, hash) => {
                        rec.installer_id = Some(id);
                        sha256 = Some(hash);
                    }
                    Content::NearCopy(id, bid) => {
                        rec.installer_id = Some(id);
                        build_id = Some(bid.to_string());
                    }
                    Content::NearCopyUnconfirmed(id, flag) => {
                        Counters::add(&c.near_copy_unconfirmed, 1);
                        rec.installer_id = Some(id);
                        build_id_flag = Some(flag);
                        unverified = true;
                    }
                    Content::NearCopyMismatch(id, bid) => {
                        Counters::add(&c.near_copy_mismatch, 1);
                        rec.installer_id = Some(id);
                        build_id = Some(bid.to_string());
                        build_id_flag = Some("mismatch");
                        unverified = true;
                    }
                    Content::Other | Content::Unreadable => continue,
                },
                Err(_) => {
                    Counters::add(&c.loader_program_unread, 1);
                    continue;
                }
            }
            break;
        }
    }
    let Some(mut id) = enrich::identify(&rec) else {
        Counters::add(&c.rejected, 1);
        return None;
    };
    if near_copy && id.via == "renamed" {
        // Reached by its ELF key and build ID, not its name or content.
        id.via = "near-copy";
    }
    // The exec'd process is the first to go (a `dpkg --version` lives a
    // few milliseconds): its own /proc entries are read first, its
    // parents' (usually waiting for it) after.
    // The cgroup and the parent chain come from what the kernel captured
    // at the exec: right even when every process is gone by now.
    let placement = enrich::placement(&rec);
    // Bound to the exec'ing process's start time: a reused pid lends nothing.
    let tty = enrich::tty(&rec);
    let cwd = if rec.cwd.is_empty() {
        enrich::cwd_of(&rec)
    } else {
        Some(rec.cwd.clone())
    };
    // Stats of paths the exec named (`pyvenv.cfg`): here, never on the
    // decide stage.
    let venv = enrich::venv_of(&rec);
    // Local package files the run named (`dpkg -i ./x.deb`), read while
    // the process runs, in its root, as its user, within a deadline.
    let package_files = crate::package_file::for_exec(&rec, &id);
    let stuck = crate::package_file::timed_out(&package_files);
    Counters::add(&c.package_file_stuck, stuck as u64);
    let ancestors = enrich::ancestors(&rec);
    let cut = ancestors.iter().filter(|a| a.args_truncated).count();
    Counters::add(&c.ancestor_args_cut, cut as u64);
    let facts = Facts {
        installer_id: id.installer_id,
        via: id.via,
        // The kernel read it at the exec; /proc is the fallback (racy:
        // gone when the run has already ended).
        cwd,
        sha256,
        build_id,
        unverified,
        build_id_flag,
        argv_incomplete,
        ancestors,
        placement,
        tty,
        venv,
        package_files,
        exe_owner: exe_owner(&rec),
        facts_unread: None,
    };
    Some(Prepared::Exec(Box::new(rec), Box::new(facts)))
}

/// The owner and mode of the file the exec ran: `/proc/PID/exe` (the
/// process may have exec'd again or be gone), else the kernel's path
/// (from swmon's root), each only when it is the kernel's (dev, inode);
/// `None` when neither is (an overlay reporting another device, a file
/// replaced since).
fn exe_owner(rec: &ExecRecord) -> Option<(u32, u32)> {
    use std::os::unix::fs::MetadataExt;
    let ours = |m: std::fs::Metadata| {
        (rec.ino != 0 && crate::ebpf::filter::kernel_dev(m.dev()) == rec.dev && m.ino() == rec.ino)
            .then(|| (m.uid(), m.mode()))
    };
    if let Some(o) = std::fs::metadata(enrich::proc_exe(rec.pid))
        .ok()
        .and_then(ours)
    {
        return Some(o);
    }
    if rec.nlink == 0
        || rec.flags & swmon_common::flag::PATH_TRUNCATED != 0
        || !rec.executable.starts_with(b"/")
    {
        return None;
    }
    let path = PathBuf::from(crate::ebpf::filter::os(&rec.executable));
    std::fs::metadata(path).ok().and_then(ours)
}
