//! The kernel stream: loads swmon's eBPF program, fills its filter maps,
//! attaches it to `sched_process_exec`, `sched_process_exit` and
//! `sched_process_fork` and the page cache's `mm_filemap_get_pages` (the
//! module-load witness), all raw tracepoints, and yields the records it passes.
//!
//! Not here: what a record means (that is [`crate::run`] and [`crate::event`]).
//! Loss is counted in the kernel (ring-buffer reservations that failed) and
//! read back through [`KernelStream::counters`]; whether the programs are
//! still in place is [`KernelStream::tamper_alerts`] (see [`attach`]).

pub mod attach;
pub mod btf;
pub mod decode;
pub mod elf;
pub mod filter;
pub mod log;

use std::{
    io,
    os::fd::AsFd,
    path::{Path, PathBuf},
};

use aya::{
    maps::{lpm_trie::Key, HashMap, LpmTrie, Map, MapData, PerCpuArray, ProgramArray, RingBuf},
    programs::{links::FdLink, ProgramError, RawTracePoint},
    Ebpf, EbpfLoader,
};
use swmon_common::{counter, ElfKey, InodeKey, NameValue, NAME_MAX};
use tokio::io::unix::AsyncFd;

pub use self::{
    decode::{ExecRecord, ExitRecord, Record},
    filter::{FilterTables, FoundInstaller},
};

/// The compiled eBPF object, built by `build.rs`.
pub(crate) static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/swmon"));

const BTF_PATH: &str = "/sys/kernel/btf/vmlinux";

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("swmon loads BPF programs: it needs CAP_BPF and CAP_PERFMON (root has them), and lacks {}", .0.join(", "))]
    NoCapability(Vec<String>),
    #[error("no kernel BTF at {BTF_PATH}: this kernel was built without CONFIG_DEBUG_INFO_BTF")]
    NoBtf,
    #[error(transparent)]
    Btf(#[from] btf::BtfError),
    #[error("this swmon was built with AYA_BUILD_SKIP set and holds no eBPF program; rebuild without it")]
    NoObject,
    #[error("can't load the eBPF object: {0}")]
    Object(#[from] aya::EbpfError),
    #[error("the eBPF object has no {0}")]
    Missing(&'static str),
    #[error("the kernel rejected program {program}: {}", verifier_tail(error))]
    Program {
        program: &'static str,
        error: ProgramError,
    },
    #[error("can't fill map {map}: {source}")]
    Map {
        map: &'static str,
        source: aya::maps::MapError,
    },
    #[error("can't watch the ring buffer: {0}")]
    Poll(io::Error),
    #[error("can't read the eBPF log ring (--ebpf-log): {0}")]
    Log(String),
    #[error("can't read back the link of {program}: {error}")]
    Link {
        program: &'static str,
        error: String,
    },
}

/// A verifier log runs to megabytes; its end says why it gave up.
fn verifier_tail(e: &ProgramError) -> String {
    const LINES: usize = 40;
    let text = e.to_string();
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() <= LINES {
        return text;
    }
    format!(
        "{}\n[... {} lines of the verifier log left out ...]\n{}",
        lines[0],
        lines.len() - LINES - 1,
        lines[lines.len() - LINES..].join("\n")
    )
}

/// Options for loading the kernel side.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Ring-buffer size in bytes (a power of two, at least a page).
    pub ring_buffer_bytes: u32,
    /// Folders searched for installers beside the built-in ones.
    pub extra_dirs: Vec<PathBuf>,
    /// `--ebpf-log`: the programs log their decisions at this level
    /// (`None`: they log nothing).
    pub ebpf_log: Option<log::LogLevel>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            ring_buffer_bytes: 4 << 20,
            extra_dirs: Vec::new(),
            ebpf_log: None,
        }
    }
}

