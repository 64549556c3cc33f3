//! C ABI of OV-Memory. Thin: argument conversion and error mapping only; all
//! behaviour lives in the `ov-memory` core. The header `include/ov_memory.h` is
//! generated from this file by cbindgen (`make header`).
#![allow(clippy::missing_safety_doc)] // the safety contract of each function is its C doc

mod boundary;

use boundary::{c_str, null, opt_c_str, quiet_call, slice, status_call, to_c_string, value_call, write_buf};
use ov_memory::{AddOptions, Config, ContextOptions, Error, Level, LogSink, RetrieveOptions, Store};
use std::ffi::{c_char, c_void};
use std::sync::Arc;

/// Bytes a node id text needs in `ov_memory_add`'s `node_id_out` (decimal id plus NUL).
pub const OV_NODE_ID_MAX: usize = 64;

/// The status every function returns: the core's error code, named
/// `OvStatus` in C (`OV_STATUS_OK` = 0 … `OV_STATUS_INTERNAL` = 8).
pub use ov_memory::ErrorCode as OvStatus;

/// Log levels for ov_memory_set_log_level().
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OvLogLevel {
    /// Details, including texts and embeddings.
    Debug = 0,
    /// Normal operations (the default threshold).
    Info = 1,
    /// Accepted but suspicious input.
    Warning = 2,
    /// A failed operation.
    Error = 3,
    /// The circuit breaker opened.
    Critical = 4,
}

/// Built-in log destinations for ov_memory_set_log_sink().
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OvLogSink {
    /// Silent (the default).
    None = 0,
    /// One JSON line per event on standard error.
    Stderr = 1,
    /// One JSON line per event on standard output.
    Stdout = 2,
}

/// Receives one log line: `line` points to `len` bytes of JSON followed by a NUL,
/// valid only during the call. Never called while the library holds a lock, so it
/// may call back into the store. It may be called from any thread that uses the store.
pub type OvLogCallback = Option<unsafe extern "C" fn(user_data: *mut c_void, line: *const c_char, len: usize)>;

/// An opaque memory store. Create with ov_memory_create() or
/// ov_memory_create_with_config(); free with ov_memory_destroy().
pub struct OVMemoryProduction {
    store: Store,
}

/// One memory, as returned by ov_memory_get(). Owned by the caller: free the
/// whole record (strings and embedding included) with ov_memory_record_free().
#[repr(C)]
pub struct OvMemoryRecord {
    /// The memory's id.
    pub id: u64,
    /// The text, NUL-terminated.
    pub text: *mut c_char,
    /// Length of `text` in bytes, without the NUL.
    pub text_len: usize,
    /// Importance weight.
    pub weight: f64,
    /// Metadata as a JSON object text, or NULL when the memory has none.
    pub metadata_json: *mut c_char,
    /// The embedding (`embedding_len` floats).
    pub embedding: *mut f32,
    /// Number of floats in `embedding` (the store's dimension).
    pub embedding_len: usize,
    /// Creation time, Unix milliseconds from the store's clock.
    pub created_at_ms: i64,
    /// Last injection into a context, Unix milliseconds (creation time until then).
    pub last_accessed_ms: i64,
    /// How often context assembly injected it.
    pub access_count: u64,
}

/// # Safety
/// `m` is NULL or a live store from ov_memory_create*.
unsafe fn store<'a>(m: *const OVMemoryProduction) -> ov_memory::Result<&'a Store> {
    // SAFETY: per contract, non-NULL means a live store.
    unsafe { m.as_ref() }.map(|h| &h.store).ok_or_else(|| null("memory"))
}

/// Borrows a vector of `len` floats after checking `len` against the store's
/// dimension, so no slice longer than the caller's vector is ever formed.
///
/// # Safety
/// `p` is NULL or points to `len` floats that outlive the call.
unsafe fn vector<'a>(p: *const f32, len: usize, s: &Store, field: &str) -> ov_memory::Result<&'a [f32]> {
    let dim = s.config().embedding_dim;
    if len != dim {
        return Err(Error::invalid(field, format!("{field} must have {dim} values, got {len}"))
            .with("expected", dim)
            .with("got", len));
    }
    // SAFETY: forwarded contract; `len` is the store's dimension.
    unsafe { slice(p, len, field) }
}

/// A query vector that may be absent: NULL with `len` 0 means "no vector" (a
/// text-only query); anything else is checked as by [`vector`].
///
/// # Safety
/// As for [`vector`].
unsafe fn opt_vector<'a>(p: *const f32, len: usize, s: &Store) -> ov_memory::Result<Option<&'a [f32]>> {
    if p.is_null() && len == 0 {
        return Ok(None);
    }
    // SAFETY: forwarded contract.
    unsafe { vector(p, len, s, "query") }.map(Some)
}

/// The shared body of the single-memory adds: checks the store, the vector,
/// the text, the options (built by `options`) and `id_out`, in that order,
/// then adds and writes the id.
///
/// # Safety
/// As for ov_memory_add_f32().
unsafe fn add_one(
    m: *mut OVMemoryProduction,
    embedding: *const f32,
    len: usize,
    text: *const c_char,
    id_out: *mut u64,
    options: impl FnOnce() -> ov_memory::Result<AddOptions>,
) -> OvStatus {
    status_call(|| {
        // SAFETY: forwarded contract of each argument.
        let s = unsafe { store(m) }?;
        let e = unsafe { vector(embedding, len, s, "embedding") }?;
        let text = unsafe { c_str(text, "text") }?;
        let options = options()?;
        if id_out.is_null() {
            return Err(null("id_out"));
        }
        let id = s.add(e, text, options)?;
        // SAFETY: checked non-NULL; caller provides a writable u64.
        unsafe { *id_out = id };
        Ok(())
    })
}

fn boxed(store: Store) -> *mut OVMemoryProduction {
    Box::into_raw(Box::new(OVMemoryProduction { store }))
}

// ---------------------------------------------------------------- lifecycle

/// Creates a store for `dim`-dimensional embeddings (1..=65536) holding at most
/// `max_nodes` memories (>= 1); `enable_monitoring` turns latency histograms and
/// the health window on. Other settings take their defaults (README, "Configuration").
/// Returns NULL on invalid arguments (details in the last error).
#[no_mangle]
pub extern "C" fn ov_memory_create(dim: usize, max_nodes: usize, enable_monitoring: bool) -> *mut OVMemoryProduction {
    value_call(std::ptr::null_mut(), || {
        let config = Config { embedding_dim: dim, max_nodes, monitoring: enable_monitoring, ..Config::default() };
        Store::new(config).map(boxed)
    })
}

/// Creates a store from a JSON object of settings (keys as in README,
/// "Configuration"; missing keys take their defaults, unknown keys are rejected),
/// e.g. `{"embedding_dim": 384, "max_nodes": 50000, "breaker": {"open_ms": 5000}}`.
/// Returns NULL on error (details in the last error).
#[no_mangle]
pub unsafe extern "C" fn ov_memory_create_with_config(config_json: *const c_char) -> *mut OVMemoryProduction {
    value_call(std::ptr::null_mut(), || {
        // SAFETY: caller passes NULL or a NUL-terminated string.
        let text = unsafe { c_str(config_json, "config_json") }?;
        Store::new(Config::from_json(text)?).map(boxed)
    })
}

