//! Near-copies of a binary installer, with the real binary on the real
//! kernel: a copy of dpkg with one byte appended, or with a string in its
//! `.rodata` patched (another size, or another hash), installing a local
//! `.deb` is one install event with manager dpkg, the package's real name
//! and version, `via` `near-copy`, and dpkg's build ID; a copy of an
//! ordinary program with bytes appended never leaves the kernel; a dpkg
//! copy whose build-id note was removed, or run from a memfd, is still
//! reported, flagged.

use std::{
    fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use serde_json::{json, Value};
use tests::{action, build_deb, counters, one_run, run, runs_of, Monitor, TempDir};

const DPKG: &str = "/usr/bin/dpkg";

/// dpkg's GNU build ID, as binutils reads it.
fn dpkg_build_id() -> String {
    let out = Command::new("readelf")
        .args(["-n", DPKG])
        .output()
        .expect("readelf (binutils)");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.trim().strip_prefix("Build ID: ").map(str::to_owned))
        .expect("dpkg has a GNU build ID")
}

/// Writes `bytes` as an executable file `name` in `dir`.
fn executable(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, bytes).expect("write");
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).expect("chmod");
    p
}

/// dpkg with `from` replaced by `to` (the same length) where it first occurs.
fn patched(from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let mut b = fs::read(DPKG).expect("read dpkg");
    let at = b
        .windows(from.len())
        .position(|w| w == from)
        .unwrap_or_else(|| panic!("{} in dpkg", String::from_utf8_lossy(from)));
    b[at..at + to.len()].copy_from_slice(to);
    b
}

