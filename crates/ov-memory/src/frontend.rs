//! Helpers shared by the front-ends, so the C, Node and WebAssembly crates only
//! convert arguments: the JSON error protocol of the JS front-ends, checks of
//! JS numbers used as ids and timeouts, and batches given as one flat vector.
//! Pure Rust; no FFI types.

use crate::error::{Error, Result};
use crate::store::{NewMemory, Store};
use serde::Serialize;
use serde_json::{json, Value};

/// The keys an options type's JSON (or Python keywords) may hold: every
/// spelling its derived `Deserialize` accepts, aliases included (what it
/// hands to `deserialize_struct`); empty for a type that is not a struct.
/// The generated TypeScript types and the Python stubs are checked against it.
///
/// ```
/// let keys = ov_memory::frontend::accepted_keys::<ov_memory::ImportOptions>();
/// assert_eq!(keys, ["keepIds", "keep_ids", "timeoutMs", "timeout_ms"]);
/// ```
pub fn accepted_keys<T: serde::de::DeserializeOwned>() -> &'static [&'static str] {
    use serde::de::{value::Error, Deserializer, Error as _, Visitor};
    struct Probe<'a>(&'a mut &'static [&'static str]);
    impl<'de> Deserializer<'de> for Probe<'_> {
        type Error = Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> std::result::Result<V::Value, Error> {
            Err(Error::custom("not a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> std::result::Result<V::Value, Error> {
            *self.0 = fields;
            Err(Error::custom("probed"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
            unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Probe(&mut fields));
    fields
}

/// 2^53: the largest whole number a JS number (f64) holds exactly.
pub const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_992.0;

/// The error as the JSON text `{"code","message","context"}` that the JS
/// front-ends throw and their TypeScript surface turns into `OvMemoryError`.
pub fn error_json(e: &Error) -> String {
    json!({ "code": e.code().name(), "message": e.message(), "context": e.context() }).to_string()
}

/// Any serialisable value as JSON text.
pub fn to_json<T: Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned())
}

/// A JS number as a memory id: a whole number in 0..=2^53.
pub fn id_from_number(v: f64) -> Result<u64> {
    if (0.0..=MAX_SAFE_INTEGER).contains(&v) && v.fract() == 0.0 {
        Ok(v as u64)
    } else {
        Err(Error::invalid("id", "id must be a whole number >= 0"))
    }
}

/// A JS number as a timeout in ms (absent: the store's default).
pub fn timeout_from_number(v: Option<f64>) -> Result<Option<u64>> {
    match v {
        None => Ok(None),
        Some(ms) if (1.0..=MAX_SAFE_INTEGER).contains(&ms) => Ok(Some(ms as u64)),
        Some(_) => Err(Error::invalid("timeout_ms", "timeout_ms must be a number >= 1")),
    }
}

/// A JS number as a token budget: a whole number >= 1.
pub fn budget_from_number(v: f64) -> Result<u64> {
    if (1.0..=MAX_SAFE_INTEGER).contains(&v) && v.fract() == 0.0 {
        Ok(v as u64)
    } else {
        Err(Error::invalid("budget_tokens", "budget_tokens must be a whole number >= 1"))
    }
}

/// A JS number as Unix milliseconds (absent: `None`): a whole number within ±2^53.
pub fn millis_from_number(v: Option<f64>, field: &str) -> Result<Option<i64>> {
    match v {
        None => Ok(None),
        Some(ms) if ms.abs() <= MAX_SAFE_INTEGER && ms.fract() == 0.0 => Ok(Some(ms as i64)),
        Some(_) => Err(Error::invalid(field, format!("{field} must be a whole number of Unix milliseconds"))),
    }
}

/// Many JS numbers as Unix milliseconds (see [`millis_from_number`]).
pub fn millis_from_numbers(v: Option<&[f64]>, field: &str) -> Result<Option<Vec<i64>>> {
    v.map(|xs| {
        xs.iter()
            .enumerate()
            .map(|(i, &x)| millis_from_number(Some(x), field).map(|m| m.unwrap_or(0)).map_err(|e| e.with("index", i)))
            .collect()
    })
    .transpose()
}

/// The options of one add beyond the common ones, as the JS front-ends pass
/// them (one JSON object text, only when some are set).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
struct AddExtra {
    namespace: Option<String>,
    key: Option<String>,
    #[serde(alias = "expiresAt")]
    expires_at: Option<i64>,
    #[serde(alias = "ttlMs")]
    ttl_ms: Option<u64>,
}

/// The options of one add as the JS front-ends pass them (JS numbers,
/// metadata as JSON text, `{namespace, key, expires_at, ttl_ms}` as JSON text).
pub fn add_options(
    weight: Option<f64>,
    metadata_json: Option<&str>,
    timeout_ms: Option<f64>,
    created_at: Option<f64>,
    extra_json: Option<&str>,
) -> Result<crate::AddOptions> {
    let extra: AddExtra = match extra_json {
        Some(t) => crate::retrieve::parse_options(t, "options")?,
        None => AddExtra::default(),
    };
    Ok(crate::AddOptions {
        weight,
        metadata: metadata_from_json(metadata_json)?,
        timeout_ms: timeout_from_number(timeout_ms)?,
        created_at: millis_from_number(created_at, "created_at")?,
        namespace: extra.namespace,
        key: extra.key,
        expires_at: extra.expires_at,
        ttl_ms: extra.ttl_ms,
    })
}

/// The batch options the C and JS front-ends pass as one JSON object beside
/// their positional arguments: [`BatchOptions`] without the fields those give
/// positionally (`weights`, `metadata`, `created_at`, `timeout_ms`), so its
/// JSON keys are `namespace`, `keys`, `expires_at`/`expiresAt`, `ttl_ms`/`ttlMs`.
pub type BatchExtra = BatchOptions;

/// Every option of a batch add as one object, for the front-ends that pass
/// options as one value (Python keyword arguments, Java maps). JSON keys:
/// `weights`, `metadata`, `created_at`/`createdAt`, `timeout_ms`/`timeoutMs`,
/// `namespace`, `keys`, `expires_at`/`expiresAt`, `ttl_ms`/`ttlMs`; the
/// per-item ones (`weights`, `metadata`, `created_at`, `keys`, `expires_at`)
/// hold one entry per text.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BatchOptions {
    /// One weight per text.
    pub weights: Option<Vec<f64>>,
    /// One metadata object (or null) per text.
    pub metadata: Option<Vec<Option<Value>>>,
    /// One creation time (Unix ms) per text.
    #[serde(alias = "createdAt")]
    pub created_at: Option<Vec<i64>>,
    /// Deadline of the whole batch, ms.
    #[serde(alias = "timeoutMs")]
    pub timeout_ms: Option<u64>,
    /// One namespace for the whole batch.
    pub namespace: Option<String>,
    /// One key (or null) per text.
    pub keys: Option<Vec<Option<String>>>,
    /// One expiry (or null) per text, Unix ms.
    #[serde(alias = "expiresAt")]
    pub expires_at: Option<Vec<Option<i64>>>,
    /// One time to live for the whole batch, ms.
    #[serde(alias = "ttlMs")]
    pub ttl_ms: Option<u64>,
}

