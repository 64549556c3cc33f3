//! Python front-end (PyO3). Thin: argument conversion and error mapping.
//!
//! The class exported here, `MemoryStore`, is the Python API itself (the
//! package `ov_memory` re-exports it beside its exception classes and the
//! `OVMemoryProduction` surface, written in Python). Conventions:
//!
//! - Options are keyword arguments, read straight into the core's option types
//!   with `pythonize` (the same serde types the JSON front-ends parse), so an
//!   unknown or mistyped option is INVALID_DATA, as everywhere.
//! - Embeddings are numpy `float32` arrays, borrowed without copying; anything
//!   else numpy can turn into one (a list, a float64 array) is converted first.
//! - Results are plain Python values (dicts, lists, numbers), the JSON shapes
//!   of the other front-ends; embeddings come back as numpy arrays.
//! - Every call that takes the store's locks releases the GIL first, so a
//!   thread blocked on a lock never holds the GIL that a lock holder (running
//!   a token counter or a log callback) may need.
//! - Errors are raised as `ov_memory.OvMemoryError` subclasses, built by
//!   `ov_memory._errors.from_native(code, message, context)`. A panic in this
//!   crate becomes INTERNAL, never a Python `PanicException`.

use numpy::{PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyUntypedArrayMethods};
use ov_memory::{
    frontend::BatchOptions, AddOptions, Config, ContextOptions, Error as CoreError, ErrorCode, ImportOptions, Level,
    ListOptions, LogSink, MemoryUpdate, RetrieveOptions, ScopeOptions, Store,
};
use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};
use pyo3::{PyTraverseError, PyVisit};
use pythonize::pythonize;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

// ------------------------------------------------------------------ errors

static FROM_NATIVE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The core error as the Python exception of its code.
fn py_err(py: Python<'_>, e: &CoreError) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let f = FROM_NATIVE
            .get_or_try_init(py, || Ok::<_, PyErr>(py.import("ov_memory._errors")?.getattr("from_native")?.unbind()))?;
        let context = pythonize(py, e.context())?;
        let exc = f.bind(py).call1((e.code().name(), e.message(), context))?;
        Ok(PyErr::from_value(exc))
    };
    build().unwrap_or_else(|err| err)
}

/// A core error to raise.
struct Raise(CoreError);

impl From<CoreError> for Raise {
    fn from(e: CoreError) -> Self {
        Raise(e)
    }
}

type Res<T> = Result<T, Raise>;

/// Turns a core result into a Python one.
fn check<T>(py: Python<'_>, r: Res<T>) -> PyResult<T> {
    r.map_err(|Raise(e)| py_err(py, &e))
}

fn invalid(field: &str, message: impl Into<String>) -> Raise {
    Raise(CoreError::invalid(field, message))
}

/// Runs `f` with the GIL released, catching panics (INTERNAL).
fn run<T: Send>(py: Python<'_>, f: impl FnOnce() -> ov_memory::Result<T> + Send) -> PyResult<T> {
    let r = py.detach(|| {
        catch_unwind(AssertUnwindSafe(f))
            .unwrap_or_else(|_| Err(CoreError::new(ErrorCode::Internal, "the Python front-end panicked")))
    });
    check(py, r.map_err(Raise))
}

// ------------------------------------------------------------------ arguments

/// Keyword arguments read into one of the core's option types (through the
/// same serde definitions the JSON front-ends parse, so names, aliases and
/// checks are the core's own).
fn options<T: DeserializeOwned + Default>(kwargs: Option<&Bound<'_, PyDict>>, field: &str) -> Res<T> {
    match kwargs {
        Some(d) if !d.is_empty() => {
            // Straight from the dict's items (no intermediate JSON object).
            let items = dict_items(d, 1).map_err(|Raise(e)| Raise(e.with("field", field)))?;
            let de = serde::de::value::MapDeserializer::<_, serde_json::Error>::new(items.into_iter());
            T::deserialize(de).map_err(|e| invalid(field, format!("invalid {field}: {e}")))
        }
        _ => Ok(T::default()),
    }
}

/// Nesting deeper than this is rejected (a structure that contains itself
/// would otherwise recurse until the stack overflows).
const MAX_DEPTH: usize = 128;

