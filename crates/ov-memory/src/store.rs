//! [`Store`]: the engine every front-end wraps.
//!
//! Every public operation runs through one wrapper ([`Store::call`]) that asks
//! the breaker for admission (guarded operations only), catches panics as
//! INTERNAL, records latency and outcome in metrics, and writes the
//! operation's log lines after all locks are released.
//!
//! Locking: one `parking_lot::RwLock` around the data (graph, id counter,
//! metabolism, context memory). Reads (get, retrieve, metrics) share it;
//! writes (add, delete, context) hold it exclusively, from validation to the
//! last change, so concurrent writers never lose an update. The breaker, the
//! recorder and the logger have their own short locks and are never taken
//! while host code runs.

use crate::breaker::{Breaker, Transition};
use crate::clock::{default_clock, Deadline, SharedClock};
use crate::config::Config;
use crate::error::{Error, ErrorCode, Result};
use crate::graph::{Graph, NewNode};
use crate::health::{self, round3, HealthReport, HealthSummary};
use crate::log::{Level, LogBuf, LogSink, Logger};
use crate::metabolism::{Metabolism, MetabolismReport};
use crate::metrics::{MetricsReport, Op, Recorder, StoreFigures};
use crate::validate;
use parking_lot::RwLock;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;

/// A stored memory as the read calls return it (an owned copy).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Memory {
    /// Unique id, from 1 upwards, never reused.
    pub id: u64,
    /// The text as stored.
    pub text: String,
    /// The embedding as stored.
    #[cfg_attr(feature = "ts", ts(type = "Float32Array"))]
    pub embedding: Vec<f32>,
    /// Importance weight.
    pub weight: f64,
    /// Metadata object, if any.
    #[cfg_attr(feature = "ts", ts(type = "Record<string, unknown> | null"))]
    pub metadata: Option<Value>,
    /// Creation time, Unix ms from the store's clock.
    pub created_at: i64,
    /// Last time context assembly injected it, Unix ms (creation time until then).
    pub last_accessed: i64,
    /// How often context assembly injected it.
    pub access_count: u64,
    /// Honeycomb neighbours, ascending ids.
    pub neighbors: Vec<u64>,
    /// The namespace (`""` by default).
    pub namespace: String,
    /// The key, unique within the namespace, if one was given.
    pub key: Option<String>,
    /// When the memory expires, Unix ms, if it does.
    pub expires_at: Option<i64>,
}

/// Options of [`Store::add`]. JSON keys (C's `ov_memory_add_with`):
/// `weight`, `metadata`, `timeout_ms`/`timeoutMs`, `created_at`/`createdAt`,
/// `namespace`, `key`, `expires_at`/`expiresAt`, `ttl_ms`/`ttlMs`.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AddOptions {
    /// Importance weight (default 1.0).
    pub weight: Option<f64>,
    /// Metadata: a JSON object, or `None`.
    pub metadata: Option<Value>,
    /// Deadline in ms (default: the configured `timeout_ms`).
    #[serde(alias = "timeoutMs")]
    pub timeout_ms: Option<u64>,
    /// When the memory was made, Unix ms (default: the store's clock). It may
    /// lie in the past (importing history, replaying a conversation), but not
    /// more than a minute in the future of the store's clock.
    #[serde(alias = "createdAt")]
    pub created_at: Option<i64>,
    /// The namespace (a user, an agent, …); default `""`. Reads see one
    /// namespace (or a list) and never another's memories.
    pub namespace: Option<String>,
    /// A key unique within the namespace: adding with a key that exists
    /// replaces that memory (same id) — an upsert.
    pub key: Option<String>,
    /// When the memory expires, Unix ms (after the store's clock).
    #[serde(alias = "expiresAt")]
    pub expires_at: Option<i64>,
    /// Time to live in ms from the store's clock (instead of `expires_at`).
    #[serde(alias = "ttlMs")]
    pub ttl_ms: Option<u64>,
}

impl AddOptions {
    /// Parses options from a JSON object text.
    pub fn from_json(text: &str) -> Result<AddOptions> {
        crate::retrieve::parse_options(text, "options")
    }
}

/// One item of [`Store::add_batch`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewMemory<'a> {
    /// The embedding.
    pub embedding: &'a [f32],
    /// The text.
    pub text: &'a str,
    /// Importance weight (default 1.0).
    pub weight: Option<f64>,
    /// Metadata object, or `None`.
    pub metadata: Option<Value>,
    /// Creation time, Unix ms (default: the store's clock); see [`AddOptions::created_at`].
    pub created_at: Option<i64>,
    /// Namespace (default `""`); see [`AddOptions::namespace`].
    pub namespace: Option<String>,
    /// Key for upserts; see [`AddOptions::key`].
    pub key: Option<String>,
    /// Expiry, Unix ms; see [`AddOptions::expires_at`].
    pub expires_at: Option<i64>,
    /// Time to live, ms; see [`AddOptions::ttl_ms`].
    pub ttl_ms: Option<u64>,
}