impl BatchOptions {
    /// Parses the options from a JSON object text (`{}`: none).
    pub fn from_json(text: &str) -> Result<BatchOptions> {
        crate::retrieve::parse_options(text, "options")
    }

    /// Parses a [`BatchExtra`] from a JSON object text (`None`: none): the
    /// fields the front-end takes as their own arguments (`positional`, some
    /// of `weights`, `metadata`, `created_at`, `timeout_ms`) are rejected here.
    pub fn extra_from_json(text: Option<&str>, positional: &[&str]) -> Result<BatchExtra> {
        let o = text.map(BatchOptions::from_json).transpose()?.unwrap_or_default();
        let set = [
            ("weights", o.weights.is_some()),
            ("metadata", o.metadata.is_some()),
            ("created_at", o.created_at.is_some()),
            ("timeout_ms", o.timeout_ms.is_some()),
        ];
        match set.iter().find(|(field, set)| *set && positional.contains(field)) {
            Some((field, _)) => {
                Err(Error::invalid("options", format!("{field} is its own argument here, not an option")))
            }
            None => Ok(o),
        }
    }
}

/// The batch fields the JS front-ends take as arguments of their own.
pub const JS_BATCH_ARGUMENTS: [&str; 4] = ["weights", "metadata", "created_at", "timeout_ms"];

