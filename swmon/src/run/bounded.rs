//! Host reads under a deadline, for the stages that must not wait on the
//! host: the facts stage (`/proc`, executables' content) and the decide
//! stage's state reader (package databases, import folders). Any read of a
//! file can wait on its file system: with audit on, even resolving a path
//! on a FUSE mount asks its server (`audit_copy_inode`), and a server that
//! never answers holds the reader for ever, no signal ends it.
//!
//! [`Bounded`] keeps the reading state (a cache, baselines) on a worker
//! thread and runs each call there, waiting at most its deadline. A call
//! not done by then is given up ([`Unread::TimedOut`]): the worker is left
//! to its stuck read (its channels dropped: it ends if the read ever does)
//! and the next call starts a new one from a fresh state. At most
//! `max_stuck` given-up workers may still be alive; with that many, calls
//! are refused at once ([`Unread::Busy`]) until one ends.

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        mpsc, Arc,
    },
    time::Duration,
};

/// Why a call has no answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unread {
    /// Not done within the deadline (the worker was given up).
    TimedOut,
    /// No worker may be started (too many stuck), or it failed.
    Busy,
}

impl Unread {
    pub fn as_str(self) -> &'static str {
        match self {
            Unread::TimedOut => "timed-out",
            Unread::Busy => "busy",
        }
    }
}

type Job<T> = Box<dyn FnOnce(&mut T) + Send>;

/// A state `T` on a worker thread, each call to it under a deadline.
pub struct Bounded<T: Send + 'static> {
    name: &'static str,
    deadline: Duration,
    max_stuck: usize,
    /// Makes the state a new worker starts with.
    fresh: Box<dyn FnMut() -> T + Send>,
    jobs: Option<mpsc::Sender<Job<T>>>,
    /// Workers alive: the running one and the given-up ones whose stuck
    /// call has not ended.
    alive: Arc<AtomicUsize>,
}

/// One worker counted in [`Bounded::alive`] until its thread ends.
struct Alive(Arc<AtomicUsize>);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl<T: Send + 'static> Bounded<T> {
    /// No worker is started until the first call.
    pub fn new(
        name: &'static str,
        deadline: Duration,
        max_stuck: usize,
        fresh: impl FnMut() -> T + Send + 'static,
    ) -> Bounded<T> {
        Bounded {
            name,
            deadline,
            max_stuck,
            fresh: Box::new(fresh),
            jobs: None,
            alive: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Workers given up on that are still stuck.
    pub fn stuck(&self) -> usize {
        self.alive
            .load(Ordering::SeqCst)
            .saturating_sub(usize::from(self.jobs.is_some()))
    }

    fn spawn(&mut self) -> Option<mpsc::Sender<Job<T>>> {
        if self.alive.fetch_add(1, Ordering::SeqCst) >= self.max_stuck {
            self.alive.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        let alive = Alive(self.alive.clone());
        let mut state = (self.fresh)();
        let (jobs, todo) = mpsc::channel::<Job<T>>();
        // A failed spawn drops the closure, and `alive` with it.
        std::thread::Builder::new()
            .name(self.name.into())
            .spawn(move || {
                let _alive = alive;
                for job in todo {
                    job(&mut state);
                }
            })
            .ok()?;
        Some(jobs)
    }

    /// Runs `f` on the worker's state and waits for its answer at most the
    /// deadline.
    pub fn call<R: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut T) -> R + Send + 'static,
    ) -> Result<R, Unread> {
        if self.jobs.is_none() {
            self.jobs = self.spawn();
        }
        let Some(jobs) = &self.jobs else {
            return Err(Unread::Busy);
        };
        let (answer, done) = mpsc::sync_channel(1);
        let job: Job<T> = Box::new(move |state| {
            // Given up on: nobody waits for it.
            let _ = answer.send(f(state));
        });
        if jobs.send(job).is_err() {
            self.jobs = None;
            return Err(Unread::Busy);
        }
        match done.recv_timeout(self.deadline) {
            Ok(r) => Ok(r),
            Err(e) => {
                // Dropping its sender lets it end once its call does.
                self.jobs = None;
                Err(match e {
                    mpsc::RecvTimeoutError::Timeout => Unread::TimedOut,
                    // It panicked.
                    mpsc::RecvTimeoutError::Disconnected => Unread::Busy,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stuck_call_is_given_up_and_the_next_runs_on_a_fresh_state() {
        let (release, stuck) = mpsc::channel::<()>();
        let stuck = Arc::new(std::sync::Mutex::new(stuck));
        let mut b = Bounded::new("test-bounded", Duration::from_millis(100), 2, || 0u32);
        assert_eq!(
            b.call(|n| {
                *n += 1;
                *n
            }),
            Ok(1)
        );
        let s = stuck.clone();
        assert_eq!(
            b.call(move |_| {
                let _ = s.lock().unwrap().recv();
            }),
            Err(Unread::TimedOut)
        );
        assert_eq!(b.stuck(), 1);
        // A new worker, a new state.
        assert_eq!(
            b.call(|n| {
                *n += 1;
                *n
            }),
            Ok(1)
        );
        // A second stuck one reaches the cap (2): refused at once after it.
        let s = stuck.clone();
        assert_eq!(
            b.call(move |_| {
                let _ = s.lock().unwrap().recv();
            }),
            Err(Unread::TimedOut)
        );
        assert_eq!(b.call(|n| *n), Err(Unread::Busy));
        // Both stuck calls end: workers may start again.
        release.send(()).unwrap();
        release.send(()).unwrap();
        let end = std::time::Instant::now() + Duration::from_secs(10);
        while b.stuck() > 0 {
            assert!(
                std::time::Instant::now() < end,
                "the released workers did not end"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(b.call(|n| *n), Ok(0));
    }

    #[test]
    fn a_panicking_call_is_busy_and_the_next_gets_a_new_worker() {
        let mut b = Bounded::new("test-bounded", Duration::from_secs(10), 4, || 7u32);
        assert_eq!(b.call(|_| -> u32 { panic!("a bug") }), Err(Unread::Busy));
        assert_eq!(b.call(|n| *n), Ok(7));
    }
}