/// A JSON-shaped Python value as a `serde_json::Value`: None, bool, int,
/// float (finite), str, list/tuple, dict with str keys; numpy scalars and other
/// objects with `__index__` or `__float__` count as numbers. Checked by exact
/// type first: far cheaper than `pythonize`'s abstract `Mapping` checks.
fn to_value(v: &Bound<'_, PyAny>, depth: usize) -> Res<Value> {
    use pyo3::types::{PyBool, PyFloat, PyInt, PyTuple};
    if depth > MAX_DEPTH {
        return Err(invalid("options", format!("values nest deeper than {MAX_DEPTH} levels")));
    }
    if v.is_none() {
        return Ok(Value::Null);
    }
    let number = |f: f64| {
        serde_json::Number::from_f64(f).map(Value::Number).ok_or_else(|| invalid("options", "numbers must be finite"))
    };
    let integer = || {
        if let Ok(i) = v.extract::<i64>() {
            return Ok(Value::from(i));
        }
        if let Ok(u) = v.extract::<u64>() {
            return Ok(Value::from(u));
        }
        Err(invalid("options", "an integer is out of range (64 bits)"))
    };
    // The usual option values first, by exact type (`bool` is a subclass of
    // `int`, so it is never an exact `int`).
    if v.is_exact_instance_of::<PyInt>() {
        return integer();
    }
    if let Ok(f) = v.cast_exact::<PyFloat>() {
        return number(f.value());
    }
    if let Ok(b) = v.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if let Ok(s) = v.cast::<PyString>() {
        return s
            .to_cow()
            .map(|s| Value::String(s.into_owned()))
            .map_err(|_| invalid("options", "a string is not valid UTF-8"));
    }
    if let Ok(d) = v.cast::<PyDict>() {
        return dict_items(d, depth + 1).map(|items| Value::Object(items.into_iter().collect()));
    }
    if let Ok(l) = v.cast::<PyList>() {
        return l.iter().map(|x| to_value(&x, depth + 1)).collect::<Res<Vec<_>>>().map(Value::Array);
    }
    if let Ok(t) = v.cast::<PyTuple>() {
        return t.iter().map(|x| to_value(&x, depth + 1)).collect::<Res<Vec<_>>>().map(Value::Array);
    }
    // numpy arrays (weights, times): as the lists they hold.
    if v.is_instance_of::<numpy::PyUntypedArray>() {
        let list = v
            .call_method0(pyo3::intern!(v.py(), "tolist"))
            .map_err(|_| invalid("options", "an array could not be read"))?;
        return to_value(&list, depth + 1);
    }
    if v.is_instance_of::<PyInt>() || v.hasattr(pyo3::intern!(v.py(), "__index__")).unwrap_or(false) {
        return integer();
    }
    if let Ok(f) = v.cast::<PyFloat>() {
        return number(f.value());
    }
    if let Ok(f) = v.extract::<f64>() {
        return number(f);
    }
    let kind = v.get_type().name().map(|n| n.to_string()).unwrap_or_default();
    Err(Raise(
        CoreError::invalid("options", format!("a value of type {kind} cannot be used here (JSON types only)"))
            .with("got", kind),
    ))
}

/// The items of a dict with string keys, as JSON values, in order.
fn dict_items(d: &Bound<'_, PyDict>, depth: usize) -> Res<Vec<(String, Value)>> {
    let mut items = Vec::with_capacity(d.len());
    for (k, v) in d.iter() {
        let k = k.cast::<PyString>().ok().and_then(|k| k.to_cow().ok().map(std::borrow::Cow::into_owned));
        let k = k.ok_or_else(|| invalid("options", "dict keys must be strings"))?;
        items.push((k, to_value(&v, depth)?));
    }
    Ok(items)
}

/// A core result value as Python objects.
fn to_py<'py, T: Serialize + ?Sized>(py: Python<'py>, v: &T) -> PyResult<Bound<'py, PyAny>> {
    Ok(pythonize(py, v)?)
}

static NUMPY_FLOAT32: PyOnceLock<(Py<PyAny>, Py<PyAny>)> = PyOnceLock::new();

/// `numpy.ascontiguousarray(v, dtype=numpy.float32)`.
fn as_float32<'py>(v: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let py = v.py();
    let (convert, dtype) = NUMPY_FLOAT32.get_or_try_init(py, || {
        let np = py.import("numpy")?;
        Ok::<_, PyErr>((np.getattr("ascontiguousarray")?.unbind(), np.getattr("float32")?.unbind()))
    })?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("dtype", dtype.bind(py))?;
    convert.bind(py).call((v,), Some(&kwargs))
}

/// One embedding: a contiguous 1-d float32 array is borrowed as is; anything
/// numpy can convert (a list, another dtype) is converted once.
fn vector<'py>(v: &Bound<'py, PyAny>, field: &str) -> Res<PyReadonlyArray1<'py, f32>> {
    if let Ok(a) = v.cast::<PyArray1<f32>>() {
        if a.is_c_contiguous() {
            return Ok(a.readonly());
        }
    }
    if v.is_instance_of::<PyString>() || v.is_instance_of::<PyBytes>() {
        return Err(invalid(field, format!("{field} must be a sequence of numbers, not a string")));
    }
    let a = as_float32(v).map_err(|e| invalid(field, format!("{field} must be a sequence of numbers: {e}")))?;
    let ndim = a.cast::<numpy::PyUntypedArray>().map(|u| u.ndim()).unwrap_or(0);
    match a.cast_into::<PyArray1<f32>>() {
        Ok(a) => Ok(a.readonly()),
        Err(_) => Err(Raise(
            CoreError::invalid(field, format!("{field} must be one-dimensional")).with("expected", 1).with("got", ndim),
        )),
    }
}

/// An optional embedding (`None`: a text-only query).
fn opt_vector<'py>(v: Option<&Bound<'py, PyAny>>, field: &str) -> Res<Option<PyReadonlyArray1<'py, f32>>> {
    match v {
        Some(v) if !v.is_none() => vector(v, field).map(Some),
        _ => Ok(None),
    }
}