/// The entry programs and the raw tracepoints they attach to, by name. The
/// last is the module-load witness, on the page cache's read path, which
/// every buffered read of a file passes (no syscall tracepoint: one would
/// put every task on the traced syscall path); its capture stages are the
/// exec's (`STAGES`). `sched_process_fork` hands an interpreter's
/// module-load entry to the processes it forks.
const ENTRY_PROGRAMS: [(&str, &str); 6] = [
    ("sched_process_exec", "sched_process_exec"),
    ("sched_process_exit", "sched_process_exit"),
    ("sched_process_fork", "sched_process_fork"),
    ("swmon_read", "mm_filemap_get_pages"),
    ("swmon_state", "writeback_dirty_folio"),
    ("swmon_attr", "writeback_mark_inode_dirty"),
];

/// The exec program's later stages, tail-called through `STAGES` at
/// these indexes in this order.
const STAGE_PROGRAMS: [&str; 4] = ["swmon_scan", "swmon_emit", "swmon_cgroup", "swmon_parents"];

/// Counters kept by the eBPF program, summed over CPUs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelCounters {
    pub seen: u64,
    pub passed: u64,
    pub exec_reserve_failed: u64,
    pub exit_reserve_failed: u64,
    pub interpreter_dropped: u64,
    pub track_failed: u64,
    pub exits: u64,
    pub stage_failed: u64,
    /// `--ebpf-log` records the programs wrote or tried to write.
    pub log_records: u64,
    pub argv_unreadable: u64,
    pub state_matched: u64,
    pub state_sent: u64,
    pub state_reserve_failed: u64,
}

/// The loaded, attached program and its maps.
pub struct KernelStream {
    ebpf: Ebpf,
    ring: AsyncFd<RingBuf<MapData>>,
    counters: PerCpuArray<MapData, u64>,
    pub tables: FilterTables,
    attachments: attach::Attachments,
    seen_watch: attach::SeenWatch,
    /// Polls since the filter maps were last compared with `tables`.
    polls: u32,
    /// `--installer-dir` folders, for [`KernelStream::rediscover`].
    extra_dirs: Vec<PathBuf>,
    /// `--ebpf-log`'s reader, until [`KernelStream::take_log`].
    log: Option<EbpfLog>,
}

/// `--ebpf-log`'s reader: aya-log's ring, watched for readability, and
/// the records it has decoded.
pub struct EbpfLog {
    pub ring: AsyncFd<aya_log::EbpfLogger<log::Collector>>,
    pub records: log::Collector,
}

impl EbpfLog {
    /// Waits until the log ring has records, then reads them all.
    pub async fn read(&mut self) -> io::Result<Vec<log::KernelLog>> {
        let mut guard = self.ring.readable_mut().await?;
        guard.get_inner_mut().flush();
        guard.clear_ready();
        Ok(self.records.take())
    }

    /// Reads what the log ring holds now.
    pub fn drain(&mut self) -> Vec<log::KernelLog> {
        self.ring.get_mut().flush();
        self.records.take()
    }
}

/// What a rediscovery changed in the kernel's inode, size and ELF key
/// tables.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rediscovered {
    pub inodes_added: usize,
    pub inodes_removed: usize,
    pub sizes_added: usize,
    pub sizes_removed: usize,
    pub elf_keys_added: usize,
    pub elf_keys_removed: usize,
}

impl Rediscovered {
    pub fn changed(&self) -> bool {
        *self != Rediscovered::default()
    }
}

/// The raw tracepoints swmon's programs attach to.
pub fn tracepoints() -> Vec<&'static str> {
    ENTRY_PROGRAMS.iter().map(|(_, tp)| *tp).collect()
}

/// What loading needs before the object is opened, each missing one a
/// clear error: root, the kernel's BTF, an embedded object; then this
/// kernel's facts from its BTF.
fn prerequisites() -> Result<btf::KernelFacts, LoadError> {
    // Capabilities, not uid 0: a service may run with its set alone.
    // CAP_SYS_ADMIN stands in for both, as the kernel allows.
    let missing = crate::privilege::missing_effective(&[
        caps::Capability::CAP_BPF,
        caps::Capability::CAP_PERFMON,
    ]);
    let admin = crate::privilege::missing_effective(&[caps::Capability::CAP_SYS_ADMIN]).is_empty();
    if !missing.is_empty() && !admin {
        return Err(LoadError::NoCapability(missing));
    }
    if !Path::new(BTF_PATH).exists() {
        return Err(LoadError::NoBtf);
    }
    if OBJECT.is_empty() {
        return Err(LoadError::NoObject);
    }
    let facts = btf::kernel_facts(Path::new(BTF_PATH))?;
    Ok(facts)
}