/// `f(0), …, f(n − 1)` in order, computed on every core (rayon's global pool)
/// on native targets; in turn in the browser (one thread) and under Miri
/// (whose Stacked Borrows model rejects crossbeam-epoch, inside rayon, though
/// the code is sound there: ThreadSanitizer runs these paths instead). On
/// error one of the errors is returned (the callers' only possible error is
/// the deadline, the same for every item).
pub(crate) fn par_map<T: Send>(n: usize, f: impl Fn(usize) -> Result<T> + Sync + Send) -> Result<Vec<T>> {
    #[cfg(not(any(target_arch = "wasm32", miri)))]
    if n > 1 {
        use rayon::prelude::*;
        return (0..n).into_par_iter().map(f).collect();
    }
    (0..n).map(f).collect()
}

/// How many threads [`par_map`] runs on here.
pub(crate) fn threads() -> usize {
    #[cfg(not(any(target_arch = "wasm32", miri)))]
    return rayon::current_num_threads();
    #[cfg(any(target_arch = "wasm32", miri))]
    1
}

/// Whether [`par_map`] runs on more than one thread here.
pub(crate) fn parallel() -> bool {
    threads() > 1
}

/// `(a(), b())`, on two cores where [`par_map`] would use them.
pub(crate) fn par_join<A: Send, B: Send>(a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B + Send) -> (A, B) {
    #[cfg(not(any(target_arch = "wasm32", miri)))]
    return rayon::join(a, b);
    #[cfg(any(target_arch = "wasm32", miri))]
    (a(), b())
}

/// [`par_join`] when `parallel` (work large enough to pay for a second
/// core), else `(a(), b())` in turn: a small job never starts the thread pool.
pub(crate) fn join_if<A: Send, B: Send>(
    parallel: bool,
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
) -> (A, B) {
    if parallel {
        par_join(a, b)
    } else {
        (a(), b())
    }
}

/// Items of a batch planned together (see `Store::insert_all`).
const BATCH_CHUNK: usize = 256;

/// Mutable data behind the store's lock.
#[derive(Debug, Clone)]
pub(crate) struct State {
    pub(crate) graph: Graph,
    pub(crate) next_id: u64,
    pub(crate) metabolism: Metabolism,
    /// Ids injected by the previous `context` call of each scope (its
    /// namespaces), which the bridge trigger reads.
    pub(crate) last_injected: HashMap<String, Vec<u64>>,
    /// Recent injection times (monotonic µs) per id, for the loop guardrail.
    pub(crate) injections: HashMap<u64, VecDeque<u64>>,
}

/// The memory engine. `Send + Sync`: share it with `Arc`.
#[derive(Debug)]
pub struct Store {
    pub(crate) config: Config,
    pub(crate) clock: SharedClock,
    pub(crate) state: RwLock<State>,
    pub(crate) breaker: Breaker,
    pub(crate) recorder: Recorder,
    pub(crate) logger: Logger,
    pub(crate) autosave: parking_lot::Mutex<Option<Autosave>>,
}

/// The autosave policy: save to `path` after every `every` changes.
#[derive(Debug, Clone)]
pub(crate) struct Autosave {
    path: std::path::PathBuf,
    every: u64,
    pending: u64,
}

/// A checked and prepared memory, ready to be planned and inserted.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    pub(crate) vector: Vec<f32>,
    pub(crate) norm: f64,
    pub(crate) text: String,
    pub(crate) weight: f64,
    pub(crate) metadata: Option<serde_json::Map<String, Value>>,
    pub(crate) metadata_bytes: usize,
    /// `None`: keep the replaced memory's (or the clock's, for a new one).
    pub(crate) created_at: Option<i64>,
    pub(crate) namespace: String,
    pub(crate) key: Option<String>,
    pub(crate) expires_at: Option<i64>,
    /// An explicit id (import); `None`: the next id, or the replaced memory's.
    pub(crate) id: Option<u64>,
    /// The memory this one replaces (same id): an upsert or an update.
    pub(crate) replace: Option<u64>,
    /// Access history carried over (import).
    pub(crate) last_accessed: Option<i64>,
    pub(crate) access_count: u64,
}

impl Prepared {
    /// Turns the vector into the one a store at compact precision `p` keeps:
    /// the vector becomes its decoded codes (what every comparison reads, see
    /// [`crate::precision`]) and the norm theirs. Returns the row's words.
    fn store_at(&mut self, p: crate::config::Precision) -> Vec<f32> {
        let dim = self.vector.len();
        let mut words = Vec::with_capacity(crate::precision::row_words(p, dim));
        crate::precision::encode(p, &self.vector, &mut words);
        self.vector.clear();
        crate::precision::decode(p, &words, dim, &mut self.vector);
        self.norm = validate::squares(&self.vector).0.sqrt();
        words
    }
}

impl Store {
    /// A store with this configuration and the default clock.
    pub fn new(config: Config) -> Result<Store> {
        Store::with_clock(config, default_clock())
    }

