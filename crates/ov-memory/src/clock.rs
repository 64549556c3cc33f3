//! The injected clock.
//!
//! The engine never reads time itself: the breaker, deadlines and latency use
//! [`Clock::monotonic_micros`], timestamps use [`Clock::unix_millis`]. Native
//! hosts get [`SystemClock`]; the browser build passes `performance.now()` and
//! `Date.now()` through its own implementation (`std::time::Instant` panics on
//! `wasm32-unknown-unknown`); tests use [`ManualClock`] and are deterministic.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

/// A source of time. Implementations must be cheap and thread-safe.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Microseconds on a monotonic clock with an arbitrary origin.
    fn monotonic_micros(&self) -> u64;
    /// Wall-clock milliseconds since the Unix epoch (for `created_at`, `last_accessed`
    /// and the health report's timestamp).
    fn unix_millis(&self) -> i64;
}

/// A shared clock handle.
pub type SharedClock = Arc<dyn Clock>;

/// The operating system's clocks (`Instant` and `SystemTime`).
///
/// Not available on `wasm32`, where the host must inject a clock.
#[cfg(not(target_arch = "wasm32"))]
#[derive(Debug)]
pub struct SystemClock {
    origin: std::time::Instant,
}

#[cfg(not(target_arch = "wasm32"))]
impl SystemClock {
    /// A clock whose monotonic origin is now.
    pub fn new() -> SystemClock {
        SystemClock { origin: std::time::Instant::now() }
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl Default for SystemClock {
    fn default() -> Self {
        SystemClock::new()
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl Clock for SystemClock {
    fn monotonic_micros(&self) -> u64 {
        // Seconds and microseconds apart (no 128-bit product on every reading).
        let d = self.origin.elapsed();
        d.as_secs().saturating_mul(1_000_000).saturating_add(u64::from(d.subsec_micros()))
    }

    fn unix_millis(&self) -> i64 {
        match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            Err(_) => 0,
        }
    }
}

/// The clock a store gets when none is injected: [`SystemClock`] on native
/// targets, a frozen [`ManualClock`] on `wasm32` (where the front-end always
/// injects the host's clock).
pub fn default_clock() -> SharedClock {
    #[cfg(not(target_arch = "wasm32"))]
    {
        Arc::new(SystemClock::new())
    }
    #[cfg(target_arch = "wasm32")]
    {
        Arc::new(ManualClock::new())
    }
}

/// A clock that moves only when told to. Optionally it advances by a fixed
/// step on every monotonic read, which lets a test make a scan pass its
/// deadline part-way through.
#[derive(Debug, Default)]
pub struct ManualClock {
    micros: AtomicU64,
    unix_ms: AtomicI64,
    step_micros: AtomicU64,
}

impl ManualClock {
    /// A clock at monotonic 0 and Unix time 1 700 000 000 000 ms (a fixed, realistic date).
    pub fn new() -> ManualClock {
        ManualClock {
            micros: AtomicU64::new(0),
            unix_ms: AtomicI64::new(1_700_000_000_000),
            step_micros: AtomicU64::new(0),
        }
    }

    /// Moves both clocks forward by `ms` milliseconds.
    pub fn advance_ms(&self, ms: u64) {
        self.advance_micros(ms.saturating_mul(1000));
    }

    /// Moves both clocks forward by `us` microseconds.
    pub fn advance_micros(&self, us: u64) {
        self.micros.fetch_add(us, Ordering::SeqCst);
        self.unix_ms.fetch_add(i64::try_from(us / 1000).unwrap_or(i64::MAX), Ordering::SeqCst);
    }

    /// Every later monotonic read first advances the clock by `us` microseconds
    /// (0 turns this off).
    pub fn set_auto_advance_micros(&self, us: u64) {
        self.step_micros.store(us, Ordering::SeqCst);
    }

    /// Sets the wall clock (Unix milliseconds) without touching the monotonic one.
    pub fn set_unix_millis(&self, ms: i64) {
        self.unix_ms.store(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn monotonic_micros(&self) -> u64 {
        let step = self.step_micros.load(Ordering::SeqCst);
        if step > 0 {
            self.micros.fetch_add(step, Ordering::SeqCst) + step
        } else {
            self.micros.load(Ordering::SeqCst)
        }
    }

    fn unix_millis(&self) -> i64 {
        self.unix_ms.load(Ordering::SeqCst)
    }
}

/// How often (in memories scanned) a scan checks its deadline (at least every 1 024).
pub(crate) const DEADLINE_STRIDE: usize = 1024;

/// How many bytes of results are copied between deadline checks (64 KiB).
pub(crate) const COPY_STRIDE: usize = 64 * 1024;

/// A point on the monotonic clock after which an operation gives up.
///
/// It borrows the store's clock (no shared handle to count up and down per call).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline<'c> {
    clock: &'c dyn Clock,
    start: u64,
    at: u64,
    timeout_ms: u64,
}

impl<'c> Deadline<'c> {
    /// `timeout_ms` from now.
    #[cfg(test)]
    pub(crate) fn new(clock: &'c dyn Clock, timeout_ms: u64) -> Deadline<'c> {
        Deadline::from_start(clock, clock.monotonic_micros(), timeout_ms)
    }

    /// `timeout_ms` from `start` (a reading of `clock`'s monotonic time).
    pub(crate) fn from_start(clock: &'c dyn Clock, start: u64, timeout_ms: u64) -> Deadline<'c> {
        Deadline { at: start.saturating_add(timeout_ms.saturating_mul(1000)), clock, start, timeout_ms }
    }

    /// [`Deadline::check`] on every `DEADLINE_STRIDE`-th item of a scan after
    /// the first (item 0 is not checked: the call checks once when it has its
    /// locks, so a short scan reads no clock).
    pub(crate) fn check_every(&self, scanned: usize, op: &str) -> crate::Result<()> {
        if scanned != 0 && scanned.is_multiple_of(DEADLINE_STRIDE) {
            self.check(op)
        } else {
            Ok(())
        }
    }

    /// Copying results is work too: [`Deadline::check`] before the next copy
    /// once `pending` (bytes copied since the last check, which this adds
    /// `copied` to) reaches `COPY_STRIDE`. A result of many long texts stays
    /// within the deadline; a small one reads no clock.
    pub(crate) fn check_copied(&self, pending: &mut usize, copied: usize, op: &str) -> crate::Result<()> {
        *pending += copied;
        if *pending >= COPY_STRIDE {
            *pending = 0;
            self.check(op)
        } else {
            Ok(())
        }
    }

    /// `Err(TIMEOUT)` once the deadline has passed.
    pub(crate) fn check(&self, op: &str) -> crate::Result<()> {
        let now = self.clock.monotonic_micros();
        if now > self.at {
            return Err(crate::Error::new(
                crate::ErrorCode::Timeout,
                format!("{op} passed its deadline of {} ms", self.timeout_ms),
            )
            .with("operation", op)
            .with("timeout_ms", self.timeout_ms)
            .with("elapsed_ms", (now - self.start) / 1000));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new();
        assert_eq!(c.monotonic_micros(), 0);
        c.advance_ms(5);
        assert_eq!(c.monotonic_micros(), 5000);
        assert_eq!(c.unix_millis(), 1_700_000_000_005);
        c.set_auto_advance_micros(10);
        assert_eq!(c.monotonic_micros(), 5010);
        assert_eq!(c.monotonic_micros(), 5020);
    }

    #[test]
    fn deadline_trips_after_timeout() {
        let c = Arc::new(ManualClock::new());
        let d = Deadline::new(&*c, 10);
        assert!(d.check("retrieve").is_ok());
        c.advance_ms(10);
        assert!(d.check("retrieve").is_ok(), "exactly at the deadline is still in time");
        c.advance_micros(1);
        let e = d.check("retrieve").unwrap_err();
        assert_eq!(e.code(), crate::ErrorCode::Timeout);
        assert_eq!(e.context()["timeout_ms"], 10);
    }
}
