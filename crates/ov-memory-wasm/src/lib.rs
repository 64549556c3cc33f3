//! Browser front-end (wasm-bindgen). Thin: argument conversion and error mapping.
//!
//! `NativeStore` speaks the same protocol as the napi build (see
//! bindings/shared/surface.ts, which wraps both): vectors as `Float32Array`,
//! options and results as JSON text, ids as numbers, errors thrown as `Error`
//! objects whose message is the JSON `{"code","message","context"}`.
//!
//! Time comes from the host: `performance.now()` for the breaker, deadlines and
//! latency, `Date.now()` for timestamps (`std::time::Instant` panics here).
//! Nothing reachable from input may panic: on wasm a panic aborts and poisons
//! the instance, so every failure is an `Err`.

use ov_memory::frontend::{
    add_options, budget_from_number, config_from_json, error_json, id_from_number, ids_from_numbers,
    millis_from_numbers, timeout_from_number, to_json, BatchExtra,
};
use ov_memory::{Clock, ContextOptions, Error as CoreError, Level, LogSink, RetrieveOptions, Store};
use std::sync::Arc;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;
    #[wasm_bindgen(js_namespace = Date, js_name = now)]
    fn date_now() -> f64;
}

/// The host's clocks, read on every call.
#[derive(Debug, Default)]
struct HostClock;

impl Clock for HostClock {
    fn monotonic_micros(&self) -> u64 {
        let ms = performance_now();
        if ms.is_finite() && ms > 0.0 {
            (ms * 1000.0) as u64
        } else {
            0
        }
    }

    fn unix_millis(&self) -> i64 {
        let ms = date_now();
        if ms.is_finite() {
            ms as i64
        } else {
            0
        }
    }
}

fn to_js(e: CoreError) -> JsValue {
    js_sys::Error::new(&error_json(&e)).into()
}

/// A JS array whose entries are strings or null/undefined (anything else is
/// INVALID_DATA naming `field` and the index).
fn optional_strings(
    v: Option<Vec<JsValue>>,
    field: &str,
    message: &str,
) -> Result<Option<Vec<Option<String>>>, JsValue> {
    v.map(|entries| {
        entries
            .iter()
            .enumerate()
            .map(|(i, j)| match j.as_string() {
                Some(t) => Ok(Some(t)),
                None if j.is_null() || j.is_undefined() => Ok(None),
                None => Err(to_js(CoreError::invalid(field, message).with("index", i))),
            })
            .collect()
    })
    .transpose()
}

fn core<T>(r: ov_memory::Result<T>) -> Result<T, JsValue> {
    r.map_err(to_js)
}

/// A JS function as a log sink. wasm32-unknown-unknown (without atomics) runs
/// on one thread, so the function is never touched from another thread.
struct JsCallback(js_sys::Function);

// SAFETY: single-threaded target (see above); the core only requires the bounds.
unsafe impl Send for JsCallback {}
// SAFETY: as above.
unsafe impl Sync for JsCallback {}

impl JsCallback {
    fn call(&self, line: &str) {
        // A throwing callback changes nothing: its exception is dropped here.
        let _ = self.0.call1(&JsValue::NULL, &JsValue::from_str(line));
    }
}

/// One memory store. See the TypeScript surface for the documented API.
#[wasm_bindgen]
pub struct NativeStore {
    inner: Store,
}