/// The object with this kernel's facts in its globals, its maps created and
/// no program loaded yet.
fn open_object(facts: &btf::KernelFacts, options: &LoadOptions) -> Result<Ebpf, LoadError> {
    let group_dead = u32::from(facts.exit_group_dead);
    // Off: every log point is skipped on its first test, and aya-log's
    // ring (128 KiB) shrinks to a page, which nothing writes.
    let log_level = log::LogLevel::kernel_value(options.ebpf_log);

    // No kernel BTF for aya: the program has no CO-RE relocations (the
    // offsets above stand in for them), and parsing it would double
    // swmon's peak memory.
    let mut loader = EbpfLoader::new();
    loader
        .btf(None)
        .override_global("OFFSETS", &facts.offsets, true)
        .override_global("CAPTURE_OFFSETS", &facts.capture_offsets, true)
        .override_global("SCAN_OFFSETS", &facts.scan_offsets, true)
        .override_global("EXIT_GROUP_DEAD", &group_dead, true)
        .override_global("BPRM_BUF", &facts.bprm_buf, true)
        .override_global("I_DIRTY", &facts.i_dirty, true)
        .override_global("EBPF_LOG", &log_level, true)
        .override_global(aya_log::LEVEL, &log_level, true)
        .map_max_entries("EVENTS", options.ring_buffer_bytes);
    if options.ebpf_log.is_none() {
        loader.map_max_entries("AYA_LOGS", 4096);
    }
    Ok(loader.load(OBJECT)?)
}

/// What `swmon doctor` asks of the kernel side: does the verifier take
/// every program `swmon run` loads? Each is loaded as [`KernelStream::load`]
/// loads it, and none is attached; all are freed on return (nothing stays
/// behind). Returns the programs loaded, by name.
pub fn check_programs(options: &LoadOptions) -> Result<Vec<&'static str>, LoadError> {
    let facts = prerequisites()?;
    let mut ebpf = open_object(&facts, options)?;
    let mut loaded = Vec::new();
    for program in STAGE_PROGRAMS
        .iter()
        .copied()
        .chain(ENTRY_PROGRAMS.iter().map(|(p, _)| *p))
    {
        let tp: &mut RawTracePoint = ebpf
            .program_mut(program)
            .ok_or(LoadError::Missing(program))?
            .try_into()
            .map_err(|error| LoadError::Program { program, error })?;
        tp.load()
            .map_err(|error| LoadError::Program { program, error })?;
        loaded.push(program);
    }
    Ok(loaded)
}