/// Many embeddings: a 2-d array of `n × dim` (converted like [`vector`]); an
/// empty sequence is zero rows.
fn matrix<'py>(v: &Bound<'py, PyAny>, dim: usize, field: &str) -> Res<(numpy::PyReadonlyArray2<'py, f32>, usize)> {
    let a = match v.cast::<PyArray2<f32>>() {
        Ok(a) if a.is_c_contiguous() => a.clone(),
        _ => {
            if v.is_instance_of::<PyString>() || v.is_instance_of::<PyBytes>() {
                return Err(invalid(field, format!("{field} must be a 2-d array of numbers, not a string")));
            }
            let a =
                as_float32(v).map_err(|e| invalid(field, format!("{field} must be a 2-d array of numbers: {e}")))?;
            let shape = a.cast::<numpy::PyUntypedArray>().map(|u| u.shape().to_vec()).unwrap_or_default();
            if shape == [0] {
                let empty = numpy::PyArray2::<f32>::zeros(v.py(), [0, dim], false);
                return Ok((empty.readonly(), 0));
            }
            a.cast_into::<PyArray2<f32>>().map_err(|_| {
                Raise(
                    CoreError::invalid(field, format!("{field} must be a 2-d array (one row per memory)"))
                        .with("expected", 2)
                        .with("got", shape.len()),
                )
            })?
        }
    };
    let [rows, cols] = [a.shape()[0], a.shape()[1]];
    if cols != dim && rows > 0 {
        return Err(Raise(
            CoreError::invalid(field, format!("each row of {field} must have embedding_dim values"))
                .with("expected", dim)
                .with("got", cols),
        ));
    }
    Ok((a.readonly(), rows))
}

/// An argument of a plain type; a wrong type is INVALID_DATA (as in every
/// front-end), not the `TypeError` PyO3 raises for typed parameters.
fn arg<'py, T: pyo3::conversion::FromPyObjectOwned<'py>>(v: &Bound<'py, PyAny>, field: &str, what: &str) -> Res<T> {
    if v.is_instance_of::<pyo3::types::PyBool>() && !what.contains("bool") {
        return Err(invalid(field, format!("{field} must be {what}")));
    }
    v.extract::<T>().map_err(|_| {
        let kind = v.get_type().name().map(|n| n.to_string()).unwrap_or_default();
        Raise(CoreError::invalid(field, format!("{field} must be {what}")).with("got", kind))
    })
}

/// An optional argument (absent or None: `None`).
fn opt_arg<'py, T: pyo3::conversion::FromPyObjectOwned<'py>>(
    v: Option<&Bound<'py, PyAny>>,
    field: &str,
    what: &str,
) -> Res<Option<T>> {
    v.filter(|v| !v.is_none()).map(|v| arg(v, field, what)).transpose()
}

/// A file path: str or os.PathLike.
fn path_arg(v: &Bound<'_, PyAny>) -> Res<std::path::PathBuf> {
    if v.is_instance_of::<PyBytes>() {
        return Err(invalid("path", "path must be a str or os.PathLike"));
    }
    arg(v, "path", "a str or os.PathLike")
}

/// Snapshot bytes: bytes, bytearray or memoryview.
fn bytes_arg(v: &Bound<'_, PyAny>) -> Res<Vec<u8>> {
    if v.is_instance_of::<PyString>() {
        return Err(invalid("data", "data must be bytes"));
    }
    arg(v, "data", "bytes")
}

/// A memory id: a whole number ≥ 0 (not a bool).
fn id_arg(v: &Bound<'_, PyAny>) -> Res<u64> {
    if v.is_instance_of::<pyo3::types::PyBool>() {
        return Err(invalid("id", "id must be a whole number >= 0"));
    }
    v.extract::<u64>().map_err(|_| invalid("id", "id must be a whole number >= 0"))
}

fn ids_arg(v: &Bound<'_, PyAny>) -> Res<Vec<u64>> {
    if v.is_instance_of::<PyString>() {
        return Err(invalid("ids", "ids must be a sequence of whole numbers >= 0"));
    }
    let items = v.try_iter().map_err(|_| invalid("ids", "ids must be a sequence of whole numbers >= 0"))?;
    items
        .enumerate()
        .map(|(i, x)| {
            x.map_err(|_| invalid("ids", "ids must be a sequence of whole numbers >= 0"))
                .and_then(|x| id_arg(&x))
                .map_err(|Raise(e)| Raise(e.with("index", i)))
        })
        .collect()
}

