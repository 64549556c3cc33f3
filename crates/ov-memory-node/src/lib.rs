//! Node.js front-end (napi-rs). Thin: argument conversion and error mapping.
//!
//! The class exported here, `NativeStore`, speaks the small protocol that the
//! hand-written TypeScript surface (bindings/shared/surface.ts) wraps for both
//! Node and the browser build: vectors as `Float32Array` (borrowed, never copied
//! element by element), options and results as JSON text, ids as numbers.
//! Errors are thrown as JS errors whose message is the JSON
//! `{"code","message","context"}`; the surface turns them into `OvMemoryError`.

use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use ov_memory::{
    AddOptions, Config, ContextOptions, Error as CoreError, Level, LogSink, NewMemory, RetrieveOptions, Store,
};
use std::sync::Arc;

/// The JSON error protocol shared with the wasm front-end.
fn to_js(e: CoreError) -> Error {
    let body = serde_json::json!({ "code": e.code().name(), "message": e.message(), "context": e.context() });
    Error::new(Status::GenericFailure, body.to_string())
}

fn core<T>(r: ov_memory::Result<T>) -> Result<T> {
    r.map_err(to_js)
}

/// 2^53: the largest whole number a JS number holds exactly.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_992.0;

/// A JS number as a memory id: a whole number in 0..=2^53.
fn id_of(v: f64) -> ov_memory::Result<u64> {
    if (0.0..=MAX_SAFE_INTEGER).contains(&v) && v.fract() == 0.0 {
        Ok(v as u64)
    } else {
        Err(CoreError::invalid("id", "id must be a whole number >= 0"))
    }
}

fn timeout_of(v: Option<f64>) -> ov_memory::Result<Option<u64>> {
    match v {
        None => Ok(None),
        Some(ms) if (1.0..=MAX_SAFE_INTEGER).contains(&ms) => Ok(Some(ms as u64)),
        Some(_) => Err(CoreError::invalid("timeout_ms", "timeout_ms must be a number >= 1")),
    }
}

fn metadata_of(json: Option<String>) -> ov_memory::Result<Option<serde_json::Value>> {
    json.as_deref().map(ov_memory::parse_metadata_json).transpose()
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned())
}

/// Work that runs on the libuv thread pool and resolves to JSON text.
pub struct JsonJob(Option<Box<dyn FnOnce() -> ov_memory::Result<String> + Send>>);

impl Task for JsonJob {
    type Output = String;
    type JsValue = String;

    fn compute(&mut self) -> Result<String> {
        match self.0.take() {
            Some(f) => core(f()),
            None => Err(to_js(CoreError::new(ov_memory::ErrorCode::Internal, "job ran twice"))),
        }
    }

    fn resolve(&mut self, _env: Env, output: String) -> Result<String> {
        Ok(output)
    }
}

fn job(f: impl FnOnce() -> ov_memory::Result<String> + Send + 'static) -> AsyncTask<JsonJob> {
    AsyncTask::new(JsonJob(Some(Box::new(f))))
}

/// One memory store. See the TypeScript surface for the documented API.
#[napi]
pub struct NativeStore {
    inner: Arc<Store>,
}

/// Owned arguments of an add, for the synchronous and the async path alike.
struct AddArgs {
    embedding: Vec<f32>,
    text: String,
    options: AddOptions,
}

#[napi]
impl NativeStore {
    /// Builds a store from a JSON object of settings (`""` for the defaults).
    #[napi(constructor)]
    pub fn new(config_json: String) -> Result<Self> {
        let config =
            if config_json.trim().is_empty() { Ok(Config::default()) } else { Config::from_json(&config_json) };
        Ok(NativeStore { inner: Arc::new(core(config.and_then(Store::new))?) })
    }

    fn add_options(weight: Option<f64>, metadata_json: Option<String>, timeout_ms: Option<f64>) -> Result<AddOptions> {
        Ok(AddOptions {
            weight,
            metadata: core(metadata_of(metadata_json))?,
            timeout_ms: core(timeout_of(timeout_ms))?,
        })
    }

