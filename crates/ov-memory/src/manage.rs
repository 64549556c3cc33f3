//! Managing memories: namespaces, scoped reads, update in place, expiry,
//! listing, batch get/delete, JSON Lines export and import.
//!
//! **Namespaces.** Every memory belongs to one namespace (a string; `""` by
//! default) — a user, an agent, a project. Retrieve, context, list, count and
//! hubs read one namespace, or a list of them ([`Namespaces`]); without one
//! they read `""`. A read never sees another namespace's memories, and nothing
//! it computes depends on them: honeycomb edges link memories of the same
//! namespace only, and relevance statistics (the z-scores, BM25's document
//! frequencies) are taken over the memories in scope.
//!
//! **Scope.** A read's scope is its namespaces, minus the memories its
//! metadata `filter` rejects (see [`crate::filter`]), minus expired memories.
//! The filter runs inside the scan, so `top_k` is the exact top k of the
//! memories that pass.
//!
//! **Expiry.** A memory added with `expires_at` (Unix ms) or `ttl_ms` expires
//! when the store's clock reaches that time (the as-of `now` of a read does
//! not change it). From then on no read returns it; the next write (add,
//! update, delete, import) or [`Store::sweep`] removes it, counted in the
//! metrics (`expired_removed`).

use crate::clock::Deadline;
use crate::error::{Error, ErrorCode, Result};
use crate::filter::Filter;
use crate::log::Level;
use crate::metrics::Op;
use crate::retrieve::parse_options;
use crate::scoring::{NsList, Scope};
use crate::store::{Memory, Prepared, State, Store};
use crate::validate;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The namespaces a read sees: one name or a list of names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum Namespaces {
    /// One namespace.
    One(String),
    /// Several namespaces (at least one).
    Many(Vec<String>),
}

impl From<&str> for Namespaces {
    fn from(s: &str) -> Namespaces {
        Namespaces::One(s.to_owned())
    }
}

/// Checks a namespace selection; `None` is the default namespace `""`.
pub(crate) fn namespace_names(sel: Option<&Namespaces>) -> Result<Vec<String>> {
    let names = match sel {
        None => vec![String::new()],
        Some(Namespaces::One(s)) => vec![s.clone()],
        Some(Namespaces::Many(v)) => {
            if v.is_empty() {
                return Err(Error::invalid("namespace", "a list of namespaces must not be empty"));
            }
            if v.len() > validate::MAX_NAMESPACES_PER_QUERY {
                return Err(Error::invalid(
                    "namespace",
                    format!("a read names at most {} namespaces", validate::MAX_NAMESPACES_PER_QUERY),
                ));
            }
            v.clone()
        }
    };
    for n in &names {
        validate::namespace(n)?;
    }
    Ok(names)
}

/// Checks an optional filter.
pub(crate) fn filter_of(v: Option<&Value>) -> Result<Option<Filter>> {
    v.map(Filter::new).transpose()
}

/// A checked read scope: namespaces and filter, resolved under the lock.
#[derive(Debug, Clone)]
pub(crate) struct ScopeSpec {
    /// The namespaces named; empty for the default namespace `""` alone (the
    /// usual read, which then allocates nothing here).
    names: Vec<String>,
    filter: Option<Filter>,
}

impl ScopeSpec {
    pub(crate) fn new(namespace: Option<&Namespaces>, filter: Option<&Value>) -> Result<ScopeSpec> {
        let names = match namespace {
            None => Vec::new(),
            Some(_) => namespace_names(namespace)?,
        };
        Ok(ScopeSpec { names, filter: filter_of(filter)? })
    }

    /// The memories of `st` in this scope, expired ones excluded (by the store's clock `now_ms`).
    pub(crate) fn resolve(&self, st: &State, now_ms: i64, deadline: &Deadline, op: &str) -> Result<Scope> {
        let mut ns: NsList = if self.names.is_empty() {
            st.graph.namespaces.get("").into_iter().collect()
        } else {
            self.names.iter().filter_map(|n| st.graph.namespaces.get(n)).collect()
        };
        ns.sort_unstable();
        ns.dedup();
        Scope::new(&st.graph, ns, self.filter.as_ref(), now_ms, deadline, op)
    }

    /// A key naming this set of namespaces (per-scope context state).
    pub(crate) fn key(&self) -> String {
        if self.names.is_empty() {
            return String::new();
        }
        let mut n = self.names.clone();
        n.sort();
        n.dedup();
        n.join("\u{1f}")
    }
}

