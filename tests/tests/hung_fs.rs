//! A hung file system under an installer's working folder costs swmon the
//! package-file reader's deadline, not its pipeline. With audit on, opening
//! a folder on a FUSE mount asks its server for the folder's capabilities
//! (`audit_copy_inode`); a server that never answers holds the opener for
//! ever. swmon opens the installer's `/proc/PID/cwd` to read the local
//! package files it names: on a worker, under the deadline.

mod audit_common;

use std::{
    ffi::CString,
    fs,
    io::Write,
    os::{fd::AsRawFd, unix::ffi::OsStrExt},
    process::{Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use audit_common::HostAudit;
use tests::{one_run, run, wait_within, Monitor, TempDir};

fn mount(source: &str, target: &std::path::Path, fstype: &str, flags: u64, data: &str) {
    let c = |s: &[u8]| CString::new(s).unwrap();
    let (source, target, fstype, data) = (
        c(source.as_bytes()),
        c(target.as_os_str().as_bytes()),
        c(fstype.as_bytes()),
        c(data.as_bytes()),
    );
    // SAFETY: NUL-terminated strings that outlive the call.
    let rc = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            flags,
            data.as_ptr().cast(),
        )
    };
    assert_eq!(
        rc,
        0,
        "mount {target:?}: {}",
        std::io::Error::last_os_error()
    );
}

#[test]
fn an_installer_in_a_hung_fuse_folder_does_not_hold_swmon() {
    let host = HostAudit::save();
    let tmp = TempDir::new("hung-fs");
    let hung = tmp.path().join("hung");
    fs::create_dir(&hung).expect("mkdir");
    let m = Monitor::start(&[]);

    // A thread with a mount namespace of its own mounts a FUSE file system
    // whose server (this test, holding /dev/fuse) never answers, and starts
    // a shell there, its working folder the mount (while audit is off: the
    // chdir would hang too), which execs `dpkg -i ./x.deb` when told.
    let (tx, rx) = mpsc::channel();
    let mnt = hung.clone();
    std::thread::spawn(move || {
        // SAFETY: integer argument; this thread's namespace only.
        assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNS) }, 0);
        // SAFETY: NULL source and type, as mount(2) allows for a
        // propagation change.
        let rc = unsafe {
            libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            )
        };
        assert_eq!(rc, 0);
        let dev = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/fuse")
            .expect("/dev/fuse");
        mount(
            "swmon-test",
            &mnt,
            "fuse",
            libc::MS_NOSUID | libc::MS_NODEV,
            &format!("fd={},rootmode=40000,user_id=0,group_id=0", dev.as_raw_fd()),
        );
        let child = Command::new("/bin/sh")
            .arg("-c")
            .arg("read x; exec /usr/bin/dpkg -i ./x.deb")
            .current_dir(&mnt)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sh");
        tx.send((child, dev)).unwrap();
    });
    let (mut child, dev) = rx.recv().expect("the mount thread");
    let pid = child.id();

    host.enable();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"go\n")
        .expect("tell sh");
    // Until sh has become dpkg (its exe link is read, not followed).
    let end = std::time::Instant::now() + Duration::from_secs(60);
    while !fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|p| p.ends_with("dpkg")) {
        assert!(std::time::Instant::now() < end, "sh did not exec dpkg");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The installer's exec is in the kernel stream; swmon's facts stage
    // reads its package files while dpkg waits on the hung server. A run
    // after it is reported: the stage was not held.
    let (after, code) = run(Command::new("/usr/bin/dpkg").arg("--version"));
    assert_eq!(code, 0);
    m.wait_for("the run after", Duration::from_secs(60), |e| {
        e["process"]["pid"] == after
    });
    // SAFETY: a signal to the child this test started, by its pid.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    drop(dev);
    wait_within(&mut child, Duration::from_secs(30), "the killed dpkg");
    m.wait_for("the hung dpkg's run", Duration::from_secs(60), |e| {
        e["process"]["pid"] == pid
    });
    let events = m.stop();
    let e = one_run(&events, pid);
    assert_eq!(e["swmon"]["manager"], "dpkg", "{e:#}");
    let files = e["swmon"]["package_files"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(files.len(), 1, "{e:#}");
    assert_eq!(files[0]["rejected"], "timed-out", "{e:#}");
}