    #[napi]
    pub fn add(
        &self,
        embedding: Float32ArraySlice,
        text: String,
        weight: Option<f64>,
        metadata_json: Option<String>,
        timeout_ms: Option<f64>,
    ) -> Result<f64> {
        let options = Self::add_options(weight, metadata_json, timeout_ms)?;
        core(self.inner.add(&embedding, &text, options)).map(|id| id as f64)
    }

    #[napi(ts_return_type = "Promise<string>")]
    pub fn add_async(
        &self,
        embedding: Float32ArraySlice,
        text: String,
        weight: Option<f64>,
        metadata_json: Option<String>,
        timeout_ms: Option<f64>,
    ) -> Result<AsyncTask<JsonJob>> {
        // One memcpy: the pool thread must not read JS memory.
        let args = AddArgs {
            embedding: embedding.to_vec(),
            text,
            options: Self::add_options(weight, metadata_json, timeout_ms)?,
        };
        let store = self.inner.clone();
        Ok(job(move || store.add(&args.embedding, &args.text, args.options).map(|id| id.to_string())))
    }

    /// Splits one flat vector into rows and pairs them with texts, weights and metadata.
    fn run_batch(
        store: &Store,
        flat: &[f32],
        texts: &[String],
        weights: Option<Vec<f64>>,
        metadata_json: Option<Vec<Option<String>>>,
        timeout_ms: Option<u64>,
    ) -> ov_memory::Result<Vec<u64>> {
        let dim = store.config().embedding_dim;
        let n = texts.len();
        if flat.len() != n * dim {
            return Err(CoreError::invalid("embeddings", "embeddings must hold texts.length * embedding_dim values")
                .with("expected", n * dim)
                .with("got", flat.len()));
        }
        if weights.as_ref().is_some_and(|w| w.len() != n) {
            return Err(CoreError::invalid("weights", "weights must have one entry per text"));
        }
        let metadata: Vec<Option<serde_json::Value>> = match metadata_json {
            None => vec![None; n],
            Some(m) if m.len() != n => {
                return Err(CoreError::invalid("metadata", "metadata must have one entry per text"));
            }
            Some(m) => m
                .into_iter()
                .enumerate()
                .map(|(i, j)| metadata_of(j).map_err(|e| e.with("index", i)))
                .collect::<ov_memory::Result<_>>()?,
        };
        let items: Vec<NewMemory<'_>> = metadata
            .into_iter()
            .enumerate()
            .map(|(i, metadata)| NewMemory {
                embedding: &flat[i * dim..(i + 1) * dim],
                text: &texts[i],
                weight: weights.as_ref().map(|w| w[i]),
                metadata,
            })
            .collect();
        store.add_batch(&items, timeout_ms)
    }

    #[napi]
    pub fn add_batch(
        &self,
        embeddings: Float32ArraySlice,
        texts: Vec<String>,
        weights: Option<Vec<f64>>,
        metadata_json: Option<Vec<Option<String>>>,
        timeout_ms: Option<f64>,
    ) -> Result<Vec<f64>> {
        let timeout = core(timeout_of(timeout_ms))?;
        let ids = core(Self::run_batch(&self.inner, &embeddings, &texts, weights, metadata_json, timeout))?;
        Ok(ids.into_iter().map(|id| id as f64).collect())
    }

    #[napi(ts_return_type = "Promise<string>")]
    pub fn add_batch_async(
        &self,
        embeddings: Float32ArraySlice,
        texts: Vec<String>,
        weights: Option<Vec<f64>>,
        metadata_json: Option<Vec<Option<String>>>,
        timeout_ms: Option<f64>,
    ) -> Result<AsyncTask<JsonJob>> {
        let timeout = core(timeout_of(timeout_ms))?;
        let flat = embeddings.to_vec();
        let store = self.inner.clone();
        Ok(job(move || {
            Self::run_batch(&store, &flat, &texts, weights, metadata_json, timeout).map(|ids| to_json(&ids))
        }))
    }

    /// The memory as JSON, or null for an unknown id.
    #[napi]
    pub fn get(&self, id: f64) -> Result<Option<String>> {
        let id = core(id_of(id))?;
        match self.inner.get(id) {
            Ok(m) => Ok(Some(to_json(&m))),
            Err(e) if e.code() == ov_memory::ErrorCode::NotFound => Ok(None),
            Err(e) => Err(to_js(e)),
        }
    }

