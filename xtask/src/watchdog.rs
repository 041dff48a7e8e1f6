//! A time limit on each `cargo test` that `cargo xtask test` runs. A hung
//! test must fail the run with its name, not eat CI's 90 minutes: past the
//! limit the watchdog kills `cargo test` and every process under it (by pid:
//! they are all ours), then puts back what the killed tests could not: the
//! audit enabled flag and backlog limit as they were before, and the audit
//! rules the tests added (keyed `swmon-test-...`).

use std::{
    fs,
    process::{Child, Command},
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc, Arc,
    },
    thread,
    time::Duration,
};

use crate::scenarios::host::{self, signal, Status};

/// Watches one child; dropping it (or calling [`Watchdog::finish`]) ends the
/// watch.
pub struct Watchdog {
    done: Option<mpsc::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
    fired: Arc<AtomicBool>,
    saved: Option<Status>,
}

impl Watchdog {
    /// Starts watching `child`, which must be given `limit` to finish.
    pub fn start(child: &Child, limit: Duration) -> Watchdog {
        // Audit state as it was before; absent when auditctl is not there yet.
        let saved = host::status().ok();
        let (done, wait) = mpsc::channel::<()>();
        let fired = Arc::new(AtomicBool::new(false));
        let pid = child.id();
        let flag = Arc::clone(&fired);
        let thread = thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(limit) {
                flag.store(true, Ordering::SeqCst);
                eprintln!("xtask: no end after {limit:?}: killing pid {pid} and all under it");
                kill_tree(pid);
            }
        });
        Watchdog {
            done: Some(done),
            thread: Some(thread),
            fired,
            saved,
        }
    }

    /// Ends the watch. True when the limit passed and the tree was killed;
    /// then the host's audit state has been put back too.
    pub fn finish(mut self) -> bool {
        self.stop();
        let fired = self.fired.load(Ordering::SeqCst);
        if fired {
            self.restore();
        }
        fired
    }

    fn stop(&mut self) {
        drop(self.done.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    fn restore(&self) {
        if let Ok(out) = Command::new("auditctl").arg("-l").output() {
            for rule in String::from_utf8_lossy(&out.stdout).lines() {
                if !rule.contains("key=swmon-test-") {
                    continue;
                }
                if let Some(rest) = rule.strip_prefix("-a ") {
                    let mut args = vec!["-d"];
                    args.extend(rest.split_whitespace());
                    let _ = host::auditctl(&args);
                }
            }
        }
        if let Some(saved) = self.saved {
            host::put_back(saved);
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop();
    }
}

/// SIGKILLs a process and all its descendants, children before parents
/// are gone, so none is re-parented out of reach.
fn kill_tree(pid: u32) {
    // Stop the top first so it spawns nothing new, then take the tree.
    signal(pid, libc::SIGSTOP);
    let tree = descendants(pid);
    for &p in &tree {
        signal(p, libc::SIGSTOP);
    }
    for &p in tree.iter().rev() {
        signal(p, libc::SIGKILL);
    }
    signal(pid, libc::SIGKILL);
}

/// Every live descendant of a process, parents before their children.
fn descendants(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let mut next = 0;
    let mut parents = vec![pid];
    while let Some(&p) = parents.get(next) {
        next += 1;
        let Ok(tasks) = fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let Ok(children) = fs::read_to_string(task.path().join("children")) else {
                continue;
            };
            for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
                found.push(child);
                parents.push(child);
            }
        }
    }
    found
}