/// JS numbers as memory ids (see [`id_from_number`]).
pub fn ids_from_numbers(v: &[f64]) -> Result<Vec<u64>> {
    v.iter().enumerate().map(|(i, &x)| id_from_number(x).map_err(|e| e.with("index", i))).collect()
}

/// A JS number returned by a host token counter: a whole number ≥ 0.
pub fn tokens_from_number(v: f64) -> Result<usize> {
    if (0.0..=MAX_SAFE_INTEGER).contains(&v) && v.fract() == 0.0 {
        Ok(v as usize)
    } else {
        Err(Error::invalid("token_counter", "the token counter must return a whole number >= 0")
            .with("got", if v.is_finite() { Value::from(v) } else { Value::from(v.to_string()) }))
    }
}

/// A store configuration from a JSON object text (`{}` gives the defaults).
/// Every front-end takes the same text: empty text is an error everywhere.
pub fn config_from_json(text: &str) -> Result<crate::Config> {
    crate::Config::from_json(text)
}

/// Optional metadata given as JSON text.
pub fn metadata_from_json(text: Option<&str>) -> Result<Option<Value>> {
    text.map(crate::validate::parse_metadata_json).transpose()
}

impl Store {
    /// Adds a batch given as one flat vector of `texts.len() × embedding_dim`
    /// values, optional weights (one per text) and optional metadata JSON texts
    /// (one per text, each absent or an object), optional creation times (Unix
    /// ms, one per text). All or nothing, like
    /// [`Store::add_batch`].
    #[allow(clippy::too_many_arguments)]
    pub fn add_batch_flat<T: AsRef<str>, M: AsRef<str>>(
        &self,
        flat: &[f32],
        texts: &[T],
        weights: Option<&[f64]>,
        metadata_json: Option<&[Option<M>]>,
        created_at: Option<&[i64]>,
        timeout_ms: Option<u64>,
        extra: &BatchExtra,
    ) -> Result<Vec<u64>> {
        let metadata = metadata_json
            .map(|m| {
                m.iter()
                    .enumerate()
                    .map(|(i, t)| metadata_from_json(t.as_ref().map(AsRef::as_ref)).map_err(|e| e.with("index", i)))
                    .collect::<Result<Vec<_>>>()
            })
            .transpose()?;
        let options = BatchOptions {
            weights: weights.map(<[f64]>::to_vec),
            metadata,
            created_at: created_at.map(<[i64]>::to_vec),
            timeout_ms,
            ..extra.clone()
        };
        self.add_batch_rows(flat, texts, &options)
    }

    /// Adds a batch given as one flat vector of `texts.len() × embedding_dim`
    /// values with [`BatchOptions`]. All or nothing, like [`Store::add_batch`];
    /// a per-item option with the wrong number of entries is INVALID_DATA.
    pub fn add_batch_rows<T: AsRef<str>>(&self, flat: &[f32], texts: &[T], options: &BatchOptions) -> Result<Vec<u64>> {
        let dim = self.config().embedding_dim;
        let n = texts.len();
        if Some(flat.len()) != n.checked_mul(dim) {
            return Err(Error::invalid("embeddings", "embeddings must hold texts × embedding_dim values")
                .with("expected", n.saturating_mul(dim))
                .with("got", flat.len()));
        }
        let per_item = [
            ("weights", options.weights.as_ref().map(Vec::len)),
            ("metadata", options.metadata.as_ref().map(Vec::len)),
            ("created_at", options.created_at.as_ref().map(Vec::len)),
            ("keys", options.keys.as_ref().map(Vec::len)),
            ("expires_at", options.expires_at.as_ref().map(Vec::len)),
        ];
        for (field, len) in per_item {
            if len.is_some_and(|len| len != n) {
                return Err(Error::invalid(field, format!("{field} must have one entry per text"))
                    .with("expected", n)
                    .with("got", len.unwrap_or(0)));
            }
        }
        let items: Vec<NewMemory<'_>> = (0..n)
            .map(|i| NewMemory {
                embedding: &flat[i * dim..(i + 1) * dim],
                text: texts[i].as_ref(),
                weight: options.weights.as_ref().map(|w| w[i]),
                metadata: options.metadata.as_ref().and_then(|m| m[i].clone()),
                created_at: options.created_at.as_ref().map(|c| c[i]),
                namespace: options.namespace.clone(),
                key: options.keys.as_ref().and_then(|k| k[i].clone()),
                expires_at: options.expires_at.as_ref().and_then(|k| k[i]),
                ttl_ms: options.ttl_ms,
            })
            .collect();
        self.add_batch(&items, options.timeout_ms)
    }

