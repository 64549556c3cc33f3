//! Structured JSON log lines.
//!
//! One JSON object per line: `{"timestamp","level","message","fields":{...}}`.
//! The engine is silent until the host installs a [`LogSink`]. Lines are built
//! with `serde_json`, so they stay valid JSON whatever the user's text holds.
//!
//! Operations collect their events in a `LogBuf` while they hold the store's
//! locks and the store flushes it after releasing them, so a callback sink may
//! call back into the store.
//!
//! Logging never fails an operation: a line that cannot be written (a closed
//! pipe on stdout/stderr, a panicking callback) is dropped and counted
//! ([`Logger::dropped_lines`], `log_lines_dropped` in metrics).
//!
//! Replacing a sink is a barrier: once [`Logger::set_sink`] returns, the old
//! sink is never called again. Every delivery registers itself on the sink
//! it uses before calling it; the setter swaps the sink and then waits until
//! the deliveries still running on the old one (on other threads) have
//! returned. A callback may replace the sink itself (its own delivery is not
//! waited for); a callback that blocks until another thread replaces the sink
//! would deadlock that thread.

use parking_lot::{Condvar, Mutex, RwLock};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::io::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use crate::clock::SharedClock;

/// Log levels, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
#[repr(u8)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(rename = "LogLevel"))]
pub enum Level {
    /// Details, including texts and embeddings.
    #[serde(alias = "debug")]
    Debug = 0,
    /// Normal operations.
    #[serde(alias = "info")]
    Info = 1,
    /// Accepted but suspicious input (for example embedding values outside [-1, 1]).
    #[serde(alias = "warning", alias = "WARN", alias = "warn")]
    Warning = 2,
    /// A failed operation.
    #[serde(alias = "error")]
    Error = 3,
    /// The engine's own health is at stake (the circuit breaker opened).
    #[serde(alias = "critical")]
    Critical = 4,
}

impl Level {
    /// The level's name as written in log lines.
    pub const fn name(self) -> &'static str {
        match self {
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warning => "WARNING",
            Level::Error => "ERROR",
            Level::Critical => "CRITICAL",
        }
    }

    /// The level with this numeric value (0 = DEBUG … 4 = CRITICAL).
    pub fn from_u8(v: u8) -> Option<Level> {
        [Level::Debug, Level::Info, Level::Warning, Level::Error, Level::Critical].get(v as usize).copied()
    }

    /// Parses a level name (any case; `WARN` is accepted for WARNING).
    pub fn parse(name: &str) -> Option<Level> {
        match name.to_ascii_uppercase().as_str() {
            "DEBUG" => Some(Level::Debug),
            "INFO" => Some(Level::Info),
            "WARNING" | "WARN" => Some(Level::Warning),
            "ERROR" => Some(Level::Error),
            "CRITICAL" => Some(Level::Critical),
            _ => None,
        }
    }
}

/// A function that receives each log line (without a trailing newline).
pub type LogCallback = Arc<dyn Fn(&str) + Send + Sync>;

/// Where log lines go.
#[derive(Clone, Default)]
pub enum LogSink {
    /// Nowhere (the default).
    #[default]
    None,
    /// Standard error, one line each. A failed write (a closed pipe) drops the line.
    Stderr,
    /// Standard output, one line each. A failed write (a closed pipe) drops the line.
    Stdout,
    /// A host function. It never runs while an engine lock is held; if it panics the
    /// panic is caught and the line is dropped.
    Callback(LogCallback),
    /// The `log` crate's facade (feature `log`), so a Rust host's logger — or
    /// its `tracing` subscriber, through `tracing-log` — receives the events:
    /// target `ov_memory`, the message followed by the fields as JSON, levels
    /// DEBUG→debug, INFO→info, WARNING→warn, ERROR and CRITICAL→error. The
    /// store's threshold applies first, then the logger's own filter.
    #[cfg(feature = "log")]
    Log,
}