/// Deserialises a field that distinguishes "absent" (`None`) from `null` (`Some(None)`).
fn double<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> std::result::Result<Option<Option<T>>, D::Error> {
    Ok(Some(Option::<T>::deserialize(d)?))
}

/// A change to one memory ([`Store::update`]). Absent fields stay as they are.
/// JSON keys: `text`, `embedding`, `weight`, `metadata` (`null` removes it),
/// `expires_at`/`expiresAt` (`null` removes the expiry), `ttl_ms`/`ttlMs`,
/// `timeout_ms`/`timeoutMs`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(rename_all = "camelCase"))]
pub struct MemoryUpdate {
    /// A new text (the lexical index follows).
    pub text: Option<String>,
    /// A new embedding (the memory is re-linked into the honeycomb).
    #[cfg_attr(feature = "ts", ts(type = "Vector"))]
    pub embedding: Option<Vec<f32>>,
    /// A new weight.
    pub weight: Option<f64>,
    /// New metadata: an object replaces it, `null` removes it (in Rust
    /// `Some(Some(object))` and `Some(None)`).
    #[serde(deserialize_with = "double")]
    #[cfg_attr(feature = "ts", ts(type = "Record<string, unknown> | null"))]
    pub metadata: Option<Option<Value>>,
    /// New expiry, Unix ms: a time sets it, `null` removes it (in Rust
    /// `Some(Some(ms))` and `Some(None)`).
    #[serde(alias = "expiresAt", deserialize_with = "double")]
    pub expires_at: Option<Option<i64>>,
    /// New expiry as a time to live from the store's clock, ms.
    #[serde(alias = "ttlMs")]
    pub ttl_ms: Option<u64>,
    /// Deadline in ms; default: the configured `timeout_ms`.
    #[serde(alias = "timeoutMs")]
    pub timeout_ms: Option<u64>,
}

impl MemoryUpdate {
    /// Parses an update from a JSON object text.
    pub fn from_json(text: &str) -> Result<MemoryUpdate> {
        parse_options(text, "update")
    }
}

/// Options of [`Store::list`]. JSON keys: `namespace`, `filter`,
/// `after_id`/`afterId`, `limit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(rename_all = "camelCase"))]
pub struct ListOptions {
    /// Namespaces to list (default `""`).
    pub namespace: Option<Namespaces>,
    /// Metadata filter.
    #[cfg_attr(feature = "ts", ts(type = "Filter"))]
    pub filter: Option<Value>,
    /// Only memories with a larger id (the previous page's `next_after_id`).
    #[serde(alias = "afterId")]
    pub after_id: Option<u64>,
    /// Page size, 1..=10 000 ([`MAX_PAGE`]). Default 100.
    pub limit: usize,
}

/// Largest page [`Store::list`] returns.
pub const MAX_PAGE: usize = 10_000;

impl Default for ListOptions {
    fn default() -> Self {
        ListOptions { namespace: None, filter: None, after_id: None, limit: 100 }
    }
}

impl ListOptions {
    /// Parses options from a JSON object text.
    pub fn from_json(text: &str) -> Result<ListOptions> {
        parse_options(text, "options")
    }
}

/// One page of [`Store::list`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Page {
    /// Memories in ascending id order.
    pub memories: Vec<Memory>,
    /// Pass as `after_id` for the next page; none (`null`) when this was the last.
    pub next_after_id: Option<u64>,
}

/// Options of [`Store::count`] and [`Store::export_jsonl`]: `namespace`, `filter`.
/// For export, no namespace means every namespace.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(rename_all = "camelCase"))]
pub struct ScopeOptions {
    /// Namespaces (count: default `""`; export: default all).
    pub namespace: Option<Namespaces>,
    /// Metadata filter.
    #[cfg_attr(feature = "ts", ts(type = "Filter"))]
    pub filter: Option<Value>,
}

impl ScopeOptions {
    /// Parses options from a JSON object text.
    pub fn from_json(text: &str) -> Result<ScopeOptions> {
        parse_options(text, "options")
    }
}