    /// A store with this configuration and an injected clock.
    pub fn with_clock(config: Config, clock: SharedClock) -> Result<Store> {
        config.validate()?;
        let start = clock.monotonic_micros();
        Ok(Store {
            state: RwLock::new(State {
                graph: Graph::new(config.embedding_dim, config.max_degree)
                    .with_precision(config.vector_precision)
                    .with_exact_limit(config.exact_limit)
                    .with_ef_construction(config.ef_construction),
                next_id: 1,
                metabolism: Metabolism::new(config.budget_tokens),
                last_injected: HashMap::new(),
                injections: HashMap::new(),
            }),
            breaker: Breaker::new(config.breaker.clone()),
            recorder: Recorder::new(config.monitoring, start, config.health_window_secs),
            logger: Logger::new(config.log_level, clock.clone()),
            autosave: parking_lot::Mutex::new(None),
            config,
            clock,
        })
    }

    /// The configuration the store was built with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The store's clock.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// Runs one operation with breaker admission (if `guarded`), panic capture,
    /// metrics and deferred logging.
    pub(crate) fn call<T>(&self, op: Op, guarded: bool, f: impl FnOnce(&mut LogBuf) -> Result<T>) -> Result<T> {
        self.call_at(op, guarded, |logs, _| f(logs))
    }