/// Frees a store. NULL is a no-op. The pointer must not be used afterwards, and
/// no other thread may be using the store.
#[no_mangle]
pub unsafe extern "C" fn ov_memory_destroy(m: *mut OVMemoryProduction) {
    if m.is_null() {
        return;
    }
    // SAFETY: non-NULL pointers come from Box::into_raw in ov_memory_create*.
    quiet_call((), || drop(unsafe { Box::from_raw(m) }));
}

// ---------------------------------------------------------------- writes

/// The original add: reads exactly `dim` doubles (the store's dimension) from
/// `embedding`, stores `text` (UTF-8) with `weight` (> 0), and writes the new id
/// as a decimal string into `node_id_out`, which must hold OV_NODE_ID_MAX (64) bytes.
/// Doubles outside the float range are rejected as non-finite.
#[no_mangle]
pub unsafe extern "C" fn ov_memory_add(
    m: *mut OVMemoryProduction,
    embedding: *const f64,
    text: *const c_char,
    weight: f64,
    node_id_out: *mut c_char,
) -> OvStatus {
    status_call(|| {
        // SAFETY: caller contract of each argument, as documented above.
        let s = unsafe { store(m) }?;
        let dim = s.config().embedding_dim;
        let e = unsafe { slice(embedding, dim, "embedding") }?;
        let text = unsafe { c_str(text, "text") }?;
        if node_id_out.is_null() {
            return Err(null("node_id_out"));
        }
        let v: Vec<f32> = e.iter().map(|&x| x as f32).collect();
        let id = s.add(&v, text, AddOptions { weight: Some(weight), ..AddOptions::default() })?;
        // SAFETY: node_id_out holds OV_NODE_ID_MAX bytes per contract; an id needs at most 21.
        unsafe { write_buf(&id.to_string(), node_id_out, OV_NODE_ID_MAX) };
        Ok(())
    })
}

/// Adds one memory: `len` floats (must equal the store's dimension), UTF-8
/// `text`, `weight` (> 0), optional `metadata_json` (a JSON object text or
/// NULL). Writes the new id to `*id_out`.
#[no_mangle]
pub unsafe extern "C" fn ov_memory_add_f32(
    m: *mut OVMemoryProduction,
    embedding: *const f32,
    len: usize,
    text: *const c_char,
    weight: f64,
    metadata_json: *const c_char,
    id_out: *mut u64,
) -> OvStatus {
    // SAFETY: caller contract of each argument, as documented above.
    unsafe {
        add_one(m, embedding, len, text, id_out, || {
            let metadata =
                opt_c_str(metadata_json, "metadata_json")?.map(ov_memory::parse_metadata_json).transpose()?;
            Ok(AddOptions { weight: Some(weight), metadata, ..AddOptions::default() })
        })
    }
}

/// Adds one memory with options: `len` floats (the store's dimension), UTF-8
/// `text`, and `options_json`: NULL (defaults) or a JSON object with any of
/// `weight` (> 0, default 1), `metadata` (an object), `created_at` (Unix ms;
/// default now; may lie in the past, at most a minute in the future),
/// `namespace` (default ""), `key` (unique in the namespace: a memory with
/// that key is replaced, keeping its id — an upsert), `expires_at` (Unix ms)
/// or `ttl_ms`, and `timeout_ms`. Unknown keys are rejected. Writes the id to
/// `*id_out`.
#[no_mangle]
pub unsafe extern "C" fn ov_memory_add_with(
    m: *mut OVMemoryProduction,
    embedding: *const f32,
    len: usize,
    text: *const c_char,
    options_json: *const c_char,
    id_out: *mut u64,
) -> OvStatus {
    // SAFETY: caller contract of each argument, as documented above.
    unsafe {
        add_one(m, embedding, len, text, id_out, || match opt_c_str(options_json, "options_json")? {
            Some(t) => AddOptions::from_json(t),
            None => Ok(AddOptions::default()),
        })
    }
}

/// Adds `count` memories at once, all or nothing. `embeddings` holds
/// `count * dim` floats, row after row (`dim` must equal the store's dimension);
/// `texts` holds `count` strings; `weights` is NULL (all 1.0) or `count`
/// doubles; `metadata_json` is NULL or `count` entries, each NULL or a JSON
/// object text. Writes the new ids to `ids_out` (`count` entries).
#[no_mangle]
pub unsafe extern "C" fn ov_memory_add_batch(
    m: *mut OVMemoryProduction,
    embeddings: *const f32,
    count: usize,
    dim: usize,
    texts: *const *const c_char,
    weights: *const f64,
    metadata_json: *const *const c_char,
    ids_out: *mut u64,
) -> OvStatus {
    // SAFETY: the same contract, without options.
    unsafe {
        ov_memory_add_batch_with(m, embeddings, count, dim, texts, weights, metadata_json, std::ptr::null(), ids_out)
    }
}

/// ov_memory_add_batch() with `options_json`: NULL or a JSON object with
/// `namespace` (one for the batch), `keys` (one key or null per memory; a
/// key that exists in the namespace replaces that memory, keeping its id),
/// `created_at` (one Unix ms time per memory), `expires_at` (one Unix ms time
/// or null per memory), `ttl_ms` (one for the batch) and `timeout_ms`. Writes
/// the ids to `ids_out` (`count` entries).
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn ov_memory_add_batch_with(
    m: *mut OVMemoryProduction,
    embeddings: *const f32,
    count: usize,
    dim: usize,
    texts: *const *const c_char,
    weights: *const f64,
    metadata_json: *const *const c_char,
    options_json: *const c_char,
    ids_out: *mut u64,
) -> OvStatus {
    status_call(|| {
        // SAFETY: caller contract of each argument, as documented above.
        let s = unsafe { store(m) }?;
        if dim != s.config().embedding_dim {
            return Err(Error::invalid("dim", "dim must equal the store's embedding dimension")
                .with("expected", s.config().embedding_dim)
                .with("got", dim));
        }
        let total = count.checked_mul(dim).ok_or_else(|| Error::invalid("count", "count * dim overflows"))?;
        let flat = unsafe { slice(embeddings, total, "embeddings") }?;
        let texts = unsafe { slice(texts, count, "texts") }?;
        let weights = if weights.is_null() { None } else { Some(unsafe { slice(weights, count, "weights") }?) };
        let metas =
            if metadata_json.is_null() { None } else { Some(unsafe { slice(metadata_json, count, "metadata_json") }?) };
        if ids_out.is_null() {
            return Err(null("ids_out"));
        }
        // SAFETY (both maps): each entry is NULL or a NUL-terminated string per contract.
        let texts = texts
            .iter()
            .enumerate()
            .map(|(i, &t)| unsafe { c_str(t, "texts") }.map_err(|e| e.with("index", i)))
            .collect::<ov_memory::Result<Vec<&str>>>()?;
        let metas = match metas {
            None => None,
            Some(ms) => Some(
                ms.iter()
                    .enumerate()
                    .map(|(i, &p)| unsafe { opt_c_str(p, "metadata_json") }.map_err(|e| e.with("index", i)))
                    .collect::<ov_memory::Result<Vec<Option<&str>>>>()?,
            ),
        };
        // Creation times and the deadline come in the options (the weights and
        // metadata have their own arguments).
        let extra = ov_memory::frontend::BatchExtra::extra_from_json(
            unsafe { opt_c_str(options_json, "options_json") }?,
            &["weights", "metadata"],
        )?;
        let (created, timeout) = (extra.created_at.clone(), extra.timeout_ms);
        let ids = s.add_batch_flat(flat, &texts, weights, metas.as_deref(), created.as_deref(), timeout, &extra)?;
        // SAFETY: ids_out holds `count` u64 per contract.
        unsafe { std::ptr::copy_nonoverlapping(ids.as_ptr(), ids_out, ids.len()) };
        Ok(())
    })
}