/// Options of [`Store::import_jsonl`]. JSON keys: `keep_ids`/`keepIds`, `timeout_ms`/`timeoutMs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(rename_all = "camelCase"))]
pub struct ImportOptions {
    /// Keep each line's `id` (default true; an id the store has already
    /// assigned is INVALID_DATA). `false`: new ids, as adds get.
    #[serde(alias = "keepIds")]
    pub keep_ids: bool,
    /// Deadline in ms; default: the configured `timeout_ms`.
    #[serde(alias = "timeoutMs")]
    pub timeout_ms: Option<u64>,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions { keep_ids: true, timeout_ms: None }
    }
}

impl ImportOptions {
    /// Parses options from a JSON object text.
    pub fn from_json(text: &str) -> Result<ImportOptions> {
        parse_options(text, "options")
    }
}

/// What [`Store::import_jsonl`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ImportReport {
    /// Memories added (or replaced through their key).
    pub imported: usize,
    /// Lines skipped because the memory had already expired.
    pub expired: usize,
}

/// One line of the JSON Lines format (what [`Store::export_jsonl`] writes).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    #[serde(default)]
    id: Option<u64>,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    key: Option<String>,
    text: String,
    embedding: Vec<f32>,
    #[serde(default = "one")]
    weight: f64,
    #[serde(default)]
    metadata: Option<Value>,
    #[serde(default)]
    created_at: Option<i64>,
    #[serde(default)]
    last_accessed: Option<i64>,
    #[serde(default)]
    access_count: u64,
    #[serde(default)]
    expires_at: Option<i64>,
    /// Written by `get`/`list`, ignored on import (the graph is rebuilt).
    #[serde(default, skip_serializing)]
    #[allow(dead_code)]
    neighbors: Option<Vec<u64>>,
}

fn one() -> f64 {
    1.0
}

impl Store {
    /// Changes a memory in place: its id, namespace, key and `created_at`
    /// stay. A new text is re-indexed; a new embedding re-links the memory
    /// (its former neighbours that lose their only edge are re-linked too).
    /// All or nothing: a rejected update changes nothing.
    ///
    /// Errors: NOT_FOUND (absent or expired), INVALID_DATA (no field, or a
    /// field as [`Store::add`] checks it), RESOURCE_EXHAUSTION, TIMEOUT, CIRCUIT_OPEN.
    pub fn update(&self, id: u64, patch: &MemoryUpdate) -> Result<()> {
        let r = self.call_within(Op::Update, true, patch.timeout_ms, |logs, deadline| {
            if patch.text.is_none()
                && patch.embedding.is_none()
                && patch.weight.is_none()
                && patch.metadata.is_none()
                && patch.expires_at.is_none()
                && patch.ttl_ms.is_none()
            {
                return Err(Error::invalid("update", "an update names at least one field to change"));
            }
            let norm = match &patch.embedding {
                Some(e) => Some(validate::embedding(e, self.config.embedding_dim, "embedding", logs)?),
                None => None,
            };
            if let Some(t) = &patch.text {
                validate::text(t, self.config.max_text_chars)?;
            }
            if let Some(w) = patch.weight {
                validate::weight(w)?;
            }
            let metadata = match &patch.metadata {
                Some(m) => Some(validate::metadata(m.clone(), self.config.max_metadata_bytes)?),
                None => None,
            };
            let now = self.clock.unix_millis();
            let expiry = match (patch.expires_at, patch.ttl_ms) {
                (Some(None), Some(_)) => {
                    return Err(Error::invalid("expires_at", "give expires_at or ttl_ms, not both"))
                }
                (Some(None), None) => Some(None),
                (Some(Some(t)), ttl) => Some(validate::expiry(Some(t), ttl, now)?),
                (None, Some(ttl)) => Some(validate::expiry(None, Some(ttl), now)?),
                (None, None) => None,
            };
            let mut st = self.state.write();
            self.sweep_locked(&mut st);
            let node = st.graph.node(id).ok_or_else(|| Error::not_found(id))?;
            if let (Some(e), Some(norm)) = (&patch.embedding, norm) {
                let (metadata, metadata_bytes) = match metadata {
                    Some(m) => m,
                    None => (node.metadata().cloned(), node.metadata_bytes()),
                };
                let item = Prepared {
                    vector: e.clone(),
                    norm,
                    text: patch.text.clone().unwrap_or_else(|| node.text.clone()),
                    weight: patch.weight.unwrap_or(node.weight),
                    metadata,
                    metadata_bytes,
                    created_at: Some(node.created_at),
                    namespace: st.graph.namespaces.name(node.ns).to_owned(),
                    key: node.key().cloned(),
                    expires_at: expiry.unwrap_or(node.expires_at()),
                    id: None,
                    replace: Some(id),
                    last_accessed: None,
                    access_count: 0,
                };
                self.insert_all(&mut st, vec![item], deadline, Op::Update)?;
            } else {
                if let Some(mb) = self.config.effective_max_memory_mb() {
                    let grow = patch.text.as_ref().map_or(0, |t| t.len() as i64 - node.text.len() as i64)
                        + metadata.as_ref().map_or(0, |m| m.1 as i64 - node.metadata_bytes() as i64);
                    let limit = (mb * 1024.0 * 1024.0) as u64;
                    let after = st.graph.estimate_bytes().saturating_add_signed(grow);
                    if grow > 0 && after > limit {
                        return Err(Error::new(ErrorCode::ResourceExhaustion, "max_memory_mb would be exceeded")
                            .with("limit_bytes", limit)
                            .with("current_bytes", st.graph.estimate_bytes())
                            .with("adding_bytes", grow));
                    }
                }
                if let Some(t) = &patch.text {
                    st.graph.set_text(id, t.clone());
                }
                if let Some(w) = patch.weight {
                    if let Some(n) = st.graph.node_mut(id) {
                        n.weight = w;
                    }
                }
                if let Some((m, bytes)) = metadata {
                    st.graph.set_metadata(id, m, bytes);
                }
                if let Some(e) = expiry {
                    st.graph.set_expiry(id, e);
                }
            }
            logs.push(Level::Info, "memory updated", json!({ "id": id, "embedding": patch.embedding.is_some() }));
            Ok(())
        });
        self.changed(r.is_ok(), 1);
        r
    }