impl std::fmt::Debug for LogSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LogSink::None => "None",
            LogSink::Stderr => "Stderr",
            LogSink::Stdout => "Stdout",
            LogSink::Callback(_) => "Callback",
            #[cfg(feature = "log")]
            LogSink::Log => "Log",
        })
    }
}

/// One event waiting to be written.
#[derive(Debug, Clone)]
pub(crate) struct LogEvent {
    pub(crate) level: Level,
    pub(crate) message: String,
    pub(crate) fields: Map<String, Value>,
}

/// Events gathered during one operation, written after its locks are released.
#[derive(Debug, Default)]
pub(crate) struct LogBuf {
    events: Vec<LogEvent>,
    threshold: u8,
}

impl LogBuf {
    pub(crate) fn new(logger: &Logger) -> LogBuf {
        LogBuf { events: Vec::new(), threshold: logger.effective_threshold() }
    }

    /// Whether an event at `level` would be kept; lets callers skip building fields.
    pub(crate) fn enabled(&self, level: Level) -> bool {
        (level as u8) >= self.threshold
    }

    pub(crate) fn push(&mut self, level: Level, message: impl Into<String>, fields: Value) {
        if !self.enabled(level) {
            return;
        }
        let fields = match fields {
            Value::Object(m) => m,
            Value::Null => Map::new(),
            other => {
                let mut m = Map::new();
                m.insert("value".into(), other);
                m
            }
        };
        self.events.push(LogEvent { level, message: message.into(), fields });
    }

    /// An empty buffer with this one's threshold (for work done on another thread).
    pub(crate) fn child(&self) -> LogBuf {
        LogBuf { events: Vec::new(), threshold: self.threshold }
    }

    /// Appends `other`'s events after this one's.
    pub(crate) fn append(&mut self, other: LogBuf) {
        self.events.extend(other.events);
    }
}

/// Formats Unix milliseconds as RFC 3339 UTC with millisecond precision.
pub fn rfc3339_millis(unix_ms: i64) -> String {
    let ms = u64::try_from(unix_ms).unwrap_or(0);
    // Clamp to year 9999 so the formatter always succeeds.
    let ms = ms.min(253_402_300_799_999);
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    humantime::format_rfc3339_millis(t).to_string()
}

/// One installed sink and the deliveries running on it.
#[derive(Debug)]
struct Slot {
    sink: LogSink,
    active: Mutex<usize>,
    idle: Condvar,
}

impl Slot {
    fn new(sink: LogSink) -> Arc<Slot> {
        Arc::new(Slot { sink, active: Mutex::new(0), idle: Condvar::new() })
    }

    fn id(self: &Arc<Slot>) -> usize {
        Arc::as_ptr(self) as usize
    }
}