/// Deletes a memory with all its edges. Its id is never reused.
#[no_mangle]
pub unsafe extern "C" fn ov_memory_delete(m: *mut OVMemoryProduction, id: u64) -> OvStatus {
    // SAFETY: caller contract.
    status_call(|| unsafe { store(m) }?.delete(id))
}

// ---------------------------------------------------------------- reads

/// Reads one memory. On success `*out` points to a new record owned by the
/// caller; free it with ov_memory_record_free(). Never blocked by the breaker.
#[no_mangle]
pub unsafe extern "C" fn ov_memory_get(
    m: *const OVMemoryProduction,
    id: u64,
    out: *mut *mut OvMemoryRecord,
) -> OvStatus {
    status_call(|| {
        // SAFETY: caller contract.
        let s = unsafe { store(m) }?;
        if out.is_null() {
            return Err(null("out"));
        }
        let mem = s.get(id)?;
        let text_len = mem.text.len();
        let mut text = mem.text.into_bytes();
        text.push(0);
        let text = Box::into_raw(text.into_boxed_slice()).cast::<c_char>();
        let embedding_len = mem.embedding.len();
        let embedding = Box::into_raw(mem.embedding.into_boxed_slice()).cast::<f32>();
        let metadata_json = mem.metadata.map_or(std::ptr::null_mut(), |v| to_c_string(v.to_string()));
        let record = Box::new(OvMemoryRecord {
            id: mem.id,
            text,
            text_len,
            weight: mem.weight,
            metadata_json,
            embedding,
            embedding_len,
            created_at_ms: mem.created_at,
            last_accessed_ms: mem.last_accessed,
            access_count: mem.access_count,
        });
        // SAFETY: checked non-NULL.
        unsafe { *out = Box::into_raw(record) };
        Ok(())
    })
}

/// Frees a record from ov_memory_get() with everything it points to. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn ov_memory_record_free(record: *mut OvMemoryRecord) {
    if record.is_null() {
        return;
    }
    // SAFETY: the record and its buffers were made by ov_memory_get with these exact lengths.
    quiet_call((), || unsafe {
        let r = Box::from_raw(record);
        drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(r.text.cast::<u8>(), r.text_len + 1)));
        drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(r.embedding, r.embedding_len)));
        if !r.metadata_json.is_null() {
            drop(std::ffi::CString::from_raw(r.metadata_json));
        }
    })
}

/// Number of memories (0 for NULL).
#[no_mangle]
pub unsafe extern "C" fn ov_memory_count(m: *const OVMemoryProduction) -> usize {
    // SAFETY: caller contract.
    value_call(0, || Ok(unsafe { store(m) }?.len()))
}

// ---------------------------------------------------------------- retrieval

/// The default alpha of the score, for ov_memory_retrieve(): 1 ranks by
/// relevance alone, lower values give the bounded priors (importance, recency,
/// graph activation) more say among near-ties.
pub const OV_DEFAULT_ALPHA: f64 = 0.75;

/// Ranks memories for `query` (`len` floats, the store's dimension) by the
/// score P with this `alpha` (0..=1; OV_DEFAULT_ALPHA is the default): P is
/// the query's relevance in standard deviations above the store's mean plus
/// the bounded priors (README, "Score"), so it compares memories of one call,
/// not across calls. It
/// writes the best `top_k` (>= 1) ids and scores, best first (ties: lower id),
/// into `ids_out` and `scores_out` (either may be NULL), which hold `capacity`
/// entries (capacity must be >= top_k). Writes the number of results (at most
/// the number of memories) to `*count_out`. Exact; deadline: the configured timeout.
#[no_mangle]
pub unsafe extern "C" fn ov_memory_retrieve(
    m: *const OVMemoryProduction,
    query: *const f32,
    len: usize,
    top_k: usize,
    alpha: f64,
    ids_out: *mut u64,
    scores_out: *mut f64,
    capacity: usize,
    count_out: *mut usize,
) -> OvStatus {
    status_call(|| {
        // SAFETY: caller contract of each argument, as documented above.
        let s = unsafe { store(m) }?;
        let q = unsafe { vector(query, len, s, "query") }?;
        if count_out.is_null() {
            return Err(null("count_out"));
        }
        if capacity < top_k {
            return Err(Error::invalid("capacity", "capacity must be at least top_k")
                .with("top_k", top_k)
                .with("capacity", capacity));
        }
        let hits = s.retrieve(q, &RetrieveOptions { top_k, alpha: Some(alpha), ..RetrieveOptions::default() })?;
        // SAFETY: the output arrays hold `capacity` >= hits.len() entries per contract.
        unsafe {
            for (i, h) in hits.iter().enumerate() {
                if !ids_out.is_null() {
                    *ids_out.add(i) = h.id;
                }
                if !scores_out.is_null() {
                    *scores_out.add(i) = h.score.p;
                }
            }
            *count_out = hits.len();
        }
        Ok(())
    })
}

/// Like ov_memory_retrieve(), but returns a JSON array of results with id,
/// text, metadata, created_at and the score parts `{"S","L","C","G","R","W","rel","P"}`.
/// `query` may be NULL with `len` 0 when the options carry a `text` (a
/// lexical query). `options_json` is NULL (defaults) or an object with
/// `top_k`, `alpha`, `timeout_ms`, `now` (Unix ms to score as of), `text`
/// (the query's words, fused with the vector), `hybrid_weight`, `scoring`
/// ("geometric" or the legacy "product"), `namespace`, `filter`, `exact`
/// (true: scan every memory even where a namespace is served by its
/// approximate index) and `ef` (candidates taken from each approximate
/// index, default 96). Free the result with ov_string_free(). NULL on error.
#[no_mangle]
pub unsafe extern "C" fn ov_memory_retrieve_json(
    m: *const OVMemoryProduction,
    query: *const f32,
    len: usize,
    options_json: *const c_char,
) -> *mut c_char {
    value_call(std::ptr::null_mut(), || {
        // SAFETY: caller contract of each argument, as documented above.
        let s = unsafe { store(m) }?;
        let q = unsafe { opt_vector(query, len, s) }?;
        let options = match unsafe { opt_c_str(options_json, "options_json") }? {
            Some(text) => RetrieveOptions::from_json(text)?,
            None => RetrieveOptions::default(),
        };
        Ok(to_c_string(s.retrieve_json(q, &options)?))
    })
}

/// Assembles a context for `query` within `max_tokens` (>= 1) tokens and
/// returns it as a JSON object: `context` (the text, each item prefixed with
/// its date `[YYYY-MM-DD] ` unless `include_dates` is false), `tokens_used`,
/// `items` (each with id, text, metadata, score parts, `trigger`
/// "floor"/"resonance"/"bridge"/"metabolic", `hops`, `tokens`), `guardrails`
/// `{"drift","loop","redundancy"}`, `alpha`, `considered` and `metabolism`.
/// `query` may be NULL with `len` 0 when the options carry a `text`.
/// `options_json` is NULL or an object with `candidates`, `depth`, `alpha`,
/// `timeout_ms`, `separator`, `now`, `text`, `hybrid_weight`, `min_items`
/// (the floor, default 3), `max_items` (default 8), `include_dates` (its
/// `max_tokens`, if any, is overridden by the argument). Injected memories are marked accessed and the
/// metabolism is charged. Free the result with ov_string_free(). NULL on error.
#[no_mangle]
pub unsafe extern "C" fn ov_memory_context_json(
    m: *mut OVMemoryProduction,
    query: *const f32,
    len: usize,
    max_tokens: usize,
    options_json: *const c_char,
) -> *mut c_char {
    // SAFETY: the same contract; no counter means the default estimate.
    unsafe { ov_memory_context_with_counter(m, query, len, max_tokens, options_json, None, std::ptr::null_mut()) }
}

