//! A hung file system under an installer's working folder costs swmon the
//! package-file reader's deadline, not its pipeline. With audit on, opening
//! a folder on a FUSE mount asks its server for the folder's capabilities
//! (`audit_copy_inode`'s `getxattr`); a server that never answers holds the
//! opener for ever. swmon opens the installer's `/proc/PID/cwd` to read
//! the local package files it names: on a worker, under the deadline.
//!
//! The facts stage's other host reads (`/proc/PID/exe` and the file behind
//! it, command lines, the paths an exec names) run on a host reader under
//! its deadline: a run whose reads are stuck is reported with the kernel's
//! facts (`swmon.facts_unread`), and the runs after it are not held.
//!
//! The FUSE server here is this test: it answers the mount's `INIT` and
//! what a `chdir` into its root asks, then, told to hang, reads every
//! request and answers none.

mod audit_common;

use std::{
    ffi::CString,
    fs,
    io::{Read, Write},
    os::{fd::AsRawFd, unix::ffi::OsStrExt},
    process::{Command, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc, Arc,
    },
    time::Duration,
};

use audit_common::HostAudit;
use tests::{counters, one_run, run, wait_within, Monitor, TempDir};

const FUSE_GETATTR: u32 = 3;
const FUSE_GETXATTR: u32 = 22;
const FUSE_INIT: u32 = 26;

/// Answers requests on `dev` until `hang` is set, then reads them and
/// answers none; returns once `stop` is set (its end of the device closed:
/// with the test's, the connection is aborted, and a request it read and
/// never answered, which no signal ends, fails).
fn serve(mut dev: fs::File, hang: Arc<AtomicBool>, stop: Arc<AtomicBool>) {
    let mut buf = vec![0u8; 1 << 17];
    loop {
        let mut poll = libc::pollfd {
            fd: dev.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let ready = unsafe { libc::poll(&mut poll, 1, 50) };
        if stop.load(Ordering::SeqCst) {
            return;
        }
        if ready <= 0 {
            continue;
        }
        let Ok(n) = dev.read(&mut buf) else { return };
        if n < 40 || hang.load(Ordering::SeqCst) {
            continue;
        }
        let opcode = u32::from_ne_bytes(buf[4..8].try_into().unwrap());
        let unique = u64::from_ne_bytes(buf[8..16].try_into().unwrap());
        let (error, body): (i32, Vec<u8>) = match opcode {
            FUSE_INIT => {
                // fuse_init_out: major 7, minor 31, max_write 4096,
                // time_gran 1, the rest 0 (64 bytes).
                let mut b = vec![0u8; 64];
                b[0..4].copy_from_slice(&7u32.to_ne_bytes());
                b[4..8].copy_from_slice(&31u32.to_ne_bytes());
                b[20..24].copy_from_slice(&4096u32.to_ne_bytes());
                b[24..28].copy_from_slice(&1u32.to_ne_bytes());
                (0, b)
            }
            FUSE_GETATTR => {
                // fuse_attr_out: valid 0 s, then fuse_attr: ino 1, mode
                // S_IFDIR|0755, nlink 2 (104 bytes).
                let mut b = vec![0u8; 104];
                let attr = 16;
                b[attr..attr + 8].copy_from_slice(&1u64.to_ne_bytes());
                b[attr + 60..attr + 64].copy_from_slice(&0o40755u32.to_ne_bytes());
                b[attr + 64..attr + 68].copy_from_slice(&2u32.to_ne_bytes());
                (0, b)
            }
            // No attribute: asked again next time (ENOSYS would make the
            // kernel stop asking).
            FUSE_GETXATTR => (-libc::ENODATA, Vec::new()),
            // ACCESS and the rest: not implemented, allowed.
            _ => (-libc::ENOSYS, Vec::new()),
        };
        let mut out = Vec::with_capacity(16 + body.len());
        out.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
        out.extend_from_slice(&error.to_ne_bytes());
        out.extend_from_slice(&unique.to_ne_bytes());
        out.extend_from_slice(&body);
        let _ = dev.write_all(&out);
    }
}

/// The test's FUSE server: [`Server::close`] (or its drop) stops it and
/// closes both ends of the device, which aborts the connection.
struct Server {
    stop: Arc<AtomicBool>,
    serving: Option<std::thread::JoinHandle<()>>,
    dev: Option<fs::File>,
}

impl Server {
    fn close(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.serving.take() {
            let _ = t.join();
        }
        self.dev = None;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.close();
    }
}

fn mount_fuse(target: &std::path::Path, fd: i32) {
    let c = |s: &[u8]| CString::new(s).unwrap();
    let (source, target, fstype, data) = (
        c(b"swmon-test"),
        c(target.as_os_str().as_bytes()),
        c(b"fuse"),
        c(format!("fd={fd},rootmode=40000,user_id=0,group_id=0").as_bytes()),
    );
    // SAFETY: NUL-terminated strings that outlive the call.
    let rc = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV,
            data.as_ptr().cast(),
        )
    };
    assert_eq!(rc, 0, "mount: {}", std::io::Error::last_os_error());
}

