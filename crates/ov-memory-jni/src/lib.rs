//! Java front-end (JNI). Thin: argument conversion and error mapping.
//!
//! The Java package `ov.memory` (bindings/java) declares the native methods in
//! one class, `ov.memory.Native`; `MemoryStore` wraps them in the public API.
//! Conventions:
//!
//! - A store is a `long` handle into a registry of `Arc<Store>`, so a closed
//!   or forged handle is an INVALID_DATA error, never a dangling pointer.
//! - Options arrive as JSON object text (the Java side writes its `Map`s with
//!   `ov.memory.Json`) and are parsed by the core's own option types.
//! - Hits and contexts (the hot path) return as JSON text, which the Java side
//!   parses (`ov.memory.Json.parse`); other results are built as Java objects
//!   from the core's serde output: `LinkedHashMap`, `ArrayList`, `Long`,
//!   `Double`, `Boolean`, `String`, and `float[]` for embeddings. Local
//!   references are released as they are used, so results of any size stay
//!   within the JVM's local frame.
//! - Errors are thrown as `ov.memory.OvMemoryException` subclasses, built by
//!   `OvMemoryException.fromNative(code, message, context)`. Every entry
//!   point catches panics (INTERNAL) and leaves a pending Java exception (from
//!   a callback, or an `OutOfMemoryError`) to propagate as it is.

use jni::objects::{
    GlobalRef, JByteArray, JClass, JFloatArray, JLongArray, JMethodID, JObject, JObjectArray, JStaticMethodID, JString,
    JThrowable, JValue,
};
use jni::signature::{Primitive, ReturnType};
use jni::sys::{jboolean, jbyteArray, jint, jlong, jlongArray, jobject, jstring, JNI_VERSION_1_8};
use jni::{JNIEnv, JavaVM};
use ov_memory::frontend::{config_from_json, tokens_from_number, BatchOptions};
use ov_memory::{
    ContextOptions, Error as CoreError, ErrorCode, ImportOptions, Level, ListOptions, LogSink, RetrieveOptions,
    ScopeOptions, Store,
};
use parking_lot::RwLock;
use serde_json::Value;
use std::cell::RefCell;
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, LazyLock, OnceLock};

// ------------------------------------------------------------------ errors

/// Why a call failed: a core error to throw, or a Java exception already pending.
enum Fail {
    Core(CoreError),
    Java,
}

impl From<CoreError> for Fail {
    fn from(e: CoreError) -> Self {
        Fail::Core(e)
    }
}

impl From<jni::errors::Error> for Fail {
    fn from(e: jni::errors::Error) -> Self {
        match e {
            jni::errors::Error::JavaException => Fail::Java,
            other => Fail::Core(CoreError::new(ErrorCode::Internal, format!("JNI call failed: {other}"))),
        }
    }
}

type Res<T> = Result<T, Fail>;

fn invalid(field: &str, message: impl Into<String>) -> Fail {
    Fail::Core(CoreError::invalid(field, message))
}

/// Runs one entry point: errors are thrown, panics become INTERNAL, and
/// `fallback` is returned to the JVM (which raises the pending exception).
fn entry<'l, T>(env: &mut JNIEnv<'l>, fallback: T, f: impl FnOnce(&mut JNIEnv<'l>) -> Res<T>) -> T {
    let r = catch_unwind(AssertUnwindSafe(|| f(env)))
        .unwrap_or_else(|_| Err(Fail::Core(CoreError::new(ErrorCode::Internal, "the Java front-end panicked"))));
    match r {
        Ok(v) => v,
        Err(Fail::Java) => fallback,
        Err(Fail::Core(e)) => {
            throw(env, &e);
            fallback
        }
    }
}

/// Throws the exception of a core error (unless one is pending already).
fn throw(env: &mut JNIEnv<'_>, e: &CoreError) {
    if env.exception_check().unwrap_or(true) {
        return;
    }
    let build = |env: &mut JNIEnv<'_>| -> Res<()> {
        let c = cache()?;
        let code = env.new_string(e.code().name())?;
        let message = env.new_string(e.message())?;
        let context = to_java(env, c, &Value::Object(e.context().clone()))?;
        // SAFETY: the method id was resolved on this class with the signature
        // (String, String, Map) -> OvMemoryException, and the arguments match it.
        let exc = unsafe {
            env.call_static_method_unchecked(
                class(&c.exception),
                c.from_native,
                ReturnType::Object,
                &[JValue::Object(&code).as_jni(), JValue::Object(&message).as_jni(), JValue::Object(&context).as_jni()],
            )
        }?
        .l()?;
        env.throw(JThrowable::from(exc))?;
        Ok(())
    };
    if build(env).is_err() && !env.exception_check().unwrap_or(true) {
        let _ = env.throw_new("java/lang/IllegalStateException", format!("{}: {}", e.code().name(), e.message()));
    }
}