/// Counts the tokens of `text` (`len` bytes of UTF-8 followed by a NUL, valid
/// only during the call) for ov_memory_context_with_counter(). Return the
/// count, or SIZE_MAX to fail the context call with INVALID_DATA.
pub type OvTokenCounter =
    Option<unsafe extern "C" fn(user_data: *mut c_void, text: *const c_char, len: usize) -> usize>;

/// ov_memory_context_json() with the caller's token counter instead of the
/// default `ceil(bytes / 4)`: `counter(user_data, text, len)` is called, on
/// this thread and with no library lock held, for each item's text as it
/// would appear in the context. NULL `counter` means the default.
#[no_mangle]
pub unsafe extern "C" fn ov_memory_context_with_counter(
    m: *mut OVMemoryProduction,
    query: *const f32,
    len: usize,
    max_tokens: usize,
    options_json: *const c_char,
    counter: OvTokenCounter,
    user_data: *mut c_void,
) -> *mut c_char {
    value_call(std::ptr::null_mut(), || {
        // SAFETY: caller contract of each argument, as documented above.
        let s = unsafe { store(m) }?;
        let q = unsafe { opt_vector(query, len, s) }?;
        let mut options = match unsafe { opt_c_str(options_json, "options_json") }? {
            Some(text) => ContextOptions::from_json(text)?,
            None => ContextOptions::default(),
        };
        options.max_tokens = max_tokens;
        let count = |text: &str| -> ov_memory::Result<usize> {
            let Some(f) = counter else { return Ok(ov_memory::estimate_tokens(text)) };
            let c = std::ffi::CString::new(text).map_err(|_| Error::invalid("text", "text holds a NUL byte"))?;
            // SAFETY: the callback's contract is the caller's; the text is valid during the call.
            let n = unsafe { f(user_data, c.as_ptr(), text.len()) };
            if n == usize::MAX {
                return Err(Error::invalid("token_counter", "the token counter reported a failure"));
            }
            Ok(n)
        };
        let result = s.context_with_counter(q, &options, Some(&count))?;
        Ok(to_c_string(ov_memory::frontend::to_json(&result)))
    })
}

/// The default token estimate of a NUL-terminated UTF-8 text: `ceil(bytes / 4)`
/// (what context assembly charges without a counter). 0 for NULL.
#[no_mangle]
pub unsafe extern "C" fn ov_estimate_tokens(text: *const c_char) -> usize {
    // SAFETY: caller contract: NULL or a NUL-terminated string.
    quiet_call(0, || unsafe { c_str(text, "text") }.map_or(0, ov_memory::estimate_tokens))
}

/// Writes the ids of the hubs of the default namespace "" (the
/// `min(5, max(1, floor(0.05 n)))` most central memories, ties to the lower
/// id) into `ids_out` (`capacity` entries, at least 5 is always enough) and
/// their number to `*count_out`.
#[no_mangle]
pub unsafe extern "C" fn ov_memory_hubs(
    m: *const OVMemoryProduction,
    ids_out: *mut u64,
    capacity: usize,
    count_out: *mut usize,
) -> OvStatus {
    // SAFETY: the same contract, with the default namespace.
    unsafe { ov_memory_hubs_in(m, c"".as_ptr(), ids_out, capacity, count_out) }
}

/// ov_memory_hubs() for one namespace (a NUL-terminated UTF-8 name; "" is the default).
#[no_mangle]
pub unsafe extern "C" fn ov_memory_hubs_in(
    m: *const OVMemoryProduction,
    namespace: *const c_char,
    ids_out: *mut u64,
    capacity: usize,
    count_out: *mut usize,
) -> OvStatus {
    status_call(|| {
        // SAFETY: caller contract.
        let s = unsafe { store(m) }?;
        let ns = unsafe { c_str(namespace, "namespace") }?;
        if ids_out.is_null() || count_out.is_null() {
            return Err(null(if ids_out.is_null() { "ids_out" } else { "count_out" }));
        }
        let hubs = s.hubs_in(ns);
        if capacity < hubs.len() {
            return Err(Error::invalid("capacity", "capacity is smaller than the number of hubs")
                .with("needed", hubs.len())
                .with("capacity", capacity));
        }
        // SAFETY: ids_out holds `capacity` >= hubs.len() entries per contract.
        unsafe {
            std::ptr::copy_nonoverlapping(hubs.as_ptr(), ids_out, hubs.len());
            *count_out = hubs.len();
        }
        Ok(())
    })
}

// ---------------------------------------------------------------- managing memories

/// Writes `value` to `*out` if `out` is not NULL.
///
/// # Safety
/// `out` is NULL or valid for a write.
unsafe fn put<T>(out: *mut T, value: T) {
    if !out.is_null() {
        // SAFETY: non-NULL and writable per contract.
        unsafe { *out = value };
    }
}

/// An optional options object: NULL gives the defaults.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string.
unsafe fn options<T: Default>(p: *const c_char, parse: fn(&str) -> ov_memory::Result<T>) -> ov_memory::Result<T> {
    // SAFETY: forwarded contract.
    match unsafe { opt_c_str(p, "options_json") }? {
        Some(t) => parse(t),
        None => Ok(T::default()),
    }
}

/// Changes memory `id` in place; its id, namespace, key and created_at stay.
/// `embedding` is NULL with `len` 0 (keep the embedding) or a new embedding
/// of the store's dimension (the memory is re-linked). `patch_json` is NULL
/// or a JSON object with any of `text`, `weight`, `metadata` (null removes
/// it), `expires_at` (null removes the expiry), `ttl_ms`, `timeout_ms`; at
/// least one change is needed. All or nothing. Errors: NOT_FOUND (absent or
/// expired), INVALID_DATA, RESOURCE_EXHAUSTION, TIMEOUT, CIRCUIT_OPEN.
#[no_mangle]
pub unsafe extern "C" fn ov_memory_update(
    m: *mut OVMemoryProduction,
    id: u64,
    embedding: *const f32,
    len: usize,
    patch_json: *const c_char,
) -> OvStatus {
    status_call(|| {
        // SAFETY: caller contract of each argument, as documented above.
        let s = unsafe { store(m) }?;
        let e = if embedding.is_null() && len == 0 {
            None
        } else {
            Some(unsafe { vector(embedding, len, s, "embedding") }?)
        };
        let patch = unsafe { opt_c_str(patch_json, "patch_json") }?;
        s.update_with(id, e, patch)
    })
}

/// One page of memories in ascending id order, as a JSON object
/// `{"memories": [...], "next_after_id": id or null}` (each memory as
/// ov_memory_get_many_json() gives it). `options_json` is NULL or an object
/// with `namespace` (a name or a list; default ""), `filter` (a metadata
/// filter), `after_id` (the previous page's `next_after_id`) and `limit`
/// (1..=10000, default 100). Free with ov_string_free(). NULL on error.
#[no_mangle]
pub unsafe extern "C" fn ov_memory_list_json(m: *const OVMemoryProduction, options_json: *const c_char) -> *mut c_char {
    value_call(std::ptr::null_mut(), || {
        // SAFETY: caller contract.
        let s = unsafe { store(m) }?;
        let o = unsafe { options(options_json, ov_memory::ListOptions::from_json) }?;
        Ok(to_c_string(s.list_json(&o)?))
    })
}