    /// One page of the memories in scope, in ascending id order.
    ///
    /// ```
    /// use ov_memory::{AddOptions, Config, ListOptions, Store};
    /// let store = Store::new(Config { embedding_dim: 2, ..Config::default() })?;
    /// for i in 0..3 {
    ///     let meta = serde_json::json!({ "n": i });
    ///     store.add(&[1.0, i as f32], "a note", AddOptions { metadata: Some(meta), ..Default::default() })?;
    /// }
    /// let filter = serde_json::json!({ "n": { "$gte": 1 } });
    /// let page = store.list(&ListOptions { filter: Some(filter), limit: 1, ..Default::default() })?;
    /// assert_eq!(page.memories[0].id, 2);
    /// assert_eq!(page.next_after_id, Some(2));
    /// # Ok::<(), ov_memory::Error>(())
    /// ```
    pub fn list(&self, options: &ListOptions) -> Result<Page> {
        self.call_within(Op::List, false, None, |_, deadline| {
            let spec = ScopeSpec::new(options.namespace.as_ref(), options.filter.as_ref())?;
            if options.limit == 0 || options.limit > MAX_PAGE {
                return Err(
                    Error::invalid("limit", format!("limit must be in 1..={MAX_PAGE}")).with("got", options.limit)
                );
            }
            let now = self.clock.unix_millis();
            let st = self.state.read();
            let scope = spec.resolve(&st, now, deadline, "list")?;
            let after = options.after_id.unwrap_or(0);
            let mut ids: Vec<u64> =
                scope.slots(st.graph.len()).map(|s| st.graph.node_at(s).id).filter(|&id| id > after).collect();
            ids.sort_unstable();
            let more = ids.len() > options.limit;
            ids.truncate(options.limit);
            let mut memories = Vec::with_capacity(ids.len());
            for id in &ids {
                deadline.check("list")?;
                memories.extend(self.memory(&st, *id, now));
            }
            let next_after_id = if more { ids.last().copied() } else { None };
            Ok(Page { memories, next_after_id })
        })
    }

    /// How many memories are in scope (namespace `""` by default).
    pub fn count(&self, options: &ScopeOptions) -> Result<usize> {
        self.call_within(Op::List, false, None, |_, deadline| {
            let spec = ScopeSpec::new(options.namespace.as_ref(), options.filter.as_ref())?;
            let st = self.state.read();
            Ok(spec.resolve(&st, self.clock.unix_millis(), deadline, "count")?.len())
        })
    }

    /// Memories per namespace (namespaces that hold at least one; expired
    /// memories count until removed).
    pub fn namespaces(&self) -> BTreeMap<String, u64> {
        self.state.read().graph.namespaces.counts()
    }