thread_local! {
    /// The slots whose sink this thread is delivering to right now (re-entrant calls nest).
    static DELIVERING: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// Marks one delivery on a slot; unregisters (and wakes a waiting setter) when dropped.
struct Delivery(Arc<Slot>);

impl Drop for Delivery {
    fn drop(&mut self) {
        let _ = DELIVERING.try_with(|d| {
            let mut d = d.borrow_mut();
            if let Some(i) = d.iter().rposition(|&x| x == self.0.id()) {
                d.remove(i);
            }
        });
        let mut n = self.0.active.lock();
        *n = n.saturating_sub(1);
        if *n == 0 {
            self.0.idle.notify_all();
        }
    }
}

/// The per-store logger: a threshold and a sink.
#[derive(Debug)]
pub struct Logger {
    threshold: AtomicU8,
    slot: RwLock<Arc<Slot>>,
    clock: SharedClock,
    dropped: AtomicU64,
}

/// Threshold value meaning "no sink installed": nothing is gathered at all.
const SILENT: u8 = u8::MAX;

impl Logger {
    pub(crate) fn new(level: Level, clock: SharedClock) -> Logger {
        Logger {
            threshold: AtomicU8::new(level as u8),
            slot: RwLock::new(Slot::new(LogSink::None)),
            clock,
            dropped: AtomicU64::new(0),
        }
    }

    /// The current threshold.
    pub fn level(&self) -> Level {
        Level::from_u8(self.threshold.load(Ordering::Relaxed)).unwrap_or(Level::Info)
    }

    /// Sets the threshold; lines below it are dropped.
    pub fn set_level(&self, level: Level) {
        self.threshold.store(level as u8, Ordering::Relaxed);
    }

    /// Installs a sink, replacing the previous one. When this returns, the
    /// previous sink is not running on any other thread and will never be
    /// called again (see the module docs).
    pub fn set_sink(&self, sink: LogSink) {
        let old = std::mem::replace(&mut *self.slot.write(), Slot::new(sink));
        let own = DELIVERING.try_with(|d| d.borrow().iter().filter(|&&x| x == old.id()).count()).unwrap_or(0);
        let mut n = old.active.lock();
        while *n > own {
            old.idle.wait(&mut n);
        }
    }

    /// Lines that could not be written (closed pipes, panicking callbacks).
    pub fn dropped_lines(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn effective_threshold(&self) -> u8 {
        if matches!(self.slot.read().sink, LogSink::None) {
            SILENT
        } else {
            self.threshold.load(Ordering::Relaxed)
        }
    }

    /// Registers a delivery on the current slot. The count is raised while the
    /// slot lock is held, so a setter that swapped the slot sees it.
    fn begin(&self) -> Delivery {
        let guard = self.slot.read();
        let slot = guard.clone();
        *slot.active.lock() += 1;
        drop(guard);
        let _ = DELIVERING.try_with(|d| d.borrow_mut().push(slot.id()));
        Delivery(slot)
    }

    /// Writes one event to the sink of `d`; returns false if it was dropped.
    fn deliver(&self, d: &Delivery, ev: &LogEvent) -> bool {
        match &d.0.sink {
            LogSink::None => true,
            LogSink::Stderr => {
                let mut out = std::io::stderr().lock();
                writeln!(out, "{}", self.format(ev)).and_then(|()| out.flush()).is_ok()
            }
            LogSink::Stdout => {
                let mut out = std::io::stdout().lock();
                writeln!(out, "{}", self.format(ev)).and_then(|()| out.flush()).is_ok()
            }
            // A throwing host callback must not take the engine down with it.
            LogSink::Callback(cb) => {
                let line = self.format(ev);
                catch_unwind(AssertUnwindSafe(|| cb(&line))).is_ok()
            }
            #[cfg(feature = "log")]
            LogSink::Log => to_log_facade(ev),
        }
    }

    /// Builds the JSON line for one event, keys in the documented order.
    pub(crate) fn format(&self, ev: &LogEvent) -> String {
        #[derive(Serialize)]
        struct Line<'a> {
            timestamp: String,
            level: &'static str,
            message: &'a str,
            fields: &'a Map<String, Value>,
        }
        let line = Line {
            timestamp: rfc3339_millis(self.clock.unix_millis()),
            level: ev.level.name(),
            message: &ev.message,
            fields: &ev.fields,
        };
        serde_json::to_string(&line).unwrap_or_else(|_| "{}".to_owned())
    }

    /// Writes every event of `buf` to the sink. Must be called with no engine lock held.
    /// Never fails and never panics: a line that cannot be written is counted and dropped.
    pub(crate) fn flush(&self, buf: LogBuf) {
        if buf.events.is_empty() {
            return;
        }
        let threshold = self.threshold.load(Ordering::Relaxed);
        for ev in buf.events.iter().filter(|e| e.level as u8 >= threshold) {
            // Each line takes the sink current at that moment, so a replacement
            // during a flush takes effect at the next line.
            let d = self.begin();
            if matches!(d.0.sink, LogSink::None) {
                return;
            }
            if !self.deliver(&d, ev) {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Logs one event right away. Must be called with no engine lock held.
    pub(crate) fn log(&self, level: Level, message: &str, fields: Value) {
        let mut buf = LogBuf::new(self);
        buf.push(level, message, fields);
        self.flush(buf);
    }
}

/// Hands one event to the `log` facade (see [`LogSink::Log`]); false if the
/// host's logger panicked.
#[cfg(feature = "log")]
fn to_log_facade(ev: &LogEvent) -> bool {
    let level = match ev.level {
        Level::Debug => log::Level::Debug,
        Level::Info => log::Level::Info,
        Level::Warning => log::Level::Warn,
        Level::Error | Level::Critical => log::Level::Error,
    };
    if !log::log_enabled!(target: "ov_memory", level) {
        return true;
    }
    let fields = serde_json::to_string(&ev.fields).unwrap_or_default();
    // A host logger that panics must not take the engine down either.
    catch_unwind(AssertUnwindSafe(|| log::log!(target: "ov_memory", level, "{} {fields}", ev.message))).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use parking_lot::Mutex;

    fn capture(level: Level) -> (Logger, Arc<Mutex<Vec<String>>>) {
        let logger = Logger::new(level, Arc::new(ManualClock::new()));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let l2 = lines.clone();
        logger.set_sink(LogSink::Callback(Arc::new(move |s: &str| l2.lock().push(s.to_owned()))));
        (logger, lines)
    }

    #[test]
    fn silent_without_sink_and_threshold_filters() {
        let logger = Logger::new(Level::Debug, Arc::new(ManualClock::new()));
        let mut buf = LogBuf::new(&logger);
        assert!(!buf.enabled(Level::Critical), "no sink: nothing is even gathered");
        buf.push(Level::Critical, "x", Value::Null);
        assert!(buf.events.is_empty());

        let (logger, lines) = capture(Level::Warning);
        logger.log(Level::Info, "dropped", Value::Null);
        logger.log(Level::Warning, "kept", serde_json::json!({"k": 1}));
        let lines = lines.lock();
        assert_eq!(lines.len(), 1);
        let v: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(v["level"], "WARNING");
        assert_eq!(v["message"], "kept");
        assert_eq!(v["fields"]["k"], 1);
        assert_eq!(v["timestamp"], "2023-11-14T22:13:20.000Z");
        assert!(lines[0]
            .starts_with(r#"{"timestamp":"2023-11-14T22:13:20.000Z","level":"WARNING","message":"kept","fields":"#));
    }

    #[test]
    fn hostile_text_stays_valid_json() {
        let (logger, lines) = capture(Level::Debug);
        let hostile = "quote\" backslash\\ nl\n cr\r tab\t nul\0 bell\x07 del\x7f \u{2028}\u{2029} 😀 </script>";
        logger.log(Level::Debug, hostile, serde_json::json!({ "text": hostile }));
        let lines = lines.lock();
        assert_eq!(lines.len(), 1);
        assert!(!lines[0].contains('\n'), "one line");
        let v: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(v["message"], hostile);
        assert_eq!(v["fields"]["text"], hostile);
    }

    #[test]
    #[cfg_attr(target_os = "wasi", ignore = "WASI builds abort on a panic: nothing to contain")]
    fn panicking_callback_is_contained() {
        let logger = Logger::new(Level::Info, Arc::new(ManualClock::new()));
        logger.set_sink(LogSink::Callback(Arc::new(|_: &str| panic!("host bug"))));
        logger.log(Level::Error, "boom", Value::Null);
        assert_eq!(logger.dropped_lines(), 1, "the line is dropped and counted");
        logger.set_level(Level::Debug);
        assert_eq!(logger.level(), Level::Debug);
    }

    #[test]
    fn level_names_round_trip() {
        for v in 0..5u8 {
            let l = Level::from_u8(v).unwrap();
            assert_eq!(Level::parse(l.name()), Some(l));
            let json = serde_json::to_string(&l).unwrap();
            assert_eq!(json, format!("\"{}\"", l.name()));
        }
        assert_eq!(Level::parse("warn"), Some(Level::Warning));
        assert_eq!(Level::from_u8(5), None);
        assert_eq!(Level::parse("loud"), None);
    }
}