/// How many memories are in scope: `options_json` is NULL (the default
/// namespace "") or an object with `namespace` and `filter`. Expired memories
/// are not counted.
#[no_mangle]
pub unsafe extern "C" fn ov_memory_count_with(
    m: *const OVMemoryProduction,
    options_json: *const c_char,
    count_out: *mut usize,
) -> OvStatus {
    status_call(|| {
        // SAFETY: caller contract.
        let s = unsafe { store(m) }?;
        let o = unsafe { options(options_json, ov_memory::ScopeOptions::from_json) }?;
        if count_out.is_null() {
            return Err(null("count_out"));
        }
        let n = s.count(&o)?;
        // SAFETY: checked non-NULL.
        unsafe { put(count_out, n) };
        Ok(())
    })
}

/// The memories with the `count` ids of `ids`, as a JSON array in that order
/// (`null` for an absent or expired id); each memory with `id`, `text`,
/// `embedding`, `weight`, `metadata`, `created_at`, `last_accessed`,
/// `access_count`, `neighbors`, `namespace`, `key`, `expires_at`. Free with
/// ov_string_free(). NULL on error.
#[no_mangle]
pub unsafe extern "C" fn ov_memory_get_many_json(
    m: *const OVMemoryProduction,
    ids: *const u64,
    count: usize,
) -> *mut c_char {
    value_call(std::ptr::null_mut(), || {
        // SAFETY: caller contract.
        let s = unsafe { store(m) }?;
        let ids = unsafe { slice(ids, count, "ids") }?;
        Ok(to_c_string(s.get_many_json(ids)?))
    })
}

/// Deletes every memory of `ids` (`count` entries) that exists; absent ids
/// and repeats are skipped. Writes how many were deleted to `*deleted_out`
/// (may be NULL).
#[no_mangle]
pub unsafe extern "C" fn ov_memory_delete_many(
    m: *mut OVMemoryProduction,
    ids: *const u64,
    count: usize,
    deleted_out: *mut usize,
) -> OvStatus {
    status_call(|| {
        // SAFETY: caller contract.
        let s = unsafe { store(m) }?;
        let ids = unsafe { slice(ids, count, "ids") }?;
        let n = s.delete_many(ids)?;
        unsafe { put(deleted_out, n) };
        Ok(())
    })
}

/// Deletes every memory of a namespace; writes how many to `*deleted_out` (may be NULL).
#[no_mangle]
pub unsafe extern "C" fn ov_memory_delete_namespace(
    m: *mut OVMemoryProduction,
    namespace: *const c_char,
    deleted_out: *mut usize,
) -> OvStatus {
    status_call(|| {
        // SAFETY: caller contract.
        let s = unsafe { store(m) }?;
        let ns = unsafe { c_str(namespace, "namespace") }?;
        let n = s.delete_namespace(ns)?;
        unsafe { put(deleted_out, n) };
        Ok(())
    })
}

/// Removes every expired memory now (writes also do it); writes how many to
/// `*removed_out` (may be NULL).
#[no_mangle]
pub unsafe extern "C" fn ov_memory_sweep(m: *mut OVMemoryProduction, removed_out: *mut usize) -> OvStatus {
    status_call(|| {
        // SAFETY: caller contract.
        let n = unsafe { store(m) }?.sweep()?;
        unsafe { put(removed_out, n) };
        Ok(())
    })
}

/// Memories per namespace as a JSON object `{"name": count, ...}`. Free with
/// ov_string_free(). NULL on error.
#[no_mangle]
pub unsafe extern "C" fn ov_memory_namespaces_json(m: *const OVMemoryProduction) -> *mut c_char {
    value_call(std::ptr::null_mut(), || {
        // SAFETY: caller contract.
        let s = unsafe { store(m) }?;
        Ok(to_c_string(ov_memory::frontend::to_json(&s.namespaces())))
    })
}

/// The memories in scope as JSON Lines (one object per line with every
/// field, embeddings included; ascending ids). `options_json` is NULL (every
/// namespace) or an object with `namespace` and `filter`. Free with
/// ov_string_free(). NULL on error.
#[no_mangle]
pub unsafe extern "C" fn ov_memory_export_jsonl(
    m: *const OVMemoryProduction,
    options_json: *const c_char,
) -> *mut c_char {
    value_call(std::ptr::null_mut(), || {
        // SAFETY: caller contract.
        let s = unsafe { store(m) }?;
        let o = unsafe { options(options_json, ov_memory::ScopeOptions::from_json) }?;
        Ok(to_c_string(s.export_jsonl(&o)?))
    })
}

/// Adds the memories of a JSON Lines text (what ov_memory_export_jsonl()
/// writes), all or nothing. `options_json` is NULL or an object with
/// `keep_ids` (default true: each line keeps its `id`, which must not have
/// been assigned by this store yet) and `timeout_ms`. Writes how many were
/// imported and how many lines were skipped as already expired (either
/// pointer may be NULL). INVALID_DATA names the bad `line`.
#[no_mangle]
pub unsafe extern "C" fn ov_memory_import_jsonl(
    m: *mut OVMemoryProduction,
    jsonl: *const c_char,
    options_json: *const c_char,
    imported_out: *mut usize,
    expired_out: *mut usize,
) -> OvStatus {
    status_call(|| {
        // SAFETY: caller contract.
        let s = unsafe { store(m) }?;
        let text = unsafe { c_str(jsonl, "jsonl") }?;
        let o = unsafe { options(options_json, ov_memory::ImportOptions::from_json) }?;
        let r = s.import_jsonl(text, &o)?;
        unsafe {
            put(imported_out, r.imported);
            put(expired_out, r.expired);
        }
        Ok(())
    })
}

/// Answers `count` queries in one call (on every core), as a JSON array of
/// result arrays (each as ov_memory_retrieve_json() returns). `embeddings`
/// is NULL (text-only queries) or `count` × the store's dimension floats, row
/// after row; `texts` is NULL or `count` entries, each NULL or the query's
/// text. `options_json` as for ov_memory_retrieve_json(), without `text`.
/// Free with ov_string_free(). NULL on error.
#[no_mangle]
pub unsafe extern "C" fn ov_memory_retrieve_many_json(
    m: *const OVMemoryProduction,
    embeddings: *const f32,
    texts: *const *const c_char,
    count: usize,
    options_json: *const c_char,
) -> *mut c_char {
    value_call(std::ptr::null_mut(), || {
        // SAFETY: caller contract of each argument, as documented above.
        let s = unsafe { store(m) }?;
        let dim = s.config().embedding_dim;
        let flat = if embeddings.is_null() {
            None
        } else {
            let total = count.checked_mul(dim).ok_or_else(|| Error::invalid("count", "count * dim overflows"))?;
            Some(unsafe { slice(embeddings, total, "embeddings") }?)
        };
        let texts = if texts.is_null() {
            None
        } else {
            let ptrs = unsafe { slice(texts, count, "texts") }?;
            Some(
                ptrs.iter()
                    .enumerate()
                    // SAFETY: each entry is NULL or a NUL-terminated string per contract.
                    .map(|(i, &p)| unsafe { opt_c_str(p, "texts") }.map_err(|e| e.with("index", i)))
                    .collect::<ov_memory::Result<Vec<Option<&str>>>>()?,
            )
        };
        let o = unsafe { options(options_json, RetrieveOptions::from_json) }?;
        Ok(to_c_string(s.retrieve_many_flat(count, flat, None, texts.as_deref(), &o)?))
    })
}