    /// [`Store::update`] with the embedding passed apart from the other fields
    /// (a vector, not JSON) and the rest as a JSON object text
    /// ([`crate::MemoryUpdate`]'s keys; `embedding` must not appear in both).
    pub fn update_with(&self, id: u64, embedding: Option<&[f32]>, patch_json: Option<&str>) -> Result<()> {
        let mut patch = match patch_json {
            Some(t) => crate::MemoryUpdate::from_json(t)?,
            None => crate::MemoryUpdate::default(),
        };
        if let Some(e) = embedding {
            if patch.embedding.is_some() {
                return Err(Error::invalid("embedding", "give the embedding as a vector or in the update, not both"));
            }
            patch.embedding = Some(e.to_vec());
        }
        self.update(id, &patch)
    }

    /// [`Store::retrieve_many`] for queries given flat: `flat` holds the
    /// embeddings of the queries that have one, in order (`has_embedding`,
    /// one byte per query, non-zero for those that have one, as JS passes a
    /// `Uint8Array`; `None`: every query has one if `flat` is given, none
    /// otherwise), `texts` one text or none per query. `n` is the number of
    /// queries. Returns the JSON array of hit arrays.
    pub fn retrieve_many_flat<S: AsRef<str>>(
        &self,
        n: usize,
        flat: Option<&[f32]>,
        has_embedding: Option<&[u8]>,
        texts: Option<&[Option<S>]>,
        options: &crate::RetrieveOptions,
    ) -> Result<String> {
        self.retrieve_many_json(&self.flat_queries(n, flat, has_embedding, texts)?, options)
    }

