//! The bounded queues that join `swmon run`'s stages, and the rate limiter
//! of live loss alerts.
//!
//! A queue is bounded twice: by items (tokio's channel) and by bytes (a
//! budget shared by both ends), so a burst of big records can not grow the
//! monitor's memory. A sender that finds either bound reached gets its item
//! back: readers drop it and count the drop, they never wait.

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use tokio::sync::mpsc;

/// Makes a queue of at most `items` items and `bytes` bytes.
pub fn bounded<T>(items: usize, bytes: usize) -> (Tx<T>, Rx<T>) {
    let (tx, rx) = mpsc::channel(items.max(1));
    let used = Arc::new(AtomicUsize::new(0));
    let items = Arc::new(AtomicUsize::new(0));
    (
        Tx {
            tx,
            used: used.clone(),
            items: items.clone(),
            budget: bytes,
        },
        Rx { rx, used, items },
    )
}

/// A queue's depth, readable from anywhere (it holds neither end open).
#[derive(Clone, Debug)]
pub struct Gauge {
    used: Arc<AtomicUsize>,
    items: Arc<AtomicUsize>,
}

impl Gauge {
    /// Items and bytes queued now.
    pub fn depth(&self) -> (usize, usize) {
        (
            self.items.load(Ordering::Relaxed),
            self.used.load(Ordering::Relaxed),
        )
    }
}

pub struct Tx<T> {
    tx: mpsc::Sender<(T, usize)>,
    used: Arc<AtomicUsize>,
    items: Arc<AtomicUsize>,
    budget: usize,
}

impl<T> Clone for Tx<T> {
    fn clone(&self) -> Self {
        Tx {
            tx: self.tx.clone(),
            used: self.used.clone(),
            items: self.items.clone(),
            budget: self.budget,
        }
    }
}

/// Why an item was not queued.
#[derive(Debug, PartialEq, Eq)]
pub enum Full {
    /// The queue is at its item or byte bound: the item is dropped.
    Full,
    /// The receiving stage is gone.
    Closed,
}

impl<T> Tx<T> {
    /// Queues `item` (about `size` bytes) if both bounds allow; never waits.
    pub fn try_send(&self, item: T, size: usize) -> Result<(), Full> {
        self.try_send_or_return(item, size).map_err(|(why, _)| why)
    }

    /// [`Tx::try_send`] that hands the item back when it is not queued.
    pub fn try_send_or_return(&self, item: T, size: usize) -> Result<(), (Full, T)> {
        if !self.reserve(size) {
            let why = if self.tx.is_closed() {
                Full::Closed
            } else {
                Full::Full
            };
            return Err((why, item));
        }
        self.items.fetch_add(1, Ordering::Relaxed);
        self.tx.try_send((item, size)).map_err(|e| {
            self.items.fetch_sub(1, Ordering::Relaxed);
            self.used.fetch_sub(size, Ordering::Relaxed);
            match e {
                mpsc::error::TrySendError::Full((item, _)) => (Full::Full, item),
                mpsc::error::TrySendError::Closed((item, _)) => (Full::Closed, item),
            }
        })
    }

    /// Queues `item` from a plain thread, waiting for room in bytes and
    /// in items (an item bigger than the whole budget goes in alone). For
    /// stages behind a reader, never a reader.
    pub fn blocking_send(&self, item: T, size: usize) -> Result<(), Full> {
        while !self.reserve(size) {
            if self.tx.is_closed() {
                return Err(Full::Closed);
            }
            if self.used.load(Ordering::Relaxed) == 0 {
                self.used.fetch_add(size, Ordering::Relaxed);
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        self.items.fetch_add(1, Ordering::Relaxed);
        self.tx.blocking_send((item, size)).map_err(|_| {
            self.items.fetch_sub(1, Ordering::Relaxed);
            self.used.fetch_sub(size, Ordering::Relaxed);
            Full::Closed
        })
    }

    /// Queues `item`, waiting for room in items (for the few messages that
    /// must not be lost and come from no reader's hot path).
    pub async fn send(&self, item: T, size: usize) -> Result<(), Full> {
        self.used.fetch_add(size, Ordering::Relaxed);
        self.items.fetch_add(1, Ordering::Relaxed);
        self.tx.send((item, size)).await.map_err(|_| {
            self.items.fetch_sub(1, Ordering::Relaxed);
            self.used.fetch_sub(size, Ordering::Relaxed);
            Full::Closed
        })
    }

    fn reserve(&self, size: usize) -> bool {
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            if used.saturating_add(size) > self.budget {
                return false;
            }
            match self.used.compare_exchange_weak(
                used,
                used + size,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => used = now,
            }
        }
    }

    /// Bytes queued now.
    pub fn bytes(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }
}

pub struct Rx<T> {
    rx: mpsc::Receiver<(T, usize)>,
    used: Arc<AtomicUsize>,
    items: Arc<AtomicUsize>,
}

impl<T> Rx<T> {
    pub async fn recv(&mut self) -> Option<T> {
        let (item, size) = self.rx.recv().await?;
        Some(self.took(item, size))
    }

