//! Node.js front-end (napi-rs). Thin: argument conversion and error mapping.
//!
//! The class exported here, `NativeStore`, speaks the small protocol that the
//! hand-written TypeScript surface (bindings/shared/surface.ts) wraps for both
//! Node and the browser build: vectors as `Float32Array` (borrowed, never copied
//! element by element), options and results as JSON text, ids as numbers.
//! Errors are thrown as JS errors whose message is the JSON
//! `{"code","message","context"}` (`ov_memory::frontend::error_json`); the
//! surface turns them into `OvMemoryError`.

use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use ov_memory::frontend::{
    add_options, budget_from_number, config_from_json, error_json, id_from_number, ids_from_numbers,
    millis_from_numbers, timeout_from_number, to_json, BatchExtra,
};
use ov_memory::{ContextOptions, Error as CoreError, Level, LogSink, RetrieveOptions, Store};
use std::sync::Arc;

fn to_js(e: CoreError) -> Error {
    Error::new(Status::GenericFailure, error_json(&e))
}

fn core<T>(r: ov_memory::Result<T>) -> Result<T> {
    r.map_err(to_js)
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
///
/// V8 cannot see memory held outside its heap, so each store reports its size
/// (`Store::heap_estimate_bytes`) with `napi_adjust_external_memory`, keeps
/// the figure current after every change, and gives it back when it is freed
/// (`free()`) or collected.
#[napi(custom_finalize)]
pub struct NativeStore {
    inner: Option<Arc<Store>>,
    reported: std::cell::Cell<i64>,
}

impl NativeStore {
    fn wrap(env: &Env, store: Store) -> Self {
        let s = NativeStore { inner: Some(Arc::new(store)), reported: std::cell::Cell::new(0) };
        s.account(env);
        s
    }

    fn store(&self) -> Result<&Arc<Store>> {
        self.inner.as_ref().ok_or_else(|| to_js(CoreError::invalid("this", "this store was freed")))
    }

    /// Brings the size reported to V8 up to date (best effort: never fails a call).
    fn account(&self, env: &Env) {
        let now = self.inner.as_ref().map_or(0, |s| i64::try_from(s.heap_estimate_bytes()).unwrap_or(i64::MAX));
        let delta = now - self.reported.get();
        if delta != 0 && env.adjust_external_memory(delta).is_ok() {
            self.reported.set(now);
        }
    }
}

impl ObjectFinalize for NativeStore {
    fn finalize(self, env: Env) -> Result<()> {
        if self.reported.get() != 0 {
            env.adjust_external_memory(-self.reported.get())?;
        }
        Ok(())
    }
}

#[napi]
impl NativeStore {
    /// Builds a store from a JSON object of settings (`{}` for the defaults).
    #[napi(constructor)]
    pub fn new(env: Env, config_json: String) -> Result<Self> {
        Ok(NativeStore::wrap(&env, core(config_from_json(&config_json).and_then(Store::new))?))
    }

    /// The bytes V8 counts as external memory right now, as N-API reports them
    /// (`napi_adjust_external_memory(0)`): lets the tests see what stores report.
    #[napi]
    pub fn external_memory(env: Env) -> Result<f64> {
        Ok(env.adjust_external_memory(0)? as f64)
    }

    /// Frees the store now (later calls throw); what it reported to V8 is given
    /// back. Idempotent. In-flight async calls keep their own reference.
    #[napi]
    pub fn free(&mut self, env: Env) {
        self.inner = None;
        self.account(&env);
    }

    // Positional on purpose: the TypeScript surface owns the public shape and
    // passes plain values, so no object is unpacked on the hot path.
    #[allow(clippy::too_many_arguments)]
    #[napi]
    pub fn add(
        &self,
        env: Env,
        embedding: Float32ArraySlice,
        text: String,
        weight: Option<f64>,
        metadata_json: Option<String>,
        timeout_ms: Option<f64>,
        created_at: Option<f64>,
        extra_json: Option<String>,
    ) -> Result<f64> {
        let options =
            core(add_options(weight, metadata_json.as_deref(), timeout_ms, created_at, extra_json.as_deref()))?;
        let id = core(self.store()?.add(&embedding, &text, options))?;
        self.account(&env);
        Ok(id as f64)
    }

    #[allow(clippy::too_many_arguments)]
    #[napi(ts_return_type = "Promise<string>")]
    pub fn add_async(
        &self,
        embedding: Float32ArraySlice,
        text: String,
        weight: Option<f64>,
        metadata_json: Option<String>,
        timeout_ms: Option<f64>,
        created_at: Option<f64>,
        extra_json: Option<String>,
    ) -> Result<AsyncTask<JsonJob>> {
        let options =
            core(add_options(weight, metadata_json.as_deref(), timeout_ms, created_at, extra_json.as_deref()))?;
        // One memcpy: the pool thread must not read JS memory.
        let (store, v) = (self.store()?.clone(), embedding.to_vec());
        Ok(job(move || store.add(&v, &text, options).map(|id| id.to_string())))
    }

    #[allow(clippy::too_many_arguments)]
    #[napi]
    pub fn add_batch(
        &self,
        env: Env,
        embeddings: Float32ArraySlice,
        texts: Vec<String>,
        weights: Option<Vec<f64>>,
        metadata_json: Option<Vec<Option<String>>>,
        timeout_ms: Option<f64>,
        created_at: Option<Vec<f64>>,
        extra_json: Option<String>,
    ) -> Result<Vec<f64>> {
        let timeout = core(timeout_from_number(timeout_ms))?;
        let created = core(millis_from_numbers(created_at.as_deref(), "created_at"))?;
        let extra = core(BatchExtra::extra_from_json(extra_json.as_deref(), &ov_memory::frontend::JS_BATCH_ARGUMENTS))?;
        let ids = core(self.store()?.add_batch_flat(
            &embeddings,
            &texts,
            weights.as_deref(),
            metadata_json.as_deref(),
            created.as_deref(),
            timeout,
            &extra,
        ))?;
        self.account(&env);
        Ok(ids.into_iter().map(|id| id as f64).collect())
    }

    #[allow(clippy::too_many_arguments)]
    #[napi(ts_return_type = "Promise<string>")]
    pub fn add_batch_async(
        &self,
        embeddings: Float32ArraySlice,
        texts: Vec<String>,
        weights: Option<Vec<f64>>,
        metadata_json: Option<Vec<Option<String>>>,
        timeout_ms: Option<f64>,
        created_at: Option<Vec<f64>>,
        extra_json: Option<String>,
    ) -> Result<AsyncTask<JsonJob>> {
        let timeout = core(timeout_from_number(timeout_ms))?;
        let created = core(millis_from_numbers(created_at.as_deref(), "created_at"))?;
        let extra = core(BatchExtra::extra_from_json(extra_json.as_deref(), &ov_memory::frontend::JS_BATCH_ARGUMENTS))?;
        let (store, flat) = (self.store()?.clone(), embeddings.to_vec());
        Ok(job(move || {
            store
                .add_batch_flat(
                    &flat,
                    &texts,
                    weights.as_deref(),
                    metadata_json.as_deref(),
                    created.as_deref(),
                    timeout,
                    &extra,
                )
                .map(|ids| to_json(&ids))
        }))
    }

    /// The memory as JSON, or null for an unknown id.
    #[napi]
    pub fn get(&self, id: f64) -> Result<Option<String>> {
        let s = self.store()?;
        core(id_from_number(id).and_then(|id| s.get_json(id)))
    }

    #[napi]
    pub fn update(
        &self,
        env: Env,
        id: f64,
        embedding: Option<Float32ArraySlice>,
        patch_json: Option<String>,
    ) -> Result<()> {
        let s = self.store()?;
        core(id_from_number(id).and_then(|id| s.update_with(id, embedding.as_deref(), patch_json.as_deref())))?;
        self.account(&env);
        Ok(())
    }

    #[napi]
    pub fn list(&self, options_json: String) -> Result<String> {
        core(self.store()?.list_with_json(&options_json))
    }

    #[napi]
    pub fn count(&self, options_json: String) -> Result<f64> {
        core(self.store()?.count_with_json(&options_json)).map(|n| n as f64)
    }

    #[napi]
    pub fn get_many(&self, ids: Vec<f64>) -> Result<String> {
        let s = self.store()?;
        core(ids_from_numbers(&ids).and_then(|ids| s.get_many_json(&ids)))
    }

    #[napi]
    pub fn delete_many(&self, env: Env, ids: Vec<f64>) -> Result<f64> {
        let s = self.store()?;
        let n = core(ids_from_numbers(&ids).and_then(|ids| s.delete_many(&ids)))?;
        self.account(&env);
        Ok(n as f64)
    }

    #[napi]
    pub fn delete_namespace(&self, env: Env, namespace: String) -> Result<f64> {
        let n = core(self.store()?.delete_namespace(&namespace))?;
        self.account(&env);
        Ok(n as f64)
    }

    #[napi]
    pub fn sweep(&self, env: Env) -> Result<f64> {
        let n = core(self.store()?.sweep())?;
        self.account(&env);
        Ok(n as f64)
    }

    #[napi]
    pub fn namespaces(&self) -> Result<String> {
        Ok(self.store()?.namespaces_json())
    }

    #[napi]
    pub fn hubs(&self, namespace: String) -> Result<Vec<f64>> {
        Ok(self.store()?.hubs_in(&namespace).into_iter().map(|id| id as f64).collect())
    }

    #[napi]
    pub fn export_jsonl(&self, options_json: String) -> Result<String> {
        core(self.store()?.export_with_json(&options_json))
    }

    #[napi]
    pub fn import_jsonl(&self, env: Env, jsonl: String, options_json: String) -> Result<String> {
        let r = core(self.store()?.import_with_json(&jsonl, &options_json))?;
        self.account(&env);
        Ok(r)
    }

    #[napi]
    pub fn retrieve_many(
        &self,
        count: u32,
        embeddings: Option<Float32ArraySlice>,
        has_embedding: Option<Uint8ArraySlice>,
        texts: Option<Vec<Option<String>>>,
        options_json: String,
    ) -> Result<String> {
        let options = core(RetrieveOptions::from_json(&options_json))?;
        core(self.store()?.retrieve_many_flat(
            count as usize,
            embeddings.as_deref(),
            has_embedding.as_deref(),
            texts.as_deref(),
            &options,
        ))
    }

    #[napi(ts_return_type = "Promise<string>")]
    pub fn retrieve_many_async(
        &self,
        count: u32,
        embeddings: Option<Float32ArraySlice>,
        has_embedding: Option<Uint8ArraySlice>,
        texts: Option<Vec<Option<String>>>,
        options_json: String,
    ) -> Result<AsyncTask<JsonJob>> {
        let options = core(RetrieveOptions::from_json(&options_json))?;
        let (store, flat) = (self.store()?.clone(), embeddings.map(|e| e.to_vec()));
        let has = has_embedding.map(|h| h.to_vec());
        Ok(job(move || {
            store.retrieve_many_flat(count as usize, flat.as_deref(), has.as_deref(), texts.as_deref(), &options)
        }))
    }

    #[napi]
    pub fn delete(&self, env: Env, id: f64) -> Result<()> {
        let s = self.store()?;
        core(id_from_number(id).and_then(|id| s.delete(id)))?;
        self.account(&env);
        Ok(())
    }

    /// Number of memories; also brings the size reported to V8 up to date
    /// (after async calls, which cannot report from the thread pool).
    #[napi]
    pub fn size(&self, env: Env) -> Result<u32> {
        self.account(&env);
        Ok(u32::try_from(self.store()?.len()).unwrap_or(u32::MAX))
    }

    #[napi]
    pub fn retrieve(&self, query: Option<Float32ArraySlice>, options_json: String) -> Result<String> {
        let options = core(RetrieveOptions::from_json(&options_json))?;
        core(self.store()?.retrieve_json(query.as_deref(), &options))
    }

    /// `retrieve` with the hits packed (numbers, strings): see the core's
    /// `pack_hits`; `top_k` on its own or −1 (the core's `retrieve_options`).
    #[napi(ts_return_type = "[Float64Array, string]")]
    pub fn retrieve_packed<'env>(
        &self,
        env: &'env Env,
        query: Option<Float32ArraySlice>,
        top_k: f64,
        options_json: String,
    ) -> Result<Array<'env>> {
        let options = core(ov_memory::frontend::retrieve_options(top_k, &options_json))?;
        let (numbers, strings) = core(self.store()?.retrieve_packed(query.as_deref(), &options))?;
        let mut out = env.create_array(2)?;
        // Copied into an array buffer V8 owns: an external buffer (the Vec
        // handed over with a finalizer) cost three times the whole retrieve.
        out.set(0, Float64ArraySlice::copy_from(env, &numbers)?)?;
        out.set(1, strings)?;
        Ok(out)
    }

    #[napi(ts_return_type = "Promise<string>")]
    pub fn retrieve_async(&self, query: Option<Float32ArraySlice>, options_json: String) -> Result<AsyncTask<JsonJob>> {
        let options = core(RetrieveOptions::from_json(&options_json))?;
        let (store, q) = (self.store()?.clone(), query.map(|q| q.to_vec()));
        Ok(job(move || store.retrieve_json(q.as_deref(), &options)))
    }

    /// `counter`, if given, counts each item's tokens (a JS function called
    /// synchronously during this call).
    #[napi(
        ts_args_type = "query: Float32Array | null, optionsJson: string, counter?: ((text: string) => number) | null"
    )]
    pub fn context(
        &self,
        query: Option<Float32ArraySlice>,
        options_json: String,
        counter: Option<Function<'_, String, f64>>,
    ) -> Result<String> {
        let options = core(ContextOptions::from_json(&options_json))?;
        let store = self.store()?;
        let result = match counter {
            None => store.context_query(query.as_deref(), &options),
            Some(f) => {
                let count = |text: &str| -> ov_memory::Result<usize> {
                    let n = f.call(text.to_owned()).map_err(|e| {
                        CoreError::invalid("token_counter", format!("the token counter threw: {}", e.reason))
                    })?;
                    ov_memory::frontend::tokens_from_number(n)
                };
                store.context_with_counter(query.as_deref(), &options, Some(&count))
            }
        };
        core(result).map(|r| to_json(&r))
    }

    /// What each number of a packed hit is, in order (see `retrievePacked`).
    #[napi]
    pub fn packed_hit_fields() -> Vec<&'static str> {
        ov_memory::frontend::PACKED_HIT_FIELDS.to_vec()
    }

    /// The default token estimate, `ceil(bytes / 4)`.
    #[napi]
    pub fn estimate_tokens(text: String) -> u32 {
        u32::try_from(ov_memory::estimate_tokens(&text)).unwrap_or(u32::MAX)
    }

    #[napi(ts_return_type = "Promise<string>")]
    pub fn context_async(&self, query: Option<Float32ArraySlice>, options_json: String) -> Result<AsyncTask<JsonJob>> {
        let options = core(ContextOptions::from_json(&options_json))?;
        let (store, q) = (self.store()?.clone(), query.map(|q| q.to_vec()));
        Ok(job(move || store.context_json(q.as_deref(), &options)))
    }

    #[napi]
    pub fn health(&self) -> Result<String> {
        Ok(self.store()?.health_json())
    }

    #[napi]
    pub fn metrics(&self) -> Result<String> {
        Ok(self.store()?.metrics_json())
    }

    #[napi]
    pub fn prometheus(&self) -> Result<String> {
        Ok(self.store()?.prometheus())
    }

    #[napi]
    pub fn openmetrics(&self) -> Result<String> {
        Ok(self.store()?.openmetrics())
    }

    #[napi]
    pub fn set_log_level(&self, level: String) -> Result<()> {
        let level = Level::parse(&level).ok_or_else(|| {
            to_js(CoreError::invalid("level", "level must be DEBUG, INFO, WARNING, ERROR or CRITICAL"))
        })?;
        self.store()?.set_log_level(level);
        Ok(())
    }

    #[napi]
    pub fn log_level(&self) -> Result<String> {
        Ok(self.store()?.log_level().name().to_owned())
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
        self.store()?.set_log_sink(sink);
        Ok(())
    }

    #[napi]
    pub fn reset_breaker(&self) -> Result<()> {
        self.store()?.reset_breaker();
        Ok(())
    }

    #[napi]
    pub fn metabolism(&self) -> Result<String> {
        Ok(to_json(&self.store()?.metabolism()))
    }

    #[napi]
    pub fn reset_metabolism(&self) -> Result<()> {
        self.store()?.reset_metabolism();
        Ok(())
    }

    #[napi]
    pub fn resize_metabolism(&self, budget_tokens: f64) -> Result<()> {
        let s = self.store()?;
        core(budget_from_number(budget_tokens).and_then(|b| s.resize_metabolism(b)))
    }

    #[napi]
    pub fn config(&self) -> Result<String> {
        Ok(self.store()?.config().to_json())
    }

    /// A new store from snapshot bytes: the snapshot's settings with the
    /// default limits, or exactly `config_json` (a JSON object) when given.
    #[napi(factory)]
    pub fn from_bytes(env: Env, bytes: Uint8ArraySlice, config_json: Option<String>) -> Result<Self> {
        let config = core(config_json.as_deref().map(config_from_json).transpose())?;
        let store = core(Store::from_bytes_with(&bytes, config, ov_memory::clock::default_clock()))?;
        Ok(NativeStore::wrap(&env, store))
    }

    /// A new store from a snapshot file; `config_json` as for `from_bytes`.
    #[napi(factory)]
    pub fn open(env: Env, path: String, config_json: Option<String>) -> Result<Self> {
        let config = core(config_json.as_deref().map(config_from_json).transpose())?;
        Ok(NativeStore::wrap(&env, core(Store::open_with(path, config))?))
    }

    #[napi]
    pub fn to_bytes(&self) -> Result<Buffer> {
        core(self.store()?.to_bytes()).map(Buffer::from)
    }

    #[napi]
    pub fn load_bytes(&self, env: Env, bytes: Uint8ArraySlice) -> Result<()> {
        core(self.store()?.load_bytes(&bytes))?;
        self.account(&env);
        Ok(())
    }

    #[napi]
    pub fn save(&self, path: String) -> Result<()> {
        core(self.store()?.save(path))
    }

    #[napi(ts_return_type = "Promise<string>")]
    pub fn save_async(&self, path: String) -> Result<AsyncTask<JsonJob>> {
        let store = self.store()?.clone();
        Ok(job(move || store.save(path).map(|()| "null".to_owned())))
    }

    #[napi]
    pub fn set_autosave(&self, path: Option<String>, every_changes: f64) -> Result<()> {
        let every = if path.is_none() { Ok(0) } else { budget_from_number(every_changes) };
        let every =
            core(every.map_err(|_| CoreError::invalid("everyChanges", "everyChanges must be a whole number >= 1")))?;
        core(self.store()?.set_autosave(path.map(std::path::PathBuf::from), every))
    }

    #[napi]
    pub fn load(&self, env: Env, path: String) -> Result<()> {
        core(self.store()?.load(path))?;
        self.account(&env);
        Ok(())
    }

    #[napi(ts_return_type = "Promise<string>")]
    pub fn load_async(&self, path: String) -> Result<AsyncTask<JsonJob>> {
        let store = self.store()?.clone();
        Ok(job(move || store.load(path).map(|()| "null".to_owned())))
    }
}