/// Retrieval hits as a list of dicts: the hot path of `retrieve`, written out
/// with interned keys (`pythonize` makes a new key string per field, which
/// costs more than the rest of a small query). The destructuring below names
/// every field of `Hit` and `Score`, so a field added to either fails to
/// compile here instead of going missing.
fn hits_to_py<'py>(py: Python<'py>, hits: Vec<ov_memory::Hit>) -> PyResult<Bound<'py, PyList>> {
    use pyo3::intern;
    // Each dict starts as a copy of a template holding its keys: a copy takes
    // the template's table at its final size, so setting the values neither
    // grows nor rehashes it (a third of the cost of building the dicts key by key).
    static TEMPLATES: PyOnceLock<(Py<PyDict>, Py<PyDict>)> = PyOnceLock::new();
    let (hit_t, score_t) = TEMPLATES.get_or_try_init(py, || -> PyResult<_> {
        let keys = |names: &[&str]| -> PyResult<Py<PyDict>> {
            let d = PyDict::new(py);
            for k in names {
                // The interned key objects `intern!` hands out below: equal by identity.
                d.set_item(PyString::intern(py, k), py.None())?;
            }
            Ok(d.unbind())
        };
        Ok((
            keys(&["id", "text", "metadata", "created_at", "namespace", "score"])?,
            keys(&["S", "L", "C", "G", "R", "W", "rel", "P"])?,
        ))
    })?;
    let out = PyList::empty(py);
    for hit in hits {
        let ov_memory::Hit { id, text, metadata, created_at, namespace, score } = hit;
        let ov_memory::Score { s, l, c, g, r, w, rel, p } = score;
        let sd = score_t.bind(py).copy()?;
        sd.set_item(intern!(py, "S"), s)?;
        sd.set_item(intern!(py, "L"), l)?;
        sd.set_item(intern!(py, "C"), c)?;
        sd.set_item(intern!(py, "G"), g)?;
        sd.set_item(intern!(py, "R"), r)?;
        sd.set_item(intern!(py, "W"), w)?;
        sd.set_item(intern!(py, "rel"), rel)?;
        sd.set_item(intern!(py, "P"), p)?;
        let d = hit_t.bind(py).copy()?;
        d.set_item(intern!(py, "id"), id)?;
        d.set_item(intern!(py, "text"), text)?;
        if let Some(m) = metadata {
            d.set_item(intern!(py, "metadata"), pythonize(py, &m)?)?;
        }
        d.set_item(intern!(py, "created_at"), created_at)?;
        d.set_item(intern!(py, "namespace"), namespace)?;
        d.set_item(intern!(py, "score"), sd)?;
        out.append(d)?;
    }
    Ok(out)
}

