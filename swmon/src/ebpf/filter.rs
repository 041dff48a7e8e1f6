//! What the in-kernel filter matches: the catalogue's names, and the
//! installers found on this host by (device, inode), size and ELF key (the
//! masked start of the file, for near-copies; see [`super::elf`]).
//!
//! Discovery walks a fixed list of system program folders ([`PROGRAM_DIRS`]),
//! the folders of `$PATH` and those given with `--installer-dir`. `$PATH`
//! is the caller's to set (`sudo -E`, a unit's `Environment=`), so its
//! folders pass the same checks as any other: a folder a user writes never
//! decides what "dpkg's inode" is (one that fails is named in
//! [`FilterTables::untrusted`]), while a root-owned one such as pyenv's
//! shims under `/root` still counts. Nothing it looks at is trusted
//! blindly:
//! - a folder counts only if it and every folder above it (after resolving
//!   its links) is a directory owned by root and not writable by group or
//!   others ([`trusted_dir`]); `/tmp`, a home folder or a `chmod 777` folder
//!   is left out and named in [`FilterTables::untrusted`];
//! - an entry that is a symbolic link is resolved one hop at a time, and
//!   each hop's folder must be trusted the same way;
//! - a candidate is opened with `O_NONBLOCK|O_NOFOLLOW` and `fstat`-checked:
//!   a regular file, owned by root, not writable by group or others. A FIFO
//!   named `dpkg` neither hangs discovery nor passes.
//!
//! Discovery runs at start and again after an installer run ends
//! ([`crate::ebpf::KernelStream::rediscover`]): `apt upgrade dpkg` gives
//! dpkg a new inode and size.
//!
//! An installer name that is a symlink to a file with another, non-installer
//! name (`~/.cargo/bin/cargo -> rustup`), or a binary hard-linked under several names that are not installers (a
//! rustup proxy: `cargo`, `rustc`, `rustdoc` and `rustfmt` are one file) is
//! a multiplexer that decides by its name; its inode and size are left out
//! of the filter so that every `rustc` does not pass as `cargo`. Its name
//! still matches. It takes [`MULTIPLEXER_NAMES`] such names: one stray hard
//! link of dpkg under another name must not switch off dpkg's inode match.

use std::{
    collections::{BTreeSet, HashMap},
    ffi::OsStr,
    fs,
    io::Read,
    os::{
        fd::AsRawFd,
        unix::{
            ffi::OsStrExt,
            fs::{MetadataExt, OpenOptionsExt},
        },
    },
    path::{Path, PathBuf},
};

use sha2::{Digest, Sha256};
use swmon_common::{identity, name_kind, ElfKey, InodeKey, NameValue, NAME_MAX};

use super::elf::{self, BuildId, Malformed, NoteError};
use crate::catalogue::{self, Role, PROGRAMS};

/// Folders searched for installers (beside `--installer-dir`).
const PROGRAM_DIRS: &[&str] = &[
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
    "/snap/bin",
    "/usr/lib/node_modules/npm/bin",
    "/usr/share/nodejs/npm/bin",
    "/usr/local/lib/node_modules/npm/bin",
    "/root/.cargo/bin",
    "/root/.local/bin",
];

/// Folders searched for the dynamic loader only (`ld-linux-x86-64.so.2`),
/// beside [`PROGRAM_DIRS`]: entries with a loader's name, nothing else.
const LOADER_DIRS: &[&str] = &[
    "/lib64",
    "/usr/lib64",
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
];

/// Non-installer names a hard-linked binary needs to count as a multiplexer.
pub const MULTIPLEXER_NAMES: usize = 3;

/// An installer program found on this host.
#[derive(Clone, Debug)]
pub struct FoundInstaller {
    pub id: u16,
    pub path: PathBuf,
    /// The file itself: `path` with its links resolved (each hop checked).
    pub target: PathBuf,
    /// The kernel's encoding of the device (`major << 20 | minor`).
    pub dev: u32,
    pub ino: u64,
    pub size: u64,
    /// An ELF binary (a script's exec shows its interpreter's file instead).
    pub elf: bool,
    /// Hard-linked under names that are not installers (see the module doc).
    pub multiplexed: bool,
    /// The masked start of the file (an ELF binary's), as the kernel
    /// builds it from `bprm->buf`.
    pub elf_key: Option<ElfKey>,
    /// Its build ID (GNU, else Go) as discovery read it; a binary without
    /// one (or whose notes are malformed) gets no near-copy entry.
    pub build_id: Option<BuildId>,
}

/// An interpreter or the loader found on this host (an ELF binary with a
/// build ID): its (device, inode) and ELF key go into the kernel's maps
/// marked [`identity::INTERPRETER`], so a hard link or renamed copy of it
/// gets the argv scan its name would have given it.
#[derive(Clone, Debug)]
pub struct FoundInterpreter {
    pub id: u16,
    pub path: PathBuf,
    pub target: PathBuf,
    pub dev: u32,
    pub ino: u64,
    pub size: u64,
    pub elf_key: ElfKey,
    pub build_id: BuildId,
}

/// Everything the kernel maps are filled with.
#[derive(Debug, Default)]
pub struct FilterTables {
    /// Trie entries: prefix length in bits, key bytes, value.
    pub names: Vec<(u32, [u8; NAME_MAX], NameValue)>,
    pub inodes: Vec<(InodeKey, u16)>,
    pub sizes: Vec<(u64, u16)>,
    /// ELF keys of binary installers with a build ID (near-copies).
    pub elf_keys: Vec<(ElfKey, u16)>,
    pub found: Vec<FoundInstaller>,
    /// Interpreters and loaders, for the kernel's maps (marked as such)
    /// and the facts stage's build-ID check of a renamed copy.
    pub interpreters: Vec<FoundInterpreter>,
    /// Folders, link hops and candidates left out, each with why.
    pub untrusted: Vec<String>,
    /// The trusted folders searched, by (device, inode), for the state
    /// witness's `WATCHED_DIRS`: a file written into one by a process of
    /// no installer run is unmanaged software. Only folders named like
    /// `swmon_common::state::PATH_NAMES` (`bin`, `sbin`): the kernel looks
    /// no other folder up.
    pub watched_dirs: Vec<(InodeKey, PathBuf)>,
    /// Trusted folders left unwatched for their name.
    pub unwatched_dirs: Vec<PathBuf>,
}

/// The kernel's `dev_t` for a user-space `st_dev` (`new_encode_dev` undone).
pub fn kernel_dev(st_dev: u64) -> u32 {
    let major = libc::major(st_dev);
    let minor = libc::minor(st_dev);
    (major << 20) | (minor & 0xFFFFF)
}

/// Why a folder, a link hop or a file is not trusted for discovery.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum Untrusted {
    #[error("{0}: can't be read ({1})")]
    Unreadable(PathBuf, String),
    #[error("{0}: not a directory")]
    NotDir(PathBuf),
    #[error("{0}: not a regular file")]
    NotFile(PathBuf),
    #[error("{0}: owned by uid {1}, not root")]
    Owner(PathBuf, u32),
    #[error("{0}: writable by group or others (mode {1:o})")]
    Writable(PathBuf, u32),
    #[error("{0}: more than {MAX_HOPS} symbolic links")]
    Loop(PathBuf),
}

/// Symbolic links followed from one entry before giving up.
const MAX_HOPS: usize = 8;

/// Owned by root and not writable by group or others (sticky or not).
fn root_only(path: &Path, meta: &fs::Metadata) -> Result<(), Untrusted> {
    if meta.uid() != 0 {
        return Err(Untrusted::Owner(path.to_owned(), meta.uid()));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(Untrusted::Writable(path.to_owned(), meta.mode() & 0o7777));
    }
    Ok(())
}

