//! Ranked retrieval: the exact top-k by the score of `scoring` (read that
//! module for the formula), ordered by P descending and then by lower id, so
//! results are deterministic. The scan checks its deadline every 1 024
//! memories.

use crate::clock::Deadline;
use crate::config::Scoring;
use crate::error::{Error, Result};
use crate::log::Level;
use crate::manage::{BatchQuery, Namespaces, ScopeSpec};
use crate::metrics::Op;
use crate::scoring::{Cosines, QueryParts, Ranking, Scope, Scorer, SCAN_BLOCK};
use crate::store::{State, Store};
use crate::validate;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub use crate::scoring::Score;

/// Options of [`Store::retrieve`]. JSON keys: `top_k`/`topK`, `alpha`,
/// `timeout_ms`/`timeoutMs`, `scoring`, `now`, `text`,
/// `hybrid_weight`/`hybridWeight`, `namespace`, `filter`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(rename_all = "camelCase"))]
pub struct RetrieveOptions {
    /// How many results at most (≥ 1; clamped to the number of memories). Default 5.
    #[serde(alias = "topK")]
    pub top_k: usize,
    /// Alpha ∈ [0, 1]; default: the configured `alpha`.
    pub alpha: Option<f64>,
    /// Deadline in ms; default: the configured `timeout_ms`.
    #[serde(alias = "timeoutMs")]
    pub timeout_ms: Option<u64>,
    /// Score form; default: the configured `scoring`.
    pub scoring: Option<Scoring>,
    /// The time to score as of (Unix ms, ≥ 0): recency is measured from each
    /// memory's `created_at` to this instant. Default: the store's clock.
    pub now: Option<i64>,
    /// The query's text, for lexical relevance (BM25). With an embedding too,
    /// relevance fuses both; alone, it is the whole query.
    pub text: Option<String>,
    /// Weight of semantic relevance in the fusion, in [0, 1]; default: the
    /// configured `hybrid_weight`.
    #[serde(alias = "hybridWeight")]
    pub hybrid_weight: Option<f64>,
    /// The namespace to search, or a list of them; default `""`.
    pub namespace: Option<Namespaces>,
    /// A metadata filter (see the `filter` module); only memories that pass are ranked.
    #[cfg_attr(feature = "ts", ts(type = "Filter"))]
    pub filter: Option<Value>,
    /// Scan every memory even in namespaces served by their approximate
    /// index (see `Config::exact_limit`). Default false.
    pub exact: bool,
    /// Candidates taken from each approximate index (1..=10 000; at least
    /// `top_k` are taken). Default 96: more finds more of the exact top k, slower.
    pub ef: Option<usize>,
}

impl Default for RetrieveOptions {
    fn default() -> Self {
        RetrieveOptions {
            top_k: 5,
            alpha: None,
            timeout_ms: None,
            scoring: None,
            now: None,
            text: None,
            hybrid_weight: None,
            namespace: None,
            filter: None,
            exact: false,
            ef: None,
        }
    }
}

impl RetrieveOptions {
    /// Options with this `top_k` and defaults otherwise.
    pub fn top_k(top_k: usize) -> RetrieveOptions {
        RetrieveOptions { top_k, ..RetrieveOptions::default() }
    }

    /// Parses options from a JSON object text (`{}` gives the defaults).
    pub fn from_json(text: &str) -> Result<RetrieveOptions> {
        parse_options(text, "options")
    }
}

/// Parses a JSON object of options (missing keys take their defaults; unknown
/// or duplicate keys are rejected).
pub(crate) fn parse_options<T: serde::de::DeserializeOwned + Default>(text: &str, field: &str) -> Result<T> {
    // No options (what a front-end sends for a call without any): every option
    // type is `#[serde(default)]` as a whole, so this is what parsing gives.
    if text == "{}" {
        return Ok(T::default());
    }
    // A flat object (no `{` or `[` past the opening brace: what a call with a
    // few scalar options sends) is read straight from the text, at a third of
    // the cost of building a `Value` first (95 against 265 ns for `{"topK":1}`).
    // Derived option types reject a field given twice, under either spelling,
    // so a duplicate key is still refused. Text this does not accept goes the
    // general way, whose error is the one reported.
    if flat_object(text) {
        if let Ok(options) = serde_json::from_str(text) {
            return Ok(options);
        }
    }
    parse_options_value(text, field)
}

/// Whether `text` opens an object and holds no other object or array.
fn flat_object(text: &str) -> bool {
    let bytes = text.trim_start().as_bytes();
    bytes.first() == Some(&b'{') && !bytes[1..].iter().any(|&b| b == b'{' || b == b'[')
}