// ------------------------------------------------------------------ classes

/// Classes and methods, resolved once (in `JNI_OnLoad`, with the class loader
/// of the library's caller).
struct Cache {
    map: GlobalRef,
    map_new: JMethodID,
    map_put: JMethodID,
    list: GlobalRef,
    list_new: JMethodID,
    list_add: JMethodID,
    long: GlobalRef,
    long_value_of: JStaticMethodID,
    double: GlobalRef,
    double_value_of: JStaticMethodID,
    boolean: GlobalRef,
    boolean_value_of: JStaticMethodID,
    exception: GlobalRef,
    from_native: JStaticMethodID,
}

static CACHE: OnceLock<Cache> = OnceLock::new();
static VM: OnceLock<JavaVM> = OnceLock::new();

fn cache() -> Res<&'static Cache> {
    CACHE.get().ok_or_else(|| Fail::Core(CoreError::new(ErrorCode::Internal, "the native library was not initialised")))
}

fn class(g: &GlobalRef) -> &JClass<'static> {
    <&JClass>::from(g.as_obj())
}

fn build_cache(env: &mut JNIEnv<'_>) -> jni::errors::Result<Cache> {
    let mut global = |name: &str| -> jni::errors::Result<GlobalRef> {
        let c = env.find_class(name)?;
        env.new_global_ref(c)
    };
    let map = global("java/util/LinkedHashMap")?;
    let list = global("java/util/ArrayList")?;
    let long = global("java/lang/Long")?;
    let double = global("java/lang/Double")?;
    let boolean = global("java/lang/Boolean")?;
    let exception = global("ov/memory/OvMemoryException")?;
    Ok(Cache {
        map_new: env.get_method_id(class(&map), "<init>", "()V")?,
        map_put: env.get_method_id(class(&map), "put", "(Ljava/lang/Object;Ljava/lang/Object;)Ljava/lang/Object;")?,
        list_new: env.get_method_id(class(&list), "<init>", "(I)V")?,
        list_add: env.get_method_id(class(&list), "add", "(Ljava/lang/Object;)Z")?,
        long_value_of: env.get_static_method_id(class(&long), "valueOf", "(J)Ljava/lang/Long;")?,
        double_value_of: env.get_static_method_id(class(&double), "valueOf", "(D)Ljava/lang/Double;")?,
        boolean_value_of: env.get_static_method_id(class(&boolean), "valueOf", "(Z)Ljava/lang/Boolean;")?,
        from_native: env.get_static_method_id(
            class(&exception),
            "fromNative",
            "(Ljava/lang/String;Ljava/lang/String;Ljava/util/Map;)Lov/memory/OvMemoryException;",
        )?,
        map,
        list,
        long,
        double,
        boolean,
        exception,
    })
}

/// Called by the JVM when `System.load` loads this library.
///
/// # Safety
///
/// `vm` must be the JVM's own pointer, as the JVM passes it.
#[no_mangle]
pub unsafe extern "system" fn JNI_OnLoad(vm: *mut jni::sys::JavaVM, _reserved: *mut std::ffi::c_void) -> jint {
    let r = catch_unwind(|| {
        // SAFETY: the JVM passes its own, valid JavaVM pointer.
        let vm = unsafe { JavaVM::from_raw(vm) }.ok()?;
        let mut env = vm.get_env().ok()?;
        let c = build_cache(&mut env).ok()?;
        let _ = CACHE.set(c);
        let _ = VM.set(vm);
        Some(())
    });
    match r {
        Ok(Some(())) => JNI_VERSION_1_8,
        _ => jni::sys::JNI_ERR,
    }
}

// ------------------------------------------------------------------ values

/// A new `ArrayList` with room for `len` items.
fn new_list<'l>(env: &mut JNIEnv<'l>, c: &Cache, len: usize) -> Res<JObject<'l>> {
    let cap = JValue::Int(jint::try_from(len).unwrap_or(jint::MAX)).as_jni();
    // SAFETY: `list_new` is ArrayList(int), resolved on `c.list`, and the argument is an int.
    Ok(unsafe { env.new_object_unchecked(class(&c.list), c.list_new, &[cap]) }?)
}