impl KernelStream {
    /// Loads and attaches the program. Fails with a clear error for each
    /// missing prerequisite.
    pub fn load(options: &LoadOptions) -> Result<KernelStream, LoadError> {
        let facts = prerequisites()?;
        let mut ebpf = open_object(&facts, options)?;
        // The log ring is taken now; the programs, loaded below, keep
        // their own reference to it.
        let log = match options.ebpf_log {
            None => None,
            Some(_) => {
                let records = log::Collector::default();
                let logger = aya_log::EbpfLogger::init_with_logger(&mut ebpf, records.clone())
                    .map_err(|e| LoadError::Log(e.to_string()))?;
                // SAFETY: the logger owns the log ring's map fd and keeps it
                // open, unchanged, for as long as the AsyncFd that owns it.
                let ring = unsafe {
                    AsyncFd::register_with_interest(logger, tokio::io::Interest::READABLE)
                }
                .map_err(|e| LoadError::Poll(e.into()))?;
                Some(EbpfLog { ring, records })
            }
        };

        // Trusted folders only, `$PATH`'s included (see filter).
        let tables = FilterTables::discover(&options.extra_dirs);
        fill_maps(&mut ebpf, &tables)?;

        // The exec program tail-calls its later stages; they are loaded
        // first and put in the STAGES array, then the entry points attach.
        let mut stage_programs = Vec::new();
        for (index, program) in (0u32..).zip(STAGE_PROGRAMS) {
            let tp: &mut RawTracePoint = ebpf
                .program_mut(program)
                .ok_or(LoadError::Missing(program))?
                .try_into()
                .map_err(|error| LoadError::Program { program, error })?;
            tp.load()
                .map_err(|error| LoadError::Program { program, error })?;
            let fd = tp
                .fd()
                .map_err(|error| LoadError::Program { program, error })?
                .try_clone()
                .map_err(LoadError::Poll)?;
            let id = tp
                .info()
                .map_err(|error| LoadError::Program { program, error })?
                .id();
            let mut stages =
                ProgramArray::try_from(ebpf.map_mut("STAGES").ok_or(LoadError::Missing("STAGES"))?)
                    .map_err(|source| LoadError::Map {
                        map: "STAGES",
                        source,
                    })?;
            stages.set(index, &fd, 0).map_err(|source| LoadError::Map {
                map: "STAGES",
                source,
            })?;
            stage_programs.push((index, program, fd, id));
        }
        let stages_map = ebpf
            .take_map("STAGES")
            .ok_or(LoadError::Missing("STAGES"))?;
        let (stages_fd, stages_map_id) = match &stages_map {
            Map::ProgramArray(data) => (
                data.fd()
                    .as_fd()
                    .try_clone_to_owned()
                    .map_err(LoadError::Poll)?,
                data.info().map(|i| i.id()).unwrap_or(0),
            ),
            _ => return Err(LoadError::Missing("STAGES as a program array")),
        };
        let stages = ProgramArray::try_from(stages_map).map_err(|source| LoadError::Map {
            map: "STAGES",
            source,
        })?;
        let mut attachments = attach::Attachments::new(stages, stages_fd, stages_map_id);
        for (index, program, fd, id) in stage_programs {
            attachments.hold_stage(index, program, fd, id);
        }
        for (program, tracepoint) in ENTRY_PROGRAMS {
            let tp: &mut RawTracePoint = ebpf
                .program_mut(program)
                .ok_or(LoadError::Missing(program))?
                .try_into()
                .map_err(|error| LoadError::Program { program, error })?;
            tp.load()
                .map_err(|error| LoadError::Program { program, error })?;
            let link_id = tp
                .attach(tracepoint)
                .map_err(|error| LoadError::Program { program, error })?;
            // swmon holds the link itself, to check it on every poll.
            let link: FdLink = tp
                .take_link(link_id)
                .map_err(|error| LoadError::Program { program, error })?
                .into();
            attachments
                .hold_link(program, link)
                .map_err(|error| LoadError::Link { program, error })?;
        }

        let ring = RingBuf::try_from(
            ebpf.take_map("EVENTS")
                .ok_or(LoadError::Missing("EVENTS"))?,
        )
        .map_err(|source| LoadError::Map {
            map: "EVENTS",
            source,
        })?;
        // SAFETY: the ring buffer owns its map fd and keeps it open, unchanged,
        // for as long as the AsyncFd that owns the ring buffer lives.
        let ring = unsafe { AsyncFd::register_with_interest(ring, tokio::io::Interest::READABLE) }
            .map_err(|e| LoadError::Poll(e.into()))?;
        let counters = PerCpuArray::try_from(
            ebpf.take_map("COUNTERS")
                .ok_or(LoadError::Missing("COUNTERS"))?,
        )
        .map_err(|source| LoadError::Map {
            map: "COUNTERS",
            source,
        })?;
        Ok(KernelStream {
            ebpf,
            ring,
            counters,
            tables,
            attachments,
            seen_watch: attach::SeenWatch::default(),
            extra_dirs: options.extra_dirs.clone(),
            polls: 0,
            log,
        })
    }