/// Options parsed into a `Value` first, which rejects a duplicate key at any depth.
fn parse_options_value<T: serde::de::DeserializeOwned>(text: &str, field: &str) -> Result<T> {
    let value = crate::json::parse_object(text, field)?;
    serde_json::from_value(value).map_err(|e| Error::invalid(field, format!("invalid {field}: {e}")))
}

/// One retrieval result.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Hit {
    /// The memory's id.
    pub id: u64,
    /// Its text.
    pub text: String,
    /// Its metadata, if any.
    #[cfg_attr(feature = "ts", ts(type = "Record<string, unknown> | null"))]
    pub metadata: Option<Value>,
    /// When it was made, Unix ms.
    pub created_at: i64,
    /// Its namespace.
    pub namespace: String,
    /// The score and its parts.
    pub score: Score,
}

impl Hit {
    /// The hit of a stored memory (`node`, in `graph`) with its score: what
    /// both a retrieval and a context read of a memory.
    pub(crate) fn of(graph: &crate::graph::Graph, node: &crate::graph::Node, score: Score) -> Hit {
        Hit {
            id: node.id,
            text: node.text.clone(),
            metadata: node.metadata().cloned().map(Value::Object),
            created_at: node.created_at,
            namespace: graph.namespaces.name(node.ns).to_owned(),
            score,
        }
    }
}

/// The largest `ef` a query may ask for.
pub const MAX_EF: usize = 10_000;

/// Retrieve options, checked once per call.
struct Checked {
    spec: ScopeSpec,
    top_k: usize,
    scorer: Scorer,
    /// The store's clock at the call (Unix ms): expiry is judged by it.
    clock_ms: i64,
}

impl Store {
    pub(crate) fn scorer(
        &self,
        alpha: f64,
        scoring: Option<Scoring>,
        now_ms: i64,
        hybrid_weight: Option<f64>,
    ) -> Scorer {
        Scorer {
            alpha,
            scoring: scoring.unwrap_or(self.config.scoring),
            tau_secs: self.config.decay_tau_secs,
            now_ms,
            hybrid_weight: hybrid_weight.unwrap_or(self.config.hybrid_weight),
            priors: (self.config.graph_weight, self.config.recency_weight, self.config.importance_weight),
            search_ef: Some(crate::scoring::DEFAULT_EF),
        }
    }