/// `dir` with its links resolved, if it and every folder above it is a
/// directory owned by root and not writable by group or others.
pub fn trusted_dir(dir: &Path) -> Result<PathBuf, Untrusted> {
    let canonical =
        fs::canonicalize(dir).map_err(|e| Untrusted::Unreadable(dir.to_owned(), e.to_string()))?;
    for a in canonical.ancestors() {
        let meta = fs::symlink_metadata(a)
            .map_err(|e| Untrusted::Unreadable(a.to_owned(), e.to_string()))?;
        if !meta.is_dir() {
            return Err(Untrusted::NotDir(a.to_owned()));
        }
        root_only(a, &meta)?;
    }
    Ok(canonical)
}

/// Trusted folders, each checked once per discovery.
#[derive(Default)]
struct DirCache(HashMap<PathBuf, Result<PathBuf, Untrusted>>);

impl DirCache {
    fn check(&mut self, dir: &Path) -> Result<PathBuf, Untrusted> {
        self.0
            .entry(dir.to_owned())
            .or_insert_with(|| trusted_dir(dir))
            .clone()
    }

    /// Follows `path`'s links one hop at a time, each hop's folder trusted;
    /// `path`'s own folder is trusted already. Returns the file it names.
    fn resolve(&mut self, path: &Path) -> Result<PathBuf, Untrusted> {
        let mut p = path.to_owned();
        for _ in 0..=MAX_HOPS {
            let meta = fs::symlink_metadata(&p)
                .map_err(|e| Untrusted::Unreadable(p.clone(), e.to_string()))?;
            if !meta.file_type().is_symlink() {
                return Ok(p);
            }
            let link =
                fs::read_link(&p).map_err(|e| Untrusted::Unreadable(p.clone(), e.to_string()))?;
            let parent = p.parent().unwrap_or(Path::new("/")).to_owned();
            let next = parent.join(link);
            let (Some(dir), Some(name)) = (next.parent(), next.file_name()) else {
                return Err(Untrusted::NotFile(next));
            };
            // `..` and links in the folder part are resolved by the check.
            p = self.check(dir)?.join(name);
        }
        Err(Untrusted::Loop(path.to_owned()))
    }
}

/// Opens a file for reading without following a link at its last part and
/// without blocking on a FIFO, and checks what was opened is a regular file.
fn open_regular(path: &Path, nofollow: bool) -> std::io::Result<(fs::File, fs::Metadata)> {
    let flags = libc::O_NONBLOCK | libc::O_CLOEXEC | if nofollow { libc::O_NOFOLLOW } else { 0 };
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)?;
    let meta = f.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} is not a regular file", path.display()),
        ));
    }
    Ok((f, meta))
}

/// An installer candidate as opened and checked (see the module doc).
struct Candidate {
    meta: fs::Metadata,
    elf_key: Option<ElfKey>,
    build_id: Option<BuildId>,
}

/// An installer candidate, opened and checked (see the module doc), with
/// its ELF key and build ID when it is an ELF binary.
fn open_candidate(target: &Path) -> Result<Candidate, Untrusted> {
    let (f, meta) = open_regular(target, true).map_err(|e| {
        if e.kind() == std::io::ErrorKind::InvalidInput {
            Untrusted::NotFile(target.to_owned())
        } else {
            Untrusted::Unreadable(target.to_owned(), e.to_string())
        }
    })?;
    root_only(target, &meta)?;
    let elf_key = elf::key_of(&f).ok().flatten();
    let build_id = if elf_key.is_some() {
        elf::build_id(&f, meta.size()).ok().flatten()
    } else {
        None
    };
    Ok(Candidate {
        meta,
        elf_key,
        build_id,
    })
}

impl FilterTables {
    /// Builds the tables from the catalogue and a scan of [`PROGRAM_DIRS`],
    /// `$PATH` and `extra_dirs` (`--installer-dir`), trusted folders only.
    pub fn discover(extra_dirs: &[PathBuf]) -> FilterTables {
        let mut tables = FilterTables::default();
        let mut cache = DirCache::default();
        // Canonical folders, once each: /bin is /usr/bin on merged-/usr hosts.
        let mut dirs: Vec<PathBuf> = Vec::new();
        let builtin = PROGRAM_DIRS.iter().map(PathBuf::from).map(|d| (d, false));
        // `$PATH`'s folders: a missing one is no news, an untrusted one is.
        let path: Vec<PathBuf> = std::env::var_os("PATH")
            .map(|p| {
                std::env::split_paths(&p)
                    .filter(|d| d.is_absolute())
                    .collect()
            })
            .unwrap_or_default();
        let from_path = path.into_iter().map(|d| (d, false));
        let extra = extra_dirs.iter().map(|d| (d.clone(), true));
        for (d, extra) in builtin.chain(from_path).chain(extra) {
            match cache.check(&d) {
                Ok(d) => {
                    if !dirs.contains(&d) {
                        dirs.push(d);
                    }
                }
                // A built-in folder this host lacks is no news; any other
                // refusal is.
                Err(Untrusted::Unreadable(..)) if !extra => {}
                Err(e) => tables.untrusted.push(e.to_string()),
            }
        }
        tables.names = name_entries();
        for d in &dirs {
            let named = d.file_name().is_some_and(|n| {
                let place =
                    swmon_common::state::place_of(format!("/{}/x", n.to_string_lossy()).as_bytes());
                swmon_common::state::may_be_path_dir(&place)
            });
            let meta = fs::metadata(d);
            match (named, meta) {
                (true, Ok(m)) => tables.watched_dirs.push((
                    InodeKey {
                        dev: kernel_dev(m.dev()),
                        _pad: 0,
                        ino: m.ino(),
                    },
                    d.clone(),
                )),
                (false, Ok(_)) => tables.unwatched_dirs.push(d.clone()),
                (_, Err(_)) => {}
            }
        }

        // Every hard-linked file in the folders, by inode, with its names.
        // lstat only: nothing here opens a file or follows a link.
        let mut names_by_inode: HashMap<(u64, u64), BTreeSet<Vec<u8>>> = HashMap::new();
        let mut candidates = Vec::new();
        let mut interpreters = Vec::new();
        let mut seen_paths = BTreeSet::new();
        for dir in &dirs {
            let Ok(entries) = fs::read_dir(dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let path = entry.path();
                let Ok(lmeta) = fs::symlink_metadata(&path) else {
                    continue;
                };
                if lmeta.is_file() && lmeta.nlink() > 1 {
                    names_by_inode
                        .entry((lmeta.dev(), lmeta.ino()))
                        .or_default()
                        .insert(name.as_bytes().to_vec());
                }
                match catalogue::lookup(name.as_bytes()).map(|(id, p)| (id, p.role)) {
                    Some((id, Role::Installer(_))) if seen_paths.insert(path.clone()) => {
                        candidates.push((id, path));
                    }
                    Some((id, Role::Interpreter(_) | Role::Loader)) => {
                        interpreters.push((id, path));
                    }
                    _ => {}
                }
            }
        }
        // The loader's folders: only its names are looked at.
        for d in LOADER_DIRS {
            let Ok(dir) = cache.check(Path::new(d)) else {
                continue;
            };
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                if let Some((id, Role::Loader)) =
                    catalogue::lookup(name.as_bytes()).map(|(id, p)| (id, p.role))
                {
                    interpreters.push((id, entry.path()));
                }
            }
        }
        for (id, path) in candidates {
            let checked = cache
                .resolve(&path)
                .and_then(|target| open_candidate(&target).map(|c| (target, c)));
            let (target, candidate) = match checked {
                Ok(c) => c,
                Err(Untrusted::Unreadable(..)) => continue,
                Err(e) => {
                    tables.untrusted.push(e.to_string());
                    continue;
                }
            };
            let meta = &candidate.meta;
            let elf = candidate.elf_key.is_some();
            let is_installer = |name: &[u8]| {
                matches!(
                    catalogue::lookup(name).map(|(_, p)| p.role),
                    Some(Role::Installer(_))
                )
            };
            // A symlink to a file whose own name is no installer's is a
            // multiplexer's alias (`~/.cargo/bin/cargo -> rustup`).
            let alias_of_other = target
                .file_name()
                .is_some_and(|n| !is_installer(n.as_bytes()));
            let other_names = names_by_inode
                .get(&(meta.dev(), meta.ino()))
                .map_or(0, |names| names.iter().filter(|n| !is_installer(n)).count());
            let multiplexed = alias_of_other || other_names >= MULTIPLEXER_NAMES;
            let found = FoundInstaller {
                id,
                path,
                target,
                dev: kernel_dev(meta.dev()),
                ino: meta.ino(),
                size: meta.size(),
                elf,
                multiplexed,
                elf_key: candidate.elf_key,
                build_id: candidate.build_id,
            };
            if !multiplexed {
                let key = InodeKey {
                    dev: found.dev,
                    _pad: 0,
                    ino: found.ino,
                };
                if !tables.inodes.iter().any(|(k, _)| *k == key) {
                    tables.inodes.push((key, id));
                }
                if elf && !tables.sizes.iter().any(|(s, _)| *s == found.size) {
                    tables.sizes.push((found.size, id));
                }
                if let (Some(key), Some(_)) = (found.elf_key, &found.build_id) {
                    if !tables.elf_keys.iter().any(|(k, _)| *k == key) {
                        tables.elf_keys.push((key, id));
                    }
                }
            }
            tables.found.push(found);
        }
        // After the installers: an entry both would claim stays theirs.
        tables.add_interpreters(interpreters, &mut cache, &names_by_inode);
        tables
    }
}

