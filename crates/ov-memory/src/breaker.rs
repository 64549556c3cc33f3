//! The circuit breaker.
//!
//! ```text
//! CLOSED --(failure_threshold consecutive counted failures)--> OPEN
//! OPEN   --(open_ms elapsed on the monotonic clock)----------> HALF_OPEN
//! HALF_OPEN: at most `half_open_probes` calls in flight;
//!            `half_open_probes` successes --> CLOSED, any counted failure --> OPEN
//! ```
//!
//! Only failures whose [`ErrorCode::counts_for_breaker`] is true count; caller
//! errors neither count nor reset the streak. Each admitted call holds a
//! `Permit`; every way out of the call (success, error, panic) gives its
//! probe slot back. A permit that finishes after the breaker has moved on (its
//! epoch is stale) changes nothing.

use crate::config::BreakerConfig;
use crate::error::{Error, ErrorCode, Result};
use parking_lot::Mutex;
use serde::Serialize;

/// The breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum BreakerState {
    /// Calls pass.
    Closed,
    /// Guarded calls are rejected with CIRCUIT_OPEN.
    Open,
    /// A few probe calls pass to test recovery.
    HalfOpen,
}

impl BreakerState {
    /// `"CLOSED"`, `"OPEN"` or `"HALF_OPEN"`.
    pub const fn name(self) -> &'static str {
        match self {
            BreakerState::Closed => "CLOSED",
            BreakerState::Open => "OPEN",
            BreakerState::HalfOpen => "HALF_OPEN",
        }
    }
}

/// A point-in-time view of the breaker, as reported in metrics.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct BreakerSnapshot {
    /// Effective state now (an OPEN breaker whose wait is over reads HALF_OPEN).
    pub state: BreakerState,
    /// Counted failures in a row while CLOSED.
    pub consecutive_failures: u32,
    /// How often it has opened since the store was built.
    pub times_opened: u64,
    /// Calls rejected with CIRCUIT_OPEN.
    pub rejected_calls: u64,
    /// Probe calls in flight while HALF_OPEN.
    pub half_open_in_flight: u32,
    /// Probe successes so far while HALF_OPEN.
    pub half_open_successes: u32,
}

/// A state change worth logging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transition {
    Opened { failures: u32 },
    HalfOpened,
    Closed,
}

#[derive(Debug)]
struct Inner {
    state: BreakerState,
    epoch: u64,
    consecutive_failures: u32,
    opened_at_us: u64,
    in_flight: u32,
    successes: u32,
    times_opened: u64,
    rejected: u64,
}

/// The breaker. Cheap: one short mutex section per call.
#[derive(Debug)]
pub struct Breaker {
    cfg: BreakerConfig,
    inner: Mutex<Inner>,
}

/// Admission to one guarded call. Finish it with [`Breaker::finish`]; if it is
/// dropped unfinished (a panic unwound through the call) it counts as INTERNAL.
#[derive(Debug)]
pub(crate) struct Permit<'a> {
    breaker: &'a Breaker,
    epoch: u64,
    probe: bool,
    finished: bool,
    admitted_us: u64,
}

impl Breaker {
    /// A CLOSED breaker with these thresholds.
    pub fn new(cfg: BreakerConfig) -> Breaker {
        Breaker {
            cfg,
            inner: Mutex::new(Inner {
                state: BreakerState::Closed,
                epoch: 0,
                consecutive_failures: 0,
                opened_at_us: 0,
                in_flight: 0,
                successes: 0,
                times_opened: 0,
                rejected: 0,
            }),
        }
    }

    fn open_elapsed(&self, inner: &Inner, now_us: u64) -> bool {
        now_us.saturating_sub(inner.opened_at_us) >= self.cfg.open_ms.saturating_mul(1000)
    }