    /// Copies of several memories, in the order asked; `None` where an id is
    /// absent or expired.
    pub fn get_many(&self, ids: &[u64]) -> Result<Vec<Option<Memory>>> {
        self.call_within(Op::List, false, None, |_, deadline| {
            let now = self.clock.unix_millis();
            let st = self.state.read();
            deadline.check("get_many")?;
            let mut out = Vec::with_capacity(ids.len());
            for (i, &id) in ids.iter().enumerate() {
                deadline.check_every(i, "get_many")?;
                out.push(self.memory(&st, id, now));
            }
            Ok(out)
        })
    }

    /// Deletes every listed memory that exists; returns how many were deleted
    /// (absent ids and repeats are skipped).
    pub fn delete_many(&self, ids: &[u64]) -> Result<usize> {
        let r = self.call(Op::DeleteMany, true, |logs| {
            let mut st = self.state.write();
            self.sweep_locked(&mut st);
            let mut n = 0;
            for &id in ids {
                if st.graph.remove(id) {
                    st.forget(id);
                    n += 1;
                }
            }
            logs.push(Level::Info, "memories deleted", json!({ "asked": ids.len(), "deleted": n }));
            Ok(n)
        });
        self.changed(r.is_ok(), r.as_ref().map_or(0, |&n| n as u64));
        r
    }

    /// Deletes every memory of a namespace; returns how many.
    pub fn delete_namespace(&self, namespace: &str) -> Result<usize> {
        let r = self.call(Op::DeleteMany, true, |logs| {
            validate::namespace(namespace)?;
            let mut st = self.state.write();
            self.sweep_locked(&mut st);
            let Some(ns) = st.graph.namespaces.get(namespace) else { return Ok(0) };
            let ids: Vec<u64> = st.graph.iter().filter(|(n, _)| n.ns == ns).map(|(n, _)| n.id).collect();
            for &id in &ids {
                st.graph.remove(id);
                st.forget(id);
            }
            logs.push(Level::Info, "namespace deleted", json!({ "namespace": namespace, "deleted": ids.len() }));
            Ok(ids.len())
        });
        self.changed(r.is_ok(), r.as_ref().map_or(0, |&n| n as u64));
        r
    }

    /// Removes every expired memory now; returns how many (also counted in
    /// the metrics' `expired_removed`).
    pub fn sweep(&self) -> Result<usize> {
        let r = self.call(Op::DeleteMany, false, |logs| {
            let n = self.sweep_locked(&mut self.state.write());
            logs.push(Level::Info, "expired memories removed", json!({ "removed": n }));
            Ok(n)
        });
        self.changed(r.as_ref().is_ok_and(|&n| n > 0), r.as_ref().map_or(0, |&n| n as u64));
        r
    }

    /// The memories in scope as JSON Lines, ascending ids: one object per line
    /// with every field (`id`, `namespace`, `key`, `text`, `embedding`,
    /// `weight`, `metadata`, `created_at`, `last_accessed`, `access_count`,
    /// `expires_at`). Without a namespace, every namespace is exported. The
    /// graph is not: [`Store::import_jsonl`] rebuilds it.
    pub fn export_jsonl(&self, options: &ScopeOptions) -> Result<String> {
        self.call_within(Op::List, false, None, |_, deadline| {
            let filter = filter_of(options.filter.as_ref())?;
            let spec = match &options.namespace {
                Some(sel) => Some(ScopeSpec { names: namespace_names(Some(sel))?, filter: filter.clone() }),
                None => None,
            };
            let now = self.clock.unix_millis();
            let st = self.state.read();
            let scope = match &spec {
                Some(s) => s.resolve(&st, now, deadline, "export")?,
                None => {
                    let all: NsList = (0..st.graph.namespaces.len() as u32).collect();
                    Scope::new(&st.graph, all, filter.as_ref(), now, deadline, "export")?
                }
            };
            let mut ids: Vec<u64> = scope.slots(st.graph.len()).map(|s| st.graph.node_at(s).id).collect();
            ids.sort_unstable();
            let mut out = Vec::with_capacity(ids.len() * (st.graph.dim() * 10 + 200));
            for id in ids {
                deadline.check("export")?;
                let Some(m) = self.memory(&st, id, now) else { continue };
                let rec = Record {
                    id: Some(m.id),
                    namespace: m.namespace,
                    key: m.key,
                    text: m.text,
                    embedding: m.embedding,
                    weight: m.weight,
                    metadata: m.metadata,
                    created_at: Some(m.created_at),
                    last_accessed: Some(m.last_accessed),
                    access_count: m.access_count,
                    expires_at: m.expires_at,
                    neighbors: None,
                };
                serde_json::to_writer(&mut out, &rec)
                    .map_err(|e| Error::new(ErrorCode::Internal, format!("cannot serialise a memory: {e}")))?;
                out.push(b'\n');
            }
            String::from_utf8(out).map_err(|_| Error::new(ErrorCode::Internal, "export is not UTF-8"))
        })
    }