// ---------------------------------------------------------------- snapshots

/// A path argument: bytes as the OS takes them (on Unix any bytes but NUL).
///
/// # Safety
/// `p` is NULL or a NUL-terminated string.
unsafe fn c_path(p: *const c_char) -> ov_memory::Result<std::path::PathBuf> {
    if p.is_null() {
        return Err(null("path"));
    }
    // SAFETY: non-NULL and NUL-terminated per contract.
    let bytes = unsafe { std::ffi::CStr::from_ptr(p) }.to_bytes();
    if bytes.is_empty() {
        return Err(Error::invalid("path", "path must not be empty"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        Ok(std::path::PathBuf::from(std::ffi::OsStr::from_bytes(bytes)))
    }
    #[cfg(not(unix))]
    {
        std::str::from_utf8(bytes)
            .map(std::path::PathBuf::from)
            .map_err(|_| Error::invalid("path", "path is not valid UTF-8"))
    }
}

/// Saves a snapshot of the whole store to `path` atomically (temporary file in
/// the same directory, fsync, rename, fsync of the directory): after a crash the
/// file holds the previous snapshot or the new one. Errors: IO, CIRCUIT_OPEN.
#[no_mangle]
pub unsafe extern "C" fn ov_memory_save(m: *const OVMemoryProduction, path: *const c_char) -> OvStatus {
    status_call(|| {
        // SAFETY: caller contract.
        let s = unsafe { store(m) }?;
        s.save(unsafe { c_path(path) }?)
    })
}

/// Saves a snapshot to `path` automatically after every `every_changes`
/// successful changes (memories added or deleted, snapshots loaded); NULL
/// `path` turns it off. The save happens after the call that completes the
/// count; if it fails, that call still succeeds and the failure is logged and
/// counted as a failed save.
#[no_mangle]
pub unsafe extern "C" fn ov_memory_set_autosave(
    m: *mut OVMemoryProduction,
    path: *const c_char,
    every_changes: u64,
) -> OvStatus {
    status_call(|| {
        // SAFETY: caller contract.
        let s = unsafe { store(m) }?;
        let path = if path.is_null() { None } else { Some(unsafe { c_path(path) }?) };
        s.set_autosave(path, every_changes)
    })
}

/// Replaces the store's contents with the snapshot at `path`, a regular file
/// (a FIFO, device or directory is IO). Its embedding_dim, max_degree and
/// vector_precision must equal the store's (MEMORY_CORRUPTION otherwise) and its memories must fit
/// the store's limits (RESOURCE_EXHAUSTION otherwise). Everything is checked
/// first; on error nothing changes. Errors: IO, MEMORY_CORRUPTION,
/// RESOURCE_EXHAUSTION, CIRCUIT_OPEN.
#[no_mangle]
pub unsafe extern "C" fn ov_memory_load(m: *mut OVMemoryProduction, path: *const c_char) -> OvStatus {
    status_call(|| {
        // SAFETY: caller contract.
        let s = unsafe { store(m) }?;
        s.load(unsafe { c_path(path) }?)
    })
}

/// Opens a new store from the snapshot at `path` (a regular file): the
/// snapshot's settings with the default resource limits (`max_nodes`,
/// `max_memory_mb`, `max_text_chars`, `max_metadata_bytes`, `max_top_k`,
/// `timeout_ms`), so a file never decides how much it may grow. Free it with
/// ov_memory_destroy(). NULL on error (IO, MEMORY_CORRUPTION,
/// RESOURCE_EXHAUSTION; details in the last error).
#[no_mangle]
pub unsafe extern "C" fn ov_memory_open(path: *const c_char) -> *mut OVMemoryProduction {
    // SAFETY: caller contract.
    value_call(std::ptr::null_mut(), || Store::open(unsafe { c_path(path) }?).map(boxed))
}

/// Like ov_memory_open(), with the store's whole configuration given as a JSON
/// object (as for ov_memory_create_with_config(); NULL: as ov_memory_open()).
/// Its `embedding_dim`, `max_degree` and `vector_precision` must match the
/// snapshot's, and the snapshot must fit its limits (RESOURCE_EXHAUSTION otherwise).
#[no_mangle]
pub unsafe extern "C" fn ov_memory_open_with_config(
    path: *const c_char,
    config_json: *const c_char,
) -> *mut OVMemoryProduction {
    value_call(std::ptr::null_mut(), || {
        // SAFETY: caller contract of each argument, as documented above.
        let path = unsafe { c_path(path) }?;
        let config = unsafe { opt_c_str(config_json, "config_json") }?.map(Config::from_json).transpose()?;
        Store::open_with(path, config).map(boxed)
    })
}

/// Writes a snapshot of the store into a new buffer: `*bytes_out` points to
/// `*len_out` bytes owned by the caller; free them with ov_bytes_free().
#[no_mangle]
pub unsafe extern "C" fn ov_memory_to_bytes(
    m: *const OVMemoryProduction,
    bytes_out: *mut *mut u8,
    len_out: *mut usize,
) -> OvStatus {
    status_call(|| {
        // SAFETY: caller contract.
        let s = unsafe { store(m) }?;
        if bytes_out.is_null() || len_out.is_null() {
            return Err(null(if bytes_out.is_null() { "bytes_out" } else { "len_out" }));
        }
        let bytes = s.to_bytes()?.into_boxed_slice();
        let len = bytes.len();
        // SAFETY: both checked non-NULL; ownership passes to the caller until ov_bytes_free.
        unsafe {
            *bytes_out = Box::into_raw(bytes).cast::<u8>();
            *len_out = len;
        }
        Ok(())
    })
}

/// Frees a buffer from ov_memory_to_bytes() (`len` as returned). NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn ov_bytes_free(bytes: *mut u8, len: usize) {
    if !bytes.is_null() {
        // SAFETY: made by ov_memory_to_bytes as a boxed slice of exactly `len` bytes.
        quiet_call((), || drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(bytes, len)) }));
    }
}

/// Replaces the store's contents with the snapshot in `bytes` (`len` bytes);
/// as ov_memory_load(). Errors: MEMORY_CORRUPTION, RESOURCE_EXHAUSTION, CIRCUIT_OPEN.
#[no_mangle]
pub unsafe extern "C" fn ov_memory_load_bytes(m: *mut OVMemoryProduction, bytes: *const u8, len: usize) -> OvStatus {
    status_call(|| {
        // SAFETY: caller contract.
        let s = unsafe { store(m) }?;
        s.load_bytes(unsafe { slice(bytes, len, "bytes") }?)
    })
}

/// A new store from the snapshot in `bytes` (`len` bytes), with the
/// snapshot's settings and the default resource limits, as ov_memory_open().
/// NULL on error (MEMORY_CORRUPTION, RESOURCE_EXHAUSTION; details in the last error).
#[no_mangle]
pub unsafe extern "C" fn ov_memory_from_bytes(bytes: *const u8, len: usize) -> *mut OVMemoryProduction {
    // SAFETY: caller contract.
    value_call(std::ptr::null_mut(), || Store::from_bytes(unsafe { slice(bytes, len, "bytes") }?).map(boxed))
}