    /// Admits a call or rejects it with CIRCUIT_OPEN.
    pub(crate) fn acquire(&self, now_us: u64) -> Result<(Permit<'_>, Option<Transition>)> {
        let mut g = self.inner.lock();
        let mut transition = None;
        if g.state == BreakerState::Open && self.open_elapsed(&g, now_us) {
            g.state = BreakerState::HalfOpen;
            g.epoch += 1;
            g.in_flight = 0;
            g.successes = 0;
            transition = Some(Transition::HalfOpened);
        }
        match g.state {
            BreakerState::Closed => Ok((self.permit(g.epoch, false, now_us), transition)),
            BreakerState::HalfOpen if g.in_flight < self.cfg.half_open_probes => {
                g.in_flight += 1;
                Ok((self.permit(g.epoch, true, now_us), transition))
            }
            state => {
                g.rejected += 1;
                let retry_ms = match state {
                    BreakerState::Open => {
                        (g.opened_at_us / 1000).saturating_add(self.cfg.open_ms).saturating_sub(now_us / 1000)
                    }
                    _ => 0,
                };
                Err(Error::new(ErrorCode::CircuitOpen, "circuit breaker is open: the call was rejected")
                    .with("state", state.name())
                    .with("retry_after_ms", retry_ms))
            }
        }
    }