/// Appends `item` to an `ArrayList` and releases the local reference to it.
fn list_add<'l>(env: &mut JNIEnv<'l>, c: &Cache, list: &JObject<'l>, item: JObject<'l>) -> Res<()> {
    // SAFETY: `list_add` is ArrayList.add(Object), `list` is an ArrayList, and the argument is an object.
    unsafe {
        env.call_method_unchecked(
            list,
            c.list_add,
            ReturnType::Primitive(Primitive::Boolean),
            &[JValue::Object(&item).as_jni()],
        )
    }?;
    env.delete_local_ref(item)?;
    Ok(())
}

/// Puts `key → value` into a `LinkedHashMap` and releases the local
/// references made on the way (the key, the value, the previous value).
fn map_put<'l>(env: &mut JNIEnv<'l>, c: &Cache, map: &JObject<'l>, key: &str, value: JObject<'l>) -> Res<()> {
    let key = env.new_string(key)?;
    // SAFETY: `map_put` is LinkedHashMap.put(Object, Object), `map` is a LinkedHashMap,
    // and both arguments are objects.
    let old = unsafe {
        env.call_method_unchecked(
            map,
            c.map_put,
            ReturnType::Object,
            &[JValue::Object(&key).as_jni(), JValue::Object(&value).as_jni()],
        )
    }?
    .l()?;
    env.delete_local_ref(old)?;
    env.delete_local_ref(key)?;
    env.delete_local_ref(value)?;
    Ok(())
}

/// A JSON value as Java objects (see the module docs).
fn to_java<'l>(env: &mut JNIEnv<'l>, c: &Cache, v: &Value) -> Res<JObject<'l>> {
    // SAFETY (every unchecked call below): the ids were resolved on these
    // classes with exactly the signatures used, and the arguments match them.
    Ok(match v {
        Value::Null => JObject::null(),
        Value::Bool(b) => unsafe {
            env.call_static_method_unchecked(
                class(&c.boolean),
                c.boolean_value_of,
                ReturnType::Object,
                &[JValue::Bool(jboolean::from(*b)).as_jni()],
            )
        }?
        .l()?,
        Value::Number(n) => match n.as_i64() {
            Some(i) => unsafe {
                env.call_static_method_unchecked(
                    class(&c.long),
                    c.long_value_of,
                    ReturnType::Object,
                    &[JValue::Long(i).as_jni()],
                )
            }?
            .l()?,
            None => unsafe {
                env.call_static_method_unchecked(
                    class(&c.double),
                    c.double_value_of,
                    ReturnType::Object,
                    &[JValue::Double(n.as_f64().unwrap_or(f64::NAN)).as_jni()],
                )
            }?
            .l()?,
        },
        Value::String(s) => env.new_string(s)?.into(),
        Value::Array(items) => {
            let list = new_list(env, c, items.len())?;
            for x in items {
                let o = to_java(env, c, x)?;
                list_add(env, c, &list, o)?;
            }
            list
        }
        Value::Object(m) => {
            let map = unsafe { env.new_object_unchecked(class(&c.map), c.map_new, &[]) }?;
            for (k, x) in m {
                let o = to_java(env, c, x)?;
                map_put(env, c, &map, k, o)?;
            }
            map
        }
    })
}

/// Any serialisable core result as Java objects.
fn result<'l, T: serde::Serialize + ?Sized>(env: &mut JNIEnv<'l>, v: &T) -> Res<jobject> {
    let value = serde_json::to_value(v)
        .map_err(|e| Fail::Core(CoreError::new(ErrorCode::Internal, format!("result not serialisable: {e}"))))?;
    Ok(to_java(env, cache()?, &value)?.into_raw())
}

/// A memory as a map, its embedding as a `float[]`.
fn memory<'l>(env: &mut JNIEnv<'l>, mut m: ov_memory::Memory) -> Res<JObject<'l>> {
    let c = cache()?;
    let embedding = std::mem::take(&mut m.embedding);
    let mut value = serde_json::to_value(&m)
        .map_err(|e| Fail::Core(CoreError::new(ErrorCode::Internal, format!("memory not serialisable: {e}"))))?;
    if let Value::Object(o) = &mut value {
        o.remove("embedding");
    }
    let map = to_java(env, c, &value)?;
    let len = jint::try_from(embedding.len()).map_err(|_| invalid("embedding", "embedding too long"))?;
    let array = env.new_float_array(len)?;
    env.set_float_array_region(&array, 0, &embedding)?;
    map_put(env, c, &map, "embedding", array.into())?;
    Ok(map)
}