    /// Checks a query (an embedding, a text, or both) and returns its parts.
    /// A text without searchable words adds nothing; a query with neither is INVALID_DATA.
    pub(crate) fn query_parts<'a>(
        &self,
        embedding: Option<&'a [f32]>,
        text: Option<&'a str>,
        logs: &mut crate::log::LogBuf,
    ) -> Result<QueryParts<'a>> {
        let embedding = match embedding {
            Some(e) => {
                let norm = validate::embedding(e, self.config.embedding_dim, "query", logs)?;
                Some((e, crate::graph::inv_norm(norm)))
            }
            None => None,
        };
        if let Some(t) = text {
            validate::query_text(t, self.config.max_text_chars)?;
        }
        let text = text.filter(|t| crate::lexical::Lexical::has_tokens(t));
        if embedding.is_none() && text.is_none() {
            return Err(Error::invalid("query", "a query needs an embedding or a text with searchable words"));
        }
        Ok(QueryParts { embedding, text })
    }

    /// The up to `top_k` memories with the highest score P for `query` (and
    /// `options.text`, if given), best first (ties: lower id), each with its
    /// score parts. Exact over all memories.
    ///
    /// Errors: INVALID_DATA (query, top_k, alpha, now, text), TIMEOUT, CIRCUIT_OPEN.
    ///
    /// ```
    /// use ov_memory::{AddOptions, Config, RetrieveOptions, Store};
    /// let store = Store::new(Config { embedding_dim: 2, ..Config::default() })?;
    /// store.add(&[1.0, 0.0], "east", AddOptions::default())?;
    /// store.add(&[0.0, 1.0], "north", AddOptions::default())?;
    /// let hits = store.retrieve(&[0.9, 0.1], &RetrieveOptions { top_k: 1, alpha: Some(1.0), ..Default::default() })?;
    /// assert_eq!(hits[0].text, "east");
    /// assert!(hits[0].score.s > 0.99);
    /// # Ok::<(), ov_memory::Error>(())
    /// ```
    pub fn retrieve(&self, query: &[f32], options: &RetrieveOptions) -> Result<Vec<Hit>> {
        self.retrieve_query(Some(query), options)
    }

    /// [`Store::retrieve`] for a query that may lack an embedding: `options.text`
    /// alone is a lexical query.
    pub fn retrieve_query(&self, query: Option<&[f32]>, options: &RetrieveOptions) -> Result<Vec<Hit>> {
        self.retrieve_then(query, options, |hits, _| Ok(hits))
    }

    /// [`Store::retrieve_query`] with the hits packed for the JavaScript
    /// front-ends ([`crate::frontend::pack_hits`]): no JSON to write or parse.
    pub fn retrieve_packed(&self, query: Option<&[f32]>, options: &RetrieveOptions) -> Result<(Vec<f64>, String)> {
        self.retrieve_then(query, options, |hits, _| Ok(crate::frontend::pack_hits(&hits)))
    }

    /// [`Store::retrieve_query`] with the result as a JSON array, serialised
    /// under the same deadline (a large result cannot push the call past it by
    /// more than one hit's serialisation). This is what the C and JS front-ends return.
    pub fn retrieve_json(&self, query: Option<&[f32]>, options: &RetrieveOptions) -> Result<String> {
        self.retrieve_then(query, options, |hits, deadline| json_array(&hits, deadline, "retrieve"))
    }

    /// One retrieve call (metrics, breaker, logs, deadline), its hits handed
    /// to `finish` for the form a front-end returns, under the same deadline.
    fn retrieve_then<T>(
        &self,
        query: Option<&[f32]>,
        options: &RetrieveOptions,
        finish: impl FnOnce(Vec<Hit>, &Deadline) -> Result<T>,
    ) -> Result<T> {
        self.call_within(Op::Retrieve, true, options.timeout_ms, |logs, deadline| {
            let hits = self.retrieve_in(query, options, deadline, logs)?;
            finish(hits, deadline)
        })
    }

    fn check_options(&self, options: &RetrieveOptions, logs: &mut crate::log::LogBuf) -> Result<Checked> {
        if options.top_k == 0 {
            return Err(Error::invalid("top_k", "top_k must be at least 1"));
        }
        let alpha = options.alpha.unwrap_or(self.config.alpha);
        validate::alpha(alpha)?;
        validate::now(options.now)?;
        if let Some(w) = options.hybrid_weight {
            validate::unit_interval(w, "hybrid_weight")?;
        }
        let spec = ScopeSpec::new(options.namespace.as_ref(), options.filter.as_ref())?;
        if options.top_k > self.config.max_top_k {
            logs.push(
                Level::Warning,
                "top_k above the configured maximum",
                json!({ "top_k": options.top_k, "max_top_k": self.config.max_top_k }),
            );
        }
        if let Some(ef) = options.ef {
            if !(1..=MAX_EF).contains(&ef) {
                return Err(Error::invalid("ef", format!("ef must be in 1..={MAX_EF}")).with("ef", ef));
            }
        }
        let clock_ms = self.clock.unix_millis();
        let now_ms = options.now.unwrap_or(clock_ms);
        let mut scorer = self.scorer(alpha, options.scoring, now_ms, options.hybrid_weight);
        scorer.search_ef = (!options.exact && options.top_k <= MAX_EF)
            .then(|| options.ef.unwrap_or(crate::scoring::DEFAULT_EF).max(options.top_k));
        Ok(Checked { spec, top_k: options.top_k, scorer, clock_ms })
    }

    fn retrieve_in(
        &self,
        query: Option<&[f32]>,
        options: &RetrieveOptions,
        deadline: &Deadline,
        logs: &mut crate::log::LogBuf,
    ) -> Result<Vec<Hit>> {
        let parts = self.query_parts(query, options.text.as_deref(), logs)?;
        let checked = self.check_options(options, logs)?;
        let st = self.state.read();
        let scope = checked.spec.resolve(&st, checked.clock_ms, deadline, "retrieve")?;
        let hits = rank(&st, parts, &checked, &scope, None, deadline, "retrieve")?;
        drop(st);
        if logs.enabled(Level::Debug) {
            logs.push(Level::Debug, "retrieved", json!({ "results": hits.len(), "top_k": options.top_k }));
        }
        Ok(hits)
    }

    /// Answers several queries in one call, under one read lock and one
    /// deadline, with the same options (each query brings its own embedding
    /// and/or text; `options.text` must be unset). The queries run in
    /// parallel on every core (sequentially in the browser); where the reads
    /// are exact, up to eight query embeddings at a time share one pass over
    /// the stored vectors. The result is the same as one [`Store::retrieve_query`]
    /// per query, to the last bit of every score. All or nothing: one
    /// bad query fails the call with INVALID_DATA naming its `index`.
    pub fn retrieve_many(&self, queries: &[BatchQuery<'_>], options: &RetrieveOptions) -> Result<Vec<Vec<Hit>>> {
        self.call_within(Op::RetrieveMany, true, options.timeout_ms, |logs, deadline| {
            self.retrieve_many_in(queries, options, deadline, logs)
        })
    }

    /// [`Store::retrieve_many`] as a JSON array of arrays, serialised under the deadline.
    pub fn retrieve_many_json(&self, queries: &[BatchQuery<'_>], options: &RetrieveOptions) -> Result<String> {
        self.call_within(Op::RetrieveMany, true, options.timeout_ms, |logs, deadline| {
            let all = self.retrieve_many_in(queries, options, deadline, logs)?;
            json_array(&all, deadline, "retrieve_many")
        })
    }

    fn retrieve_many_in(
        &self,
        queries: &[BatchQuery<'_>],
        options: &RetrieveOptions,
        deadline: &Deadline,
        logs: &mut crate::log::LogBuf,
    ) -> Result<Vec<Vec<Hit>>> {
        if queries.is_empty() {
            return Err(Error::invalid("queries", "retrieve_many needs at least one query"));
        }
        if options.text.is_some() {
            return Err(Error::invalid("text", "in retrieve_many each query carries its own text"));
        }
        let mut parts = Vec::with_capacity(queries.len());
        for (i, q) in queries.iter().enumerate() {
            parts.push(self.query_parts(q.embedding, q.text, logs).map_err(|e| e.with("index", i))?);
        }
        let checked = self.check_options(options, logs)?;
        let st = self.state.read();
        let scope = checked.spec.resolve(&st, checked.clock_ms, deadline, "retrieve_many")?;
        let op = "retrieve_many";
        let all = if scope.exact_for(&st.graph, &checked.scorer) {
            // Exact reads: the queries in blocks of at most SCAN_BLOCK, each
            // block's embeddings compared with every row in one pass over the
            // rows (a row is read from memory once per block, not once per
            // query), the blocks on every core: as many blocks as a multiple
            // of the threads, of sizes differing by at most one, so that no
            // thread is left with one block more than another.
            let n = parts.len();
            let threads = crate::store::threads();
            let blocks = n.div_ceil(SCAN_BLOCK).div_ceil(threads).saturating_mul(threads).min(n);
            let blocks = crate::store::par_map(blocks, |b| {
                let block = &parts[b * n / blocks..(b + 1) * n / blocks];
                let embeddings: Vec<(&[f32], f32)> = block.iter().filter_map(|p| p.embedding).collect();
                let mut scanned = crate::scoring::scan(&st.graph, &scope, &embeddings, deadline, op)?.into_iter();
                block
                    .iter()
                    .map(|&p| {
                        let cos = p.embedding.and_then(|_| scanned.next());
                        rank(&st, p, &checked, &scope, cos, deadline, op)
                    })
                    .collect::<Result<Vec<_>>>()
            });
            blocks.map(|b| b.into_iter().flatten().collect::<Vec<_>>())
        } else {
            crate::store::par_map(parts.len(), |i| rank(&st, parts[i], &checked, &scope, None, deadline, op))
        };
        drop(st);
        let all = all?;
        if logs.enabled(Level::Debug) {
            logs.push(Level::Debug, "retrieved many", json!({ "queries": all.len(), "top_k": options.top_k }));
        }
        Ok(all)
    }
}

/// The top hits of one query in `scope` (under the caller's read lock);
/// `scanned`: its embedding's cosines, if a shared scan computed them.
fn rank(
    st: &State,
    parts: QueryParts<'_>,
    checked: &Checked,
    scope: &Scope,
    scanned: Option<Cosines>,
    deadline: &Deadline,
    op: &str,
) -> Result<Vec<Hit>> {
    let k = checked.top_k.min(scope.len());
    let ranking = Ranking::new(&st.graph, parts, checked.scorer, scope, scanned, deadline, op)?;
    let ranked = ranking.top_k(&st.graph, k, deadline, op)?;
    let mut hits = Vec::with_capacity(ranked.len());
    let mut copied = 0;
    for r in ranked {
        let n = st.graph.node_at(r.slot);
        deadline.check_copied(&mut copied, n.text.len(), op)?;
        hits.push(Hit::of(&st.graph, n, r.score));
    }
    Ok(hits)
}

/// Serialises `items` as a JSON array, checking the deadline between items
/// once every 64 KiB written.
pub(crate) fn json_array<T: Serialize>(items: &[T], deadline: &Deadline, op: &str) -> Result<String> {
    let mut out = Vec::with_capacity(64 * items.len() + 2);
    out.push(b'[');
    let (mut pending, mut written) = (0, 0);
    for (i, item) in items.iter().enumerate() {
        deadline.check_copied(&mut pending, out.len() - written, op)?;
        written = out.len();
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, item)
            .map_err(|e| Error::new(crate::ErrorCode::Internal, format!("cannot serialise a result: {e}")))?;
    }
    out.push(b']');
    String::from_utf8(out).map_err(|_| Error::new(crate::ErrorCode::Internal, "serialised result is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_json() {
        let o = RetrieveOptions::from_json(r#"{"topK": 3, "alpha": 0.5, "timeout_ms": 10, "text": "tea"}"#).unwrap();
        assert_eq!((o.top_k, o.alpha, o.timeout_ms, o.text.as_deref()), (3, Some(0.5), Some(10), Some("tea")));
        assert_eq!(RetrieveOptions::from_json("{}").unwrap(), RetrieveOptions::default());
        assert!(RetrieveOptions::from_json("").is_err(), "an object, or no options at all");
        assert!(RetrieveOptions::from_json("null").is_err());
        assert!(RetrieveOptions::from_json(r#"{"top_k": 1, "top_k": 2}"#).is_err(), "duplicate key");
        assert!(RetrieveOptions::from_json(r#"{"top_k": 1, "topK": 2}"#).is_err(), "both spellings");
        assert!(RetrieveOptions::from_json("[3]").is_err());
        assert!(RetrieveOptions::from_json(r#"{"k": 3}"#).is_err());
        assert!(RetrieveOptions::from_json(r#"{"top_k": -1}"#).is_err());
    }

    /// Flat options read straight from the text give what the general path
    /// gives, and what it refuses, with the same error.
    #[test]
    fn flat_options_read_directly_agree_with_the_general_path() {
        fn agree<T: serde::de::DeserializeOwned + Default + std::fmt::Debug + PartialEq>(text: &str) {
            let general = parse_options_value::<T>(text, "options");
            let direct = parse_options::<T>(text, "options");
            match (&general, &direct) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{text}"),
                (Err(a), Err(b)) => {
                    assert_eq!((a.code(), a.message(), a.context()), (b.code(), b.message(), b.context()))
                }
                _ => panic!("{text}: {general:?} against {direct:?}"),
            }
        }
        let texts = [
            r#"{"topK":1}"#,
            r#" {"top_k": 10, "alpha": 1, "exact": true, "ef": 64, "now": -5}"#,
            r#"{"text": "tea \" \u00e9 \ud83d\ude00", "hybridWeight": 0.25, "namespace": "a"}"#,
            r#"{"timeoutMs": 18446744073709551615, "alpha": 1e-3}"#,
            r#"{"top_k": 1, "top_k": 2}"#,
            r#"{"top_k": 1, "topK": 2}"#,
            r#"{"top_k": 1.5}"#,
            r#"{"top_k": -1}"#,
            r#"{"ef": 1e3}"#,
            r#"{"k": 3}"#,
            r#"{"top_k": 1} x"#,
            r#"{"top_k": 1,}"#,
            r#"{"text": "\ud800"}"#,
            r#"{"top_k""#,
            "{",
        ];
        for t in texts {
            assert!(flat_object(t), "{t}");
            agree::<RetrieveOptions>(t);
            agree::<crate::ContextOptions>(t);
        }
        // Nested values go the general way, which checks keys at every depth.
        assert!(!flat_object(r#"{"filter": {"a": 1}}"#) && !flat_object(r#"{"namespace": ["a"]}"#));
        assert!(!flat_object("[3]") && !flat_object("null") && !flat_object(""));
        let e = RetrieveOptions::from_json(r#"{"filter": {"a": 1, "a": 2}}"#).unwrap_err();
        assert!(e.message().contains("duplicate key"), "{e}");
    }

    /// `"{}"` skips parsing (`parse_options`' fast path); an empty object that
    /// goes through serde (`"{ }"`) must give the same options, for every type.
    #[test]
    fn no_options_is_the_default() {
        fn same<T: serde::de::DeserializeOwned + Default + std::fmt::Debug>() {
            let parsed: T = parse_options("{ }", "options").unwrap();
            assert_eq!(format!("{parsed:?}"), format!("{:?}", T::default()), "{}", std::any::type_name::<T>());
        }
        same::<RetrieveOptions>();
        same::<crate::ContextOptions>();
        same::<crate::AddOptions>();
        same::<crate::frontend::BatchOptions>();
        same::<crate::manage::MemoryUpdate>();
        same::<crate::manage::ListOptions>();
        same::<crate::manage::ScopeOptions>();
        same::<crate::manage::ImportOptions>();
    }
}
