//! The last line of defence of `swmon run`'s stop: signals whose default
//! action would kill swmon without removing its audit rules are ignored,
//! and once a stop has begun a watchdog thread ends the process itself if
//! the stop sequence hangs (a stalled output, a stuck stage), removing the
//! rules first. A second SIGINT, SIGTERM or SIGQUIT during a stop means
//! "now": the rules are removed and the process exits at once.
//!
//! Ignored: SIGXFSZ (an output past `RLIMIT_FSIZE`: the write fails with
//! `EFBIG`, and the writer's error stops the monitor cleanly), SIGUSR1,
//! SIGUSR2, SIGALRM, SIGVTALRM, SIGPROF and SIGPOLL (swmon gives them no
//! meaning; their default action would end it with its rules loaded).

use std::{
    io::Write,
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};

use crate::audit::rules::Emergency;

/// Set by the signal handler installed at stop.
static AGAIN: AtomicBool = AtomicBool::new(false);

extern "C" fn on_again(_: libc::c_int) {
    AGAIN.store(true, Ordering::SeqCst);
}

/// The signals ignored for the whole run (see the module doc).
pub const IGNORED: [Signal; 7] = [
    Signal::SIGXFSZ,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGALRM,
    Signal::SIGVTALRM,
    Signal::SIGPROF,
    Signal::SIGIO,
];

/// Ignores [`IGNORED`].
pub fn ignore_signals() -> nix::Result<()> {
    let ignore = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
    for s in IGNORED {
        // SAFETY: SIG_IGN runs no code in the handler.
        unsafe { sigaction(s, &ignore) }?;
    }
    Ok(())
}

/// Called when the stop begins: from now on SIGINT, SIGTERM and SIGQUIT
/// end the process at once, and so does `budget` passing; either way the
/// rules swmon added and still hold are removed first (within
/// [`REMOVE_WAIT`]).
pub fn arm(emergency: Option<Emergency>, budget: Duration) {
    let handler = SigAction::new(
        SigHandler::Handler(on_again),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGQUIT] {
        // SAFETY: the handler only stores to an atomic (async-signal-safe).
        let _ = unsafe { sigaction(s, &handler) };
    }
    let deadline = Instant::now() + budget;
    let spawned = std::thread::Builder::new()
        .name("swmon-watchdog".into())
        .spawn(move || loop {
            let again = AGAIN.load(Ordering::SeqCst);
            if again || Instant::now() >= deadline {
                let why = if again {
                    "a second stop signal"
                } else {
                    "the stop took too long"
                };
                let removed = remove_now(emergency.as_ref());
                let _ = writeln!(
                    std::io::stderr(),
                    "swmon: {why}: exiting now{}",
                    if removed {
                        "; the audit rules swmon added are removed"
                    } else {
                        "; the audit rules swmon added could not be removed"
                    }
                );
                // SAFETY: _exit ends the process without running
                // destructors or atexit handlers (other threads are stuck).
                unsafe { libc::_exit(2) };
            }
            std::thread::sleep(Duration::from_millis(20));
        });
    if let Err(e) = spawned {
        let _ = writeln!(std::io::stderr(), "swmon: no stop watchdog: {e}");
    }
}

/// How long the watchdog waits for the rules' removal before it exits
/// anyway (each delete is a netlink request; a kernel that does not answer
/// must not hold the process up).
const REMOVE_WAIT: Duration = Duration::from_secs(1);

/// Removes the rules with the guard's [`Emergency`] handle (its own socket,
/// no lock the stuck stop may hold), waiting at most [`REMOVE_WAIT`];
/// whether they are gone (or there were none). What was not deleted stays
/// recorded for the next start.
fn remove_now(emergency: Option<&Emergency>) -> bool {
    let Some(emergency) = emergency.cloned() else {
        return true;
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("swmon-remove".into())
        .spawn(move || {
            let _ = tx.send(emergency.remove());
        });
    spawned.is_ok() && rx.recv_timeout(REMOVE_WAIT).unwrap_or(false)
}
