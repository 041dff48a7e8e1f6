//! What the in-kernel filter matches: the catalogue's names, and the
//! installers found on this host by (device, inode) and size.
//!
//! Discovery walks the usual program folders (and `$PATH`) once at start.
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
    os::unix::{ffi::OsStrExt, fs::MetadataExt},
    path::{Path, PathBuf},
};

use sha2::{Digest, Sha256};
use swmon_common::{name_kind, suffix, InodeKey, NameValue, NAME_MAX};

use crate::catalogue::{self, Role, Suffix, PROGRAMS};

/// Folders searched for installers, beside every folder of `$PATH`.
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

/// Non-installer names a hard-linked binary needs to count as a multiplexer.
pub const MULTIPLEXER_NAMES: usize = 3;

/// An installer program found on this host.
#[derive(Clone, Debug)]
pub struct FoundInstaller {
    pub id: u16,
    pub path: PathBuf,
    /// The kernel's encoding of the device (`major << 20 | minor`).
    pub dev: u32,
    pub ino: u64,
    pub size: u64,
    /// An ELF binary (a script's exec shows its interpreter's file instead).
    pub elf: bool,
    /// Hard-linked under names that are not installers (see the module doc).
    pub multiplexed: bool,
}

/// Everything the kernel maps are filled with.
#[derive(Debug, Default)]
pub struct FilterTables {
    /// Trie entries: prefix length in bits, key bytes, value.
    pub names: Vec<(u32, [u8; NAME_MAX], NameValue)>,
    pub inodes: Vec<(InodeKey, u16)>,
    pub sizes: Vec<(u64, u16)>,
    pub found: Vec<FoundInstaller>,
}

/// The kernel's `dev_t` for a user-space `st_dev` (`new_encode_dev` undone).
pub fn kernel_dev(st_dev: u64) -> u32 {
    let major = libc::major(st_dev);
    let minor = libc::minor(st_dev);
    (major << 20) | (minor & 0xFFFFF)
}

impl FilterTables {
    /// Builds the tables from the catalogue and a scan of `dirs` (and
    /// `extra_dirs`, such as `$PATH`).
    pub fn discover(extra_dirs: &[PathBuf]) -> FilterTables {
        // Canonical folders, once each: /bin is /usr/bin on merged-/usr hosts.
        let mut dirs: Vec<PathBuf> = Vec::new();
        for d in PROGRAM_DIRS
            .iter()
            .map(PathBuf::from)
            .chain(extra_dirs.iter().cloned())
        {
            if let Ok(d) = fs::canonicalize(&d) {
                if !dirs.contains(&d) {
                    dirs.push(d);
                }
            }
        }
        let mut tables = FilterTables::default();
        for (id, p) in PROGRAMS.iter().enumerate() {
            let mut key = [0u8; NAME_MAX];
            key[..p.name.len()].copy_from_slice(p.name.as_bytes());
            let (kind, id) = match p.role {
                Role::Installer(_) => (name_kind::INSTALLER, id),
                Role::Interpreter(_) => (name_kind::INTERPRETER, id),
                Role::Loader => (name_kind::LOADER, id),
            };
            let value = NameValue {
                id: u16::try_from(id).unwrap_or(u16::MAX),
                kind,
                suffix: match p.suffix {
                    Suffix::Exact => suffix::EXACT,
                    Suffix::Version => suffix::VERSION,
                    Suffix::Any => suffix::ANY,
                },
                len: p.name.len() as u8,
                _pad: [0; 3],
            };
            tables.names.push(((p.name.len() * 8) as u32, key, value));
        }

        // Every hard-linked file in the folders, by inode, with its names.
        let mut names_by_inode: HashMap<(u64, u64), BTreeSet<Vec<u8>>> = HashMap::new();
        let mut candidates = Vec::new();
        let mut seen_paths = BTreeSet::new();
        for dir in &dirs {
            let Ok(entries) = fs::read_dir(dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let path = entry.path();
                let Ok(meta) = fs::metadata(&path) else {
                    continue;
                };
                if !meta.is_file() {
                    continue;
                }
                let is_link = entry.file_type().is_ok_and(|t| t.is_symlink());
                if !is_link && meta.nlink() > 1 {
                    names_by_inode
                        .entry((meta.dev(), meta.ino()))
                        .or_default()
                        .insert(name.as_bytes().to_vec());
                }
                if let Some((id, Role::Installer(_))) =
                    catalogue::lookup(name.as_bytes()).map(|(id, p)| (id, p.role))
                {
                    if seen_paths.insert(path.clone()) {
                        candidates.push((id, path, meta));
                    }
                }
            }
        }
        for (id, path, meta) in candidates {
            let is_installer = |name: &[u8]| {
                matches!(
                    catalogue::lookup(name).map(|(_, p)| p.role),
                    Some(Role::Installer(_))
                )
            };
            // A symlink to a file whose own name is no installer's is a
            // multiplexer's alias (`~/.cargo/bin/cargo -> rustup`).
            let alias_of_other = fs::canonicalize(&path).ok().is_some_and(|target| {
                target
                    .file_name()
                    .is_some_and(|n| !is_installer(n.as_bytes()))
            });
            let other_names = names_by_inode
                .get(&(meta.dev(), meta.ino()))
                .map_or(0, |names| names.iter().filter(|n| !is_installer(n)).count());
            let multiplexed = alias_of_other || other_names >= MULTIPLEXER_NAMES;
            let elf = is_elf(&path);
            let found = FoundInstaller {
                id,
                path,
                dev: kernel_dev(meta.dev()),
                ino: meta.ino(),
                size: meta.size(),
                elf,
                multiplexed,
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
            }
            tables.found.push(found);
        }
        tables
    }
}

