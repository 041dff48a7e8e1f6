//! The exec bench's two file workloads (issue 11's performance bullet:
//! the package-state witness's cost on ordinary file I/O): a loop of file
//! tree operations made with libc calls on the bench's own thread, and
//! `tar -x` of a large, deterministic tarball the bench builds once. Each
//! returns a `Sample` of files per second and CPU µs per file; where the
//! trees go is described by `describe_fs` for the bench's text.

use std::{
    ffi::CString,
    fs,
    io::Error,
    os::unix::{
        ffi::OsStrExt,
        fs::{MetadataExt, PermissionsExt},
    },
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use anyhow::{bail, Context, Result};

use crate::bench::{cpu_us_now, Sample};

/// Files per folder of the tree-ops loop.
pub(crate) const FOLDER_FILES: u32 = 1000;

/// The tar the unpack workload runs.
pub(crate) const TAR: &str = "/bin/tar";

/// A path as a C string (no path the bench makes holds a NUL).
fn c_path(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes()).with_context(|| format!("a NUL in {}", p.display()))
}

/// `prefix` and `i` as a NUL-terminated name of fixed width (no
/// allocation in the timed loop): `f00000042`.
fn name(prefix: u8, i: u32) -> [u8; 10] {
    let mut out = [0u8; 10];
    out[0] = prefix;
    let mut v = i;
    for k in (1..9).rev() {
        out[k] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out
}

/// A libc call's -1 as an error naming the call and the file.
fn check(ret: libc::c_int, what: &str, name: &[u8]) -> Result<libc::c_int> {
    if ret < 0 {
        let shown = String::from_utf8_lossy(name.split(|b| *b == 0).next().unwrap_or(name));
        bail!("{what} {shown}: {}", Error::last_os_error());
    }
    Ok(ret)
}

/// The description `describe_fs` gives a filesystem whose removals slow
/// later creates (see `Scratch::keep`).
pub(crate) const NO_JOURNAL: &str = "ext4 without a journal";

/// Where the file workloads make their trees, one fresh tree per use, and
/// what becomes of them.
pub(crate) struct Scratch {
    dir: PathBuf,
    /// The filesystem, described (`describe_fs`).
    pub fs: String,
    /// Trees kept until the bench ends (then removed, when this is
    /// dropped) rather than removed after each segment: on ext4 without a
    /// journal, where creating a file skips, one buffer lookup each,
    /// every inode of its group freed in the last 60 s to 6 min
    /// (`recently_deleted` in the kernel's `find_inode_bit`), so removing
    /// a segment's unpacked tree would make the creates of the segments
    /// after it slower, by an amount that depends on the history rather
    /// than on the workload (measured on this project's machines: tar's CPU per file
    /// 0.24 to 1.4 ms with the removals, 70 µs without).
    pub keep: bool,
    seq: u32,
    /// Files were removed on this filesystem just before the rounds (an
    /// earlier run's trees, a tarball's generated files): see `settle`.
    removed: bool,
}

/// How long a freed inode's number counts as recently deleted on ext4
/// without a journal once its inode table block is written back (the
/// kernel's `RECENTCY_MIN`, 60 s), with 2 s to spare for its whole-second
/// clock.
const RECENT_SECS: u64 = 62;

impl Scratch {
    /// A fresh `dir` (whatever an earlier run left there removed).
    pub(crate) fn new(dir: PathBuf) -> Result<Scratch> {
        let removed = dir.exists();
        if removed {
            eprintln!("xtask: removing {}, left by an earlier run", dir.display());
            fs::remove_dir_all(&dir).with_context(|| format!("remove {}", dir.display()))?;
        }
        fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        let fs = describe_fs(&dir);
        let keep = fs.starts_with(NO_JOURNAL);
        Ok(Scratch {
            dir,
            fs,
            keep,
            seq: 0,
            removed,
        })
    }

    /// Notes that files were removed on this filesystem (`settle`).
    pub(crate) fn removed(&mut self) {
        self.removed = true;
    }

    /// Where trees are kept (see `keep`) and files were just removed,
    /// writes the filesystem back (`syncfs`: with its inode table blocks
    /// clean, a freed inode counts as recent for 60 s rather than 6 min)
    /// and waits those 60 s out, so that the first rounds do not pay for
    /// removals the later ones do not. Else returns at once.
    pub(crate) fn settle(&mut self) -> Result<()> {
        if !(self.keep && self.removed) {
            return Ok(());
        }
        let dir =
            fs::File::open(&self.dir).with_context(|| format!("open {}", self.dir.display()))?;
        // SAFETY: syncfs on a descriptor open for the call's duration.
        if unsafe { libc::syncfs(std::os::fd::AsRawFd::as_raw_fd(&dir)) } != 0 {
            bail!("syncfs {}: {}", self.dir.display(), Error::last_os_error());
        }
        eprintln!(
            "xtask: files were just removed on {} ({}): waiting {RECENT_SECS} s until their \
             inodes stop counting as recently deleted",
            self.dir.display(),
            self.fs
        );
        std::thread::sleep(std::time::Duration::from_secs(RECENT_SECS));
        self.removed = false;
        Ok(())
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Fails early, with what to do, when the kept trees (`bytes` in all)
    /// would not fit with 2 GiB to spare.
    pub(crate) fn check_room(&self, bytes: u64) -> Result<()> {
        if !self.keep {
            return Ok(());
        }
        let c = c_path(&self.dir)?;
        // SAFETY: statvfs writes into the zeroed struct it is given; `c`
        // is NUL-terminated.
        let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
            bail!("statvfs {}: {}", self.dir.display(), Error::last_os_error());
        }
        let free = s.f_bavail.saturating_mul(s.f_frsize);
        let need = bytes.saturating_add(2 << 30);
        if free < need {
            bail!(
                "the unpacked trees, kept until the end on {} ({}), need {:.1} GB and 2 GiB to \
                 spare, {:.1} GB is free: fewer --rounds or --tar-files, or another --file-dir",
                self.dir.display(),
                self.fs,
                bytes as f64 / 1e9,
                free as f64 / 1e9
            );
        }
        Ok(())
    }

    fn next(&mut self) -> PathBuf {
        self.seq += 1;
        self.dir.join(format!("t{}", self.seq))
    }

    /// Removes a used tree, unless trees are kept.
    fn done(&self, tree: &Path) -> Result<()> {
        if self.keep {
            return Ok(());
        }
        fs::remove_dir_all(tree).with_context(|| format!("remove {}", tree.display()))
    }

    /// The tree-ops workload: in a fresh folder, for each of `count`
    /// files, in folders of `FOLDER_FILES` made (`mkdirat`) before their
    /// first file and removed (`unlinkat(AT_REMOVEDIR)`) after their last:
    /// `openat(O_CREAT|O_EXCL|O_WRONLY, 0644)`, a 4 KiB `write`, `close`,
    /// `renameat` to a new name in the same folder, `fchmodat` 0755,
    /// `unlinkat`; every call relative to the folder's descriptor, all on
    /// this thread. Each file goes through the whole sequence before the
    /// next is made, so a folder holds one file at most and no data
    /// reaches the disk. Timed: the loop, folders' mkdir and rmdir
    /// included; not timed: making and removing the fresh folder itself.
    pub(crate) fn tree_ops(&mut self, count: u32) -> Result<Sample> {
        let tree = self.next();
        fs::create_dir_all(&tree).with_context(|| format!("create {}", tree.display()))?;
        let tree_c = c_path(&tree)?;
        // SAFETY: a NUL-terminated path; the descriptor is closed below.
        let root = unsafe {
            libc::open(
                tree_c.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        check(root, "open", tree_c.as_bytes())?;
        let result = tree_loop(root, count);
        // SAFETY: the descriptor opened above, closed once.
        unsafe { libc::close(root) };
        let sample = result?;
        self.done(&tree)?;
        Ok(sample)
    }

    /// The unpack workload: `tar -xf TARBALL -C FRESH` into a fresh
    /// folder, timed from the spawn to the reaped exit; the CPU figure is
    /// this thread's and its reaped children's (`RUSAGE_CHILDREN`: tar's
    /// own), per file of the tarball. `after` runs as soon as tar is
    /// reaped (its result is returned beside the sample), before the
    /// unpacked tree is removed (or kept, see `keep`), outside the timed
    /// part, also when tar fails.
    pub(crate) fn untar<T>(
        &mut self,
        tar: &Path,
        files: u32,
        after: impl FnOnce() -> T,
    ) -> Result<(Sample, T)> {
        let dest = self.next();
        fs::create_dir_all(&dest).with_context(|| format!("create {}", dest.display()))?;
        let cpu0 = cpu_us_now();
        let start = Instant::now();
        let status = Command::new(TAR)
            .arg("-xf")
            .arg(tar)
            .arg("-C")
            .arg(&dest)
            .status()
            .context("run tar");
        let secs = start.elapsed().as_secs_f64();
        let cpu = cpu_us_now() - cpu0;
        let out = after();
        self.done(&dest)?;
        let status = status?;
        if !status.success() {
            bail!("{TAR} -xf {} failed: {status}", tar.display());
        }
        Ok((
            Sample {
                rate: f64::from(files) / secs,
                cpu_us: cpu / f64::from(files),
            },
            out,
        ))
    }
}

impl Drop for Scratch {
    /// Removes every tree, kept ones included, also when the bench fails
    /// midway.
    fn drop(&mut self) {
        if self.keep {
            eprintln!(
                "xtask: removing the kept trees under {}",
                self.dir.display()
            );
        }
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            eprintln!("xtask: could not remove {}: {e}", self.dir.display());
        }
    }
}

fn tree_loop(root: libc::c_int, count: u32) -> Result<Sample> {
    let data = [0x5au8; 4096];
    let cpu0 = cpu_us_now();
    let start = Instant::now();
    let mut folder: Option<(libc::c_int, [u8; 10])> = None;
    let end_folder = |f: Option<(libc::c_int, [u8; 10])>| -> Result<()> {
        if let Some((fd, d)) = f {
            // SAFETY: a descriptor this loop opened, closed once; `d` is
            // NUL-terminated.
            unsafe { libc::close(fd) };
            check(
                unsafe { libc::unlinkat(root, d.as_ptr().cast(), libc::AT_REMOVEDIR) },
                "rmdir",
                &d,
            )?;
        }
        Ok(())
    };
    for i in 0..count {
        if i % FOLDER_FILES == 0 {
            end_folder(folder.take())?;
            let d = name(b'd', i / FOLDER_FILES);
            // SAFETY: `d` is NUL-terminated; `root` an open directory.
            check(
                unsafe { libc::mkdirat(root, d.as_ptr().cast(), 0o755) },
                "mkdir",
                &d,
            )?;
            // SAFETY: as above.
            let fd = check(
                unsafe {
                    libc::openat(
                        root,
                        d.as_ptr().cast(),
                        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
                    )
                },
                "open",
                &d,
            )?;
            folder = Some((fd, d));
        }
        let Some((dfd, _)) = folder else {
            bail!("no folder open");
        };
        let (a, b) = (name(b'f', i), name(b'g', i));
        // SAFETY (every call below): `a` and `b` are NUL-terminated, `dfd`
        // an open directory, `data` 4096 bytes long, `fd` closed once.
        let fd = check(
            unsafe {
                libc::openat(
                    dfd,
                    a.as_ptr().cast(),
                    libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_CLOEXEC,
                    0o644 as libc::c_uint,
                )
            },
            "create",
            &a,
        )?;
        let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
        unsafe { libc::close(fd) };
        if n != data.len() as isize {
            bail!(
                "write {}: {n} bytes ({})",
                String::from_utf8_lossy(&a[..9]),
                Error::last_os_error()
            );
        }
        check(
            unsafe { libc::renameat(dfd, a.as_ptr().cast(), dfd, b.as_ptr().cast()) },
            "rename",
            &a,
        )?;
        check(
            unsafe { libc::fchmodat(dfd, b.as_ptr().cast(), 0o755, 0) },
            "chmod",
            &b,
        )?;
        check(
            unsafe { libc::unlinkat(dfd, b.as_ptr().cast(), 0) },
            "unlink",
            &b,
        )?;
    }
    end_folder(folder.take())?;
    let secs = start.elapsed().as_secs_f64();
    Ok(Sample {
        rate: f64::from(count) / secs,
        cpu_us: (cpu_us_now() - cpu0) / f64::from(count),
    })
}

/// splitmix64: the tarball's sizes and bytes, the same on every run.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The size of the tarball's file `i`: log-uniform from 1 KiB to 64 KiB
/// (mean about 15 KiB).
fn tar_file_size(i: u32) -> usize {
    let u = (mix(u64::from(i)) >> 11) as f64 / (1u64 << 53) as f64;
    (1024.0 * 64f64.powf(u)) as usize
}

/// The tarball of `files` files, built once under `bench` and reused
/// (its name carries the count; a build is written under a temporary
/// name and renamed, so a broken one is never reused): file `i` is
/// `dNNN/sN/fNNNNNNNN` (folders of 1000 files, subfolders of 100), of
/// `tar_file_size(i)` bytes of pseudo-random data, mode 0755 for every
/// eighth file and 0644 for the others; tar is told the order, times,
/// owners and modes (`--sort=name --mtime=@0 --owner=0 --group=0
/// --numeric-owner --mode=a+rX,go-w`, whatever the umask), so every build
/// is byte for byte the same. Returns its path and size,
/// and whether it was built now (its generated files removed).
pub(crate) fn tarball(bench: &Path, files: u32) -> Result<(PathBuf, u64, bool)> {
    let tar = bench.join(format!("tree-{files}.tar"));
    if let Ok(m) = fs::metadata(&tar) {
        return Ok((tar, m.len(), false));
    }
    let src = bench.join(format!("tree-{files}.src"));
    if src.exists() {
        fs::remove_dir_all(&src)?;
    }
    eprintln!("xtask: building {} ({files} files)", tar.display());
    let blob: Vec<u8> = (0..(128 * 1024 / 8) as u64)
        .flat_map(|k| mix(k ^ 0x5eed).to_le_bytes())
        .collect();
    for i in 0..files {
        let folder = src.join(format!("d{:03}/s{}", i / 1000, (i / 100) % 10));
        fs::create_dir_all(&folder)?;
        let path = folder.join(format!("f{i:08}"));
        let at = (mix(u64::from(i) << 1) % (64 * 1024)) as usize;
        fs::write(&path, &blob[at..at + tar_file_size(i)])
            .with_context(|| format!("write {}", path.display()))?;
        let mode = if i % 8 == 0 { 0o755 } else { 0o644 };
        fs::set_permissions(&path, fs::Permissions::from_mode(mode))?;
    }
    let tmp = bench.join(format!("tree-{files}.tar.tmp"));
    crate::sh(
        Command::new(TAR)
            .args([
                "--sort=name",
                "--mtime=@0",
                "--owner=0",
                "--group=0",
                "--numeric-owner",
                "--mode=a+rX,go-w",
                "-cf",
            ])
            .arg(&tmp)
            .arg("-C")
            .arg(&src)
            .arg("."),
    )?;
    fs::rename(&tmp, &tar)?;
    fs::remove_dir_all(&src)?;
    let len = fs::metadata(&tar)?.len();
    Ok((tar, len, true))
}

/// Reads the tarball through once, so the page cache holds it before
/// the first unpack.
pub(crate) fn warm(tar: &Path) -> Result<()> {
    let mut f = fs::File::open(tar).with_context(|| format!("open {}", tar.display()))?;
    std::io::copy(&mut f, &mut std::io::sink())?;
    Ok(())
}

/// What filesystem `dir` is on, for the bench's text: its type (from
/// `statfs`), for ext4 whether it has a journal, and whether it is the
/// filesystem `/usr` is on.
pub(crate) fn describe_fs(dir: &Path) -> String {
    let Ok(c) = c_path(dir) else {
        return "an unknown filesystem".to_owned();
    };
    // SAFETY: statfs writes into the zeroed struct it is given.
    let mut s: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above; `c` is NUL-terminated.
    let kind = if unsafe { libc::statfs(c.as_ptr(), &mut s) } == 0 {
        match s.f_type {
            0xEF53 => match ext4_journal(dir) {
                Some(true) => "ext4, with a journal".to_owned(),
                Some(false) => NO_JOURNAL.to_owned(),
                None => "ext2/3/4".to_owned(),
            },
            0x0102_1994 => "tmpfs".to_owned(),
            0x9123_683E => "btrfs".to_owned(),
            0x5846_5342 => "xfs".to_owned(),
            0x794C_7630 => "overlayfs".to_owned(),
            t => format!("a filesystem of type {t:#x}"),
        }
    } else {
        "an unknown filesystem".to_owned()
    };
    let dev = |p: &Path| fs::metadata(p).map(|m| m.dev()).ok();
    let same = match (dev(dir), dev(Path::new("/usr"))) {
        (Some(a), Some(b)) if a == b => "the filesystem `/usr` is on",
        (Some(_), Some(_)) => "not the filesystem `/usr` is on",
        _ => "not known to be the filesystem `/usr` is on",
    };
    format!("{kind}, {same}")
}

/// Whether the ext4 filesystem holding `dir` has a journal: its
/// `/sys/fs/ext4/DEV/journal_task` reads `<none>` without one. `None`
/// when that cannot be told.
fn ext4_journal(dir: &Path) -> Option<bool> {
    let dev = fs::metadata(dir).ok()?.dev();
    let (major, minor) = (libc::major(dev), libc::minor(dev));
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").ok()?;
    let want = format!("{major}:{minor}");
    let source = mountinfo.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let sep = f.iter().position(|x| *x == "-")?;
        (f.get(2) == Some(&want.as_str()))
            .then(|| f.get(sep + 2).map(|s| (*s).to_owned()))
            .flatten()
    })?;
    let name = Path::new(&source).file_name()?.to_str()?.to_owned();
    let task = fs::read_to_string(format!("/sys/fs/ext4/{name}/journal_task")).ok()?;
    Some(task.trim() != "<none>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_fixed_width_and_terminated() {
        assert_eq!(&name(b'f', 42), b"f00000042\0");
        assert_eq!(&name(b'd', 0), b"d00000000\0");
        // Wider than 8 digits: the high digits drop, never a panic.
        assert_eq!(&name(b'g', 1_234_567_890), b"g34567890\0");
    }

    #[test]
    fn tar_sizes_span_1_to_64_kib_and_repeat() {
        let sizes: Vec<usize> = (0..20_000).map(tar_file_size).collect();
        assert!(sizes.iter().all(|s| (1024..=64 * 1024).contains(s)));
        let mean = sizes.iter().sum::<usize>() as f64 / sizes.len() as f64;
        // Log-uniform over [1, 64] KiB: mean 63/ln 64 KiB ≈ 15.5 KiB.
        assert!((14_000.0..18_000.0).contains(&mean), "{mean}");
        assert_eq!(sizes, (0..20_000).map(tar_file_size).collect::<Vec<_>>());
    }

    #[test]
    fn tree_ops_run_and_the_scratch_goes_away() {
        let dir = std::env::temp_dir().join(format!("xtask-filebench-{}", std::process::id()));
        let mut scratch = Scratch::new(dir.clone()).unwrap();
        let s = scratch.tree_ops(2500).unwrap();
        assert!(s.rate > 0.0 && s.cpu_us > 0.0, "{s:?}");
        // Three folders made and removed, the fresh tree itself empty.
        let tree = dir.join("t1");
        assert_eq!(tree.exists(), scratch.keep);
        if scratch.keep {
            assert_eq!(fs::read_dir(&tree).unwrap().count(), 0);
        }
        drop(scratch);
        assert!(!dir.exists());
    }
}