    /// Discovers the host's installers again and brings the kernel's INODES,
    /// SIZES and ELF_KEYS maps in line: new entries are added, stale ones removed.
    /// Called after an installer run ends (an upgrade of dpkg gives it a new
    /// inode and size). Works after the capability drop: updates through a
    /// map fd that is already open are not capability-checked. On an error
    /// the maps may hold both old and new entries (a superset: nothing is
    /// missed), and `tables` keeps the old discovery.
    pub fn rediscover(&mut self) -> Result<Rediscovered, LoadError> {
        let new = FilterTables::discover(&self.extra_dirs);
        self.apply_tables(new)
    }

    /// The `--installer-dir` folders, for a discovery run elsewhere (a
    /// blocking task) and handed to [`KernelStream::apply_tables`].
    pub fn extra_dirs(&self) -> &[PathBuf] {
        &self.extra_dirs
    }

    /// Brings the INODES, SIZES and ELF_KEYS maps from the current tables to `new`
    /// (the map half of [`KernelStream::rediscover`]; no file is read).
    pub fn apply_tables(&mut self, new: FilterTables) -> Result<Rediscovered, LoadError> {
        // `self.tables` follows the maps entry by entry: a failure half way
        // leaves it equal to what the maps hold, so the next map check sees
        // no difference and raises no false `ebpf-tampered` (the half-new
        // tables are what swmon wrote, not an outsider).
        let mut done = Rediscovered::default();
        let tables = &mut self.tables;
        (done.inodes_added, done.inodes_removed) =
            sync_hash(&mut self.ebpf, "INODES", &mut tables.inodes, &new.inodes)?;
        (done.sizes_added, done.sizes_removed) =
            sync_hash(&mut self.ebpf, "SIZES", &mut tables.sizes, &new.sizes)?;
        (done.elf_keys_added, done.elf_keys_removed) = sync_hash(
            &mut self.ebpf,
            "ELF_KEYS",
            &mut tables.elf_keys,
            &new.elf_keys,
        )?;
        // The maps now hold `new`'s entries (the order of the lists is not
        // compared).
        self.tables = new;
        Ok(done)
    }

    /// The links and tail-call stages that are not as swmon left them at
    /// load (see [`attach`]); a changed stage is put back at once. Meant
    /// for every poll: a few syscalls on fds swmon holds.
    pub fn check_attached(&mut self) -> Vec<attach::Detached> {
        self.attachments.check()
    }

    /// The filter's `seen` counter standing still while the host forks,
    /// confirmed by an exec of swmon's own (see [`attach::SeenWatch`]);
    /// returned once when the stall starts.
    ///
    /// A counter that cannot be read is no evidence: nothing is concluded
    /// (never a 0 that would look like a stall). `/proc/stat` is read only
    /// when `seen` has not moved.
    pub fn check_seen(&mut self) -> Option<attach::Stall> {
        let seen = read_counter(&self.counters, counter::SEEN)?;
        let counters = &self.counters;
        self.seen_watch.observe(seen, attach::host_forks, || {
            attach::canary_exec()
                .then(|| read_counter(counters, counter::SEEN))
                .flatten()
        })
    }

    /// Everything [`Self::check_attached`] and [`Self::check_seen`] found,
    /// as alerts to write.
    pub fn tamper_alerts(&mut self) -> Vec<attach::Alert> {
        let mut alerts: Vec<attach::Alert> = self
            .check_attached()
            .iter()
            .map(attach::Detached::alert)
            .collect();
        alerts.extend(self.check_seen().map(|s| s.alert()));
        self.polls += 1;
        if self.polls >= MAP_CHECK_POLLS {
            self.polls = 0;
            alerts.extend(self.check_filter_maps());
        }
        alerts
    }