    #[napi]
    pub fn delete(&self, id: f64) -> Result<()> {
        core(id_of(id).and_then(|id| self.inner.delete(id)))
    }

    #[napi]
    pub fn size(&self) -> u32 {
        u32::try_from(self.inner.len()).unwrap_or(u32::MAX)
    }

    #[napi]
    pub fn retrieve(&self, query: Float32ArraySlice, options_json: String) -> Result<String> {
        let options = core(RetrieveOptions::from_json(&options_json))?;
        core(self.inner.retrieve(&query, &options)).map(|h| to_json(&h))
    }

    #[napi(ts_return_type = "Promise<string>")]
    pub fn retrieve_async(&self, query: Float32ArraySlice, options_json: String) -> Result<AsyncTask<JsonJob>> {
        let options = core(RetrieveOptions::from_json(&options_json))?;
        let (store, q) = (self.inner.clone(), query.to_vec());
        Ok(job(move || store.retrieve(&q, &options).map(|h| to_json(&h))))
    }

    #[napi]
    pub fn context(&self, query: Float32ArraySlice, options_json: String) -> Result<String> {
        let options = core(ContextOptions::from_json(&options_json))?;
        core(self.inner.context(&query, &options)).map(|r| to_json(&r))
    }

    #[napi(ts_return_type = "Promise<string>")]
    pub fn context_async(&self, query: Float32ArraySlice, options_json: String) -> Result<AsyncTask<JsonJob>> {
        let options = core(ContextOptions::from_json(&options_json))?;
        let (store, q) = (self.inner.clone(), query.to_vec());
        Ok(job(move || store.context(&q, &options).map(|r| to_json(&r))))
    }

    #[napi]
    pub fn health(&self) -> String {
        self.inner.health_json()
    }

    #[napi]
    pub fn metrics(&self) -> String {
        self.inner.metrics_json()
    }

    #[napi]
    pub fn prometheus(&self) -> String {
        self.inner.prometheus()
    }

    #[napi]
    pub fn set_log_level(&self, level: String) -> Result<()> {
        let level = Level::parse(&level).ok_or_else(|| {
            to_js(CoreError::invalid("level", "level must be DEBUG, INFO, WARNING, ERROR or CRITICAL"))
        })?;
        self.inner.set_log_level(level);
        Ok(())
    }

    #[napi]
    pub fn log_level(&self) -> String {
        self.inner.log_level().name().to_owned()
    }

    /// Sends each log line (JSON text) to `callback` on the JS thread, queued so
    /// it never runs inside an engine call; `null` turns logging off. The
    /// callback does not keep the process alive.
    #[napi(ts_args_type = "callback: ((line: string) => void) | null")]
    pub fn set_log_callback(&self, callback: Option<Function<'_, String, ()>>) -> Result<()> {
        let sink = match callback {
            None => LogSink::None,
            Some(f) => {
                let tsfn: ThreadsafeFunction<String, (), String, Status, false, true> =
                    f.build_threadsafe_function::<String>().callee_handled::<false>().weak::<true>().build()?;
                LogSink::Callback(Arc::new(move |line: &str| {
                    tsfn.call(line.to_owned(), ThreadsafeFunctionCallMode::NonBlocking);
                }))
            }
        };
        self.inner.set_log_sink(sink);
        Ok(())
    }

    #[napi]
    pub fn reset_breaker(&self) {
        self.inner.reset_breaker();
    }

    #[napi]
    pub fn metabolism(&self) -> String {
        to_json(&self.inner.metabolism())
    }

    #[napi]
    pub fn reset_metabolism(&self) {
        self.inner.reset_metabolism();
    }

    #[napi]
    pub fn resize_metabolism(&self, budget_tokens: f64) -> Result<()> {
        if !(budget_tokens.is_finite() && budget_tokens >= 1.0 && budget_tokens.fract() == 0.0) {
            return Err(to_js(CoreError::invalid("budget_tokens", "budget_tokens must be a whole number >= 1")));
        }
        core(self.inner.resize_metabolism(budget_tokens as u64))
    }

    #[napi]
    pub fn config(&self) -> String {
        self.inner.config().to_json()
    }
}