    /// Adds the memories of a JSON Lines text (as [`Store::export_jsonl`]
    /// writes; blank lines are skipped), all or nothing. Each line needs
    /// `text` and `embedding`; the other fields are optional. Lines whose
    /// `expires_at` has passed are skipped and counted. A line whose key
    /// exists in its namespace replaces that memory, as an add would.
    ///
    /// Errors: INVALID_DATA naming the `line` (1-based), RESOURCE_EXHAUSTION,
    /// TIMEOUT, CIRCUIT_OPEN.
    pub fn import_jsonl(&self, jsonl: &str, options: &ImportOptions) -> Result<ImportReport> {
        let r = self.call_within(Op::Import, true, options.timeout_ms, |logs, deadline| {
            let now = self.clock.unix_millis();
            let mut items = Vec::new();
            let mut expired = 0;
            for (i, line) in jsonl.lines().enumerate() {
                deadline.check_every(i, "import")?;
                if line.trim().is_empty() {
                    continue;
                }
                let at = |e: Error| e.with("line", i + 1);
                let v = crate::json::parse_object(line, "line").map_err(at)?;
                let rec: Record = serde_json::from_value(v)
                    .map_err(|e| at(Error::invalid("line", format!("invalid memory record: {e}"))))?;
                if rec.expires_at.is_some_and(|t| t <= now) {
                    expired += 1;
                    continue;
                }
                let item = crate::store::NewMemory {
                    embedding: &rec.embedding,
                    text: &rec.text,
                    weight: Some(rec.weight),
                    metadata: rec.metadata.clone(),
                    created_at: rec.created_at,
                    namespace: Some(rec.namespace.clone()),
                    key: rec.key.clone(),
                    expires_at: None,
                    ttl_ms: None,
                };
                let mut p = self.prepare(&item, logs).map_err(at)?;
                p.expires_at = rec.expires_at;
                p.last_accessed = rec.last_accessed;
                p.access_count = rec.access_count;
                if options.keep_ids {
                    let Some(id) = rec.id else {
                        return Err(at(Error::invalid("id", "keep_ids needs an id on every line")));
                    };
                    p.id = Some(id);
                }
                items.push(p);
            }
            if items.is_empty() {
                return Ok(ImportReport { imported: 0, expired });
            }
            let mut st = self.state.write();
            self.sweep_locked(&mut st);
            let ids = self.insert_all(&mut st, items, deadline, Op::Import)?;
            logs.push(Level::Info, "memories imported", json!({ "imported": ids.len(), "expired": expired }));
            Ok(ImportReport { imported: ids.len(), expired })
        });
        self.changed(r.is_ok(), r.as_ref().map_or(0, |r| r.imported as u64));
        r
    }

    /// [`Store::list`] as a JSON object `{"memories": [...], "next_after_id": id|null}`.
    pub fn list_json(&self, options: &ListOptions) -> Result<String> {
        let page = self.list(options)?;
        to_json(&page)
    }

    /// [`Store::get_many`] as a JSON array (`null` for absent ids).
    pub fn get_many_json(&self, ids: &[u64]) -> Result<String> {
        let found = self.get_many(ids)?;
        to_json(&found)
    }
}

impl State {
    /// Forgets the per-id context state of a deleted memory.
    pub(crate) fn forget(&mut self, id: u64) {
        self.injections.remove(&id);
        for v in self.last_injected.values_mut() {
            v.retain(|&x| x != id);
        }
    }
}

pub(crate) fn to_json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::new(ErrorCode::Internal, format!("cannot serialise a result: {e}")))
}

/// A query of [`Store::retrieve_many`]: an embedding, a text, or both.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BatchQuery<'a> {
    /// The query embedding.
    pub embedding: Option<&'a [f32]>,
    /// The query text.
    pub text: Option<&'a str>,
}