/// Like ov_memory_from_bytes(), with the store's configuration given as a JSON
/// object (NULL: as ov_memory_from_bytes()), as ov_memory_open_with_config().
#[no_mangle]
pub unsafe extern "C" fn ov_memory_from_bytes_with_config(
    bytes: *const u8,
    len: usize,
    config_json: *const c_char,
) -> *mut OVMemoryProduction {
    value_call(std::ptr::null_mut(), || {
        // SAFETY: caller contract of each argument, as documented above.
        let bytes = unsafe { slice(bytes, len, "bytes") }?;
        let config = unsafe { opt_c_str(config_json, "config_json") }?.map(Config::from_json).transpose()?;
        Store::from_bytes_with(bytes, config, ov_memory::clock::default_clock()).map(boxed)
    })
}

// ---------------------------------------------------------------- metabolism

/// The metabolism as a JSON object: `budget_tokens`, `used_tokens`,
/// `remaining_pct`, `state` (HEALTHY, STRESSED, CRITICAL, EMERGENCY) and
/// `alpha`. Free with ov_string_free(). NULL on error.
#[no_mangle]
pub unsafe extern "C" fn ov_memory_metabolism_json(m: *const OVMemoryProduction) -> *mut c_char {
    value_call(std::ptr::null_mut(), || {
        // SAFETY: caller contract.
        let report = unsafe { store(m) }?.metabolism();
        Ok(to_c_string(serde_json::to_string(&report).unwrap_or_else(|_| "{}".into())))
    })
}

/// Forgets the tokens spent: the metabolism is back to a full budget.
#[no_mangle]
pub unsafe extern "C" fn ov_memory_metabolism_reset(m: *mut OVMemoryProduction) -> OvStatus {
    status_call(|| {
        // SAFETY: caller contract.
        unsafe { store(m) }?.reset_metabolism();
        Ok(())
    })
}

/// Sets a new token budget (>= 1), keeping what was spent.
#[no_mangle]
pub unsafe extern "C" fn ov_memory_metabolism_resize(m: *mut OVMemoryProduction, budget_tokens: u64) -> OvStatus {
    // SAFETY: caller contract.
    status_call(|| unsafe { store(m) }?.resize_metabolism(budget_tokens))
}

// ---------------------------------------------------------------- health, metrics, logs

/// Writes the health report (JSON) into `buf` (snprintf-style; see the
/// header's conventions). A healthy store's report fits 512 bytes. Returns the
/// length the report needs, or 0 on error (NULL store).
#[no_mangle]
pub unsafe extern "C" fn ov_memory_get_health(m: *const OVMemoryProduction, buf: *mut c_char, len: usize) -> usize {
    value_call(0, || {
        // SAFETY: caller contract; buf holds len bytes.
        let s = unsafe { store(m) }?;
        Ok(unsafe { write_buf(&s.health_json(), buf, len) })
    })
}

/// Every metric as a JSON object text. Free with ov_string_free().
/// NULL on error.
#[no_mangle]
pub unsafe extern "C" fn ov_memory_metrics_json(m: *const OVMemoryProduction) -> *mut c_char {
    // SAFETY: caller contract.
    value_call(std::ptr::null_mut(), || Ok(to_c_string(unsafe { store(m) }?.metrics_json())))
}

/// The metrics in the Prometheus text exposition format (0.0.4): base units
/// (seconds, bytes), `_total` counters, latency as a summary per operation,
/// no derived rates. Free with ov_string_free(). NULL on error. The library
/// never opens a socket.
#[no_mangle]
pub unsafe extern "C" fn ov_memory_prometheus(m: *const OVMemoryProduction) -> *mut c_char {
    // SAFETY: caller contract.
    value_call(std::ptr::null_mut(), || Ok(to_c_string(unsafe { store(m) }?.prometheus())))
}

/// The same metrics in the OpenMetrics text format (1.0.0, ends with
/// `# EOF`), for scrapers that ask for `application/openmetrics-text`.
/// Free with ov_string_free(). NULL on error.
#[no_mangle]
pub unsafe extern "C" fn ov_memory_openmetrics(m: *const OVMemoryProduction) -> *mut c_char {
    // SAFETY: caller contract.
    value_call(std::ptr::null_mut(), || Ok(to_c_string(unsafe { store(m) }?.openmetrics())))
}

/// Sets the log threshold (an OvLogLevel value, 0..=4).
#[no_mangle]
pub unsafe extern "C" fn ov_memory_set_log_level(m: *mut OVMemoryProduction, level: u32) -> OvStatus {
    status_call(|| {
        // SAFETY: caller contract.
        let s = unsafe { store(m) }?;
        let level = u8::try_from(level)
            .ok()
            .and_then(Level::from_u8)
            .ok_or_else(|| Error::invalid("level", "level must be 0 (DEBUG) to 4 (CRITICAL)").with("got", level))?;
        s.set_log_level(level);
        Ok(())
    })
}

/// Sends log lines to a built-in sink (an OvLogSink value). Replaces any callback.
#[no_mangle]
pub unsafe extern "C" fn ov_memory_set_log_sink(m: *mut OVMemoryProduction, sink: u32) -> OvStatus {
    status_call(|| {
        // SAFETY: caller contract.
        let s = unsafe { store(m) }?;
        let sink = match sink {
            0 => LogSink::None,
            1 => LogSink::Stderr,
            2 => LogSink::Stdout,
            _ => {
                return Err(Error::invalid("sink", "sink must be 0 (none), 1 (stderr) or 2 (stdout)").with("got", sink))
            }
        };
        s.set_log_sink(sink);
        Ok(())
    })
}

struct CCallback {
    f: unsafe extern "C" fn(*mut c_void, *const c_char, usize),
    user_data: *mut c_void,
}

impl CCallback {
    fn call(&self, line: &str) {
        if let Ok(c) = std::ffi::CString::new(line) {
            // SAFETY: the line is valid for the call; the callback's contract is the caller's.
            unsafe { (self.f)(self.user_data, c.as_ptr(), line.len()) };
        }
    }
}

// SAFETY: the C caller promises (in ov_memory_set_log_callback's contract) that the
// callback and user_data may be used from any thread that uses the store.
unsafe impl Send for CCallback {}
// SAFETY: as above.
unsafe impl Sync for CCallback {}

/// Sends log lines to `callback(user_data, line, len)`; NULL turns logging off.
/// The callback must be safe to call from any thread that uses the store, and
/// `user_data` must stay valid until the callback is replaced or the store
/// destroyed. Replacing is a barrier: when this function returns, the previous
/// callback is not running on any other thread and is never called again, so
/// its `user_data` may be freed at once (this waits for deliveries in flight;
/// a callback may itself replace the callback, but must not wait for another
/// thread that is replacing it). Lines logged after the replacement go to the
/// new callback. A callback cannot fail the call that logged.
#[no_mangle]
pub unsafe extern "C" fn ov_memory_set_log_callback(
    m: *mut OVMemoryProduction,
    callback: OvLogCallback,
    user_data: *mut c_void,
) -> OvStatus {
    status_call(|| {
        // SAFETY: caller contract.
        let s = unsafe { store(m) }?;
        let sink = match callback {
            None => LogSink::None,
            Some(f) => {
                let cb = CCallback { f, user_data };
                LogSink::Callback(Arc::new(move |line: &str| cb.call(line)))
            }
        };
        s.set_log_sink(sink);
        Ok(())
    })
}

/// Closes the circuit breaker by hand.
#[no_mangle]
pub unsafe extern "C" fn ov_memory_reset_breaker(m: *mut OVMemoryProduction) -> OvStatus {
    status_call(|| {
        // SAFETY: caller contract.
        unsafe { store(m) }?.reset_breaker();
        Ok(())
    })
}