    /// Compares the filter maps (NAMES, INODES, SIZES, ELF_KEYS) with the tables
    /// swmon filled them from; an entry removed, changed or added from
    /// outside (`bpftool map delete/update`) is put back or removed, and
    /// is an `ebpf-tampered` alert per map. An entry that cannot be read
    /// (not "not found") is counted as unverifiable, never rewritten.
    pub fn check_filter_maps(&mut self) -> Vec<attach::Alert> {
        let tables = &self.tables;
        let ebpf = &mut self.ebpf;
        let mut out = Vec::new();
        if let Some(map) = ebpf.map_mut("NAMES") {
            if let Ok(mut trie) = LpmTrie::<_, [u8; NAME_MAX], NameValue>::try_from(map) {
                out.extend(repair_trie(&mut trie, &tables.names));
            }
        }
        if let Some(map) = ebpf.map_mut("INODES") {
            if let Ok(mut m) = HashMap::<_, InodeKey, u16>::try_from(map) {
                out.extend(repair_hash(&mut m, "INODES", &tables.inodes));
            }
        }
        if let Some(map) = ebpf.map_mut("SIZES") {
            if let Ok(mut m) = HashMap::<_, u64, u16>::try_from(map) {
                out.extend(repair_hash(&mut m, "SIZES", &tables.sizes));
            }
        }
        if let Some(map) = ebpf.map_mut("ELF_KEYS") {
            if let Ok(mut m) = HashMap::<_, ElfKey, u16>::try_from(map) {
                out.extend(repair_hash(&mut m, "ELF_KEYS", &tables.elf_keys));
            }
        }
        out
    }

    /// The ids of swmon's links and stage programs, as loaded.
    pub fn attachment_ids(&self) -> serde_json::Value {
        self.attachments.ids()
    }

    /// Waits until records are ready, then hands each one's bytes to `f`.
    /// Returns how many were read.
    pub async fn read(&mut self, mut f: impl FnMut(&[u8])) -> io::Result<usize> {
        let mut guard = self.ring.readable_mut().await?;
        let ring = guard.get_inner_mut();
        let mut n = 0;
        while let Some(item) = ring.next() {
            f(&item);
            n += 1;
        }
        guard.clear_ready();
        Ok(n)
    }

    /// Waits until records are ready, then hands at most `max` of them to
    /// `f` (the ring stays marked ready when more are left, so the caller
    /// can yield between batches). Returns how many were read.
    pub async fn read_batch(&mut self, max: usize, mut f: impl FnMut(&[u8])) -> io::Result<usize> {
        let mut guard = self.ring.readable_mut().await?;
        let ring = guard.get_inner_mut();
        let mut n = 0;
        while n < max {
            let Some(item) = ring.next() else {
                guard.clear_ready();
                break;
            };
            f(&item);
            n += 1;
        }
        Ok(n)
    }

    /// Reads whatever is in the ring buffer now, without waiting.
    pub fn drain(&mut self, mut f: impl FnMut(&[u8])) -> usize {
        let ring = self.ring.get_mut();
        let mut n = 0;
        while let Some(item) = ring.next() {
            f(&item);
            n += 1;
        }
        n
    }

    /// `--ebpf-log`'s reader, for the kernel reader to watch (`None` when
    /// the flag is off, or once taken).
    pub fn take_log(&mut self) -> Option<EbpfLog> {
        self.log.take()
    }

    pub fn counters(&self) -> KernelCounters {
        let get = |i: u32| sum_counter(&self.counters, i);
        KernelCounters {
            seen: get(counter::SEEN),
            passed: get(counter::PASSED),
            exec_reserve_failed: get(counter::EXEC_RESERVE_FAILED),
            exit_reserve_failed: get(counter::EXIT_RESERVE_FAILED),
            interpreter_dropped: get(counter::INTERPRETER_DROPPED),
            track_failed: get(counter::TRACK_FAILED),
            exits: get(counter::EXITS),
            stage_failed: get(counter::STAGE_FAILED),
            log_records: get(counter::LOG_RECORDS),
            argv_unreadable: get(counter::ARGV_UNREADABLE),
            state_matched: get(counter::STATE_MATCHED),
            state_sent: get(counter::STATE_SENT),
            state_reserve_failed: get(counter::STATE_RESERVE_FAILED),
        }
    }
}