struct DpkgGuard(&'static str);

impl Drop for DpkgGuard {
    fn drop(&mut self) {
        let _ = Command::new(DPKG).args(["--purge", self.0]).output();
    }
}

fn filter(e: &Value) -> Vec<&str> {
    e["swmon"]["filter"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

#[test]
fn near_copies_of_dpkg_installing_a_deb_are_one_event_each() {
    const PKG: &str = "swmon-e2e-nearcopy";
    let tmp = TempDir::new("nearcopy");
    build_deb(tmp.path(), PKG, "3.4-1", "local.deb");
    let _guard = DpkgGuard(PKG);
    let mut appended = fs::read(DPKG).expect("read dpkg");
    appended.push(0);
    let appended = executable(tmp.path(), "pkgtool", &appended);
    // A string of dpkg's --version text, in .rodata: the same size as
    // dpkg, another SHA-256.
    let rodata = executable(
        tmp.path(),
        "pkgtool2",
        &patched(b"package management program", b"PACKAGE management program"),
    );
    assert_eq!(
        fs::metadata(&rodata).expect("stat").len(),
        fs::metadata(DPKG).expect("stat").len()
    );
    let want_id = dpkg_build_id();

    let m = Monitor::start(&[]);
    let (first, code) = run(Command::new(&appended)
        .args(["-i", "local.deb"])
        .current_dir(tmp.path()));
    assert_eq!(code, 0, "the appended copy installs");
    let (_, code) = run(Command::new(DPKG).args(["--purge", PKG]));
    assert_eq!(code, 0, "dpkg --purge");
    let (second, code) = run(Command::new(&rodata)
        .args(["-i", "local.deb"])
        .current_dir(tmp.path()));
    assert_eq!(code, 0, "the patched copy installs");
    m.wait_for("the patched copy", Duration::from_secs(10), |e| {
        e["process"]["pid"] == second
    });
    let events = m.stop();
    // The patched copy has dpkg's size too: the kernel passed it for both,
    // its content differs, its ELF key and build ID do not.
    for (what, pid, exe, why) in [
        ("appended", first, &appended, &["near-copy"][..]),
        ("rodata", second, &rodata, &["size", "near-copy"][..]),
    ] {
        let e = one_run(&events, pid);
        assert_eq!(action(&e), "package-install", "{what}: {e:#}");
        assert_eq!(e["swmon"]["manager"], "dpkg", "{what}: {e:#}");
        assert_eq!(e["swmon"]["via"], "near-copy", "{what}: {e:#}");
        assert_eq!(filter(&e), why, "{what}: {e:#}");
        assert_eq!(
            e["swmon"]["packages"],
            json!([{"name": PKG, "version": "3.4-1"}]),
            "{what}: {e:#}"
        );
        assert_eq!(e["swmon"]["requested"], json!(["local.deb"]), "{what}");
        assert_eq!(
            e["swmon"]["executable_build_id"],
            want_id.as_str(),
            "{what}"
        );
        assert_eq!(e["swmon"]["unverified"], Value::Null, "{what}: {e:#}");
        assert_eq!(e["process"]["executable"], exe.to_str().expect("utf-8"));
        assert_eq!(e["process"]["exit_code"], 0, "{what}");
    }
    let c = counters(&events);
    assert_eq!(c["near_copy_mismatch"], 0, "{c}");
    assert_eq!(c["near_copy_unconfirmed"], 0, "{c}");
}

#[test]
fn an_ordinary_program_with_bytes_appended_stays_in_the_kernel() {
    let tmp = TempDir::new("nearcopy-ordinary");
    let mut t = fs::read("/usr/bin/true").expect("read true");
    t.extend([0u8; 7]);
    let t = executable(tmp.path(), "mytrue", &t);
    let mut ls = fs::read("/usr/bin/ls").expect("read ls");
    ls.push(b'\n');
    let ls = executable(tmp.path(), "myls", &ls);

    let m = Monitor::start(&[]);
    let mut pids = Vec::new();
    for _ in 0..500 {
        let (pid, code) = run(&mut Command::new(&t));
        assert_eq!(code, 0);
        pids.push(pid);
    }
    let (pid, code) = run(Command::new(&ls).arg(tmp.path()));
    assert_eq!(code, 0);
    pids.push(pid);
    let (marker, _) = run(Command::new(DPKG).arg("--version"));
    m.wait_for("marker", Duration::from_secs(5), |e| {
        e["process"]["pid"] == marker
    });
    let events = m.stop();
    for pid in &pids {
        assert!(runs_of(&events, *pid).is_empty(), "pid {pid} was reported");
    }
    // Never sent up: nothing for user space to reject.
    let c = counters(&events);
    assert_eq!(c["near_copy_mismatch"], 0, "{c}");
    assert_eq!(c["content_mismatch"], 0, "{c}");
    assert!(c["passed"].as_u64().expect("passed") < 100, "{c}");
}

#[test]
fn a_dpkg_copy_without_its_build_id_or_in_a_memfd_is_still_reported() {
    let tmp = TempDir::new("nearcopy-flagged");
    // The build-id note's type changed (NT_GNU_BUILD_ID 3 to 0x7f), one
    // byte appended: dpkg still runs, with nothing to confirm it by.
    let mut header = Vec::new();
    header.extend(4u32.to_le_bytes());
    header.extend(20u32.to_le_bytes());
    header.extend(3u32.to_le_bytes());
    header.extend(b"GNU\0");
    let mut nobid = fs::read(DPKG).expect("read dpkg");
    let at = nobid
        .windows(header.len())
        .position(|w| w == header)
        .expect("dpkg's build-id note");
    nobid[at + 8] = 0x7f;
    nobid.push(0);
    let nobid = executable(tmp.path(), "nobid", &nobid);
    let memfd = tmp.path().join("memfd.py");
    fs::write(
        &memfd,
        "import os\ndata = open('/usr/bin/dpkg', 'rb').read() + b'\\0\\0'\n\
         fd = os.memfd_create('pkg', 0)\nos.write(fd, data)\n\
         os.execve(fd, ['pkg', '--version'], dict(os.environ))\n",
    )
    .expect("write");

    let m = Monitor::start(&[]);
    let (flagged, code) = run(Command::new(&nobid).arg("--version"));
    assert_eq!(code, 0);
    let (fileless, code) = run(Command::new("python3").arg(&memfd));
    assert_eq!(code, 0);
    m.wait_for("memfd", Duration::from_secs(5), |e| {
        e["process"]["pid"] == fileless
    });
    let events = m.stop();

    let e = one_run(&events, flagged);
    assert_eq!(e["swmon"]["manager"], "dpkg", "{e:#}");
    assert_eq!(e["swmon"]["via"], "near-copy", "{e:#}");
    assert_eq!(e["swmon"]["unverified"], true, "{e:#}");
    assert_eq!(e["swmon"]["build_id_flag"], "no-build-id", "{e:#}");
    assert_eq!(e["swmon"]["executable_build_id"], Value::Null);
    let c = counters(&events);
    assert_eq!(c["near_copy_unconfirmed"], 1, "{c}");

    // The memfd's process execs from a python that may still be reading:
    // it is read through /proc/PID/exe, or reported unverified if gone.
    let e = one_run(&events, fileless);
    assert_eq!(e["swmon"]["manager"], "dpkg", "{e:#}");
    assert_eq!(e["swmon"]["via"], "memfd", "{e:#}");
    assert_eq!(filter(&e), ["fileless", "near-copy"], "{e:#}");
    assert_eq!(e["process"]["executable"], "/memfd:pkg (deleted)");
    if e["swmon"]["unverified"] != true {
        assert_eq!(
            e["swmon"]["executable_build_id"],
            dpkg_build_id().as_str(),
            "{e:#}"
        );
    }
}

/// dpkg with bytes patched at `edits` (offset, bytes) and one byte
/// appended (another size: only the ELF key can pass it).
fn dpkg_with(edits: &[(usize, &[u8])]) -> Vec<u8> {
    let mut b = fs::read(DPKG).expect("read dpkg");
    for (at, bytes) in edits {
        b[*at..*at + bytes.len()].copy_from_slice(bytes);
    }
    b.push(0);
    b
}

/// Header fields neither the kernel's loader nor ld.so needs (PT_PHDR's
/// file size, `e_phnum` lowered so the last header, GNU_RELRO here, is
/// dropped) change no key: each such copy installing a `.deb` is a
/// near-copy install. A copy with its build ID rewritten is reported,
/// unverified, flagged `mismatch`, with its own build ID: never dropped.
#[test]
fn header_patches_and_a_rewritten_build_id_are_still_seen() {
    const PKG: &str = "swmon-e2e-nearcopy-hdr";
    let tmp = TempDir::new("nearcopy-hdr");
    build_deb(tmp.path(), PKG, "5.6-1", "local.deb");
    let _guard = DpkgGuard(PKG);
    let original = fs::read(DPKG).expect("read dpkg");
    assert_eq!(
        &original[64..68],
        &6u32.to_le_bytes(),
        "PT_PHDR comes first"
    );
    let phnum = u16::from_le_bytes([original[56], original[57]]);
    let phdr = executable(
        tmp.path(),
        "phdrtool",
        &dpkg_with(&[(64 + 32, &0x10u64.to_le_bytes())]),
    );
    let fewer = executable(
        tmp.path(),
        "phnumtool",
        &dpkg_with(&[(56, &(phnum - 1).to_le_bytes())]),
    );
    let mut header = Vec::new();
    header.extend(4u32.to_le_bytes());
    header.extend(20u32.to_le_bytes());
    header.extend(3u32.to_le_bytes());
    header.extend(b"GNU\0");
    let note = original
        .windows(header.len())
        .position(|w| w == header)
        .expect("dpkg's build-id note");
    let rewritten = executable(
        tmp.path(),
        "bidtool",
        &dpkg_with(&[(note + 16, &[0x5a; 20])]),
    );

    let m = Monitor::start(&[]);
    let mut installs = Vec::new();
    for (what, exe) in [("PT_PHDR p_filesz", &phdr), ("e_phnum - 1", &fewer)] {
        let (pid, code) = run(Command::new(exe)
            .args(["-i", "local.deb"])
            .current_dir(tmp.path()));
        assert_eq!(code, 0, "{what}: the copy installs");
        let (_, code) = run(Command::new(DPKG).args(["--purge", PKG]));
        assert_eq!(code, 0, "dpkg --purge");
        installs.push((what, pid, exe));
    }
    let (mismatch, code) = run(Command::new(&rewritten).arg("--version"));
    assert_eq!(code, 0);
    m.wait_for("the rewritten copy", Duration::from_secs(10), |e| {
        e["process"]["pid"] == mismatch
    });
    let events = m.stop();

    let want_id = dpkg_build_id();
    for (what, pid, exe) in installs {
        let e = one_run(&events, pid);
        assert_eq!(action(&e), "package-install", "{what}: {e:#}");
        assert_eq!(e["swmon"]["via"], "near-copy", "{what}: {e:#}");
        assert_eq!(filter(&e), ["near-copy"], "{what}: {e:#}");
        assert_eq!(
            e["swmon"]["packages"],
            json!([{"name": PKG, "version": "5.6-1"}]),
            "{what}: {e:#}"
        );
        assert_eq!(e["swmon"]["executable_build_id"], want_id.as_str());
        assert_eq!(e["process"]["executable"], exe.to_str().expect("utf-8"));
    }
    let e = one_run(&events, mismatch);
    assert_eq!(e["swmon"]["manager"], "dpkg", "{e:#}");
    assert_eq!(e["swmon"]["via"], "near-copy", "{e:#}");
    assert_eq!(e["swmon"]["unverified"], true, "{e:#}");
    assert_eq!(e["swmon"]["build_id_flag"], "mismatch", "{e:#}");
    assert_eq!(
        e["swmon"]["executable_build_id"],
        "5a".repeat(20).as_str(),
        "{e:#}"
    );
    let c = counters(&events);
    assert_eq!(c["near_copy_mismatch"], 1, "{c}");
}

/// A renamed copy of dpkg, exact or with a byte appended, run through the
/// dynamic loader by hand (`ld-linux-x86-64.so.2 ./copy -i x.deb`: the
/// loader's argv names no installer): the kernel passes the explicit
/// loader exec (`loader-program`), user space opens the program as the
/// process sees it (its cwd, its user) and finds it dpkg's by content or
/// ELF key and build ID: one install event each, via `loader`. The loader
/// running an ordinary program gives none.
#[test]
fn a_renamed_dpkg_copy_run_through_the_loader_is_seen() {
    const PKG: &str = "swmon-e2e-nearcopy-ld";
    const LOADER: &str = "/lib64/ld-linux-x86-64.so.2";
    let tmp = TempDir::new("nearcopy-ld");
    build_deb(tmp.path(), PKG, "7.8-1", "local.deb");
    let _guard = DpkgGuard(PKG);
    let exact = executable(tmp.path(), "tool", &fs::read(DPKG).expect("read dpkg"));
    let near = executable(tmp.path(), "tool2", &dpkg_with(&[]));

    let m = Monitor::start(&[]);
    let mut installs = Vec::new();
    for (what, exe) in [("exact", &exact), ("appended", &near)] {
        let name = exe.file_name().and_then(|n| n.to_str()).expect("name");
        let (pid, code) = run(Command::new(LOADER)
            .args([&format!("./{name}"), "-i", "local.deb"])
            .current_dir(tmp.path()));
        assert_eq!(code, 0, "{what}: the copy installs through the loader");
        let (_, code) = run(Command::new(DPKG).args(["--purge", PKG]));
        assert_eq!(code, 0, "dpkg --purge");
        installs.push((what, pid));
    }
    // The loader running an ordinary program, kept alive until the marker
    // after it is reported (the facts stage takes records in order), so
    // its program is read while the process is there, whatever the timing.
    let mut sleeper = Command::new(LOADER)
        .args(["/usr/bin/sleep", "60"])
        .spawn()
        .expect("ld.so sleep");
    let plain = sleeper.id();
    let (marker, _) = run(Command::new(DPKG).arg("--version"));
    m.wait_for("marker", Duration::from_secs(10), |e| {
        e["process"]["pid"] == marker
    });
    // Our own child, by its handle.
    sleeper.kill().expect("kill the sleeper");
    sleeper.wait().expect("reap the sleeper");
    let events = m.stop();

    for (what, pid) in installs {
        let e = one_run(&events, pid);
        assert_eq!(action(&e), "package-install", "{what}: {e:#}");
        assert_eq!(e["swmon"]["manager"], "dpkg", "{what}: {e:#}");
        assert_eq!(e["swmon"]["via"], "loader", "{what}: {e:#}");
        assert!(filter(&e).contains(&"loader-program"), "{what}: {e:#}");
        assert_eq!(
            e["swmon"]["packages"],
            json!([{"name": PKG, "version": "7.8-1"}]),
            "{what}: {e:#}"
        );
    }
    assert!(runs_of(&events, plain).is_empty(), "{events:#?}");
    let c = counters(&events);
    assert_eq!(c["loader_program_unread"], 0, "{c}");
}