// ------------------------------------------------------------------ arguments

fn string(env: &mut JNIEnv<'_>, s: &JString<'_>, field: &str) -> Res<String> {
    if s.is_null() {
        return Err(invalid(field, format!("{field} must not be null")));
    }
    Ok(env.get_string(s)?.into())
}

fn opt_string(env: &mut JNIEnv<'_>, s: &JString<'_>) -> Res<Option<String>> {
    if s.is_null() {
        Ok(None)
    } else {
        Ok(Some(env.get_string(s)?.into()))
    }
}

/// Options JSON text (`null`: the defaults).
fn options<T: serde::de::DeserializeOwned + Default>(
    env: &mut JNIEnv<'_>,
    s: &JString<'_>,
    parse: fn(&str) -> ov_memory::Result<T>,
) -> Res<T> {
    match opt_string(env, s)? {
        None => Ok(T::default()),
        Some(t) => Ok(parse(&t)?),
    }
}

fn floats(env: &mut JNIEnv<'_>, a: &JFloatArray<'_>, field: &str) -> Res<Vec<f32>> {
    if a.is_null() {
        return Err(invalid(field, format!("{field} must not be null")));
    }
    let n = env.get_array_length(a)?;
    let mut v = vec![0f32; usize::try_from(n).unwrap_or(0)];
    env.get_float_array_region(a, 0, &mut v)?;
    Ok(v)
}

fn opt_floats(env: &mut JNIEnv<'_>, a: &JFloatArray<'_>, field: &str) -> Res<Option<Vec<f32>>> {
    if a.is_null() {
        Ok(None)
    } else {
        floats(env, a, field).map(Some)
    }
}

fn ids(env: &mut JNIEnv<'_>, a: &JLongArray<'_>) -> Res<Vec<u64>> {
    if a.is_null() {
        return Err(invalid("ids", "ids must not be null"));
    }
    let n = env.get_array_length(a)?;
    let mut v = vec![0i64; usize::try_from(n).unwrap_or(0)];
    env.get_long_array_region(a, 0, &mut v)?;
    v.iter().enumerate().map(|(i, &x)| id(x).map_err(|f| with_index(f, i))).collect()
}

fn with_index(f: Fail, i: usize) -> Fail {
    match f {
        Fail::Core(e) => Fail::Core(e.with("index", i)),
        other => other,
    }
}

fn id(v: jlong) -> Res<u64> {
    u64::try_from(v).map_err(|_| invalid("id", "id must be a whole number >= 0"))
}

fn strings(env: &mut JNIEnv<'_>, a: &JObjectArray<'_>, field: &str) -> Res<Vec<Option<String>>> {
    if a.is_null() {
        return Err(invalid(field, format!("{field} must not be null")));
    }
    let n = env.get_array_length(a)?;
    let mut out = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
    for i in 0..n {
        // A frame per element: reading a string makes local references of its own.
        let s = env.with_local_frame(4, |env| -> Res<Option<String>> {
            let s = JString::from(env.get_object_array_element(a, i)?);
            opt_string(env, &s)
        })?;
        out.push(s);
    }
    Ok(out)
}

fn long_array(env: &mut JNIEnv<'_>, v: &[u64]) -> Res<jlongArray> {
    let v: Vec<i64> = v.iter().map(|&x| i64::try_from(x).unwrap_or(i64::MAX)).collect();
    let a = env.new_long_array(jint::try_from(v.len()).unwrap_or(jint::MAX))?;
    env.set_long_array_region(&a, 0, &v)?;
    Ok(a.into_raw())
}

fn count(n: usize) -> jlong {
    jlong::try_from(n).unwrap_or(jlong::MAX)
}

// ------------------------------------------------------------------ handles

static STORES: LazyLock<RwLock<HashMap<jlong, Arc<Store>>>> = LazyLock::new(|| RwLock::new(HashMap::new()));
static NEXT: AtomicI64 = AtomicI64::new(1);