    /// For a stage on a plain thread.
    pub fn blocking_recv(&mut self) -> Option<T> {
        let (item, size) = self.rx.blocking_recv()?;
        Some(self.took(item, size))
    }

    fn took(&self, item: T, size: usize) -> T {
        self.used.fetch_sub(size, Ordering::Relaxed);
        // Counted by the sender before it queued the item.
        self.items.fetch_sub(1, Ordering::Relaxed);
        item
    }

    /// The queue's depth, for the heartbeat and the stall check.
    pub fn gauge(&self) -> Gauge {
        Gauge {
            used: self.used.clone(),
            items: self.items.clone(),
        }
    }
}

/// At most one alert per counter per `every`: an alert says how much was
/// lost since the last one (`count`) and in all (`total`), so a flood of
/// losses is a few lines, not a flood of lines.
#[derive(Debug)]
pub struct RateLimiter {
    every: Duration,
    /// Per counter: the total at the last alert, and when it was.
    last: Vec<(&'static str, u64, Option<Instant>)>,
}

impl RateLimiter {
    pub fn new(every: Duration) -> RateLimiter {
        RateLimiter {
            every,
            last: Vec::new(),
        }
    }

    /// Given a counter's total now, the loss to alert about (delta, total),
    /// if any is unreported and the last alert is old enough.
    pub fn due(&mut self, name: &'static str, total: u64, now: Instant) -> Option<(u64, u64)> {
        let i = match self.last.iter().position(|(n, _, _)| *n == name) {
            Some(i) => i,
            None => {
                self.last.push((name, 0, None));
                self.last.len() - 1
            }
        };
        let (_, reported, when) = &mut self.last[i];
        if total <= *reported {
            return None;
        }
        if when.is_some_and(|w| now.duration_since(w) < self.every) {
            return None;
        }
        let delta = total - *reported;
        *reported = total;
        *when = Some(now);
        Some((delta, total))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queue_is_bounded_by_items_and_by_bytes() {
        let (tx, mut rx) = bounded::<u32>(4, 100);
        assert_eq!(tx.try_send(1, 60), Ok(()));
        assert_eq!(tx.try_send(2, 60), Err(Full::Full), "past the byte budget");
        assert_eq!(tx.try_send(3, 40), Ok(()));
        assert_eq!(tx.bytes(), 100);
        assert_eq!(rx.blocking_recv(), Some(1));
        assert_eq!(tx.bytes(), 40, "a received item frees its bytes");
        for i in 0..3 {
            assert_eq!(tx.try_send(10 + i, 1), Ok(()));
        }
        assert_eq!(tx.try_send(99, 1), Err(Full::Full), "past the item bound");
        assert_eq!(tx.bytes(), 43, "a refused item holds no bytes");
        assert_eq!(rx.gauge().depth(), (4, 43));
        drop(rx);
        assert_eq!(tx.try_send(5, 1000), Err(Full::Closed));
    }

    #[test]
    fn alerts_are_rate_limited_and_carry_delta_and_total() {
        let mut r = RateLimiter::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(r.due("x", 0, t0), None, "nothing lost");
        assert_eq!(r.due("x", 3, t0), Some((3, 3)));
        assert_eq!(r.due("x", 5, t0 + Duration::from_secs(1)), None, "too soon");
        assert_eq!(
            r.due("y", 1, t0 + Duration::from_secs(1)),
            Some((1, 1)),
            "each counter on its own"
        );
        assert_eq!(
            r.due("x", 9, t0 + Duration::from_secs(10)),
            Some((6, 9)),
            "the delta covers the quiet time"
        );
        assert_eq!(r.due("x", 9, t0 + Duration::from_secs(30)), None);
    }
}