/// Polls between two comparisons of the filter maps (a poll is 500 ms).
const MAP_CHECK_POLLS: u32 = 4;

/// What a comparison of one filter map found and did.
#[derive(Default)]
struct MapDiff {
    missing: usize,
    changed: usize,
    extra: usize,
    unverifiable: usize,
}

impl MapDiff {
    fn alert(&self, map: &'static str, restored: bool) -> Option<attach::Alert> {
        (self.missing + self.changed + self.extra + self.unverifiable > 0).then(|| attach::Alert {
            action: "ebpf-tampered",
            detail: serde_json::json!({
                "map": map,
                "missing": self.missing,
                "changed": self.changed,
                "extra": self.extra,
                "unverifiable": self.unverifiable,
                "restored": restored,
            }),
        })
    }
}

/// Brings map `name` from `held` (what swmon last wrote to it) to `want`:
/// inserts what is new or changed, removes what is gone, and keeps `held`
/// equal to the map at each step, so a failure part way leaves `held` what
/// the map holds. Returns how many entries were added and removed.
fn sync_hash<K>(
    ebpf: &mut aya::Ebpf,
    name: &'static str,
    held: &mut Vec<(K, u16)>,
    want: &[(K, u16)],
) -> Result<(usize, usize), LoadError>
where
    K: aya::Pod + PartialEq,
{
    let map_err = |source| LoadError::Map { map: name, source };
    let mut m: HashMap<_, K, u16> =
        HashMap::try_from(ebpf.map_mut(name).ok_or(LoadError::Missing(name))?).map_err(map_err)?;
    let mut added = 0;
    for (key, id) in want {
        if !held.contains(&(*key, *id)) {
            m.insert(key, id, 0).map_err(map_err)?;
            held.retain(|(k, _)| k != key);
            held.push((*key, *id));
            added += 1;
        }
    }
    let gone: Vec<K> = held
        .iter()
        .map(|(k, _)| *k)
        .filter(|k| !want.iter().any(|(n, _)| n == k))
        .collect();
    for key in &gone {
        filter::removed(m.remove(key)).map_err(map_err)?;
        held.retain(|(k, _)| k != key);
    }
    Ok((added, gone.len()))
}

fn repair_hash<K, V>(
    m: &mut HashMap<&mut MapData, K, V>,
    name: &'static str,
    want: &[(K, V)],
) -> Option<attach::Alert>
where
    K: aya::Pod + PartialEq,
    V: aya::Pod + PartialEq,
{
    let mut d = MapDiff::default();
    for (k, v) in want {
        match m.get(k, 0) {
            Ok(found) if found == *v => {}
            Ok(_) => {
                d.changed += 1;
                let _ = m.insert(k, v, 0);
            }
            Err(aya::maps::MapError::KeyNotFound) => {
                d.missing += 1;
                let _ = m.insert(k, v, 0);
            }
            Err(_) => d.unverifiable += 1,
        }
    }
    let extra: Vec<K> = m
        .keys()
        .filter_map(Result::ok)
        .filter(|k| !want.iter().any(|(w, _)| w == k))
        .collect();
    d.extra = extra.len();
    for k in &extra {
        let _ = m.remove(k);
    }
    let restored = d.unverifiable == 0
        && want.iter().all(|(k, v)| m.get(k, 0).is_ok_and(|f| f == *v))
        && m.keys().filter_map(Result::ok).count() == want.len();
    d.alert(name, restored)
}