impl FilterTables {
    /// Interpreters and loaders by (device, inode) and ELF key, each file
    /// once, marked [`identity::INTERPRETER`]: checked like an installer
    /// (trusted folders and link hops, a root-owned regular file), an ELF
    /// binary with a build ID, and not hard-linked under
    /// [`MULTIPLEXER_NAMES`] names of other programs (a multi-call binary
    /// is no interpreter). An entry an installer has already is left to it.
    fn add_interpreters(
        &mut self,
        candidates: Vec<(u16, PathBuf)>,
        cache: &mut DirCache,
        names_by_inode: &HashMap<(u64, u64), BTreeSet<Vec<u8>>>,
    ) {
        for (id, path) in candidates {
            let Ok(target) = cache.resolve(&path) else {
                continue;
            };
            let Ok(c) = open_candidate(&target) else {
                continue;
            };
            let (Some(elf_key), Some(build_id)) = (c.elf_key, c.build_id) else {
                continue;
            };
            let others = names_by_inode
                .get(&(c.meta.dev(), c.meta.ino()))
                .map_or(0, |names| {
                    names
                        .iter()
                        .filter(|n| {
                            !matches!(
                                catalogue::lookup(n).map(|(_, p)| p.role),
                                Some(Role::Interpreter(_) | Role::Loader)
                            )
                        })
                        .count()
                });
            if others >= MULTIPLEXER_NAMES {
                continue;
            }
            let dev = kernel_dev(c.meta.dev());
            let ino = c.meta.ino();
            if self
                .interpreters
                .iter()
                .any(|f| f.dev == dev && f.ino == ino)
            {
                continue;
            }
            let loader = matches!(catalogue::program(id).map(|p| p.role), Some(Role::Loader));
            let value = id | identity::INTERPRETER | if loader { identity::LOADER } else { 0 };
            let key = InodeKey { dev, _pad: 0, ino };
            if !self.inodes.iter().any(|(k, _)| *k == key) {
                self.inodes.push((key, value));
            }
            if !self.elf_keys.iter().any(|(k, _)| *k == elf_key) {
                self.elf_keys.push((elf_key, value));
            }
            self.interpreters.push(FoundInterpreter {
                id,
                path,
                target,
                dev,
                ino,
                size: c.meta.size(),
                elf_key,
                build_id,
            });
        }
    }
}

/// The installer-name trie's entries, from the catalogue: prefix length in
/// bits, key bytes, value.
pub fn name_entries() -> Vec<(u32, [u8; NAME_MAX], NameValue)> {
    PROGRAMS
        .iter()
        .enumerate()
        .map(|(id, p)| {
            let mut key = [0u8; NAME_MAX];
            key[..p.name.len()].copy_from_slice(p.name.as_bytes());
            let kind = match p.role {
                Role::Installer(_) => name_kind::INSTALLER,
                Role::Interpreter(_) => name_kind::INTERPRETER,
                Role::Loader => name_kind::LOADER,
            };
            let value = NameValue {
                id: u16::try_from(id).unwrap_or(u16::MAX),
                kind,
                suffix: p.suffix.code(),
                len: p.name.len() as u8,
                _pad: [0; 3],
            };
            ((p.name.len() * 8) as u32, key, value)
        })
        .collect()
}

/// SHA-256 of at most `limit` bytes of an open file, hex. The limit is
/// the size the kernel recorded (or discovery saw): a file grown since
/// (`truncate -s 100G` on the same inode) costs no more than that.
fn sha256_of(f: fs::File, limit: u64) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut f = f.take(limit);
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// The file an exec ran, as the kernel recorded it: what a candidate opened
/// later must still be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ExecFile {
    /// The kernel's encoding of the device (`major << 20 | minor`).
    pub dev: u32,
    pub ino: u64,
    pub size: u64,
}

/// What a copy candidate's content turned out to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    /// An installer's (its catalogue id), with the SHA-256.
    Installer(u16, String),
    /// A near-copy of an installer (its catalogue id): the same ELF key and
    /// the same build ID, with the bytes past the headers changed
    /// (appended, patched).
    NearCopy(u16, BuildId),
    /// An installer's ELF key with no build ID to confirm it by: the file
    /// has none, or its notes are malformed (the flag). An installer copy
    /// with its build-id note removed or broken looks like this; reported
    /// as unverified rather than let go.
    NearCopyUnconfirmed(u16, &'static str),
    /// An installer's ELF key with another build ID than every installer
    /// of that key has (the candidate's): another build of the same
    /// program, or a copy whose build ID was rewritten. Reported
    /// unverified (flag `mismatch`), not dropped: only the build ID, which
    /// anyone can rewrite, tells it from a near-copy.
    NearCopyMismatch(u16, BuildId),
    /// No installer's.
    Other,
    /// It could not be read (the process has exited), or what the path
    /// opens now is not the file that was exec'd (replaced, or resized).
    Unreadable,
}

/// Which identities of a candidate to check: the kernel's reasons say
/// which it matched (size: the exact content; ELF key: a near-copy).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ways {
    pub exact: bool,
    pub near: bool,
}

/// A hash cache key: a file's identity and the state its content was read
/// in. A write that keeps the size changes the modification time, which
/// its owner can set back (`touch -d`); the change time no one can.
type HashKey = (u32, u64, u64, i64, i64, i64, i64);