    fn permit(&self, epoch: u64, probe: bool, admitted_us: u64) -> Permit<'_> {
        Permit { breaker: self, epoch, probe, finished: false, admitted_us }
    }

    /// Records how an admitted call ended (`None` = success).
    pub(crate) fn finish(&self, mut permit: Permit<'_>, outcome: Option<ErrorCode>, now_us: u64) -> Option<Transition> {
        permit.finished = true;
        self.record(permit.epoch, permit.probe, outcome, now_us)
    }

    fn record(&self, epoch: u64, probe: bool, outcome: Option<ErrorCode>, now_us: u64) -> Option<Transition> {
        let mut g = self.inner.lock();
        if epoch != g.epoch {
            return None; // the breaker moved on while this call ran
        }
        if probe {
            g.in_flight = g.in_flight.saturating_sub(1);
        }
        let counted = outcome.is_some_and(ErrorCode::counts_for_breaker);
        match (g.state, outcome) {
            (BreakerState::Closed, None) => {
                g.consecutive_failures = 0;
                None
            }
            (BreakerState::Closed, Some(_)) if counted => {
                g.consecutive_failures += 1;
                if g.consecutive_failures >= self.cfg.failure_threshold {
                    let failures = g.consecutive_failures;
                    Self::open(&mut g, now_us);
                    Some(Transition::Opened { failures })
                } else {
                    None
                }
            }
            (BreakerState::HalfOpen, None) => {
                g.successes += 1;
                if g.successes >= self.cfg.half_open_probes {
                    g.state = BreakerState::Closed;
                    g.epoch += 1;
                    g.consecutive_failures = 0;
                    g.in_flight = 0;
                    g.successes = 0;
                    Some(Transition::Closed)
                } else {
                    None
                }
            }
            (BreakerState::HalfOpen, Some(_)) if counted => {
                Self::open(&mut g, now_us);
                Some(Transition::Opened { failures: 1 })
            }
            _ => None,
        }
    }

    fn open(g: &mut Inner, now_us: u64) {
        g.state = BreakerState::Open;
        g.epoch += 1;
        g.opened_at_us = now_us;
        g.in_flight = 0;
        g.successes = 0;
        g.times_opened += 1;
    }

    /// Back to CLOSED with a clean streak (the manual reset).
    pub fn reset(&self) {
        let mut g = self.inner.lock();
        g.state = BreakerState::Closed;
        g.epoch += 1;
        g.consecutive_failures = 0;
        g.in_flight = 0;
        g.successes = 0;
    }

    /// The breaker as it stands at `now_us`.
    pub fn snapshot(&self, now_us: u64) -> BreakerSnapshot {
        let g = self.inner.lock();
        let state = if g.state == BreakerState::Open && self.open_elapsed(&g, now_us) {
            BreakerState::HalfOpen
        } else {
            g.state
        };
        let half_open = g.state == BreakerState::HalfOpen;
        BreakerSnapshot {
            state,
            consecutive_failures: g.consecutive_failures,
            times_opened: g.times_opened,
            rejected_calls: g.rejected,
            half_open_in_flight: if half_open { g.in_flight } else { 0 },
            half_open_successes: if half_open { g.successes } else { 0 },
        }
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.finished {
            // Unwinding: the call died. Free the slot and count it as INTERNAL
            // (at the last time this permit knew).
            self.breaker.record(self.epoch, self.probe, Some(ErrorCode::Internal), self.admitted_us);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000; // one second in microseconds

    fn breaker() -> Breaker {
        Breaker::new(BreakerConfig::default())
    }

    fn fail(b: &Breaker, code: ErrorCode, now: u64) -> Option<Transition> {
        let (p, _) = b.acquire(now).expect("admitted");
        b.finish(p, Some(code), now)
    }

    fn ok(b: &Breaker, now: u64) -> Option<Transition> {
        let (p, _) = b.acquire(now).expect("admitted");
        b.finish(p, None, now)
    }

    fn open_it(b: &Breaker, now: u64) {
        for _ in 0..4 {
            assert_eq!(fail(b, ErrorCode::Timeout, now), None);
        }
        assert_eq!(fail(b, ErrorCode::Timeout, now), Some(Transition::Opened { failures: 5 }));
        assert_eq!(b.snapshot(now).state, BreakerState::Open);
    }

    #[test]
    fn closed_opens_after_five_counted_failures_in_a_row() {
        let b = breaker();
        for code in [ErrorCode::Timeout, ErrorCode::MemoryCorruption, ErrorCode::Io, ErrorCode::Internal] {
            assert_eq!(fail(&b, code, 0), None);
        }
        assert_eq!(b.snapshot(0).consecutive_failures, 4);
        // A success resets the streak.
        ok(&b, 0);
        assert_eq!(b.snapshot(0).consecutive_failures, 0);
        open_it(&b, 0);
        assert_eq!(b.snapshot(0).times_opened, 1);
    }

    #[test]
    fn caller_errors_never_count_nor_reset_the_streak() {
        let b = breaker();
        for _ in 0..4 {
            fail(&b, ErrorCode::Io, 0);
        }
        for code in [ErrorCode::InvalidData, ErrorCode::NotFound, ErrorCode::ResourceExhaustion, ErrorCode::CircuitOpen]
        {
            for _ in 0..10 {
                assert_eq!(fail(&b, code, 0), None);
            }
        }
        assert_eq!(b.snapshot(0).state, BreakerState::Closed);
        assert_eq!(b.snapshot(0).consecutive_failures, 4);
        assert_eq!(fail(&b, ErrorCode::Io, 0), Some(Transition::Opened { failures: 5 }));
    }

    #[test]
    fn open_rejects_for_exactly_open_ms_then_half_opens() {
        let b = breaker();
        open_it(&b, 10 * S);
        let e = b.acquire(10 * S + 30 * S - 1).unwrap_err();
        assert_eq!(e.code(), ErrorCode::CircuitOpen);
        assert_eq!(e.context()["state"], "OPEN");
        assert_eq!(b.snapshot(40 * S - 1).rejected_calls, 1);
        assert_eq!(b.snapshot(40 * S).state, BreakerState::HalfOpen);
        let (p, t) = b.acquire(40 * S).unwrap();
        assert_eq!(t, Some(Transition::HalfOpened));
        b.finish(p, None, 40 * S);
    }

    #[test]
    fn half_open_admits_at_most_three_and_three_successes_close() {
        let b = breaker();
        open_it(&b, 0);
        let now = 30 * S;
        let p1 = b.acquire(now).unwrap().0;
        let p2 = b.acquire(now).unwrap().0;
        let p3 = b.acquire(now).unwrap().0;
        let e = b.acquire(now).unwrap_err();
        assert_eq!(e.code(), ErrorCode::CircuitOpen);
        assert_eq!(e.context()["state"], "HALF_OPEN");
        assert_eq!(b.finish(p1, None, now), None);
        // A freed slot admits another probe.
        let p4 = b.acquire(now).unwrap().0;
        assert_eq!(b.finish(p2, None, now), None);
        assert_eq!(b.finish(p3, None, now), Some(Transition::Closed));
        // p4 belongs to the finished half-open epoch: its failure changes nothing.
        assert_eq!(b.finish(p4, Some(ErrorCode::Internal), now), None);
        let s = b.snapshot(now);
        assert_eq!((s.state, s.consecutive_failures), (BreakerState::Closed, 0));
    }

    #[test]
    fn half_open_failure_reopens_and_restarts_the_wait() {
        let b = breaker();
        open_it(&b, 0);
        let now = 31 * S;
        assert_eq!(ok(&b, now), None);
        assert_eq!(fail(&b, ErrorCode::Timeout, now), Some(Transition::Opened { failures: 1 }));
        assert_eq!(b.snapshot(now + 29 * S).state, BreakerState::Open);
        assert!(b.acquire(now + 29 * S).is_err());
        assert_eq!(b.snapshot(now + 30 * S).state, BreakerState::HalfOpen);
        assert_eq!(b.snapshot(now).times_opened, 2);
    }

    #[test]
    fn caller_error_in_half_open_frees_its_slot_without_closing() {
        let b = breaker();
        open_it(&b, 0);
        let now = 30 * S;
        for _ in 0..10 {
            assert_eq!(fail(&b, ErrorCode::InvalidData, now), None);
        }
        let s = b.snapshot(now);
        assert_eq!((s.state, s.half_open_in_flight, s.half_open_successes), (BreakerState::HalfOpen, 0, 0));
    }

    #[test]
    fn dropped_permit_frees_slot_and_counts_as_internal() {
        let b = breaker();
        open_it(&b, 0);
        let now = 30 * S;
        {
            let (_p, _) = b.acquire(now).unwrap();
            // dropped unfinished, as when a panic unwinds
        }
        assert_eq!(b.snapshot(now).state, BreakerState::Open, "a dead probe reopens");
        let b = breaker();
        {
            let (_p, _) = b.acquire(0).unwrap();
        }
        assert_eq!(b.snapshot(0).consecutive_failures, 1);
    }

    #[test]
    fn manual_reset_closes() {
        let b = breaker();
        open_it(&b, 0);
        b.reset();
        let s = b.snapshot(0);
        assert_eq!((s.state, s.consecutive_failures), (BreakerState::Closed, 0));
        assert!(b.acquire(0).is_ok());
    }

    #[test]
    fn thresholds_are_configurable() {
        let b = Breaker::new(BreakerConfig { failure_threshold: 2, open_ms: 1000, half_open_probes: 1 });
        fail(&b, ErrorCode::Io, 0);
        assert_eq!(fail(&b, ErrorCode::Io, 0), Some(Transition::Opened { failures: 2 }));
        assert!(b.acquire(S - 1).is_err());
        let (p, _) = b.acquire(S).unwrap();
        assert!(b.acquire(S).is_err(), "one probe at a time");
        assert_eq!(b.finish(p, None, S), Some(Transition::Closed));
    }

    #[test]
    fn extreme_open_ms_saturates_instead_of_overflowing() {
        let b = Breaker::new(BreakerConfig { failure_threshold: 1, open_ms: u64::MAX, half_open_probes: 1 });
        fail(&b, ErrorCode::Io, u64::MAX - 5);
        let s = b.snapshot(u64::MAX);
        assert_eq!(s.state, BreakerState::Open);
        assert!(b.acquire(u64::MAX).is_err(), "stays open for as long as it was told");
    }
}