/// A memory as a dict, its embedding as a float32 numpy array.
fn memory_to_py(py: Python<'_>, mut m: ov_memory::Memory) -> PyResult<Bound<'_, PyAny>> {
    // Serialised without its embedding (no list of floats), which is then set as an array.
    let embedding = std::mem::take(&mut m.embedding);
    let d = pythonize(py, &m)?;
    d.set_item("embedding", PyArray1::from_vec(py, embedding))?;
    Ok(d)
}

/// A log level: its name, or an enum member whose `value` is the name (`ov_memory.LogLevel`).
fn level_arg(v: &Bound<'_, PyAny>) -> Res<Level> {
    let bad = || invalid("level", "level must be DEBUG, INFO, WARNING, ERROR or CRITICAL");
    let name: String = match v.extract::<String>() {
        Ok(s) => s,
        Err(_) => v.getattr("value").ok().and_then(|n| n.extract::<String>().ok()).ok_or_else(bad)?,
    };
    Level::parse(&name).ok_or_else(bad)
}

// ------------------------------------------------------------------ the store

/// A memory store. Every method is documented in the package's type stubs
/// (`ov_memory/_native.pyi`) and the README.
#[pyclass(frozen, module = "ov_memory._native")]
pub struct MemoryStore {
    store: Arc<Store>,
    /// The log callback. The store's sink reaches it through this shared
    /// slot, and the slot is what Python's garbage collector sees
    /// (`__traverse__`) and empties (`__clear__`): a callback that refers to
    /// its own store forms a cycle the collector can break.
    callback: Arc<Mutex<Option<Py<PyAny>>>>,
}

impl MemoryStore {
    fn wrap(store: Store) -> MemoryStore {
        MemoryStore { store: Arc::new(store), callback: Arc::new(Mutex::new(None)) }
    }

    fn dim(&self) -> usize {
        self.store.config().embedding_dim
    }
}

#[pymethods]
impl MemoryStore {
    /// `MemoryStore(**config)`: `embedding_dim=768`, `max_nodes=10000`, … (see the README).
    #[new]
    #[pyo3(signature = (**config))]
    fn new(py: Python<'_>, config: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let config: Config = check(py, options(config, "config"))?;
        let store = run(py, move || Store::new(config))?;
        Ok(MemoryStore::wrap(store))
    }

    /// A store from snapshot bytes; `config` overrides the limits (see the README).
    #[staticmethod]
    #[pyo3(signature = (data, **config))]
    fn from_bytes(py: Python<'_>, data: &Bound<'_, PyAny>, config: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let config: Option<Config> =
            if config.is_some_and(|c| !c.is_empty()) { Some(check(py, options(config, "config"))?) } else { None };
        let data = check(py, bytes_arg(data))?;
        let store = run(py, || Store::from_bytes_with(&data, config, ov_memory::clock::default_clock()))?;
        Ok(MemoryStore::wrap(store))
    }

    /// A store from a snapshot file.
    #[staticmethod]
    #[pyo3(signature = (path, **config))]
    fn open(py: Python<'_>, path: &Bound<'_, PyAny>, config: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let config: Option<Config> =
            if config.is_some_and(|c| !c.is_empty()) { Some(check(py, options(config, "config"))?) } else { None };
        let path = check(py, path_arg(path))?;
        let store = run(py, || Store::open_with(path, config))?;
        Ok(MemoryStore::wrap(store))
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        // Never block in the collector: a slot being replaced right now is skipped.
        if let Some(slot) = self.callback.try_lock() {
            if let Some(f) = slot.as_ref() {
                visit.call(f)?;
            }
        }
        Ok(())
    }

    fn __clear__(&self) {
        if let Some(mut slot) = self.callback.try_lock() {
            *slot = None;
        }
    }

    fn __len__(&self, py: Python<'_>) -> usize {
        py.detach(|| self.store.len())
    }

    fn __contains__(&self, py: Python<'_>, id: &Bound<'_, PyAny>) -> bool {
        id_arg(id).is_ok_and(|id| py.detach(|| self.store.contains(id)))
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let n = py.detach(|| self.store.len());
        format!("MemoryStore(embedding_dim={}, memories={n})", self.dim())
    }

    #[getter]
    fn embedding_dim(&self) -> usize {
        self.dim()
    }

    /// Adds one memory and returns its id.
    #[pyo3(signature = (embedding, text, **options))]
    fn add(
        &self,
        py: Python<'_>,
        embedding: &Bound<'_, PyAny>,
        text: &Bound<'_, PyAny>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<u64> {
        let e = check(py, vector(embedding, "embedding"))?;
        let text: String = check(py, arg(text, "text", "a str"))?;
        let o: AddOptions = check(py, self::options(options, "options"))?;
        let slice = e.as_slice()?;
        run(py, || self.store.add(slice, &text, o))
    }

    /// Adds many memories at once (all or nothing) and returns their ids:
    /// `weights`, `metadata`, `created_at`, `keys`, `expires_at` (one entry per
    /// text), `namespace`, `ttl_ms`, `timeout_ms`.
    #[pyo3(signature = (embeddings, texts, **options))]
    fn add_batch(
        &self,
        py: Python<'_>,
        embeddings: &Bound<'_, PyAny>,
        texts: &Bound<'_, PyAny>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Vec<u64>> {
        if texts.is_instance_of::<PyString>() {
            return check(py, Err(invalid("texts", "texts must be a sequence of str")));
        }
        let texts: Vec<String> = check(py, arg(texts, "texts", "a sequence of str"))?;
        let (m, rows) = check(py, matrix(embeddings, self.dim(), "embeddings"))?;
        if rows != texts.len() {
            return check(
                py,
                Err(Raise(
                    CoreError::invalid("embeddings", "embeddings must have one row per text")
                        .with("expected", texts.len())
                        .with("got", rows),
                )),
            );
        }
        let o: BatchOptions = check(py, self::options(options, "options"))?;
        let flat = m.as_slice()?;
        run(py, || self.store.add_batch_rows(flat, &texts, &o))
    }

    /// The memory with this id as a dict, or `None` when there is none.
    fn get<'py>(&self, py: Python<'py>, id: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let id = check(py, id_arg(id))?;
        let r = py.detach(|| self.store.get(id));
        match r {
            Ok(m) => memory_to_py(py, m).map(Some),
            Err(e) if e.code() == ErrorCode::NotFound => Ok(None),
            Err(e) => Err(py_err(py, &e)),
        }
    }

    /// Deletes one memory (NotFoundError if there is none).
    fn delete(&self, py: Python<'_>, id: &Bound<'_, PyAny>) -> PyResult<()> {
        let id = check(py, id_arg(id))?;
        run(py, || self.store.delete(id))
    }

    /// Changes a memory in place: `text`, `embedding`, `weight`, `metadata`
    /// (None removes it), `expires_at` (None removes it), `ttl_ms`, `timeout_ms`.
    #[pyo3(signature = (id, **patch))]
    fn update(&self, py: Python<'_>, id: &Bound<'_, PyAny>, patch: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
        let id = check(py, id_arg(id))?;
        let embedding = match patch {
            Some(p) => p.get_item("embedding")?,
            None => None,
        };
        let rest = match (patch, &embedding) {
            (Some(p), Some(_)) => {
                let c = p.copy()?;
                c.del_item("embedding")?;
                Some(c)
            }
            (p, _) => p.cloned(),
        };
        let mut u: MemoryUpdate = check(py, options(rest.as_ref(), "update"))?;
        if let Some(e) = embedding.filter(|e| !e.is_none()) {
            let a = check(py, vector(&e, "embedding"))?;
            u.embedding = Some(a.as_slice()?.to_vec());
        }
        run(py, || self.store.update(id, &u))
    }

    /// The best memories for a query (an embedding, `text=`, or both), best first.
    #[pyo3(signature = (query=None, **options))]
    fn retrieve<'py>(
        &self,
        py: Python<'py>,
        query: Option<&Bound<'py, PyAny>>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let q = check(py, opt_vector(query, "query"))?;
        let o: RetrieveOptions = check(py, self::options(options, "options"))?;
        let slice = q.as_ref().map(|q| q.as_slice()).transpose()?;
        let hits = run(py, || self.store.retrieve_query(slice, &o))?;
        hits_to_py(py, hits).map(Bound::into_any)
    }

    /// Answers several queries at once (on every core). Each query is an
    /// embedding, or a dict with `embedding` and/or `text`.
    #[pyo3(signature = (queries, **options))]
    fn retrieve_many<'py>(
        &self,
        py: Python<'py>,
        queries: &Bound<'py, PyAny>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let o: RetrieveOptions = check(py, self::options(options, "options"))?;
        let mut arrays = Vec::new();
        let mut texts: Vec<Option<String>> = Vec::new();
        let bad =
            || invalid("queries", "queries must be a sequence of embeddings or of dicts with embedding and/or text");
        if queries.is_instance_of::<PyString>() || queries.is_instance_of::<PyDict>() {
            return check(py, Err(bad()));
        }
        for (i, q) in check(py, queries.try_iter().map_err(|_| bad()))?.enumerate() {
            let q = q?;
            let at = |Raise(e): Raise| py_err(py, &e.with("index", i));
            if let Ok(d) = q.cast::<PyDict>() {
                for k in d.keys() {
                    let k: String = k.extract().unwrap_or_default();
                    if k != "embedding" && k != "text" {
                        return Err(at(invalid("queries", format!("unknown query key {k:?}"))));
                    }
                }
                let e = d.get_item("embedding")?;
                arrays.push(opt_vector(e.as_ref(), "embedding").map_err(at)?);
                let t = d.get_item("text")?.filter(|t| !t.is_none());
                texts.push(
                    t.map(|t| t.extract::<String>())
                        .transpose()
                        .map_err(|_| at(invalid("text", "text must be a string")))?,
                );
            } else {
                arrays.push(Some(vector(&q, "query").map_err(at)?));
                texts.push(None);
            }
        }
        let slices =
            arrays.iter().map(|a| a.as_ref().map(|a| a.as_slice()).transpose()).collect::<Result<Vec<_>, _>>()?;
        let batch: Vec<ov_memory::BatchQuery<'_>> = slices
            .iter()
            .zip(&texts)
            .map(|(e, t)| ov_memory::BatchQuery { embedding: *e, text: t.as_deref() })
            .collect();
        let all = run(py, || self.store.retrieve_many(&batch, &o))?;
        let out = PyList::empty(py);
        for hits in all {
            out.append(hits_to_py(py, hits)?)?;
        }
        Ok(out.into_any())
    }

    /// A context for a query within `max_tokens` (see the README);
    /// `token_counter=f` counts tokens with `f(text) -> int`.
    #[pyo3(signature = (query=None, *, token_counter=None, **options))]
    fn context<'py>(
        &self,
        py: Python<'py>,
        query: Option<&Bound<'py, PyAny>>,
        token_counter: Option<Py<PyAny>>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let q = check(py, opt_vector(query, "query"))?;
        let o: ContextOptions = check(py, self::options(options, "options"))?;
        let slice = q.as_ref().map(|q| q.as_slice()).transpose()?;
        let r = match token_counter.filter(|c| !c.is_none(py)) {
            None => run(py, || self.store.context_query(slice, &o))?,
            Some(f) => run(py, || {
                let count = |text: &str| -> ov_memory::Result<usize> {
                    Python::attach(|py| {
                        let n = f.bind(py).call1((text,)).map_err(|e| {
                            CoreError::invalid("token_counter", format!("the token counter raised: {e}"))
                        })?;
                        if n.is_instance_of::<pyo3::types::PyBool>() {
                            return Err(CoreError::invalid(
                                "token_counter",
                                "the token counter must return a whole number >= 0",
                            ));
                        }
                        n.extract::<usize>().map_err(|_| {
                            CoreError::invalid("token_counter", "the token counter must return a whole number >= 0")
                        })
                    })
                };
                self.store.context_with_counter(slice, &o, Some(&count))
            })?,
        };
        to_py(py, &r)
    }

    /// One page of memories in id order: `namespace`, `filter`, `after_id`, `limit`.
    #[pyo3(signature = (**options))]
    fn list<'py>(&self, py: Python<'py>, options: Option<&Bound<'py, PyDict>>) -> PyResult<Bound<'py, PyAny>> {
        let o: ListOptions = check(py, self::options(options, "options"))?;
        let page = run(py, || self.store.list(&o))?;
        let d = PyDict::new(py);
        let memories = PyList::empty(py);
        for m in page.memories {
            memories.append(memory_to_py(py, m)?)?;
        }
        d.set_item("memories", memories)?;
        d.set_item("next_after_id", page.next_after_id)?;
        Ok(d.into_any())
    }

    /// How many memories match `namespace` and `filter`.
    #[pyo3(signature = (**options))]
    fn count(&self, py: Python<'_>, options: Option<&Bound<'_, PyDict>>) -> PyResult<usize> {
        let o: ScopeOptions = check(py, self::options(options, "options"))?;
        run(py, || self.store.count(&o))
    }

    /// The memories with these ids, `None` for each unknown one.
    fn get_many<'py>(&self, py: Python<'py>, ids: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
        let ids = check(py, ids_arg(ids))?;
        let all = run(py, || self.store.get_many(&ids))?;
        let out = PyList::empty(py);
        for m in all {
            match m {
                Some(m) => out.append(memory_to_py(py, m)?)?,
                None => out.append(py.None())?,
            }
        }
        Ok(out)
    }

    /// Deletes these ids (unknown ones are skipped); returns how many were deleted.
    fn delete_many(&self, py: Python<'_>, ids: &Bound<'_, PyAny>) -> PyResult<usize> {
        let ids = check(py, ids_arg(ids))?;
        run(py, || self.store.delete_many(&ids))
    }

    /// Deletes every memory of a namespace; returns how many.
    fn delete_namespace(&self, py: Python<'_>, namespace: &Bound<'_, PyAny>) -> PyResult<usize> {
        let namespace: String = check(py, arg(namespace, "namespace", "a str"))?;
        run(py, || self.store.delete_namespace(&namespace))
    }

    /// Removes expired memories now; returns how many.
    fn sweep(&self, py: Python<'_>) -> PyResult<usize> {
        run(py, || self.store.sweep())
    }

    /// Memories per namespace.
    fn namespaces<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let n = py.detach(|| self.store.namespaces());
        to_py(py, &n)
    }

    /// The ids of the namespace's hubs (most connected memories).
    #[pyo3(signature = (namespace=None))]
    fn hubs(&self, py: Python<'_>, namespace: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<u64>> {
        let namespace: String = check(py, opt_arg(namespace, "namespace", "a str"))?.unwrap_or_default();
        Ok(py.detach(|| self.store.hubs_in(&namespace)))
    }

    /// The memories of `namespace` (default: all) passing `filter`, as JSON Lines.
    #[pyo3(signature = (**options))]
    fn export_jsonl(&self, py: Python<'_>, options: Option<&Bound<'_, PyDict>>) -> PyResult<String> {
        let o: ScopeOptions = check(py, self::options(options, "options"))?;
        run(py, || self.store.export_jsonl(&o))
    }

    /// Adds the memories of a JSON Lines text (all or nothing): `keep_ids`, `timeout_ms`.
    #[pyo3(signature = (jsonl, **options))]
    fn import_jsonl<'py>(
        &self,
        py: Python<'py>,
        jsonl: &Bound<'py, PyAny>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let jsonl: String = check(py, arg(jsonl, "jsonl", "a str"))?;
        let o: ImportOptions = check(py, self::options(options, "options"))?;
        let r = run(py, || self.store.import_jsonl(&jsonl, &o))?;
        to_py(py, &r)
    }

    /// The store as snapshot bytes.
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        // Written straight into the `bytes` object (no second copy of the
        // snapshot), without the GIL.
        let made = run(py, || {
            self.store.to_bytes_with(|len, write| {
                Python::attach(|py| {
                    let mut failed = None;
                    let bytes = PyBytes::new_with(py, len, |buf| {
                        failed = py.detach(|| write(buf)).err();
                        Ok(())
                    })?;
                    match failed {
                        Some(e) => Err(py_err(py, &e)),
                        None => Ok(bytes.unbind()),
                    }
                })
            })
        })?;
        Ok(made?.into_bound(py))
    }

    /// Replaces the contents with those of snapshot bytes (all or nothing).
    fn load_bytes(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let data = check(py, bytes_arg(data))?;
        run(py, || self.store.load_bytes(&data))
    }

    /// Writes a snapshot file atomically.
    fn save(&self, py: Python<'_>, path: &Bound<'_, PyAny>) -> PyResult<()> {
        let path = check(py, path_arg(path))?;
        run(py, || self.store.save(&path))
    }

    /// Replaces the contents with those of a snapshot file (all or nothing).
    fn load(&self, py: Python<'_>, path: &Bound<'_, PyAny>) -> PyResult<()> {
        let path = check(py, path_arg(path))?;
        run(py, || self.store.load(&path))
    }

    /// Saves to `path` after every `every_changes` changes; `None` turns it off.
    #[pyo3(signature = (path, every_changes=None))]
    fn set_autosave(
        &self,
        py: Python<'_>,
        path: Option<&Bound<'_, PyAny>>,
        every_changes: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let path = check(py, path.filter(|p| !p.is_none()).map(path_arg).transpose())?;
        let every: u64 = check(py, opt_arg(every_changes, "every_changes", "a whole number >= 1"))?.unwrap_or(1);
        let every = if path.is_none() { 0 } else { every };
        if path.is_some() && every == 0 {
            return check(py, Err(invalid("every_changes", "every_changes must be a whole number >= 1")));
        }
        run(py, || self.store.set_autosave(path, every))
    }

    /// The health report as a dict.
    fn health<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let h = py.detach(|| self.store.health());
        to_py(py, &h)
    }

    /// The health report as JSON text.
    fn health_json(&self, py: Python<'_>) -> String {
        py.detach(|| self.store.health_json())
    }

    /// Every metric as a dict.
    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let m = py.detach(|| self.store.metrics());
        to_py(py, &m)
    }

    /// The metrics in the Prometheus text format (0.0.4).
    fn prometheus(&self, py: Python<'_>) -> String {
        py.detach(|| self.store.prometheus())
    }

    /// The metrics in the OpenMetrics text format (1.0.0).
    fn openmetrics(&self, py: Python<'_>) -> String {
        py.detach(|| self.store.openmetrics())
    }

    /// The log threshold: DEBUG, INFO, WARNING, ERROR or CRITICAL.
    #[getter]
    fn log_level(&self) -> &'static str {
        self.store.log_level().name()
    }

    /// Sets the log threshold.
    fn set_log_level(&self, py: Python<'_>, level: &Bound<'_, PyAny>) -> PyResult<()> {
        let level = check(py, level_arg(level))?;
        self.store.set_log_level(level);
        Ok(())
    }

    /// Sends each log record to `callback(record: dict, line: str)`; `None` turns logging off.
    fn on_log(&self, py: Python<'_>, callback: Option<Py<PyAny>>) -> PyResult<()> {
        let callback = callback.filter(|c| !c.is_none(py));
        let sink = match &callback {
            None => LogSink::None,
            Some(_) => {
                let slot = Arc::clone(&self.callback);
                LogSink::Callback(Arc::new(move |line: &str| {
                    Python::attach(|py| {
                        let Some(f) = slot.lock().as_ref().map(|f| f.clone_ref(py)) else { return };
                        let record = serde_json::from_str::<Value>(line)
                            .ok()
                            .and_then(|v| pythonize(py, &v).ok())
                            .map_or_else(|| py.None(), Bound::unbind);
                        if let Err(e) = f.bind(py).call1((record, line)) {
                            // A raising callback must not fail the operation that logged.
                            e.write_unraisable(py, Some(f.bind(py)));
                        }
                    });
                }))
            }
        };
        // The slot first: the old sink (if any) reads it too, so from here on
        // nothing reaches the old callback.
        *self.callback.lock() = callback;
        // The setter waits for deliveries running on other threads, which need the GIL.
        py.detach(|| self.store.set_log_sink(sink));
        Ok(())
    }

    /// Sends log lines to stderr (`"stderr"`), stdout (`"stdout"`) or nowhere (`None`).
    #[pyo3(signature = (target=None))]
    fn log_to(&self, py: Python<'_>, target: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let target: Option<String> = check(py, opt_arg(target, "target", "\"stderr\", \"stdout\" or None"))?;
        let sink = match target.as_deref() {
            None => LogSink::None,
            Some("stderr") => LogSink::Stderr,
            Some("stdout") => LogSink::Stdout,
            Some(_) => return check(py, Err(invalid("target", "target must be \"stderr\", \"stdout\" or None"))),
        };
        py.detach(|| self.store.set_log_sink(sink));
        Ok(())
    }

    /// Closes an open circuit breaker.
    fn reset_breaker(&self, py: Python<'_>) {
        py.detach(|| self.store.reset_breaker());
    }

    /// The metabolism report as a dict.
    fn metabolism<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let m = py.detach(|| self.store.metabolism());
        to_py(py, &m)
    }

    /// Gives the metabolism its full budget again.
    fn reset_metabolism(&self, py: Python<'_>) {
        py.detach(|| self.store.reset_metabolism());
    }

    /// Sets the metabolism's token budget.
    fn resize_metabolism(&self, py: Python<'_>, budget_tokens: &Bound<'_, PyAny>) -> PyResult<()> {
        let budget_tokens: u64 = check(py, arg(budget_tokens, "budget_tokens", "a whole number >= 1"))?;
        run(py, || self.store.resize_metabolism(budget_tokens))
    }

    /// The store's configuration as a dict.
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, self.store.config())
    }

    /// Checks every internal invariant (MemoryCorruptionError if one fails).
    fn check_integrity(&self, py: Python<'_>) -> PyResult<()> {
        run(py, || self.store.check_integrity())
    }
}

/// The default token estimate, `ceil(bytes / 4)` of the UTF-8 text.
#[pyfunction]
fn estimate_tokens(py: Python<'_>, text: &Bound<'_, PyAny>) -> PyResult<usize> {
    let text: String = check(py, arg(text, "text", "a str"))?;
    Ok(ov_memory::estimate_tokens(&text))
}

/// The error codes, in order (`code` of `OvMemoryError`).
#[pyfunction]
fn error_codes() -> Vec<&'static str> {
    ErrorCode::all().iter().filter(|c| **c != ErrorCode::Ok).map(|c| c.name()).collect()
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<MemoryStore>()?;
    m.add_function(wrap_pyfunction!(estimate_tokens, m)?)?;
    m.add_function(wrap_pyfunction!(error_codes, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
