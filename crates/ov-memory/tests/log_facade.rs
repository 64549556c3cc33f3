//! `LogSink::Log` (feature `log`): the engine's events reach the host's `log`
//! logger with target `ov_memory`, mapped levels, the message and the fields;
//! the store's threshold applies first. Run with `cargo test --features log`.
#![cfg(feature = "log")]

use ov_memory::{AddOptions, Config, Level, LogSink, Store};
use parking_lot::Mutex;

static SEEN: Mutex<Vec<(log::Level, String, String)>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, r: &log::Record<'_>) {
        SEEN.lock().push((r.level(), r.target().to_owned(), r.args().to_string()));
    }
    fn flush(&self) {}
}

#[test]
fn events_reach_the_log_facade() {
    log::set_logger(&Capture).unwrap();
    log::set_max_level(log::LevelFilter::Trace);
    let s = Store::new(Config { embedding_dim: 2, ..Config::default() }).unwrap();
    s.set_log_sink(LogSink::Log);
    s.set_log_level(Level::Info);
    s.add(&[1.0, 0.0], "a", AddOptions::default()).unwrap();
    s.add(&[2.0, 0.0], "b", AddOptions::default()).unwrap(); // values above 1: a WARNING
    assert!(s.get(99).is_err()); // NOT_FOUND: a WARNING from the failed call
    let seen = SEEN.lock().clone();
    assert!(seen.iter().all(|(_, target, _)| target == "ov_memory"), "{seen:?}");
    let warn: Vec<_> = seen.iter().filter(|(l, _, _)| *l == log::Level::Warn).map(|(_, _, m)| m.as_str()).collect();
    assert!(warn.iter().any(|m| m.starts_with("embedding values outside [-1, 1] accepted {")), "{warn:?}");
    assert!(warn.iter().any(|m| m.starts_with("get failed ") && m.contains("\"code\":\"NOT_FOUND\"")), "{warn:?}");
    assert!(seen.iter().any(|(l, _, _)| *l == log::Level::Info), "INFO events: {seen:?}");
    // The store's threshold comes first: at ERROR, nothing from these calls.
    let before = seen.len();
    s.set_log_level(Level::Error);
    s.add(&[3.0, 0.0], "c", AddOptions::default()).unwrap();
    assert_eq!(SEEN.lock().len(), before);
}