fn hash_key(meta: &fs::Metadata) -> HashKey {
    (
        kernel_dev(meta.dev()),
        meta.ino(),
        meta.size(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ctime(),
        meta.ctime_nsec(),
    )
}

/// Identifies copy candidates by content, caching each hash and build ID
/// by the file's (device, inode, size, mtime, ctime).
#[derive(Debug, Default)]
pub struct ContentMatcher {
    installers: Vec<FoundInstaller>,
    interpreters: Vec<FoundInterpreter>,
    hashes: HashMap<HashKey, String>,
    build_ids: HashMap<HashKey, Result<Option<BuildId>, Malformed>>,
}

/// The cached hash limit: entries beyond are dropped all at once (a new
/// inode per exec of a copied installer could grow it without bound).
/// The same for build IDs.
const HASH_CACHE_MAX: usize = 4096;

impl ContentMatcher {
    pub fn new(found: &[FoundInstaller]) -> ContentMatcher {
        let installers = found
            .iter()
            .filter(|f| f.elf && !f.multiplexed)
            .cloned()
            .collect();
        ContentMatcher {
            installers,
            interpreters: Vec::new(),
            hashes: HashMap::new(),
            build_ids: HashMap::new(),
        }
    }

    /// The same installers and interpreters with empty caches (a new
    /// reader's, when the facts stage gives one up stuck).
    pub fn fresh(&self) -> ContentMatcher {
        ContentMatcher {
            installers: self.installers.clone(),
            interpreters: self.interpreters.clone(),
            hashes: HashMap::new(),
            build_ids: HashMap::new(),
        }
    }

    /// With the interpreters discovery found (for
    /// [`ContentMatcher::interpreter`]).
    pub fn with_interpreters(mut self, found: &[FoundInterpreter]) -> ContentMatcher {
        self.interpreters = found.to_vec();
        self
    }

    /// Whether `exe` (`/proc/PID/exe`, or the exec'd path as a fallback)
    /// has an installer's content. The candidate is opened once; the same
    /// descriptor is `fstat`-checked against `exec` (device, inode, size)
    /// and hashed, at most `exec.size` bytes.
    pub fn identify(&mut self, exe: &Path, exec: ExecFile) -> Content {
        self.examine(
            exe,
            exec,
            Ways {
                exact: true,
                near: false,
            },
        )
    }

    /// Like [`ContentMatcher::identify`], for the identities in `ways`:
    /// the exact content first (an installer of the same size), then a
    /// near-copy (the ELF key read again from the open descriptor, then
    /// the build ID, both compared with what discovery read of the
    /// installers of that key). The
    /// note reads are bounded ([`elf::READ_MAX`]); a near-copy is never
    /// hashed (its size is anyone's choice).
    pub fn examine(&mut self, exe: &Path, exec: ExecFile, ways: Ways) -> Content {
        match self.examine_inner(exe, exec, ways) {
            Ok(c) => c,
            Err(()) => Content::Unreadable,
        }
    }

    /// The hash of an opened file whose identity was checked, cached.
    fn hash(&mut self, file: fs::File, meta: &fs::Metadata) -> Option<String> {
        let key = hash_key(meta);
        if let Some(h) = self.hashes.get(&key) {
            return Some(h.clone());
        }
        let h = sha256_of(file, meta.size()).ok()?;
        if self.hashes.len() >= HASH_CACHE_MAX {
            self.hashes.clear();
        }
        self.hashes.insert(key, h.clone());
        Some(h)
    }

    /// The build ID of an opened file whose identity was checked, cached;
    /// `Err(())` when it could not be read.
    fn build_id(
        &mut self,
        file: &fs::File,
        meta: &fs::Metadata,
    ) -> Result<Result<Option<BuildId>, Malformed>, ()> {
        let key = hash_key(meta);
        if let Some(id) = self.build_ids.get(&key) {
            return Ok(id.clone());
        }
        let id = match elf::build_id(file, meta.size()) {
            Ok(id) => Ok(id),
            Err(NoteError::Malformed(m)) => Err(m),
            Err(NoteError::Io(_)) => return Err(()),
        };
        if self.build_ids.len() >= HASH_CACHE_MAX {
            self.build_ids.clear();
        }
        self.build_ids.insert(key, id.clone());
        Ok(id)
    }

    /// The installer `f` opened again, if it is still the file discovery
    /// checked (same inode and size): one replaced since is rediscovered,
    /// not trusted by path.
    fn reopen(f: &FoundInstaller) -> Option<(fs::File, fs::Metadata)> {
        let (file, meta) = open_regular(&f.target, true).ok()?;
        (kernel_dev(meta.dev()) == f.dev && meta.ino() == f.ino && meta.size() == f.size)
            .then_some((file, meta))
    }

    fn examine_inner(&mut self, exe: &Path, exec: ExecFile, ways: Ways) -> Result<Content, ()> {
        let same_size: Vec<_> = self
            .installers
            .iter()
            .filter(|f| ways.exact && f.size == exec.size)
            .cloned()
            .collect();
        let near = ways.near && self.installers.iter().any(|f| f.elf_key.is_some());
        if same_size.is_empty() && !near {
            return Ok(Content::Other);
        }
        let (file, meta) = open_regular(exe, false).map_err(|_| ())?;
        if kernel_dev(meta.dev()) != exec.dev || meta.ino() != exec.ino || meta.size() != exec.size
        {
            return Err(());
        }
        if !same_size.is_empty() {
            let hash = self
                .hash(file.try_clone().map_err(|_| ())?, &meta)
                .ok_or(())?;
            for f in same_size {
                let Some((file, meta)) = Self::reopen(&f) else {
                    continue;
                };
                let Some(known) = self.hash(file, &meta) else {
                    continue;
                };
                if known == hash {
                    return Ok(Content::Installer(f.id, hash));
                }
            }
        }
        if !near {
            return Ok(Content::Other);
        }
        let Some(key) = elf::key_of(&file).map_err(|_| ())? else {
            return Ok(Content::Other);
        };
        let same_key: Vec<(u16, BuildId)> = self
            .installers
            .iter()
            .filter(|f| f.elf_key == Some(key))
            .filter_map(|f| Some((f.id, f.build_id.clone()?)))
            .collect();
        let Some(first) = same_key.first().map(|(id, _)| *id) else {
            return Ok(Content::Other);
        };
        let id = match self.build_id(&file, &meta)? {
            Ok(Some(id)) => id,
            Ok(None) => return Ok(Content::NearCopyUnconfirmed(first, "no-build-id")),
            Err(m) => return Ok(Content::NearCopyUnconfirmed(first, m.as_str())),
        };
        // The installers' build IDs as discovery read them, from the
        // checked, root-owned files the kernel's keys came from: an
        // installer replaced since (an upgrade racing its own copy) is
        // still what the key was registered for, until rediscovery.
        Ok(match same_key.into_iter().find(|(_, known)| *known == id) {
            Some((installer, _)) => Content::NearCopy(installer, id),
            None => Content::NearCopyMismatch(first, id),
        })
    }

    /// What the program of an explicit loader exec is, from its open file
    /// (opened as the process sees it): an installer's file by (device,
    /// inode) (`Installer` with no hash when its own), else as a copy
    /// candidate: the exact content of an installer of its size, then its
    /// ELF key and build ID.
    pub fn program(&mut self, file: &fs::File) -> Content {
        let Ok(meta) = file.metadata() else {
            return Content::Unreadable;
        };
        if !meta.is_file() {
            return Content::Other;
        }
        let exec = ExecFile {
            dev: kernel_dev(meta.dev()),
            ino: meta.ino(),
            size: meta.size(),
        };
        if let Some(f) = self
            .installers
            .iter()
            .find(|f| f.dev == exec.dev && f.ino == exec.ino)
        {
            let id = f.id;
            return match self.hash(
                match file.try_clone() {
                    Ok(f) => f,
                    Err(_) => return Content::Unreadable,
                },
                &meta,
            ) {
                Some(h) => Content::Installer(id, h),
                None => Content::Unreadable,
            };
        }
        // Through the descriptor's own link: the same open file, checked
        // again against its (device, inode, size).
        let path = std::path::PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
        self.examine(
            &path,
            exec,
            Ways {
                exact: true,
                near: true,
            },
        )
    }

    /// Checks an exec the kernel took for interpreter `id` by its ELF key
    /// (a renamed copy): the key read again from the open descriptor (the
    /// exec'd dev, inode and size), then the build ID, against what
    /// discovery read of that interpreter's files.
    pub fn interpreter(&mut self, exe: &Path, exec: ExecFile, id: u16) -> InterpreterCopy {
        let known: Vec<(ElfKey, BuildId)> = self
            .interpreters
            .iter()
            .filter(|f| f.id == id)
            .map(|f| (f.elf_key, f.build_id.clone()))
            .collect();
        let Ok((file, meta)) = open_regular(exe, false) else {
            return InterpreterCopy::Unconfirmed("unreadable");
        };
        if kernel_dev(meta.dev()) != exec.dev || meta.ino() != exec.ino || meta.size() != exec.size
        {
            return InterpreterCopy::Unconfirmed("unreadable");
        }
        let key = match elf::key_of(&file) {
            Ok(Some(k)) => k,
            _ => return InterpreterCopy::Unconfirmed("key-changed"),
        };
        if !known.iter().any(|(k, _)| *k == key) {
            return InterpreterCopy::Unconfirmed("key-changed");
        }
        match self.build_id(&file, &meta) {
            Ok(Ok(Some(bid))) if known.iter().any(|(k, b)| *k == key && *b == bid) => {
                InterpreterCopy::Confirmed(bid)
            }
            Ok(Ok(Some(bid))) => InterpreterCopy::Mismatch(bid),
            Ok(Ok(None)) => InterpreterCopy::Unconfirmed("no-build-id"),
            Ok(Err(m)) => InterpreterCopy::Unconfirmed(m.as_str()),
            Err(()) => InterpreterCopy::Unconfirmed("unreadable"),
        }
    }
}

/// What [`ContentMatcher::interpreter`] found of a renamed interpreter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InterpreterCopy {
    /// The interpreter's ELF key and build ID.
    Confirmed(BuildId),
    /// Its ELF key with another build ID (another build, or rewritten).
    Mismatch(BuildId),
    /// Not checked: why (`unreadable`, `key-changed`, `no-build-id`, or
    /// how its notes are malformed).
    Unconfirmed(&'static str),
}

/// A map delete's result with "not there" (`ENOENT`) counted as done: an
/// earlier rediscovery that failed half-way may have removed the entry
/// already, and must not make every later one fail.
pub fn removed(r: Result<(), aya::maps::MapError>) -> Result<(), aya::maps::MapError> {
    match r {
        Err(aya::maps::MapError::SyscallError(e))
            if e.io_error.raw_os_error() == Some(libc::ENOENT) =>
        {
            Ok(())
        }
        Err(aya::maps::MapError::KeyNotFound) => Ok(()),
        r => r,
    }
}

/// The base name of a path given as bytes.
pub fn basename(path: &[u8]) -> &[u8] {
    path.rsplit(|c| *c == b'/').next().unwrap_or(path)
}

/// `OsStr` view of bytes, for paths.
pub fn os(bytes: &[u8]) -> &OsStr {
    OsStr::from_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_dev_encoding() {
        // fe:00 (major 254, minor 0) as st_dev is 0xfe00; the kernel's is 254 << 20.
        assert_eq!(kernel_dev(libc::makedev(254, 0)), 254 << 20);
        assert_eq!(kernel_dev(libc::makedev(8, 17)), (8 << 20) | 17);
    }

    #[test]
    fn discovers_dpkg_on_this_host() {
        let t = FilterTables::discover(&[]);
        let dpkg = t
            .found
            .iter()
            .find(|f| f.path == Path::new("/usr/bin/dpkg"))
            .expect("dpkg found");
        assert!(dpkg.elf && !dpkg.multiplexed);
        assert!(t.inodes.iter().any(|(k, _)| k.ino == dpkg.ino));
        assert!(t.sizes.iter().any(|(s, _)| *s == dpkg.size));
        assert_eq!(t.names.len(), PROGRAMS.len());
    }

    /// python3.11 and the loader are found as interpreters: their inode
    /// and ELF key in the kernel's tables marked as such (a scan, not a
    /// pass), never among the installers (no audit rule for them).
    #[test]
    fn discovers_python_and_the_loader_as_interpreters() {
        let t = FilterTables::discover(&[]);
        for (path, role) in [
            (
                "/usr/bin/python3.11",
                Role::Interpreter(catalogue::Interpreter::Python),
            ),
            // Found under `ld-linux-x86-64.so.2` or Debian's `ld.so` link.
            (
                "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
                Role::Loader,
            ),
        ] {
            let meta = fs::metadata(path).expect("on this host");
            let f = t
                .interpreters
                .iter()
                .find(|f| f.ino == meta.ino())
                .unwrap_or_else(|| panic!("{path} found: {:?}", t.interpreters));
            assert_eq!(PROGRAMS[usize::from(f.id)].role, role, "{path}");
            let loader = if role == Role::Loader {
                identity::LOADER
            } else {
                0
            };
            let value = f.id | identity::INTERPRETER | loader;
            let key = InodeKey {
                dev: f.dev,
                _pad: 0,
                ino: f.ino,
            };
            assert!(t.inodes.contains(&(key, value)), "{path}");
            assert!(t.elf_keys.contains(&(f.elf_key, value)), "{path}");
            assert!(!t.found.iter().any(|i| i.ino == f.ino), "{path}");
            assert!(!t.sizes.iter().any(|(s, _)| *s == f.size), "{path}");
        }
        // Each file once, whatever its names (python3 -> python3.11).
        let mut inodes: Vec<_> = t.interpreters.iter().map(|f| (f.dev, f.ino)).collect();
        inodes.sort_unstable();
        inodes.dedup();
        assert_eq!(inodes.len(), t.interpreters.len());
    }

    #[test]
    fn rustup_proxies_are_multiplexers() {
        // rustup's layout, made here (the host may have no rustup): a
        // `rustup` binary, `cargo` a symbolic link to it in
        // `~/.cargo/bin`; and the hard-link form, `cargo` one of several
        // names of one binary (rustc, rustdoc, rustup).
        let d = RootDir::new("rustup");
        let bin = d.0.join(".cargo/bin");
        fs::create_dir_all(&bin).expect("mkdir");
        fs::set_permissions(d.0.join(".cargo"), fs::Permissions::from_mode(0o755)).expect("chmod");
        fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).expect("chmod");
        fs::copy("/usr/bin/true", bin.join("rustup")).expect("copy");
        std::os::unix::fs::symlink("rustup", bin.join("cargo")).expect("symlink");
        let links = RootDir::new("rustup-links");
        fs::copy("/usr/bin/true", links.0.join("rustup")).expect("copy");
        for name in ["cargo", "rustc", "rustdoc"] {
            fs::hard_link(links.0.join("rustup"), links.0.join(name)).expect("link");
        }
        let t = FilterTables::discover(&[bin.clone(), links.0.clone()]);
        for dir in [&bin, &links.0] {
            let cargo = t
                .found
                .iter()
                .find(|f| f.path == dir.join("cargo"))
                .unwrap_or_else(|| panic!("{} found: {:?}", dir.display(), t.found));
            assert!(cargo.multiplexed, "{cargo:?}");
            assert!(!t.inodes.iter().any(|(k, _)| k.ino == cargo.ino));
        }
        // A real installer binary in the same place is no multiplexer.
        fs::copy("/usr/bin/dpkg", bin.join("dpkg")).expect("copy");
        let t = FilterTables::discover(std::slice::from_ref(&bin));
        let dpkg = t
            .found
            .iter()
            .find(|f| f.path == bin.join("dpkg"))
            .expect("dpkg found");
        assert!(!dpkg.multiplexed);
    }

    /// A folder under /run (root's, 0755, no sticky world-writable parent),
    /// removed when dropped.
    struct RootDir(PathBuf);

    impl RootDir {
        fn new(tag: &str) -> RootDir {
            let p = PathBuf::from(format!("/run/swmon-unit-{tag}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&p);
            fs::create_dir_all(&p).expect("mkdir");
            fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).expect("chmod");
            RootDir(p)
        }
    }

    impl Drop for RootDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn only_root_folders_closed_to_others_are_trusted() {
        assert_eq!(
            trusted_dir(Path::new("/bin")).expect("trusted"),
            fs::canonicalize("/bin").expect("canon")
        );
        assert!(matches!(
            trusted_dir(Path::new("/tmp")),
            Err(Untrusted::Writable(..))
        ));
        let d = RootDir::new("trust");
        let open = d.0.join("open");
        fs::create_dir(&open).expect("mkdir");
        fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).expect("chmod");
        assert!(matches!(trusted_dir(&open), Err(Untrusted::Writable(..))));
        // Below an open folder, a closed one is not trusted either.
        let inner = open.join("inner");
        fs::create_dir(&inner).expect("mkdir");
        fs::set_permissions(&inner, fs::Permissions::from_mode(0o755)).expect("chmod");
        assert_eq!(
            trusted_dir(&inner),
            Err(Untrusted::Writable(open.clone(), 0o777))
        );
        let group = d.0.join("group");
        fs::create_dir(&group).expect("mkdir");
        fs::set_permissions(&group, fs::Permissions::from_mode(0o775)).expect("chmod");
        assert!(matches!(trusted_dir(&group), Err(Untrusted::Writable(..))));
        let theirs = d.0.join("theirs");
        fs::create_dir(&theirs).expect("mkdir");
        std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).expect("chown");
        assert_eq!(
            trusted_dir(&theirs),
            Err(Untrusted::Owner(theirs.clone(), 65534))
        );
    }

    #[test]
    fn a_fifo_named_dpkg_neither_hangs_nor_passes() {
        let d = RootDir::new("fifo");
        nix::unistd::mkfifo(
            &d.0.join("dpkg"),
            nix::sys::stat::Mode::from_bits_truncate(0o755),
        )
        .expect("mkfifo");
        // No reader or writer: a plain open would block for good.
        let t = FilterTables::discover(std::slice::from_ref(&d.0));
        assert!(
            !t.found.iter().any(|f| f.path.starts_with(&d.0)),
            "{:?}",
            t.found
        );
        assert!(
            t.untrusted.iter().any(|u| u.contains("not a regular file")),
            "{:?}",
            t.untrusted
        );
    }

    #[test]
    fn candidates_and_links_are_checked_like_folders() {
        let d = RootDir::new("links");
        let dpkg_size = fs::metadata("/usr/bin/dpkg").expect("dpkg").size();
        // A copy root owns: found, by its own inode.
        fs::copy("/usr/bin/dpkg", d.0.join("dpkg")).expect("copy");
        fs::set_permissions(d.0.join("dpkg"), fs::Permissions::from_mode(0o755)).expect("chmod");
        // A world-writable candidate: left out.
        fs::copy("/usr/bin/dpkg", d.0.join("rpm")).expect("copy");
        fs::set_permissions(d.0.join("rpm"), fs::Permissions::from_mode(0o757)).expect("chmod");
        // A link into an open folder: left out, though the file is fine.
        let open = RootDir::new("links-open");
        fs::set_permissions(&open.0, fs::Permissions::from_mode(0o777)).expect("chmod");
        fs::copy("/usr/bin/dpkg", open.0.join("apt")).expect("copy");
        std::os::unix::fs::symlink(open.0.join("apt"), d.0.join("apt")).expect("symlink");
        // A link to a trusted file, relative: resolved hop by hop.
        std::os::unix::fs::symlink("dpkg", d.0.join("apt-get")).expect("symlink");
        let t = FilterTables::discover(std::slice::from_ref(&d.0));
        let ours: Vec<_> = t
            .found
            .iter()
            .filter(|f| f.path.starts_with(&d.0))
            .collect();
        let names: Vec<_> = ours
            .iter()
            .map(|f| f.path.file_name().expect("name"))
            .collect();
        assert!(names.contains(&OsStr::new("dpkg")), "{ours:?}");
        assert!(names.contains(&OsStr::new("apt-get")), "{ours:?}");
        assert!(!names.contains(&OsStr::new("rpm")), "{ours:?}");
        assert!(!names.contains(&OsStr::new("apt")), "{ours:?}");
        let dpkg = ours
            .iter()
            .find(|f| f.path.ends_with("dpkg"))
            .expect("dpkg");
        assert_eq!((dpkg.size, dpkg.elf), (dpkg_size, true));
        assert!(t.inodes.iter().any(|(k, _)| k.ino == dpkg.ino));
        let apt_get = ours
            .iter()
            .find(|f| f.path.ends_with("apt-get"))
            .expect("apt-get");
        assert_eq!(apt_get.target, d.0.join("dpkg"));
        assert!(
            t.untrusted
                .iter()
                .any(|u| u.contains("rpm") && u.contains("writable")),
            "{:?}",
            t.untrusted
        );
        assert!(
            t.untrusted
                .iter()
                .any(|u| u.contains("links-open") && u.contains("writable")),
            "{:?}",
            t.untrusted
        );
        // An untrusted extra folder is named.
        let t = FilterTables::discover(std::slice::from_ref(&open.0));
        assert!(
            t.untrusted.iter().any(|u| u.contains("links-open")),
            "{:?}",
            t.untrusted
        );
        assert!(!t.found.iter().any(|f| f.path.starts_with(&open.0)));
    }

    fn exec_file(path: &Path) -> ExecFile {
        let meta = fs::metadata(path).expect("stat");
        ExecFile {
            dev: kernel_dev(meta.dev()),
            ino: meta.ino(),
            size: meta.size(),
        }
    }

    #[test]
    fn the_content_matcher_hashes_only_the_discovered_inode() {
        let d = RootDir::new("matcher");
        fs::copy("/usr/bin/true", d.0.join("dpkg")).expect("copy");
        let t = FilterTables::discover(std::slice::from_ref(&d.0));
        let mut m = ContentMatcher::new(&t.found);
        let exe = Path::new("/usr/bin/true");
        assert!(matches!(
            m.identify(exe, exec_file(exe)),
            Content::Installer(..)
        ));
        // Replaced by another file of the same size: not trusted by path.
        let mut other = fs::read("/usr/bin/true").expect("read");
        other[100] ^= 0xff;
        fs::write(d.0.join("dpkg.new"), &other).expect("write");
        fs::rename(d.0.join("dpkg.new"), d.0.join("dpkg")).expect("rename");
        let mut m = ContentMatcher::new(&t.found);
        assert_eq!(m.identify(exe, exec_file(exe)), Content::Other);
    }

    #[test]
    fn a_candidate_grown_after_the_exec_is_not_read_to_its_end() {
        let d = RootDir::new("grown");
        fs::copy("/usr/bin/true", d.0.join("dpkg")).expect("copy");
        let t = FilterTables::discover(std::slice::from_ref(&d.0));
        // A copy of dpkg's content, as the kernel saw it at the exec.
        let copy = d.0.join("copy");
        fs::copy("/usr/bin/true", &copy).expect("copy");
        let exec = exec_file(&copy);
        let mut m = ContentMatcher::new(&t.found);
        assert!(matches!(m.identify(&copy, exec), Content::Installer(..)));
        // The same inode grown to 100 GB (sparse) after the exec: refused at
        // the fstat, not hashed (the test would take minutes if it were).
        let f = fs::OpenOptions::new()
            .write(true)
            .open(&copy)
            .expect("open");
        f.set_len(100 << 30).expect("grow");
        drop(f);
        let mut m = ContentMatcher::new(&t.found);
        let started = std::time::Instant::now();
        assert_eq!(m.identify(&copy, exec), Content::Unreadable);
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        // Another inode at that path (the old one kept, so that its number
        // is not reused): refused too, same content and size or not.
        fs::rename(&copy, d.0.join("old")).expect("move");
        fs::copy("/usr/bin/true", &copy).expect("copy");
        assert_eq!(m.identify(&copy, exec), Content::Unreadable);
    }

    #[test]
    fn content_rewritten_in_place_with_its_mtime_set_back_is_hashed_again() {
        use std::os::unix::fs::MetadataExt;
        let d = RootDir::new("rewritten");
        fs::copy("/usr/bin/true", d.0.join("dpkg")).expect("copy");
        let t = FilterTables::discover(std::slice::from_ref(&d.0));
        let size = fs::metadata("/usr/bin/true").expect("meta").len();
        // Junk of the installer's size, exec'd first: cached as no installer.
        let copy = d.0.join("copy");
        fs::write(&copy, vec![0u8; usize::try_from(size).expect("size")]).expect("junk");
        let exec = exec_file(&copy);
        let mut m = ContentMatcher::new(&t.found);
        assert_eq!(m.identify(&copy, exec), Content::Other);
        let before = fs::metadata(&copy).expect("meta");
        // The installer's bytes written over it, same inode and size, and
        // the mtime put back as it was (what `touch -d` can do).
        fs::write(&copy, fs::read("/usr/bin/true").expect("read")).expect("rewrite");
        let times = [
            libc::timespec {
                tv_sec: before.atime(),
                tv_nsec: before.atime_nsec(),
            },
            libc::timespec {
                tv_sec: before.mtime(),
                tv_nsec: before.mtime_nsec(),
            },
        ];
        let c = std::ffi::CString::new(copy.as_os_str().as_encoded_bytes()).expect("path");
        // SAFETY: a valid path and two timespecs.
        assert_eq!(
            unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), times.as_ptr(), 0) },
            0
        );
        let after = fs::metadata(&copy).expect("meta");
        assert_eq!(
            (after.mtime(), after.mtime_nsec()),
            (before.mtime(), before.mtime_nsec())
        );
        // The change time moved: not the cached answer.
        assert!(matches!(m.identify(&copy, exec), Content::Installer(..)));
    }

    #[test]
    fn the_hash_reads_at_most_the_limit() {
        let d = RootDir::new("limit");
        let p = d.0.join("f");
        fs::write(&p, b"abcdef").expect("write");
        let limited = sha256_of(fs::File::open(&p).expect("open"), 3).expect("hash");
        fs::write(&p, b"abc").expect("write");
        let whole = sha256_of(fs::File::open(&p).expect("open"), 100).expect("hash");
        assert_eq!(limited, whole);
    }

    /// The kernel's argv scan as user space can run it: the shared
    /// `swmon_common::scan` over the NUL-joined argv (cut at `ARGV_MAX`),
    /// each name it hands back looked up among the trie's entries the way
    /// the LPM trie does (the longest entry that is a prefix of the key,
    /// the key read to the argument's NUL, at most `NAME_MAX - 1` bytes)
    /// with the kernel's one-byte suffix check; a code needle passes too.
    fn kernel_scan_passes(argv: &[&[u8]], entries: &[(u32, [u8; NAME_MAX], NameValue)]) -> bool {
        use swmon_common::{scan::ArgScan, suffix, ARGV_MAX};
        let mut bytes = Vec::new();
        for a in argv {
            bytes.extend_from_slice(a);
            bytes.push(0);
        }
        bytes.truncate(ARGV_MAX);
        let lookup = |at: usize, len: usize| {
            let rest = &bytes[at..];
            let end = rest.iter().position(|&c| c == 0).unwrap_or(rest.len());
            let key = &rest[..end.min(NAME_MAX - 1)];
            let Some((_, _, v)) = entries
                .iter()
                .filter(|(_, k, v)| {
                    let n = usize::from(v.len);
                    n <= key.len() && key[..n] == k[..n]
                })
                .max_by_key(|(_, _, v)| v.len)
            else {
                return false;
            };
            let n = usize::from(v.len);
            let next = if n >= len { 0 } else { key[n] };
            v.kind == name_kind::INSTALLER && suffix::arg_next_allows(v.suffix, next)
        };
        let mut scan = ArgScan::START;
        let mut code = false;
        for (i, &c) in bytes.iter().enumerate() {
            let step = scan.step(i as u32, c);
            code |= step.code;
            for name in [step.segment, step.module] {
                if name.len > 0 && lookup(name.at as usize, name.len as usize) {
                    return true;
                }
            }
        }
        code
    }

    /// One name rule: for every catalogue installer name and its variants,
    /// in every way an interpreter or the loader can be told to run it,
    /// whatever user space reads as an installer run the kernel's scan
    /// passes (the kernel may pass more; user space counts those).
    #[test]
    fn the_kernel_passes_whatever_user_space_accepts() {
        use crate::classify::command::through;
        let entries = name_entries();
        let long = format!("ignore:{}", "x".repeat(700));
        let mut accepted = 0usize;
        let mut checked = 0usize;
        for p in PROGRAMS
            .iter()
            .filter(|p| matches!(p.role, Role::Installer(_)))
        {
            let n = p.name;
            for v in [
                n.to_owned(),
                format!("{n}3"),
                format!("{n}3.11"),
                format!("{n}-3"),
                format!("{n}-x"),
                format!("{n}x"),
                format!("{n}.__main__"),
                format!("{n}._internal.cli.main"),
            ] {
                let lines: Vec<Vec<String>> = vec![
                    vec!["python3".into(), "-m".into(), v.clone()],
                    vec!["python3".into(), format!("-m{v}")],
                    vec!["python3".into(), "-Im".into(), v.clone()],
                    vec!["python3".into(), format!("-Im{v}")],
                    vec!["python3".into(), "-I".into(), "-m".into(), v.clone()],
                    vec![
                        "python3".into(),
                        "-W".into(),
                        long.clone(),
                        "-m".into(),
                        v.clone(),
                    ],
                    vec!["python3".into(), format!("-W{long}"), format!("-m{v}")],
                    vec!["python3".into(), format!("/usr/bin/{v}")],
                    vec!["python3".into(), v.clone()],
                    vec![
                        "python3".into(),
                        format!("/usr/lib/python3/dist-packages/{v}/__main__.py"),
                    ],
                    vec![
                        "node".into(),
                        format!("/usr/lib/node_modules/{v}/lib/cli.js"),
                    ],
                    vec!["node".into(), format!("/usr/share/nodejs/{v}/lib/cli.js")],
                    vec!["node".into(), format!("/x/node_modules/{v}/index.js")],
                    vec!["ld-linux-x86-64.so.2".into(), format!("/usr/bin/{v}")],
                    vec!["python3".into(), "-c".into(), format!("import {v}")],
                    vec![
                        "python3".into(),
                        "-c".into(),
                        format!("import runpy; runpy.run_module('{v}', run_name='__main__')"),
                    ],
                    vec![
                        "python3".into(),
                        format!("-cfrom {v} import main; main(['install', 'x'])"),
                    ],
                    vec!["node".into(), "-e".into(), format!("require('{v}')")],
                    // Behind options swmon does not know (read both ways).
                    vec!["python3".into(), "-Z".into(), "-m".into(), v.clone()],
                    vec!["python3".into(), format!("-Zm{v}")],
                    vec![
                        "python3".into(),
                        "--frob".into(),
                        "x".into(),
                        format!("/usr/bin/{v}"),
                    ],
                    vec![
                        "node".into(),
                        "--frob".into(),
                        "/tmp".into(),
                        format!("/usr/lib/node_modules/{v}/bin/cli.js"),
                    ],
                    vec![
                        "python3".into(),
                        "-Z".into(),
                        "-c".into(),
                        format!("import {v}"),
                    ],
                    vec!["node".into(), "-pe".into(), format!("require('{v}')")],
                    // corepack runs the manager it names.
                    vec![
                        "node".into(),
                        "/usr/bin/corepack".into(),
                        format!("{v}@1.22.19"),
                    ],
                    vec![
                        "node".into(),
                        "/usr/lib/node_modules/corepack/dist/corepack.js".into(),
                        v.clone(),
                    ],
                    vec![
                        "node".into(),
                        format!("--eval=require('/usr/lib/node_modules/{v}/lib/cli.js')(process)"),
                    ],
                    vec![
                        "node".into(),
                        "-p".into(),
                        format!("import('{v}/lib/cli.js')"),
                    ],
                ];
                for mut line in lines {
                    line.extend(["install".into(), "x".into()]);
                    let argv: Vec<&[u8]> = line.iter().map(|a| a.as_bytes()).collect();
                    let role = catalogue::lookup(basename(argv[0])).map(|(_, p)| p.role);
                    let Some(role) = role else {
                        panic!("{line:?}");
                    };
                    checked += 1;
                    if through(role, &argv).is_some() {
                        accepted += 1;
                        assert!(
                            kernel_scan_passes(&argv, &entries),
                            "user space reads an installer run the kernel drops: {line:?}"
                        );
                    }
                }
            }
        }
        // Not vacuous: the real forms are accepted.
        assert!(accepted > 1000, "{accepted} of {checked}");
        for line in [
            "python3 -mpip install x",
            "python3 -m pip.__main__ install x",
            "python3 -m dpkg.__main__ x",
            "node /usr/lib/node_modules/npm/index.js i x",
        ] {
            let argv: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
            let role = catalogue::lookup(basename(argv[0])).map(|(_, p)| p.role);
            assert!(through(role.expect("role"), &argv).is_some(), "{line}");
            assert!(kernel_scan_passes(&argv, &entries), "{line}");
        }
        // What the kernel drops: ordinary interpreter runs.
        for line in ["python3 -c pass", "python3 tool.py --x y", "node build.js"] {
            let argv: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
            assert!(!kernel_scan_passes(&argv, &entries), "{line}");
        }
    }

    /// Where the GNU build-id note's header starts in `bytes`.
    fn build_id_note(bytes: &[u8]) -> usize {
        let header = [4, 0, 0, 0, 20, 0, 0, 0, 3, 0, 0, 0, b'G', b'N', b'U', 0];
        bytes
            .windows(header.len())
            .position(|w| w == header)
            .expect("a 20-byte GNU build-id note")
    }

    #[test]
    fn near_copies_are_confirmed_by_their_build_id() {
        let d = RootDir::new("near");
        fs::copy("/usr/bin/true", d.0.join("dpkg")).expect("copy");
        let t = FilterTables::discover(std::slice::from_ref(&d.0));
        let ours = t
            .found
            .iter()
            .find(|f| f.path.starts_with(&d.0))
            .expect("found");
        let key = ours.elf_key.expect("an ELF key");
        let id = ours.build_id.clone().expect("a build id");
        assert!(t.elf_keys.contains(&(key, ours.id)), "{:?}", t.elf_keys);
        let original = fs::read("/usr/bin/true").expect("read");
        let near = Ways {
            exact: true,
            near: true,
        };
        let examine = |bytes: &[u8], name: &str| {
            let p = d.0.join(name);
            fs::write(&p, bytes).expect("write");
            let mut m = ContentMatcher::new(&t.found);
            m.examine(&p, exec_file(&p), near)
        };
        // One byte appended: another size, the same key and build ID.
        let mut appended = original.clone();
        appended.push(0);
        assert_eq!(
            examine(&appended, "appended"),
            Content::NearCopy(ours.id, id.clone())
        );
        // A string patched in place: the same size, not the same hash.
        let mut patched = original.clone();
        let at = patched
            .windows(5)
            .position(|w| w == b"Usage")
            .expect("a usage string");
        patched[at..at + 5].copy_from_slice(b"Nsage");
        assert_eq!(
            examine(&patched, "patched"),
            Content::NearCopy(ours.id, id.clone())
        );
        // The exact copy is still the exact match.
        assert!(matches!(
            examine(&original, "exact"),
            Content::Installer(..)
        ));
        let note = build_id_note(&original);
        // Another build ID: another build of the same layout, or the
        // build ID rewritten: reported as a mismatch, with the copy's ID.
        let mut other = appended.clone();
        other[note + 16] ^= 0xff;
        match examine(&other, "other") {
            Content::NearCopyMismatch(i, b) => {
                assert_eq!(i, ours.id);
                assert_ne!(b, id);
            }
            c => panic!("{c:?}"),
        }
        // The note's type changed: no build ID left to confirm by.
        let mut stripped = appended.clone();
        stripped[note + 8] = 0x7f;
        assert_eq!(
            examine(&stripped, "stripped"),
            Content::NearCopyUnconfirmed(ours.id, "no-build-id")
        );
        // A name size running past the segment: malformed, flagged.
        let mut broken = appended.clone();
        broken[note..note + 4].copy_from_slice(&0x7fff_fff0u32.to_le_bytes());
        assert_eq!(
            examine(&broken, "broken"),
            Content::NearCopyUnconfirmed(ours.id, "bad-note")
        );
        // Another program with bytes appended: its key is no installer's.
        let mut ls = fs::read("/usr/bin/ls").expect("read ls");
        ls.push(0);
        assert_eq!(examine(&ls, "ls"), Content::Other);
        // Without the kernel's near-copy reason only the exact content counts.
        let p = d.0.join("appended");
        let mut m = ContentMatcher::new(&t.found);
        assert_eq!(m.identify(&p, exec_file(&p)), Content::Other);
        // The installer replaced after discovery (an upgrade racing the
        // copy): its key and build ID as discovered still count.
        fs::copy("/usr/bin/false", d.0.join("dpkg.new")).expect("copy");
        fs::rename(d.0.join("dpkg.new"), d.0.join("dpkg")).expect("rename");
        assert_eq!(
            examine(&appended, "appended"),
            Content::NearCopy(ours.id, id.clone())
        );
    }

    #[test]
    fn basenames() {
        assert_eq!(basename(b"/usr/bin/dpkg"), b"dpkg");
        assert_eq!(basename(b"dpkg"), b"dpkg");
        assert_eq!(basename(b"/"), b"");
    }
}