#[test]
fn an_installer_in_a_hung_fuse_folder_does_not_hold_swmon() {
    let host = HostAudit::save();
    let tmp = TempDir::new("hung-fs");
    let mnt = tmp.path().join("hung");
    fs::create_dir(&mnt).expect("mkdir");
    let m = Monitor::start(&[]);

    // A thread with a mount namespace of its own mounts the file system
    // and starts a shell in it (its chdir answered), which execs `dpkg -i
    // ./x.deb` when told.
    let hang = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let (h, st, target) = (hang.clone(), stop.clone(), mnt.clone());
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
        mount_fuse(&target, dev.as_raw_fd());
        let server = dev.try_clone().expect("dup");
        let serving = std::thread::spawn(move || serve(server, h, st));
        let child = Command::new("/bin/sh")
            .arg("-c")
            .arg("echo ready; read x; exec /usr/bin/dpkg -i ./x.deb >/dev/null")
            .current_dir(&target)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("sh in the FUSE folder");
        tx.send((child, dev, serving)).unwrap();
    });
    let (mut child, dev, serving) = rx.recv().expect("the mount thread");
    // Whatever happens (a failed assertion too), the server stops and its
    // ends close before swmon is stopped: until then, a thread of swmon
    // waiting on a request the server read may never end, nor swmon.
    let mut server = Server {
        stop: stop.clone(),
        serving: Some(serving),
        dev: Some(dev),
    };
    let pid = child.id();

    // Once the shell is up (it looks at its working folder as it starts),
    // the server answers nothing; audit on.
    let mut ready = [0u8; 6];
    child
        .stdout
        .take()
        .unwrap()
        .read_exact(&mut ready)
        .expect("the shell's ready");
    assert_eq!(&ready, b"ready\n");
    hang.store(true, Ordering::SeqCst);
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
    // dpkg waits on the server; swmon's facts stage reads its package
    // file. A run after it is reported: the stage was not held.
    let (after, code) = run(Command::new("/usr/bin/dpkg").arg("--version"));
    assert_eq!(code, 0);
    m.wait_for("the run after", Duration::from_secs(60), |e| {
        e["process"]["pid"] == after
    });
    // The server's ends closed: the connection is aborted and dpkg's
    // request fails (a read, unanswered request ends on no signal).
    server.close();
    // SAFETY: a signal to the child this test started, by its pid.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
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

/// Detaches the test's mount from the host's namespace (after its server
/// closed, so nothing waits on it).
struct HostMount(std::path::PathBuf);

impl Drop for HostMount {
    fn drop(&mut self) {
        let path = CString::new(self.0.as_os_str().as_bytes()).unwrap();
        // SAFETY: a NUL-terminated path that outlives the call.
        unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) };
    }
}

#[test]
fn a_run_whose_facts_hang_is_reported_and_does_not_hold_the_runs_after_it() {
    let host = HostAudit::save();
    let tmp = TempDir::new("hung-facts");
    let mnt = tmp.path().join("hung");
    fs::create_dir(&mnt).expect("mkdir");
    let m = Monitor::start(&[]);

    // Mounted where swmon sees it (this namespace), served until the test
    // has looked at its root once (the mount's INIT answered), then hung.
    let dev = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse")
        .expect("/dev/fuse");
    mount_fuse(&mnt, dev.as_raw_fd());
    let hang = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let (h, st, server_end) = (hang.clone(), stop.clone(), dev.try_clone().expect("dup"));
    let serving = std::thread::spawn(move || serve(server_end, h, st));
    // Drops in reverse order: the server closes (the connection aborted,
    // every stuck read fails), then the mount is detached.
    let _mount = HostMount(mnt.clone());
    let mut server = Server {
        stop,
        serving: Some(serving),
        dev: Some(dev),
    };
    fs::metadata(&mnt).expect("the mount's root");
    hang.store(true, Ordering::SeqCst);
    host.enable();

    // Python told to run a `pip` script through a link to the mount (it
    // waits on the mount itself, until the server closes): swmon looks
    // for a venv's `pyvenv.cfg` two folders above the script. It walks no
    // FUSE mount by the path's spelling, but a link is only found by
    // following it: this run's host reads never end.
    let link = tmp.path().join("link");
    std::os::unix::fs::symlink(&mnt, &link).expect("symlink");
    let script = link.join("v").join("bin").join("pip");
    let mut python = Command::new("/usr/bin/python3")
        .arg(&script)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3");
    let stuck = python.id();
    let (after, code) = run(Command::new("/usr/bin/dpkg").arg("--version"));
    assert_eq!(code, 0);
    m.wait_for("the run after", Duration::from_secs(60), |e| {
        e["process"]["pid"] == after
    });
    // The connection aborted: python's open fails, and it exits.
    server.close();
    wait_within(&mut python, Duration::from_secs(30), "python3");
    m.wait_for("the stuck run", Duration::from_secs(60), |e| {
        e["process"]["pid"] == stuck
    });
    let events = m.stop();
    let e = one_run(&events, stuck);
    assert_eq!(e["swmon"]["manager"], "pip", "{e:#}");
    assert_eq!(e["swmon"]["facts_unread"], "timed-out", "{e:#}");
    let e = one_run(&events, after);
    assert!(e["swmon"].get("facts_unread").is_none(), "{e:#}");
    let c = counters(&events);
    assert!(c["facts_timed_out"].as_u64() >= Some(1), "{c:#}");
}