    /// The queries of [`Store::retrieve_many_flat`], checked.
    fn flat_queries<'a, S: AsRef<str>>(
        &self,
        n: usize,
        flat: Option<&'a [f32]>,
        has_embedding: Option<&[u8]>,
        texts: Option<&'a [Option<S>]>,
    ) -> Result<Vec<crate::BatchQuery<'a>>> {
        let dim = self.config().embedding_dim;
        if texts.is_some_and(|t| t.len() != n) {
            return Err(Error::invalid("texts", "texts must have one entry per query"));
        }
        let has: Vec<bool> = match has_embedding {
            Some(h) if h.len() != n => {
                return Err(Error::invalid("has_embedding", "has_embedding must have one entry per query"))
            }
            Some(h) => h.iter().map(|&b| b != 0).collect(),
            None => vec![flat.is_some(); n],
        };
        let with = has.iter().filter(|&&h| h).count();
        let flat = flat.unwrap_or(&[]);
        if Some(flat.len()) != with.checked_mul(dim) {
            return Err(Error::invalid(
                "embeddings",
                "embeddings must hold embedding_dim values per query that has one",
            )
            .with("expected", with.saturating_mul(dim))
            .with("got", flat.len()));
        }
        let mut next = 0;
        let queries: Vec<crate::BatchQuery<'_>> = (0..n)
            .map(|i| {
                let embedding = has[i].then(|| {
                    next += dim;
                    &flat[next - dim..next]
                });
                crate::BatchQuery { embedding, text: texts.and_then(|t| t[i].as_ref()).map(AsRef::as_ref) }
            })
            .collect();
        Ok(queries)
    }

    /// [`Store::list`] with options as a JSON object text, the page as JSON text.
    pub fn list_with_json(&self, options_json: &str) -> Result<String> {
        self.list_json(&crate::ListOptions::from_json(options_json)?)
    }

    /// [`Store::count`] with options as a JSON object text.
    pub fn count_with_json(&self, options_json: &str) -> Result<usize> {
        self.count(&crate::ScopeOptions::from_json(options_json)?)
    }

    /// [`Store::export_jsonl`] with options as a JSON object text.
    pub fn export_with_json(&self, options_json: &str) -> Result<String> {
        self.export_jsonl(&crate::ScopeOptions::from_json(options_json)?)
    }

    /// [`Store::import_jsonl`] with options as a JSON object text; the report as JSON text.
    pub fn import_with_json(&self, jsonl: &str, options_json: &str) -> Result<String> {
        let report = self.import_jsonl(jsonl, &crate::ImportOptions::from_json(options_json)?)?;
        Ok(to_json(&report))
    }

    /// [`Store::namespaces`] as a JSON object text.
    pub fn namespaces_json(&self) -> String {
        to_json(&self.namespaces())
    }

    /// The memory as JSON text, or `None` for an unknown id (the JS `get` returns null).
    pub fn get_json(&self, id: u64) -> Result<Option<String>> {
        match self.get(id) {
            Ok(m) => Ok(Some(to_json(&m))),
            Err(e) if e.code() == crate::ErrorCode::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Retrieve options from a JavaScript front-end, which passes `topK` on its
/// own when it is a whole number and the only spelling of it given (−1: not
/// so), and the other options as JSON text. The usual call, `{ topK: k }`
/// alone, then crosses no JSON at all (the text is `{}`, which is not
/// parsed). `top_k` other than −1 or a whole number from 0 to 2^53 is
/// INVALID_DATA.
pub fn retrieve_options(top_k: f64, json: &str) -> Result<crate::RetrieveOptions> {
    let mut options = crate::RetrieveOptions::from_json(json)?;
    if top_k != -1.0 {
        if !(top_k.fract() == 0.0 && (0.0..=9_007_199_254_740_992.0).contains(&top_k)) {
            return Err(
                Error::invalid("options", "invalid options: topK must be a whole number >= 0").with("got", top_k)
            );
        }
        options.top_k = top_k as usize;
    }
    Ok(options)
}

/// Numbers per hit in [`pack_hits`].
pub const PACKED_HIT_NUMBERS: usize = PACKED_HIT_FIELDS.len();

/// What each of a hit's numbers in [`pack_hits`] is, in order: the JavaScript
/// front-ends read the layout from here (through their native module), so it
/// is written down once. The last three are lengths in UTF-16 code units of
/// the hit's text, namespace and metadata JSON (−1: no metadata).
pub const PACKED_HIT_FIELDS: [&str; 13] =
    ["id", "created_at", "S", "L", "C", "G", "R", "W", "rel", "P", "text_units", "namespace_units", "metadata_units"];

/// Hits in the form the JavaScript front-ends read without parsing JSON:
/// [`PACKED_HIT_NUMBERS`] numbers per hit, as [`PACKED_HIT_FIELDS`] names
/// them, and one string, each hit's text, namespace and metadata JSON in
/// turn. Every number is the f64 the JSON form would parse to (scores bit for bit).
pub fn pack_hits(hits: &[crate::Hit]) -> (Vec<f64>, String) {
    let mut numbers = Vec::with_capacity(hits.len() * PACKED_HIT_NUMBERS);
    // Sized for the texts and namespaces (metadata, rarely present, may grow it).
    let mut strings = String::with_capacity(hits.iter().map(|h| h.text.len() + h.namespace.len()).sum());
    let units = |s: &str| if s.is_ascii() { s.len() } else { s.encode_utf16().count() } as f64;
    for h in hits {
        let sc = &h.score;
        numbers.extend_from_slice(&[
            h.id as f64,
            h.created_at as f64,
            sc.s,
            sc.l,
            sc.c,
            sc.g,
            sc.r,
            sc.w,
            sc.rel,
            sc.p,
        ]);
        let meta = h.metadata.as_ref().map(to_json);
        numbers.extend_from_slice(&[units(&h.text), units(&h.namespace), meta.as_deref().map_or(-1.0, units)]);
        strings.push_str(&h.text);
        strings.push_str(&h.namespace);
        strings.push_str(meta.as_deref().unwrap_or(""));
    }
    (numbers, strings)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `topK` passed on its own gives what the same options as JSON give.
    #[test]
    fn top_k_on_its_own_is_the_json_option() {
        for k in [0.0, 1.0, 7.0, 1e6] {
            let alone = retrieve_options(k, r#"{"alpha": 0.5}"#).unwrap();
            let json = crate::RetrieveOptions::from_json(&format!(r#"{{"topK": {k}, "alpha": 0.5}}"#)).unwrap();
            assert_eq!(alone, json, "{k}");
        }
        assert_eq!(retrieve_options(-1.0, "{}").unwrap(), crate::RetrieveOptions::default());
        assert_eq!(retrieve_options(-1.0, r#"{"top_k": 3}"#).unwrap().top_k, 3);
        for bad in [-2.0, 2.5, f64::NAN, f64::INFINITY, 1e300] {
            let e = retrieve_options(bad, "{}").unwrap_err();
            assert_eq!(e.code(), crate::ErrorCode::InvalidData, "{bad}");
        }
        assert!(retrieve_options(3.0, "[]").is_err());
    }

    /// `pack_hits` writes each number where `PACKED_HIT_FIELDS` says it is.
    #[test]
    fn packed_numbers_follow_their_names() {
        let hit = crate::Hit {
            id: 7,
            text: "tea é".into(),
            metadata: Some(serde_json::json!({ "k": 1 })),
            created_at: 11,
            namespace: "ns".into(),
            score: crate::Score { s: 0.1, l: 0.2, c: 0.3, g: 0.4, r: 0.5, w: 0.6, rel: 0.7, p: 0.8 },
        };
        let (numbers, strings) = pack_hits(&[hit.clone(), hit]);
        assert_eq!(numbers.len(), 2 * PACKED_HIT_NUMBERS);
        assert_eq!(strings, "tea énsnull".replace("null", "{\"k\":1}").repeat(2));
        let want = [7.0, 11.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 5.0, 2.0, 7.0];
        for (i, name) in PACKED_HIT_FIELDS.iter().enumerate() {
            assert_eq!(numbers[i], want[i], "{name}");
            assert_eq!(numbers[PACKED_HIT_NUMBERS + i], want[i], "{name} of the second hit");
        }
    }
    use crate::{Config, ErrorCode};

    #[test]
    fn numbers_from_js() {
        assert_eq!(id_from_number(3.0).unwrap(), 3);
        for bad in [-1.0, 1.5, f64::NAN, f64::INFINITY, MAX_SAFE_INTEGER * 2.0] {
            assert_eq!(id_from_number(bad).unwrap_err().code(), ErrorCode::InvalidData);
        }
        assert_eq!(timeout_from_number(None).unwrap(), None);
        assert_eq!(timeout_from_number(Some(10.0)).unwrap(), Some(10));
        assert!(timeout_from_number(Some(0.5)).is_err());
        assert_eq!(budget_from_number(100.0).unwrap(), 100);
        assert!(budget_from_number(0.0).is_err() && budget_from_number(1.5).is_err());
        let e: Value = serde_json::from_str(&error_json(&Error::invalid("x", "bad").with("got", 2))).unwrap();
        assert_eq!(e, json!({"code": "INVALID_DATA", "message": "bad", "context": {"field": "x", "got": 2}}));
    }

    #[test]
    fn flat_batches() {
        let s = Store::new(Config { embedding_dim: 2, ..Config::default() }).unwrap();
        let flat = [1.0, 0.0, 0.0, 1.0];
        let metas = [None, Some(r#"{"k":1}"#)];
        assert_eq!(
            s.add_batch_flat(&flat, &["a", "b"], Some(&[1.0, 2.0]), Some(&metas), None, None, &BatchExtra::default())
                .unwrap(),
            vec![1, 2]
        );
        assert_eq!(s.get(2).unwrap().metadata, Some(json!({"k": 1})));
        let none: Option<&[Option<&str>]> = None;
        for (flat, texts, weights) in [
            (&flat[..3], &["a", "b"][..], None),
            (&flat[..], &["a"][..], None),
            (&flat[..], &["a", "b"][..], Some(&[1.0][..])),
        ] {
            assert_eq!(
                s.add_batch_flat(flat, texts, weights, none, None, None, &BatchExtra::default()).unwrap_err().code(),
                ErrorCode::InvalidData
            );
        }
        let bad = [None, Some("[1]")];
        let e = s.add_batch_flat(&flat, &["a", "b"], None, Some(&bad), None, None, &BatchExtra::default()).unwrap_err();
        assert_eq!(e.context()["index"], 1);
        assert_eq!(s.len(), 2);
        assert_eq!(s.get_json(9).unwrap(), None);
        assert!(s.get_json(1).unwrap().unwrap().contains("\"text\":\"a\""));
    }
}