#[wasm_bindgen]
impl NativeStore {
    /// Builds a store from a JSON object of settings (`{}` for the defaults).
    #[wasm_bindgen(constructor)]
    pub fn new(config_json: &str) -> Result<NativeStore, JsValue> {
        let store = core(config_from_json(config_json).and_then(|c| Store::with_clock(c, Arc::new(HostClock))))?;
        Ok(NativeStore { inner: store })
    }

    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &self,
        embedding: &[f32],
        text: &str,
        weight: Option<f64>,
        metadata_json: Option<String>,
        timeout_ms: Option<f64>,
        created_at: Option<f64>,
        extra_json: Option<String>,
    ) -> Result<f64, JsValue> {
        let options =
            core(add_options(weight, metadata_json.as_deref(), timeout_ms, created_at, extra_json.as_deref()))?;
        core(self.inner.add(embedding, text, options)).map(|id| id as f64)
    }

    #[allow(clippy::too_many_arguments)]
    #[wasm_bindgen(js_name = addBatch)]
    pub fn add_batch(
        &self,
        embeddings: &[f32],
        texts: Vec<String>,
        weights: Option<Vec<f64>>,
        metadata_json: Option<Vec<JsValue>>,
        timeout_ms: Option<f64>,
        created_at: Option<Vec<f64>>,
        extra_json: Option<String>,
    ) -> Result<Vec<f64>, JsValue> {
        let timeout = core(timeout_from_number(timeout_ms))?;
        let created = core(millis_from_numbers(created_at.as_deref(), "created_at"))?;
        let extra = core(BatchExtra::extra_from_json(extra_json.as_deref(), &ov_memory::frontend::JS_BATCH_ARGUMENTS))?;
        let metadata = optional_strings(metadata_json, "metadata", "metadata entries must be JSON text or null")?;
        let ids = core(self.inner.add_batch_flat(
            embeddings,
            &texts,
            weights.as_deref(),
            metadata.as_deref(),
            created.as_deref(),
            timeout,
            &extra,
        ))?;
        Ok(ids.into_iter().map(|id| id as f64).collect())
    }

    /// The memory as JSON, or undefined for an unknown id.
    pub fn get(&self, id: f64) -> Result<Option<String>, JsValue> {
        core(id_from_number(id).and_then(|id| self.inner.get_json(id)))
    }

    pub fn update(&self, id: f64, embedding: Option<Box<[f32]>>, patch_json: Option<String>) -> Result<(), JsValue> {
        core(id_from_number(id).and_then(|id| self.inner.update_with(id, embedding.as_deref(), patch_json.as_deref())))
    }

    pub fn list(&self, options_json: &str) -> Result<String, JsValue> {
        core(self.inner.list_with_json(options_json))
    }

    pub fn count(&self, options_json: &str) -> Result<f64, JsValue> {
        core(self.inner.count_with_json(options_json)).map(|n| n as f64)
    }

    #[wasm_bindgen(js_name = getMany)]
    pub fn get_many(&self, ids: Vec<f64>) -> Result<String, JsValue> {
        core(ids_from_numbers(&ids).and_then(|ids| self.inner.get_many_json(&ids)))
    }

    #[wasm_bindgen(js_name = deleteMany)]
    pub fn delete_many(&self, ids: Vec<f64>) -> Result<f64, JsValue> {
        core(ids_from_numbers(&ids).and_then(|ids| self.inner.delete_many(&ids))).map(|n| n as f64)
    }

    #[wasm_bindgen(js_name = deleteNamespace)]
    pub fn delete_namespace(&self, namespace: &str) -> Result<f64, JsValue> {
        core(self.inner.delete_namespace(namespace)).map(|n| n as f64)
    }

    pub fn sweep(&self) -> Result<f64, JsValue> {
        core(self.inner.sweep()).map(|n| n as f64)
    }

    pub fn namespaces(&self) -> String {
        self.inner.namespaces_json()
    }

    pub fn hubs(&self, namespace: &str) -> Vec<f64> {
        self.inner.hubs_in(namespace).into_iter().map(|id| id as f64).collect()
    }

    #[wasm_bindgen(js_name = exportJsonl)]
    pub fn export_jsonl(&self, options_json: &str) -> Result<String, JsValue> {
        core(self.inner.export_with_json(options_json))
    }

    #[wasm_bindgen(js_name = importJsonl)]
    pub fn import_jsonl(&self, jsonl: &str, options_json: &str) -> Result<String, JsValue> {
        core(self.inner.import_with_json(jsonl, options_json))
    }

    /// Texts are strings or null/undefined; anything else is rejected.
    #[wasm_bindgen(js_name = retrieveMany)]
    pub fn retrieve_many(
        &self,
        count: u32,
        embeddings: Option<Box<[f32]>>,
        has_embedding: Option<Box<[u8]>>,
        texts: Option<Vec<JsValue>>,
        options_json: &str,
    ) -> Result<String, JsValue> {
        let options = core(RetrieveOptions::from_json(options_json))?;
        let texts = optional_strings(texts, "texts", "query texts must be strings or null")?;
        core(self.inner.retrieve_many_flat(
            count as usize,
            embeddings.as_deref(),
            has_embedding.as_deref(),
            texts.as_deref(),
            &options,
        ))
    }

    pub fn delete(&self, id: f64) -> Result<(), JsValue> {
        core(id_from_number(id).and_then(|id| self.inner.delete(id)))
    }

    pub fn size(&self) -> u32 {
        u32::try_from(self.inner.len()).unwrap_or(u32::MAX)
    }

    pub fn retrieve(&self, query: Option<Box<[f32]>>, options_json: &str) -> Result<String, JsValue> {
        let options = core(RetrieveOptions::from_json(options_json))?;
        core(self.inner.retrieve_json(query.as_deref(), &options))
    }

    /// `retrieve` with the hits packed (numbers, strings): see the core's `pack_hits`.
    #[wasm_bindgen(js_name = retrievePacked, unchecked_return_type = "[Float64Array, string]")]
    pub fn retrieve_packed(
        &self,
        query: Option<Box<[f32]>>,
        top_k: f64,
        options_json: &str,
    ) -> Result<js_sys::Array, JsValue> {
        let options = core(ov_memory::frontend::retrieve_options(top_k, options_json))?;
        let (numbers, strings) = core(self.inner.retrieve_packed(query.as_deref(), &options))?;
        Ok(js_sys::Array::of2(&js_sys::Float64Array::from(&numbers[..]), &JsValue::from_str(&strings)))
    }

    /// `counter`, if given, counts each item's tokens.
    pub fn context(
        &self,
        query: Option<Box<[f32]>>,
        options_json: &str,
        counter: Option<js_sys::Function>,
    ) -> Result<String, JsValue> {
        let options = core(ContextOptions::from_json(options_json))?;
        let result = match counter {
            None => self.inner.context_query(query.as_deref(), &options),
            Some(f) => {
                let count = |text: &str| -> ov_memory::Result<usize> {
                    let v = f
                        .call1(&JsValue::NULL, &JsValue::from_str(text))
                        .map_err(|_| CoreError::invalid("token_counter", "the token counter threw"))?;
                    ov_memory::frontend::tokens_from_number(v.as_f64().unwrap_or(f64::NAN))
                };
                self.inner.context_with_counter(query.as_deref(), &options, Some(&count))
            }
        };
        core(result).map(|r| to_json(&r))
    }

    /// What each number of a packed hit is, in order (see `retrievePacked`).
    #[wasm_bindgen(js_name = packedHitFields)]
    pub fn packed_hit_fields() -> Vec<String> {
        ov_memory::frontend::PACKED_HIT_FIELDS.iter().map(|f| (*f).to_owned()).collect()
    }

    /// The default token estimate, `ceil(bytes / 4)`.
    #[wasm_bindgen(js_name = estimateTokens)]
    pub fn estimate_tokens(text: &str) -> u32 {
        u32::try_from(ov_memory::estimate_tokens(text)).unwrap_or(u32::MAX)
    }

    pub fn health(&self) -> String {
        self.inner.health_json()
    }

    pub fn metrics(&self) -> String {
        self.inner.metrics_json()
    }

    pub fn prometheus(&self) -> String {
        self.inner.prometheus()
    }

    pub fn openmetrics(&self) -> String {
        self.inner.openmetrics()
    }

    #[wasm_bindgen(js_name = setLogLevel)]
    pub fn set_log_level(&self, level: &str) -> Result<(), JsValue> {
        let level = Level::parse(level).ok_or_else(|| {
            to_js(CoreError::invalid("level", "level must be DEBUG, INFO, WARNING, ERROR or CRITICAL"))
        })?;
        self.inner.set_log_level(level);
        Ok(())
    }

    #[wasm_bindgen(js_name = logLevel)]
    pub fn log_level(&self) -> String {
        self.inner.log_level().name().to_owned()
    }

    /// Sends each log line (JSON text) to `callback`; null turns logging off.
    #[wasm_bindgen(js_name = setLogCallback)]
    pub fn set_log_callback(&self, callback: Option<js_sys::Function>) {
        let sink = match callback {
            None => LogSink::None,
            Some(f) => {
                let cb = JsCallback(f);
                LogSink::Callback(Arc::new(move |line: &str| cb.call(line)))
            }
        };
        self.inner.set_log_sink(sink);
    }

    #[wasm_bindgen(js_name = resetBreaker)]
    pub fn reset_breaker(&self) {
        self.inner.reset_breaker();
    }

    pub fn metabolism(&self) -> String {
        to_json(&self.inner.metabolism())
    }

    #[wasm_bindgen(js_name = resetMetabolism)]
    pub fn reset_metabolism(&self) {
        self.inner.reset_metabolism();
    }

    #[wasm_bindgen(js_name = resizeMetabolism)]
    pub fn resize_metabolism(&self, budget_tokens: f64) -> Result<(), JsValue> {
        core(budget_from_number(budget_tokens).and_then(|b| self.inner.resize_metabolism(b)))
    }

    pub fn config(&self) -> String {
        self.inner.config().to_json()
    }

    /// A new store from snapshot bytes on the host clock: the snapshot's
    /// settings with the default limits, or exactly `config_json` when given.
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(bytes: &[u8], config_json: Option<String>) -> Result<NativeStore, JsValue> {
        let config = core(config_json.as_deref().map(config_from_json).transpose())?;
        Ok(NativeStore { inner: core(Store::from_bytes_with(bytes, config, Arc::new(HostClock)))? })
    }

    /// The whole store as snapshot bytes (copied out of wasm memory).
    #[wasm_bindgen(js_name = toBytes)]
    pub fn to_bytes(&self) -> Result<Vec<u8>, JsValue> {
        core(self.inner.to_bytes())
    }

    /// Replaces the store's contents with a snapshot.
    #[wasm_bindgen(js_name = loadBytes)]
    pub fn load_bytes(&self, bytes: &[u8]) -> Result<(), JsValue> {
        core(self.inner.load_bytes(bytes))
    }
}