// ---------------------------------------------------------------- errors and strings

/// The status of this thread's last failed call (OV_STATUS_OK if the last call succeeded).
#[no_mangle]
pub extern "C" fn ov_last_error_code() -> OvStatus {
    quiet_call(OvStatus::Internal, || boundary::with_last_error(|e| e.map_or(OvStatus::Ok, |e| e.code())))
}

/// Writes this thread's last error message (snprintf-style). Returns its length (0 if none).
#[no_mangle]
pub unsafe extern "C" fn ov_last_error_message(buf: *mut c_char, len: usize) -> usize {
    quiet_call(0, || {
        let msg = boundary::with_last_error(|e| e.map(|e| e.to_string()).unwrap_or_default());
        // SAFETY: caller contract: buf holds len bytes.
        unsafe { write_buf(&msg, buf, len) }
    })
}

/// Writes this thread's last error context as a JSON object text (snprintf-style),
/// e.g. `{"field":"embedding","expected":768,"got":512}`; `{}` if none. Returns its length.
#[no_mangle]
pub unsafe extern "C" fn ov_last_error_context(buf: *mut c_char, len: usize) -> usize {
    quiet_call(0, || {
        let ctx = boundary::with_last_error(|e| e.map_or_else(|| "{}".to_owned(), Error::context_json));
        // SAFETY: caller contract: buf holds len bytes.
        unsafe { write_buf(&ctx, buf, len) }
    })
}

/// The stable name of a status code ("INVALID_DATA", …), or "UNKNOWN". Static; do not free.
#[no_mangle]
pub extern "C" fn ov_status_name(code: u32) -> *const c_char {
    const NAMES: [&std::ffi::CStr; 9] = [
        c"OK",
        c"INVALID_DATA",
        c"NOT_FOUND",
        c"RESOURCE_EXHAUSTION",
        c"TIMEOUT",
        c"CIRCUIT_OPEN",
        c"MEMORY_CORRUPTION",
        c"IO",
        c"INTERNAL",
    ];
    quiet_call(c"UNKNOWN".as_ptr(), || NAMES.get(code as usize).copied().unwrap_or(c"UNKNOWN").as_ptr())
}

/// Frees a string returned by this library. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn ov_string_free(s: *mut c_char) {
    if !s.is_null() {
        // SAFETY: every char* this library returns comes from CString::into_raw.
        quiet_call((), || drop(unsafe { std::ffi::CString::from_raw(s) }));
    }
}

/// The library version ("MAJOR.MINOR.PATCH"). Static; do not free.
#[no_mangle]
pub extern "C" fn ov_memory_version() -> *const c_char {
    const V: &std::ffi::CStr =
        match std::ffi::CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(v) => v,
            Err(_) => c"unknown",
        };
    V.as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ov_memory::ErrorCode;

    #[test]
    fn status_names_match_core_codes() {
        for c in ErrorCode::all() {
            // SAFETY: ov_status_name returns a static C string.
            let name = unsafe { std::ffi::CStr::from_ptr(ov_status_name(c.as_u32())) };
            assert_eq!(name.to_str().unwrap(), c.name());
        }
    }
}

/// The C ABI under concurrency, driven from Rust so that `make tsan` can run it
/// with a ThreadSanitizer runtime that matches the compiler: threads add,
/// delete, retrieve and assemble contexts on one store through the exported
/// functions while a log callback re-enters the store and another thread
/// keeps replacing that callback.
#[cfg(test)]
mod concurrency {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    struct Handle(*mut OVMemoryProduction);
    // SAFETY: the store behind the handle is Send + Sync; the pointer stays valid until the end of the test.
    unsafe impl Send for Handle {}
    // SAFETY: as above.
    unsafe impl Sync for Handle {}

    static LINES: AtomicU64 = AtomicU64::new(0);

    unsafe extern "C" fn reenter(user_data: *mut c_void, _line: *const c_char, _len: usize) {
        LINES.fetch_add(1, Ordering::Relaxed);
        // SAFETY: user_data is the live store handle for the whole test.
        let m = user_data.cast::<OVMemoryProduction>();
        unsafe { ov_memory_count(m) };
    }

    #[test]
    fn threads_through_the_c_abi_lose_nothing() {
        let config = c"{\"embedding_dim\": 8, \"max_nodes\": 100000, \"timeout_ms\": 600000}";
        // SAFETY: a NUL-terminated config.
        let m = unsafe { ov_memory_create_with_config(config.as_ptr()) };
        assert!(!m.is_null());
        let h = std::sync::Arc::new(Handle(m));
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let (adds, deletes) = (std::sync::Arc::new(AtomicU64::new(0)), std::sync::Arc::new(AtomicU64::new(0)));
        // SAFETY: the callback and its user data (the store) outlive every call.
        unsafe { ov_memory_set_log_callback(m, Some(reenter), m.cast()) };
        let swapper = {
            let (h, stop) = (h.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    // SAFETY: as above.
                    unsafe { ov_memory_set_log_callback(h.0, Some(reenter), h.0.cast()) };
                    std::thread::yield_now();
                }
            })
        };
        let workers: Vec<_> = (0..4u64)
            .map(|t| {
                let (h, adds, deletes) = (h.clone(), adds.clone(), deletes.clone());
                std::thread::spawn(move || {
                    let mut mine = Vec::new();
                    let text = c"a memory from a thread";
                    for i in 0..400u64 {
                        let v: Vec<f32> = (0..8).map(|j| ((t * 7 + i * 3 + j) as f32 * 0.37).sin() + 1.5).collect();
                        let mut id = 0u64;
                        // SAFETY: valid store, vector of 8 floats, NUL-terminated text, writable id.
                        let s = unsafe {
                            ov_memory_add_f32(h.0, v.as_ptr(), 8, text.as_ptr(), 1.0, std::ptr::null(), &mut id)
                        };
                        assert_eq!(s, OvStatus::Ok);
                        adds.fetch_add(1, Ordering::Relaxed);
                        mine.push(id);
                        if i % 3 == 0 {
                            let victim = mine.swap_remove(0);
                            // SAFETY: valid store.
                            assert_eq!(unsafe { ov_memory_delete(h.0, victim) }, OvStatus::Ok);
                            deletes.fetch_add(1, Ordering::Relaxed);
                        }
                        let (mut ids, mut n) = ([0u64; 4], 0usize);
                        // SAFETY: valid store and buffers of 4 entries.
                        let s = unsafe {
                            ov_memory_retrieve(
                                h.0,
                                v.as_ptr(),
                                8,
                                4,
                                0.75,
                                ids.as_mut_ptr(),
                                std::ptr::null_mut(),
                                4,
                                &mut n,
                            )
                        };
                        assert_eq!(s, OvStatus::Ok);
                        if i % 10 == 0 {
                            // SAFETY: valid store and query; the result is freed with ov_string_free.
                            let c = unsafe { ov_memory_context_json(h.0, v.as_ptr(), 8, 100, std::ptr::null()) };
                            assert!(!c.is_null());
                            unsafe { ov_string_free(c) };
                        }
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        swapper.join().unwrap();
        // SAFETY: valid store; no other thread uses it any more.
        unsafe {
            assert_eq!(ov_memory_count(m) as u64, adds.load(Ordering::Relaxed) - deletes.load(Ordering::Relaxed));
            ov_memory_set_log_callback(m, None, std::ptr::null_mut());
            ov_memory_destroy(m);
        }
        assert!(LINES.load(Ordering::Relaxed) > 0);
    }
}