fn is_elf(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == *b"\x7fELF"
}

/// SHA-256 of a file's content, hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
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

/// What a size-matched candidate's content turned out to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    /// An installer's (its catalogue id), with the SHA-256.
    Installer(u16, String),
    /// No installer's.
    Other,
    /// It could not be read (the process has exited).
    Unreadable,
}

/// Identifies size-matched candidates by content, caching each installer's
/// hash the first time a file of its size turns up.
#[derive(Debug, Default)]
pub struct ContentMatcher {
    installers: Vec<FoundInstaller>,
    hashes: HashMap<PathBuf, String>,
}

impl ContentMatcher {
    pub fn new(found: &[FoundInstaller]) -> ContentMatcher {
        let installers = found
            .iter()
            .filter(|f| f.elf && !f.multiplexed)
            .cloned()
            .collect();
        ContentMatcher {
            installers,
            hashes: HashMap::new(),
        }
    }

    /// Whether `exe` (a path such as `/proc/PID/exe`) has an installer's
    /// content.
    pub fn identify(&mut self, exe: &Path, size: u64) -> Content {
        match self.identify_inner(exe, size) {
            Ok(Some((id, hash))) => Content::Installer(id, hash),
            Ok(None) => Content::Other,
            Err(()) => Content::Unreadable,
        }
    }

    /// The installer whose content has this SHA-256 and size, if any (the
    /// candidate hashed by the caller, through the fd it checked).
    pub fn installer_with(&mut self, hash: &str, size: u64) -> Option<u16> {
        let same_size: Vec<_> = self
            .installers
            .iter()
            .filter(|f| f.size == size)
            .cloned()
            .collect();
        for f in same_size {
            let known = match self.hashes.get(&f.path) {
                Some(h) => h.clone(),
                None => {
                    let Ok(h) = sha256_file(&f.path) else {
                        continue;
                    };
                    self.hashes.insert(f.path.clone(), h.clone());
                    h
                }
            };
            if known == hash {
                return Some(f.id);
            }
        }
        None
    }

    /// Whether any installer has this size (else no content is read).
    pub fn has_size(&self, size: u64) -> bool {
        self.installers.iter().any(|f| f.size == size)
    }

    fn identify_inner(&mut self, exe: &Path, size: u64) -> Result<Option<(u16, String)>, ()> {
        let same_size: Vec<_> = self
            .installers
            .iter()
            .filter(|f| f.size == size)
            .cloned()
            .collect();
        if same_size.is_empty() {
            return Ok(None);
        }
        let hash = sha256_file(exe).map_err(|_| ())?;
        for f in same_size {
            let known = match self.hashes.get(&f.path) {
                Some(h) => h.clone(),
                None => {
                    let Ok(h) = sha256_file(&f.path) else {
                        continue;
                    };
                    self.hashes.insert(f.path.clone(), h.clone());
                    h
                }
            };
            if known == hash {
                return Ok(Some((f.id, hash)));
            }
        }
        Ok(None)
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

    #[test]
    fn rustup_proxies_are_multiplexers() {
        let t = FilterTables::discover(&[]);
        if let Some(cargo) = t
            .found
            .iter()
            .find(|f| f.path.ends_with(".cargo/bin/cargo"))
        {
            assert!(cargo.multiplexed, "{cargo:?}");
            assert!(!t.inodes.iter().any(|(k, _)| k.ino == cargo.ino));
        }
    }

    #[test]
    fn basenames() {
        assert_eq!(basename(b"/usr/bin/dpkg"), b"dpkg");
        assert_eq!(basename(b"dpkg"), b"dpkg");
        assert_eq!(basename(b"/"), b"");
    }
}