fn register(store: Store) -> jlong {
    let h = NEXT.fetch_add(1, Ordering::Relaxed);
    STORES.write().insert(h, Arc::new(store));
    h
}

fn store(h: jlong) -> Res<Arc<Store>> {
    STORES.read().get(&h).cloned().ok_or_else(|| invalid("store", "this store is closed"))
}

// ------------------------------------------------------------------ entry points

/// Declares `Java_ov_memory_Native_<name>` with the JNI calling convention.
macro_rules! native {
    ($name:ident ( $env:ident $(, $arg:ident : $ty:ty)* ) -> $ret:ty = $fallback:expr, $body:block) => {
        #[no_mangle]
        pub extern "system" fn $name<'l>(mut env: JNIEnv<'l>, _class: JClass<'l> $(, $arg: $ty)*) -> $ret {
            entry(&mut env, $fallback, |$env: &mut JNIEnv<'l>| $body)
        }
    };
}

native!(Java_ov_memory_Native_create(env, config: JString<'l>) -> jlong = 0, {
    let text = opt_string(env, &config)?.unwrap_or_else(|| "{}".to_owned());
    Ok(register(Store::new(config_from_json(&text)?)?))
});

native!(Java_ov_memory_Native_fromBytes(env, data: JByteArray<'l>, config: JString<'l>) -> jlong = 0, {
    if data.is_null() {
        return Err(invalid("data", "data must not be null"));
    }
    let bytes = env.convert_byte_array(&data)?;
    let config = opt_string(env, &config)?.map(|t| config_from_json(&t)).transpose()?;
    Ok(register(Store::from_bytes_with(&bytes, config, ov_memory::clock::default_clock())?))
});

native!(Java_ov_memory_Native_open(env, path: JString<'l>, config: JString<'l>) -> jlong = 0, {
    let path = string(env, &path, "path")?;
    let config = opt_string(env, &config)?.map(|t| config_from_json(&t)).transpose()?;
    Ok(register(Store::open_with(path, config)?))
});

native!(Java_ov_memory_Native_close(_env, handle: jlong) -> () = (), {
    let removed = STORES.write().remove(&handle);
    if let Some(s) = removed {
        // Log callbacks hold global references; release them with the store.
        s.set_log_sink(LogSink::None);
    }
    Ok(())
});

native!(Java_ov_memory_Native_add(env, handle: jlong, embedding: JFloatArray<'l>, text: JString<'l>,
                                  opts: JString<'l>) -> jlong = 0, {
    let s = store(handle)?;
    let e = floats(env, &embedding, "embedding")?;
    let text = string(env, &text, "text")?;
    let o = options(env, &opts, ov_memory::AddOptions::from_json)?;
    Ok(jlong::try_from(s.add(&e, &text, o)?).unwrap_or(jlong::MAX))
});

native!(Java_ov_memory_Native_addBatch(env, handle: jlong, flat: JFloatArray<'l>, texts: JObjectArray<'l>,
                                       opts: JString<'l>) -> jlongArray = std::ptr::null_mut(), {
    let s = store(handle)?;
    let flat = floats(env, &flat, "embeddings")?;
    let texts: Vec<String> = strings(env, &texts, "texts")?
        .into_iter()
        .enumerate()
        .map(|(i, t)| t.ok_or_else(|| with_index(invalid("texts", "texts must not hold null"), i)))
        .collect::<Res<_>>()?;
    let o = options(env, &opts, BatchOptions::from_json)?;
    let ids = s.add_batch_rows(&flat, &texts, &o)?;
    long_array(env, &ids)
});

native!(Java_ov_memory_Native_get(env, handle: jlong, id_: jlong) -> jobject = std::ptr::null_mut(), {
    let s = store(handle)?;
    match s.get(id(id_)?) {
        Ok(m) => Ok(memory(env, m)?.into_raw()),
        Err(e) if e.code() == ErrorCode::NotFound => Ok(std::ptr::null_mut()),
        Err(e) => Err(e.into()),
    }
});

native!(Java_ov_memory_Native_delete(_env, handle: jlong, id_: jlong) -> () = (), {
    Ok(store(handle)?.delete(id(id_)?)?)
});

native!(Java_ov_memory_Native_update(env, handle: jlong, id_: jlong, embedding: JFloatArray<'l>,
                                     patch: JString<'l>) -> () = (), {
    let s = store(handle)?;
    let e = opt_floats(env, &embedding, "embedding")?;
    let patch = opt_string(env, &patch)?;
    Ok(s.update_with(id(id_)?, e.as_deref(), patch.as_deref())?)
});