fn repair_trie(
    m: &mut LpmTrie<&mut MapData, [u8; NAME_MAX], NameValue>,
    want: &[(u32, [u8; NAME_MAX], NameValue)],
) -> Option<attach::Alert> {
    // A trie lookup is longest-prefix: presence is judged from its keys.
    let present =
        |m: &LpmTrie<&mut MapData, [u8; NAME_MAX], NameValue>| -> Vec<(u32, [u8; NAME_MAX])> {
            m.keys()
                .filter_map(Result::ok)
                .map(|k| (k.prefix_len(), k.data()))
                .collect()
        };
    let have = present(m);
    let mut d = MapDiff::default();
    for (bits, data, v) in want {
        let key = Key::new(*bits, *data);
        if !have.contains(&(*bits, *data)) {
            d.missing += 1;
            let _ = m.insert(&key, v, 0);
            continue;
        }
        match m.get(&key, 0) {
            Ok(found) if found == *v => {}
            Ok(_) => {
                d.changed += 1;
                let _ = m.insert(&key, v, 0);
            }
            Err(_) => d.unverifiable += 1,
        }
    }
    let extra: Vec<(u32, [u8; NAME_MAX])> = have
        .into_iter()
        .filter(|(b, k)| !want.iter().any(|(wb, wk, _)| wb == b && wk == k))
        .collect();
    d.extra = extra.len();
    for (bits, data) in &extra {
        let _ = m.remove(&Key::new(*bits, *data));
    }
    let now = present(m);
    let restored = d.unverifiable == 0
        && now.len() == want.len()
        && want.iter().all(|(b, k, v)| {
            now.contains(&(*b, *k)) && m.get(&Key::new(*b, *k), 0).is_ok_and(|f| f == *v)
        });
    d.alert("NAMES", restored)
}

/// One kernel counter summed over CPUs (0 when unreadable, for display).
fn sum_counter(counters: &PerCpuArray<MapData, u64>, index: u32) -> u64 {
    read_counter(counters, index).unwrap_or(0)
}

/// One kernel counter summed over CPUs; `None` when it cannot be read.
fn read_counter(counters: &PerCpuArray<MapData, u64>, index: u32) -> Option<u64> {
    counters.get(&index, 0).ok().map(|v| v.iter().sum())
}

fn fill_maps(ebpf: &mut Ebpf, tables: &FilterTables) -> Result<(), LoadError> {
    let map_err = |map| move |source| LoadError::Map { map, source };
    let mut names: LpmTrie<_, [u8; NAME_MAX], NameValue> =
        LpmTrie::try_from(ebpf.map_mut("NAMES").ok_or(LoadError::Missing("NAMES"))?)
            .map_err(map_err("NAMES"))?;
    for (bits, data, value) in &tables.names {
        names
            .insert(&Key::new(*bits, *data), value, 0)
            .map_err(map_err("NAMES"))?;
    }
    let mut inodes: HashMap<_, InodeKey, u16> =
        HashMap::try_from(ebpf.map_mut("INODES").ok_or(LoadError::Missing("INODES"))?)
            .map_err(map_err("INODES"))?;
    for (key, id) in &tables.inodes {
        inodes.insert(key, id, 0).map_err(map_err("INODES"))?;
    }
    let mut sizes: HashMap<_, u64, u16> =
        HashMap::try_from(ebpf.map_mut("SIZES").ok_or(LoadError::Missing("SIZES"))?)
            .map_err(map_err("SIZES"))?;
    for (size, id) in &tables.sizes {
        sizes.insert(size, id, 0).map_err(map_err("SIZES"))?;
    }
    let mut keys: HashMap<_, ElfKey, u16> = HashMap::try_from(
        ebpf.map_mut("ELF_KEYS")
            .ok_or(LoadError::Missing("ELF_KEYS"))?,
    )
    .map_err(map_err("ELF_KEYS"))?;
    for (key, id) in &tables.elf_keys {
        keys.insert(key, id, 0).map_err(map_err("ELF_KEYS"))?;
    }
    let mut watched: HashMap<_, InodeKey, u32> = HashMap::try_from(
        ebpf.map_mut("WATCHED_DIRS")
            .ok_or(LoadError::Missing("WATCHED_DIRS"))?,
    )
    .map_err(map_err("WATCHED_DIRS"))?;
    for (key, _) in &tables.watched_dirs {
        watched.insert(key, 1, 0).map_err(map_err("WATCHED_DIRS"))?;
    }
    Ok(())
}