    /// [`Store::call`] for an operation with a deadline of `timeout_ms`
    /// (default: the configured one), counted from the moment the call
    /// started: one clock reading serves the metrics and the deadline.
    pub(crate) fn call_within<T>(
        &self,
        op: Op,
        guarded: bool,
        timeout_ms: Option<u64>,
        f: impl FnOnce(&mut LogBuf, &Deadline<'_>) -> Result<T>,
    ) -> Result<T> {
        self.call_at(op, guarded, |logs, start| {
            let ms = timeout_ms.unwrap_or(self.config.timeout_ms);
            validate::timeout(ms)?;
            f(logs, &Deadline::from_start(&*self.clock, start, ms))
        })
    }

    /// [`Store::call`], handing `f` the clock reading the call started at.
    fn call_at<T>(&self, op: Op, guarded: bool, f: impl FnOnce(&mut LogBuf, u64) -> Result<T>) -> Result<T> {
        let start = self.clock.monotonic_micros();
        let mut logs = LogBuf::new(&self.logger);
        let mut permit = None;
        if guarded {
            match self.breaker.acquire(start) {
                Ok((p, t)) => {
                    permit = Some(p);
                    self.note_transition(t, &mut logs);
                }
                Err(e) => {
                    self.recorder.record(op, 0, Some(e.code()), start);
                    self.log_failure(op, &e, &mut logs);
                    self.logger.flush(logs);
                    return Err(e);
                }
            }
        }
        let result = match catch_unwind(AssertUnwindSafe(|| f(&mut logs, start))) {
            Ok(r) => r,
            Err(payload) => {
                let what = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".to_owned());
                Err(Error::new(ErrorCode::Internal, format!("internal error in {}: {what}", op.name()))
                    .with("operation", op.name()))
            }
        };
        let end = self.clock.monotonic_micros();
        let outcome = result.as_ref().err().map(Error::code);
        if let Some(p) = permit {
            let t = self.breaker.finish(p, outcome, end);
            self.note_transition(t, &mut logs);
        }
        self.recorder.record(op, end.saturating_sub(start), outcome, end);
        if let Err(e) = &result {
            self.log_failure(op, e, &mut logs);
        }
        self.logger.flush(logs);
        result
    }

    fn note_transition(&self, t: Option<Transition>, logs: &mut LogBuf) {
        match t {
            Some(Transition::Opened { failures }) => logs.push(
                Level::Critical,
                "circuit breaker opened",
                json!({ "consecutive_failures": failures, "open_ms": self.config.breaker.open_ms }),
            ),
            Some(Transition::HalfOpened) => logs.push(Level::Warning, "circuit breaker half-open", Value::Null),
            Some(Transition::Closed) => logs.push(Level::Info, "circuit breaker closed", Value::Null),
            None => {}
        }
    }

    fn log_failure(&self, op: Op, e: &Error, logs: &mut LogBuf) {
        let level = if e.code().counts_for_breaker() { Level::Error } else { Level::Warning };
        logs.push(
            level,
            format!("{} failed", op.name()),
            json!({ "operation": op.name(), "code": e.code().name(), "error": e.message(), "context": e.context() }),
        );
    }

    pub(crate) fn prepare(&self, item: &NewMemory<'_>, logs: &mut LogBuf) -> Result<Prepared> {
        let norm = validate::embedding(item.embedding, self.config.embedding_dim, "embedding", logs)?;
        validate::text(item.text, self.config.max_text_chars)?;
        let weight = item.weight.unwrap_or(1.0);
        validate::weight(weight)?;
        let (metadata, metadata_bytes) = validate::metadata(item.metadata.clone(), self.config.max_metadata_bytes)?;
        let now = self.clock.unix_millis();
        let created_at = validate::created_at(item.created_at, now)?;
        let namespace = item.namespace.clone().unwrap_or_default();
        validate::namespace(&namespace)?;
        if let Some(k) = &item.key {
            validate::key(k)?;
        }
        let expires_at = validate::expiry(item.expires_at, item.ttl_ms, now)?;
        Ok(Prepared {
            vector: item.embedding.to_vec(),
            norm,
            text: item.text.to_owned(),
            weight,
            metadata,
            metadata_bytes,
            created_at: item.created_at.map(|_| created_at),
            namespace,
            key: item.key.clone(),
            expires_at,
            id: None,
            replace: None,
            last_accessed: None,
            access_count: 0,
        })
    }

    fn check_capacity(&self, st: &State, items: &[Prepared], new: usize) -> Result<()> {
        let n = st.graph.len();
        if n + new > self.config.max_nodes {
            return Err(Error::new(ErrorCode::ResourceExhaustion, "max_nodes would be exceeded")
                .with("limit", self.config.max_nodes)
                .with("current", n)
                .with("adding", new));
        }
        if let Some(mb) = self.config.effective_max_memory_mb() {
            let limit = (mb * 1024.0 * 1024.0) as u64;
            // Edges are not planned yet: count the most they can add (max_degree each, both ends).
            let edges = (2 * crate::graph::EDGE_BYTES) * self.config.max_degree as u64;
            let adding: u64 = items
                .iter()
                .map(|p| {
                    let key = p.key.as_ref().map_or(0, String::len);
                    st.graph.node_estimate(p.text.len() + key, p.metadata_bytes) + edges
                })
                .sum();
            let freed: u64 = items.iter().filter_map(|p| p.replace).map(|id| st.graph.node_bytes(id)).sum();
            let current = st.graph.estimate_bytes().saturating_sub(freed);
            if current + adding > limit {
                return Err(Error::new(ErrorCode::ResourceExhaustion, "max_memory_mb would be exceeded")
                    .with("limit_bytes", limit)
                    .with("current_bytes", current)
                    .with("adding_bytes", adding));
            }
        }
        if st.next_id.checked_add(new as u64).is_none() {
            return Err(Error::new(ErrorCode::ResourceExhaustion, "memory ids are exhausted"));
        }
        Ok(())
    }

    /// Removes the memories that have expired by the store's clock; returns how many.
    pub(crate) fn sweep_locked(&self, st: &mut State) -> usize {
        let expired = st.graph.expired(self.clock.unix_millis());
        for &id in &expired {
            st.graph.remove(id);
            st.forget(id);
        }
        self.recorder.expired_removed.fetch_add(expired.len() as u64, Ordering::Relaxed);
        expired.len()
    }

    /// Resolves ids and upsert keys of prepared items (under the write lock):
    /// an item whose key names an existing memory of its namespace replaces it.
    /// Returns how many items are new memories.
    fn resolve(&self, st: &mut State, items: &mut [Prepared]) -> Result<usize> {
        let mut seen_keys: std::collections::HashSet<(String, String)> = std::collections::HashSet::new();
        let mut seen_ids: std::collections::HashSet<u64> = std::collections::HashSet::new();
        let mut new = 0;
        for (i, p) in items.iter_mut().enumerate() {
            if let Some(k) = &p.key {
                if !seen_keys.insert((p.namespace.clone(), k.clone())) {
                    return Err(Error::invalid("key", "two items of one batch have the same namespace and key")
                        .with("index", i)
                        .with("key", k.clone()));
                }
                let existing = st.graph.namespaces.get(&p.namespace).and_then(|ns| st.graph.by_key(ns, k));
                match (existing, p.id, p.replace) {
                    (Some(e), Some(id), _) if e != id => {
                        return Err(Error::invalid("key", "the key is already used by another memory")
                            .with("index", i)
                            .with("key", k.clone())
                            .with("id", e));
                    }
                    (Some(e), None, None) => p.replace = Some(e),
                    (Some(e), None, Some(r)) if e != r => {
                        return Err(Error::invalid("key", "the key is already used by another memory")
                            .with("key", k.clone())
                            .with("id", e));
                    }
                    _ => {}
                }
            }
            if let Some(id) = p.id {
                if id == 0 || st.graph.contains(id) {
                    return Err(Error::invalid("id", "the id is zero or already used").with("index", i).with("id", id));
                }
            }
            if let Some(id) = p.id.or(p.replace) {
                if !seen_ids.insert(id) {
                    return Err(Error::invalid("id", "two items of one batch name the same memory")
                        .with("index", i)
                        .with("id", id));
                }
            }
            if p.replace.is_none() {
                new += 1;
            }
        }
        Ok(new)
    }

    /// Plans and inserts prepared items under the write lock. All-or-nothing:
    /// the plans (the only step that can fail, on the deadline) are made first.
    /// Items that replace a memory (upserts, updates of the embedding) keep its
    /// id, its creation time (unless given) and its access history; a batch is
    /// applied as if the memories it replaces were removed first and then
    /// every item added in order.
    pub(crate) fn insert_all(
        &self,
        st: &mut State,
        mut items: Vec<Prepared>,
        deadline: &Deadline,
        op: Op,
    ) -> Result<Vec<u64>> {
        let new = self.resolve(st, &mut items)?;
        self.check_capacity(st, &items, new)?;
        st.graph.try_reserve(new)?;
        // At a compact precision each item is planned from its vector as it
        // will be stored, and its stored row (words) kept for the insert.
        let precision = st.graph.precision();
        let compact = precision != crate::config::Precision::F32;
        let stored: Vec<Vec<f32>> =
            if compact { items.iter_mut().map(|p| p.store_at(precision)).collect() } else { Vec::new() };
        let mut next = st.next_id;
        let ids: Vec<u64> = items
            .iter()
            .map(|p| {
                p.id.or(p.replace).unwrap_or_else(|| {
                    next += 1;
                    next - 1
                })
            })
            .collect();
        let top = items.iter().filter_map(|p| p.id).max().map_or(next, |m| next.max(m.saturating_add(1)));
        let inv: Vec<f32> = items.iter().map(|p| crate::graph::inv_norm(p.norm)).collect();
        let ns: Vec<u32> = items.iter().map(|p| st.graph.namespaces.intern(&p.namespace)).collect();
        let mut exclude: Vec<u64> = items.iter().filter_map(|p| p.replace).collect();
        exclude.sort_unstable();
        // Each item also links to the batch items before it: one list, passed as
        // prefixes, over one contiguous copy of the batch's vectors (scanning
        // them from their separate allocations made a batch 2x slower than adds).
        let dim = st.graph.dim();
        let mut flat: Vec<f32> = Vec::new();
        flat.try_reserve(items.len().saturating_mul(dim)).map_err(|_| {
            Error::new(ErrorCode::ResourceExhaustion, "out of memory while planning a batch")
                .with("adding", items.len())
        })?;
        for p in &items {
            flat.extend_from_slice(&p.vector);
        }
        let batch: Vec<(u64, &[f32], f32, u32)> =
            (0..items.len()).map(|j| (ids[j], &flat[j * dim..(j + 1) * dim], inv[j], ns[j])).collect();
        // Each item's row as it will be stored (at full precision, its vector).
        let words = |j: usize| if compact { &stored[j][..] } else { batch[j].1 };
        // A large batch goes in chunks: each chunk is planned (in parallel) against
        // the store as the chunks before it left it, and compares its items with
        // each other directly. Were the deadline to pass after a chunk was
        // applied, the store is put back from a copy taken first (all or nothing).
        let chunk = if items.len() > BATCH_CHUNK { BATCH_CHUNK } else { items.len().max(1) };
        let mut backup = (items.len() > chunk).then(|| st.graph.clone());
        let mut carried: HashMap<u64, (i64, i64, u64)> = HashMap::new();
        let mut orphans: Vec<u64> = Vec::new();
        let now = self.clock.unix_millis();
        let mut overflows = 0;
        let mut items: Vec<Option<Prepared>> = items.into_iter().map(Some).collect();
        for start in (0..batch.len()).step_by(chunk) {
            let end = (start + chunk).min(batch.len());
            // The level each item will take in its namespace's index.
            let mut offsets: HashMap<u32, u64> = HashMap::new();
            let levels: Vec<(u64, u8)> = (start..end)
                .map(|i| {
                    let o = offsets.entry(ns[i]).or_insert(0);
                    *o += 1;
                    let before = st.graph.index_of(ns[i]).map_or(0, |h| h.inserted);
                    (*o - 1, crate::ann::level_of(before + *o - 1))
                })
                .collect();
            let graph = &st.graph;
            // (Asked only where `par_map` is about to use the thread pool: asking
            // starts rayon's global pool, which a host may want to set up itself.)
            let rewrites_ahead = end - start > 1 && graph.rewrites_ahead.unwrap_or_else(parallel);
            // Rows of the chunk's items as the index will navigate by them,
            // for the heuristic (not stored yet).
            let index_rows: Vec<_> = (start..end).map(|i| graph.index_row(words(i), inv[i])).collect();
            let chunk_rows: crate::graph::FastMap<u64, (&[f32], f32)> =
                (start..end).map(|i| (ids[i], (&*index_rows[i - start].0, index_rows[i - start].1))).collect();
            let plan = |j: usize| {
                deadline.check(op.name())?;
                let i = start + j;
                let mut ann = graph.plan_ann(batch[i].1, inv[i], ns[i], levels[j].0);
                deadline.check(op.name())?;
                let links = graph.plan_links(
                    batch[i].1,
                    inv[i],
                    ns[i],
                    &exclude,
                    &batch[start..i],
                    Some(&ann),
                    deadline,
                    op.name(),
                )?;
                // The index learns of the chunk's earlier items directly too (and
                // never of the memories the batch replaces); its neighbour
                // heuristic runs here, in parallel, not while applying.
                for layer in &mut ann.layers {
                    layer.retain(|(_, id)| exclude.binary_search(id).is_err());
                }
                ann.layers.resize(ann.layers.len().max(ann.level as usize + 1), Vec::new());
                crate::graph::with_simd(
                    #[inline(always)]
                    || {
                        for (jj, earlier) in batch[start..i].iter().enumerate() {
                            if earlier.3 == ns[i] {
                                let ((a, inv_a), (b, inv_b)) = (&index_rows[j], &index_rows[jj]);
                                let sim = graph.index_similarity(a, *inv_a, b, *inv_b);
                                for l in 0..=ann.level.min(levels[jj].1) {
                                    ann.layers[l as usize].push((sim, earlier.0));
                                }
                            }
                        }
                    },
                );
                ann.keep_best(graph.ef_construction());
                graph.select_plan(&mut ann, |id| chunk_rows.get(&id).copied());
                if rewrites_ahead {
                    // Applying is sequential: its costly part is done here, in parallel.
                    graph.plan_rewrites(&mut ann, &index_rows[j].0, index_rows[j].1, ns[i]);
                }
                Ok((links, ann))
            };
            let plans = match par_map(end - start, plan) {
                Ok(p) => p,
                Err(e) => {
                    if let (Some(b), true) = (backup.take(), start > 0) {
                        st.graph = b;
                    }
                    return Err(e);
                }
            };
            if start == 0 {
                // From here on nothing fails (or the copy is put back).
                for &id in &exclude {
                    if let Some(n) = st.graph.node(id) {
                        carried.insert(id, (n.created_at, n.last_accessed, n.access_count));
                        orphans.extend(n.edges.iter().map(|e| e.to));
                    }
                    st.graph.remove(id);
                }
            }
            for (i, (plan, ann)) in (start..end).zip(plans) {
                let Some(p) = items[i].take() else { continue };
                let id = ids[i];
                let old = p.replace.and_then(|r| carried.get(&r).copied());
                let created_at = p.created_at.or(old.map(|o| o.0)).unwrap_or(now);
                let node = NewNode {
                    id,
                    text: p.text,
                    weight: p.weight,
                    metadata: p.metadata,
                    metadata_bytes: p.metadata_bytes,
                    created_at,
                    last_accessed: p.last_accessed.or(old.map(|o| o.1)).unwrap_or(created_at),
                    access_count: old.map_or(p.access_count, |o| o.2),
                    ns: ns[i],
                    key: p.key,
                    expires_at: p.expires_at,
                    norm: p.norm,
                };
                overflows += st.graph.insert(node, words(i), &plan, Some(ann));
            }
        }
        drop(backup);
        // A replaced memory's former neighbours that lost their only edge are re-linked.
        for id in orphans {
            if st.graph.contains(id) && st.graph.degree(id) == 0 {
                overflows += st.graph.relink(id);
            }
        }
        st.next_id = top;
        self.recorder.fractal_overflows.fetch_add(overflows, Ordering::Relaxed);
        Ok(ids)
    }

    /// Adds one memory and links it into the honeycomb. Returns its id.
    ///
    /// Errors: INVALID_DATA (embedding length, non-finite or zero vector, empty
    /// text, bad weight or metadata), RESOURCE_EXHAUSTION (limits), TIMEOUT,
    /// CIRCUIT_OPEN. On error nothing changed.
    ///
    /// ```
    /// use ov_memory::{Config, Store, AddOptions};
    /// let store = Store::new(Config { embedding_dim: 3, ..Config::default() })?;
    /// let id = store.add(&[0.1, 0.2, 0.3], "the user likes tea", AddOptions::default())?;
    /// assert_eq!(store.get(id)?.text, "the user likes tea");
    /// # Ok::<(), ov_memory::Error>(())
    /// ```
    pub fn add(&self, embedding: &[f32], text: &str, options: AddOptions) -> Result<u64> {
        let r = self.call_within(Op::Add, true, options.timeout_ms, |logs, deadline| {
            let item = NewMemory {
                embedding,
                text,
                weight: options.weight,
                metadata: options.metadata,
                created_at: options.created_at,
                namespace: options.namespace,
                key: options.key,
                expires_at: options.expires_at,
                ttl_ms: options.ttl_ms,
            };
            let p = self.prepare(&item, logs)?;
            let mut st = self.state.write();
            self.sweep_locked(&mut st);
            let ids = self.insert_all(&mut st, vec![p], deadline, Op::Add)?;
            let id = ids[0];
            if logs.enabled(Level::Debug) {
                logs.push(Level::Debug, "memory added", json!({ "id": id, "text": text, "embedding": embedding }));
            } else if logs.enabled(Level::Info) {
                logs.push(Level::Info, "memory added", json!({ "id": id, "text_bytes": text.len() }));
            }
            Ok(id)
        });
        self.changed(r.is_ok(), 1);
        r
    }

    /// Adds many memories at once, all or nothing. Returns their ids in order.
    pub fn add_batch(&self, items: &[NewMemory<'_>], timeout_ms: Option<u64>) -> Result<Vec<u64>> {
        let r = self.call_within(Op::AddBatch, true, timeout_ms, |logs, deadline| {
            if items.is_empty() {
                return Err(Error::invalid("items", "a batch needs at least one memory"));
            }
            // Checked and copied on every core (each item's log events kept in
            // order, and the first invalid item reported, as one by one).
            let checked = par_map(items.len(), |i| {
                let mut own = logs.child();
                let p = self.prepare(&items[i], &mut own).map_err(|e| e.with("index", i));
                Ok((p, own))
            })?;
            let mut prepared = Vec::with_capacity(items.len());
            for (p, own) in checked {
                logs.append(own);
                prepared.push(p?);
            }
            let mut st = self.state.write();
            self.sweep_locked(&mut st);
            let ids = self.insert_all(&mut st, prepared, deadline, Op::AddBatch)?;
            logs.push(Level::Info, "memories added", json!({ "count": ids.len(), "first_id": ids[0] }));
            Ok(ids)
        });
        self.changed(r.is_ok(), items.len() as u64);
        r
    }

    /// A copy of one memory (NOT_FOUND if absent or expired). Never blocked by the breaker.
    pub fn get(&self, id: u64) -> Result<Memory> {
        self.call(Op::Get, false, |_| {
            let st = self.state.read();
            self.memory(&st, id, self.clock.unix_millis()).ok_or_else(|| Error::not_found(id))
        })
    }

    /// A copy of memory `id` if it exists and has not expired at `now_ms`.
    pub(crate) fn memory(&self, st: &State, id: u64, now_ms: i64) -> Option<Memory> {
        let n = st.graph.node(id).filter(|n| n.live_at(now_ms))?;
        let mut neighbors: Vec<u64> = n.edges.iter().map(|e| e.to).collect();
        neighbors.sort_unstable();
        Some(Memory {
            id,
            text: n.text.clone(),
            embedding: st.graph.vector(id).unwrap_or_default(),
            weight: n.weight,
            metadata: n.metadata().cloned().map(Value::Object),
            created_at: n.created_at,
            last_accessed: n.last_accessed,
            access_count: n.access_count,
            neighbors,
            namespace: st.graph.namespaces.name(n.ns).to_owned(),
            key: n.key().cloned(),
            expires_at: n.expires_at(),
        })
    }

    /// Deletes one memory and every edge and overflow reference to it. Its id is never reused.
    pub fn delete(&self, id: u64) -> Result<()> {
        let r = self.call(Op::Delete, true, |logs| {
            let mut st = self.state.write();
            self.sweep_locked(&mut st);
            if !st.graph.remove(id) {
                return Err(Error::not_found(id));
            }
            st.forget(id);
            if logs.enabled(Level::Info) {
                logs.push(Level::Info, "memory deleted", json!({ "id": id }));
            }
            Ok(())
        });
        self.changed(r.is_ok(), 1);
        r
    }

    /// Saves a snapshot to `path` after every `every_changes` successful changes
    /// (memories added — a batch counts each — or deleted, snapshots loaded);
    /// `None` turns autosave off. The save runs after the call that completed
    /// the count has finished, through [`Store::save`] (atomic, guarded, in
    /// metrics); its failure is logged at ERROR and does not fail that call.
    /// Call [`Store::save`] yourself for "on demand".
    pub fn set_autosave(&self, path: Option<std::path::PathBuf>, every_changes: u64) -> Result<()> {
        if path.is_some() && every_changes == 0 {
            return Err(Error::invalid("every_changes", "every_changes must be at least 1"));
        }
        *self.autosave.lock() = path.map(|path| Autosave { path, every: every_changes, pending: 0 });
        Ok(())
    }

    /// Counts `n` changes if `ok`, and autosaves when the policy says so.
    pub(crate) fn changed(&self, ok: bool, n: u64) {
        if !ok {
            return;
        }
        let due = {
            let mut a = self.autosave.lock();
            match a.as_mut() {
                Some(a) => {
                    a.pending += n;
                    if a.pending >= a.every {
                        a.pending = 0;
                        Some(a.path.clone())
                    } else {
                        None
                    }
                }
                None => None,
            }
        };
        if let Some(path) = due {
            // Failures are recorded and logged by save() itself.
            let _ = self.save(path);
        }
    }

    /// Whether a memory with this id exists and has not expired (not recorded in metrics).
    pub fn contains(&self, id: u64) -> bool {
        let now = self.clock.unix_millis();
        self.state.read().graph.node(id).is_some_and(|n| n.live_at(now))
    }

    /// Number of memories held, in every namespace (expired ones still count
    /// until the next write or [`Store::sweep`] removes them).
    pub fn len(&self) -> usize {
        self.state.read().graph.len()
    }

    /// Whether the store holds no memory.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All ids, ascending.
    pub fn ids(&self) -> Vec<u64> {
        self.state.read().graph.ids()
    }

    /// Number of undirected honeycomb edges.
    pub fn edge_count(&self) -> usize {
        self.state.read().graph.edge_count()
    }

    /// The hubs of the default namespace `""`: its `min(5, max(1, floor(0.05·n)))`
    /// most central memories, ties to the lower id. See [`Store::hubs_in`].
    pub fn hubs(&self) -> Vec<u64> {
        self.hubs_in("")
    }

    /// The hubs of one namespace (expired memories excluded).
    pub fn hubs_in(&self, namespace: &str) -> Vec<u64> {
        let now = self.clock.unix_millis();
        let st = self.state.read();
        match st.graph.namespaces.get(namespace) {
            Some(ns) => st.graph.hubs(ns, |n| n.live_at(now)),
            None => Vec::new(),
        }
    }

    /// The centrality of a memory, or NOT_FOUND.
    pub fn centrality(&self, id: u64) -> Result<f64> {
        self.state.read().graph.node(id).map(|n| n.centrality).ok_or_else(|| Error::not_found(id))
    }

    /// The store's estimated size in bytes: for every memory its stored
    /// vector ([`crate::Precision::row_bytes`]; at full precision also the
    /// `4·⌈embedding_dim/4⌉ + 4` bytes of the 8-bit copy the approximate
    /// index navigates by) + text bytes + metadata bytes (compact JSON) + 256,
    /// plus 16 bytes per edge end and per overflow entry. This is the figure
    /// `max_memory_mb` is checked against.
    pub fn memory_estimate_bytes(&self) -> u64 {
        self.state.read().graph.estimate_bytes()
    }

    /// Bytes held by the lexical (BM25) index over the texts.
    pub fn lexical_index_bytes(&self) -> u64 {
        self.state.read().graph.lexical.heap_bytes()
    }

    /// A host's view of the memory this store holds: the size estimate of its
    /// memories, the fixed cost of its metrics (latency histograms, the
    /// health window) and the metadata columns that filtered reads built. The Node front-end reports it to V8's garbage collector.
    pub fn heap_estimate_bytes(&self) -> u64 {
        let columns = self.state.read().graph.columns.0.read().heap_bytes();
        self.memory_estimate_bytes() + self.recorder.heap_bytes() + columns
    }

    fn capacity_pct(&self, st: &State) -> f64 {
        let nodes = st.graph.len() as f64 * 100.0 / self.config.max_nodes as f64;
        let mem = self
            .config
            .effective_max_memory_mb()
            .map_or(0.0, |mb| st.graph.estimate_bytes() as f64 * 100.0 / (mb * 1024.0 * 1024.0));
        nodes.max(mem)
    }

    /// Every figure Never blocked by the breaker; not itself recorded.
    pub fn metrics(&self) -> MetricsReport {
        let now = self.clock.monotonic_micros();
        let figures = {
            let st = self.state.read();
            StoreFigures {
                log_lines_dropped: self.logger.dropped_lines(),
                node_count: st.graph.len() as u64,
                edge_count: st.graph.edge_count() as u64,
                memory_estimate_bytes: st.graph.estimate_bytes(),
                capacity_pct: self.capacity_pct(&st),
                max_nodes: self.config.max_nodes as u64,
                breaker: self.breaker.snapshot(now),
                metabolism: st.metabolism.report(),
                namespaces: st.graph.namespaces.counts(),
            }
        };
        self.recorder.report(now, figures)
    }

    /// [`Store::metrics`] as JSON.
    pub fn metrics_json(&self) -> String {
        self.metrics().to_json()
    }

    /// [`Store::metrics`] in the Prometheus text format 0.0.4 (see
    /// [`MetricsReport::exposition`] for the families).
    pub fn prometheus(&self) -> String {
        self.metrics().to_prometheus()
    }

    /// [`Store::metrics`] in the OpenMetrics text format 1.0.0.
    pub fn openmetrics(&self) -> String {
        self.metrics().to_openmetrics()
    }

    /// The health report. Never blocked by the breaker.
    pub fn health(&self) -> HealthReport {
        let m = self.metrics();
        let now = self.clock.monotonic_micros();
        let window = self.recorder.window(now);
        let summary = HealthSummary {
            queries: m.queries_processed,
            qps: round3(m.qps),
            avg_latency_ms: round3(m.avg_latency_ms),
            p95_latency_ms: round3(m.p95_latency_ms),
            p99_latency_ms: round3(m.p99_latency_ms),
            error_count: m.error_count,
            nodes: m.node_count,
            capacity_pct: round3(m.capacity_pct),
        };
        let ts = crate::log::rfc3339_millis(self.clock.unix_millis());
        health::assess(&window, m.circuit_breaker.state, m.capacity_pct, summary, ts)
    }

    /// [`Store::health`] as JSON.
    pub fn health_json(&self) -> String {
        self.health().to_json()
    }

    /// Closes the circuit breaker by hand.
    pub fn reset_breaker(&self) {
        self.breaker.reset();
        self.logger.log(Level::Warning, "circuit breaker reset by hand", Value::Null);
    }

    /// The log threshold.
    pub fn log_level(&self) -> Level {
        self.logger.level()
    }

    /// Sets the log threshold.
    pub fn set_log_level(&self, level: Level) {
        self.logger.set_level(level);
    }

    /// Installs a log sink (none by default).
    pub fn set_log_sink(&self, sink: LogSink) {
        self.logger.set_sink(sink);
    }

    /// The metabolism's budget, use, band and alpha.
    pub fn metabolism(&self) -> MetabolismReport {
        self.state.read().metabolism.report()
    }

    /// Forgets the tokens spent.
    pub fn reset_metabolism(&self) {
        self.state.write().metabolism.reset();
    }

    /// Sets a new token budget (at least 1), keeping what was spent.
    pub fn resize_metabolism(&self, budget_tokens: u64) -> Result<()> {
        if budget_tokens == 0 {
            return Err(Error::invalid("budget_tokens", "budget_tokens must be at least 1"));
        }
        self.state.write().metabolism.resize(budget_tokens);
        Ok(())
    }

    /// Checks the graph's structural invariants (degree bound, symmetry, no self,
    /// duplicate or dangling edge, overflow back-references, fresh centrality).
    /// Returns MEMORY_CORRUPTION naming the first violation.
    pub fn check_integrity(&self) -> Result<()> {
        self.state
            .read()
            .graph
            .check_invariants()
            .map_err(|what| Error::new(ErrorCode::MemoryCorruption, what).with("section", "graph"))
    }
}