// Hits cross as JSON text, parsed on the Java side (`Json.parse`): one string
// instead of some 45 calls into the JVM per hit (a 1-memory retrieve took
// 14 µs that way, 8 µs this way).
native!(Java_ov_memory_Native_retrieve(env, handle: jlong, query: JFloatArray<'l>, opts: JString<'l>)
        -> jstring = std::ptr::null_mut(), {
    let s = store(handle)?;
    let q = opt_floats(env, &query, "query")?;
    let o = options(env, &opts, RetrieveOptions::from_json)?;
    let text = s.retrieve_json(q.as_deref(), &o)?;
    Ok(env.new_string(text)?.into_raw())
});

native!(Java_ov_memory_Native_retrieveMany(env, handle: jlong, count_: jint, flat: JFloatArray<'l>,
                                           has: JByteArray<'l>, texts: JObjectArray<'l>, opts: JString<'l>)
        -> jstring = std::ptr::null_mut(), {
    let s = store(handle)?;
    let n = usize::try_from(count_).map_err(|_| invalid("queries", "queries must not be negative"))?;
    let flat = opt_floats(env, &flat, "embeddings")?;
    let has = if has.is_null() { None } else { Some(env.convert_byte_array(&has)?) };
    let texts = if texts.is_null() { None } else { Some(strings(env, &texts, "texts")?) };
    let o = options(env, &opts, RetrieveOptions::from_json)?;
    let text = s.retrieve_many_flat(n, flat.as_deref(), has.as_deref(), texts.as_deref(), &o)?;
    Ok(env.new_string(text)?.into_raw())
});

native!(Java_ov_memory_Native_context(env, handle: jlong, query: JFloatArray<'l>, opts: JString<'l>,
                                      counter: JObject<'l>) -> jstring = std::ptr::null_mut(), {
    let s = store(handle)?;
    let q = opt_floats(env, &query, "query")?;
    let o = options(env, &opts, ContextOptions::from_json)?;
    let r = if counter.is_null() {
        s.context_query(q.as_deref(), &o)?
    } else {
        // The counter runs on this thread (the core holds no lock meanwhile).
        let cell = RefCell::new(&mut *env);
        let count = |text: &str| -> ov_memory::Result<usize> {
            let mut env = cell.borrow_mut();
            let failed = |why: &str| CoreError::invalid("token_counter", format!("the token counter {why}"));
            let arg = env.new_string(text).map_err(|_| failed("could not be called"))?;
            let n = env.call_method(&counter, "applyAsInt", "(Ljava/lang/Object;)I", &[JValue::Object(&arg)]);
            let _ = env.delete_local_ref(arg);
            match n.and_then(|v| v.i()) {
                Ok(n) => tokens_from_number(f64::from(n)),
                Err(_) => {
                    let _ = env.exception_clear();
                    Err(failed("threw an exception"))
                }
            }
        };
        s.context_with_counter(q.as_deref(), &o, Some(&count))?
    };
    Ok(env.new_string(ov_memory::frontend::to_json(&r))?.into_raw())
});

native!(Java_ov_memory_Native_list(env, handle: jlong, opts: JString<'l>) -> jobject = std::ptr::null_mut(), {
    let s = store(handle)?;
    let o = options(env, &opts, ListOptions::from_json)?;
    let page = s.list(&o)?;
    let c = cache()?;
    let memories = new_list(env, c, page.memories.len())?;
    for m in page.memories {
        let o = memory(env, m)?;
        list_add(env, c, &memories, o)?;
    }
    let next = match page.next_after_id { Some(n) => Value::from(n), None => Value::Null };
    let map = to_java(env, c, &serde_json::json!({ "next_after_id": next }))?;
    map_put(env, c, &map, "memories", memories)?;
    Ok(map.into_raw())
});

native!(Java_ov_memory_Native_count(env, handle: jlong, opts: JString<'l>) -> jlong = 0, {
    let s = store(handle)?;
    let o = options(env, &opts, ScopeOptions::from_json)?;
    Ok(count(s.count(&o)?))
});

native!(Java_ov_memory_Native_getMany(env, handle: jlong, ids_: JLongArray<'l>) -> jobject = std::ptr::null_mut(), {
    let s = store(handle)?;
    let all = s.get_many(&ids(env, &ids_)?)?;
    let c = cache()?;
    let list = new_list(env, c, all.len())?;
    for m in all {
        let o = match m { Some(m) => memory(env, m)?, None => JObject::null() };
        list_add(env, c, &list, o)?;
    }
    Ok(list.into_raw())
});

native!(Java_ov_memory_Native_deleteMany(env, handle: jlong, ids_: JLongArray<'l>) -> jlong = 0, {
    let s = store(handle)?;
    Ok(count(s.delete_many(&ids(env, &ids_)?)?))
});

native!(Java_ov_memory_Native_deleteNamespace(env, handle: jlong, ns: JString<'l>) -> jlong = 0, {
    let s = store(handle)?;
    let ns = string(env, &ns, "namespace")?;
    Ok(count(s.delete_namespace(&ns)?))
});

native!(Java_ov_memory_Native_sweep(_env, handle: jlong) -> jlong = 0, {
    Ok(count(store(handle)?.sweep()?))
});

native!(Java_ov_memory_Native_namespaces(env, handle: jlong) -> jobject = std::ptr::null_mut(), {
    let n = store(handle)?.namespaces();
    result(env, &n)
});

native!(Java_ov_memory_Native_hubs(env, handle: jlong, ns: JString<'l>) -> jlongArray = std::ptr::null_mut(), {
    let s = store(handle)?;
    let ns = opt_string(env, &ns)?.unwrap_or_default();
    long_array(env, &s.hubs_in(&ns))
});

native!(Java_ov_memory_Native_exportJsonl(env, handle: jlong, opts: JString<'l>) -> jstring = std::ptr::null_mut(), {
    let s = store(handle)?;
    let o = options(env, &opts, ScopeOptions::from_json)?;
    let text = s.export_jsonl(&o)?;
    Ok(env.new_string(text)?.into_raw())
});

native!(Java_ov_memory_Native_importJsonl(env, handle: jlong, jsonl: JString<'l>, opts: JString<'l>)
        -> jobject = std::ptr::null_mut(), {
    let s = store(handle)?;
    let jsonl = string(env, &jsonl, "jsonl")?;
    let o = options(env, &opts, ImportOptions::from_json)?;
    let r = s.import_jsonl(&jsonl, &o)?;
    result(env, &r)
});

native!(Java_ov_memory_Native_toBytes(env, handle: jlong) -> jbyteArray = std::ptr::null_mut(), {
    let b = store(handle)?.to_bytes()?;
    Ok(env.byte_array_from_slice(&b)?.into_raw())
});

native!(Java_ov_memory_Native_loadBytes(env, handle: jlong, data: JByteArray<'l>) -> () = (), {
    let s = store(handle)?;
    if data.is_null() {
        return Err(invalid("data", "data must not be null"));
    }
    let b = env.convert_byte_array(&data)?;
    Ok(s.load_bytes(&b)?)
});

native!(Java_ov_memory_Native_save(env, handle: jlong, path: JString<'l>) -> () = (), {
    let s = store(handle)?;
    let path = string(env, &path, "path")?;
    Ok(s.save(path)?)
});

native!(Java_ov_memory_Native_load(env, handle: jlong, path: JString<'l>) -> () = (), {
    let s = store(handle)?;
    let path = string(env, &path, "path")?;
    Ok(s.load(path)?)
});

native!(Java_ov_memory_Native_setAutosave(env, handle: jlong, path: JString<'l>, every: jlong) -> () = (), {
    let s = store(handle)?;
    let path = opt_string(env, &path)?;
    let every = match (&path, u64::try_from(every)) {
        (None, _) => 0,
        (Some(_), Ok(n)) if n >= 1 => n,
        _ => return Err(invalid("everyChanges", "everyChanges must be a whole number >= 1")),
    };
    Ok(s.set_autosave(path.map(std::path::PathBuf::from), every)?)
});

native!(Java_ov_memory_Native_health(env, handle: jlong) -> jobject = std::ptr::null_mut(), {
    let h = store(handle)?.health();
    result(env, &h)
});

native!(Java_ov_memory_Native_healthJson(env, handle: jlong) -> jstring = std::ptr::null_mut(), {
    let h = store(handle)?.health_json();
    Ok(env.new_string(h)?.into_raw())
});

native!(Java_ov_memory_Native_metrics(env, handle: jlong) -> jobject = std::ptr::null_mut(), {
    let m = store(handle)?.metrics();
    result(env, &m)
});

native!(Java_ov_memory_Native_prometheus(env, handle: jlong) -> jstring = std::ptr::null_mut(), {
    let p = store(handle)?.prometheus();
    Ok(env.new_string(p)?.into_raw())
});

native!(Java_ov_memory_Native_openmetrics(env, handle: jlong) -> jstring = std::ptr::null_mut(), {
    let p = store(handle)?.openmetrics();
    Ok(env.new_string(p)?.into_raw())
});

native!(Java_ov_memory_Native_setLogLevel(env, handle: jlong, level: JString<'l>) -> () = (), {
    let s = store(handle)?;
    let name = string(env, &level, "level")?;
    let level = Level::parse(&name)
        .ok_or_else(|| invalid("level", "level must be DEBUG, INFO, WARNING, ERROR or CRITICAL"))?;
    s.set_log_level(level);
    Ok(())
});

native!(Java_ov_memory_Native_logLevel(env, handle: jlong) -> jstring = std::ptr::null_mut(), {
    let l = store(handle)?.log_level();
    Ok(env.new_string(l.name())?.into_raw())
});

native!(Java_ov_memory_Native_setLogCallback(env, handle: jlong, callback: JObject<'l>) -> () = (), {
    let s = store(handle)?;
    let sink = if callback.is_null() {
        LogSink::None
    } else {
        let target = env.new_global_ref(callback)?;
        LogSink::Callback(Arc::new(move |line: &str| {
            let Some(vm) = VM.get() else { return };
            // Lines are delivered on the thread that logged (attached if it is not a Java thread).
            let Ok(mut env) = vm.attach_current_thread() else { return };
            let delivered = env.new_string(line).and_then(|s| {
                let r = env.call_method(target.as_obj(), "accept", "(Ljava/lang/Object;)V", &[JValue::Object(&s)]);
                let _ = env.delete_local_ref(s);
                r
            });
            if delivered.is_err() {
                // A throwing callback must not fail the call that logged.
                let _ = env.exception_clear();
            }
        }))
    };
    s.set_log_sink(sink);
    Ok(())
});

native!(Java_ov_memory_Native_logTo(env, handle: jlong, target: JString<'l>) -> () = (), {
    let s = store(handle)?;
    let sink = match opt_string(env, &target)?.as_deref() {
        None => LogSink::None,
        Some("stderr") => LogSink::Stderr,
        Some("stdout") => LogSink::Stdout,
        Some(_) => return Err(invalid("target", "target must be \"stderr\", \"stdout\" or null")),
    };
    s.set_log_sink(sink);
    Ok(())
});

native!(Java_ov_memory_Native_resetBreaker(_env, handle: jlong) -> () = (), {
    store(handle)?.reset_breaker();
    Ok(())
});

native!(Java_ov_memory_Native_metabolism(env, handle: jlong) -> jobject = std::ptr::null_mut(), {
    let m = store(handle)?.metabolism();
    result(env, &m)
});

native!(Java_ov_memory_Native_resetMetabolism(_env, handle: jlong) -> () = (), {
    store(handle)?.reset_metabolism();
    Ok(())
});

native!(Java_ov_memory_Native_resizeMetabolism(_env, handle: jlong, budget: jlong) -> () = (), {
    let budget = u64::try_from(budget).map_err(|_| invalid("budget_tokens", "budget_tokens must be >= 1"))?;
    Ok(store(handle)?.resize_metabolism(budget)?)
});

native!(Java_ov_memory_Native_config(env, handle: jlong) -> jobject = std::ptr::null_mut(), {
    let s = store(handle)?;
    result(env, s.config())
});

native!(Java_ov_memory_Native_size(_env, handle: jlong) -> jlong = 0, {
    Ok(count(store(handle)?.len()))
});

native!(Java_ov_memory_Native_checkIntegrity(_env, handle: jlong) -> () = (), {
    Ok(store(handle)?.check_integrity()?)
});

native!(Java_ov_memory_Native_estimateTokens(env, text: JString<'l>) -> jlong = 0, {
    let text = string(env, &text, "text")?;
    Ok(count(ov_memory::estimate_tokens(&text)))
});

native!(Java_ov_memory_Native_version(env) -> jstring = std::ptr::null_mut(), {
    Ok(env.new_string(env!("CARGO_PKG_VERSION"))?.into_raw())
});
