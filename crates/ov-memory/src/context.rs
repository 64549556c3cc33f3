//! Context assembly: the "JIT wake-up" that builds the text to put in front
//! of a model.
//!
//! 1. Candidates: the best `candidates` memories by P (see `scoring`), with
//!    alpha = the metabolism's current alpha (or the caller's override).
//! 2. Wake-up: a multi-source breadth-first walk from the candidates through
//!    honeycomb edges (1 hop) and overflow layers (2 hops: "one extra hop"), up to
//!    `depth` hops; every woken memory is scored; `hops` is its distance from the
//!    nearest candidate.
//! 3. Selection in descending P (ties: lower id), at most `max_items`:
//!    * a floor: the best `min_items` memories that pass the guardrails are
//!      taken while they fit the budget (trigger `floor`);
//!    * beyond the floor a memory is taken when a trigger fires. Thresholds are
//!      in standard deviations of this query's relevance over this store (so
//!      they mean the same with any embedding model): resonance (relevance ≥
//!      [`RESONANCE_MIN_REL`]: clearly relevant), bridge (a neighbour of a
//!      memory the previous call injected, relevance ≥ [`BRIDGE_MIN_REL`]), or
//!      metabolic (P ≥ [`metabolic_min_p`] of the current alpha: a rested
//!      metabolism takes more, a stressed one less).
//! 4. Guardrails reject a memory, each counted in metrics: drift (hops >
//!    [`DRIFT_MAX_HOPS`] and relevance < [`DRIFT_MIN_REL`]), loop (injected 3 or
//!    more times in the last 10 s of the monotonic clock), redundancy (text
//!    similarity ≥ 0.95 with text already injected in this call).
//! 5. The budget: assembly stops at the first memory whose tokens would pass
//!    `max_tokens`. Tokens are `ceil(bytes / 4)` of each item's text as it
//!    appears in the context (with its date) unless the caller passes a
//!    counter; `tokens_used` is their sum (separators are not counted).
//! 6. Each item's text carries its date when `include_dates` is on (the
//!    default): `[2023-05-08] The user moved to Berlin` (UTC, ISO 8601), since
//!    agents are asked "when" questions.
//! 7. Injected memories get `last_accessed`/`access_count` updated, the call's
//!    injected set becomes the next call's bridge set, and the metabolism is
//!    charged `tokens_used`.
//!
//! Phases: scoring, wake-up and the loop guardrail's snapshot run under the
//! read lock; token counting (a caller's counter included), drift, loop and
//! redundancy (the text work) and the budget run with no lock held, so a long
//! text never blocks other callers; only the updates take the write lock,
//! briefly, where nothing can fail (a memory that a concurrent call injected
//! or deleted meanwhile drops out there).
//!
//! Deadline: checked every 1 024 memories scored, every 64 Ki characters of
//! text work, between redundancy comparisons and before the updates, so a
//! call ends at most one such step after its deadline; a timed-out call
//! changes nothing.

use crate::clock::Deadline;
use crate::error::{Error, Result};
use crate::log::Level;
use crate::metabolism::MetabolismReport;
use crate::metrics::Op;
use crate::retrieve::{parse_options, Hit};
use crate::scoring::{Ranking, Score};
use crate::store::Store;
use crate::validate;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::atomic::Ordering;

/// Relevance (standard deviations above this query's mean) at which the resonance trigger fires.
pub const RESONANCE_MIN_REL: f64 = 4.0;
/// Relevance at which the bridge trigger fires (for neighbours of the previous injection).
pub const BRIDGE_MIN_REL: f64 = 2.0;
/// Drift: rejected when hops exceed this …
pub const DRIFT_MAX_HOPS: u32 = 3;
/// … and relevance is below this.
pub const DRIFT_MIN_REL: f64 = 1.0;

/// The trigger that fires for a memory beyond the floor, if any: resonance
/// for relevance ≥ [`RESONANCE_MIN_REL`], bridge for a neighbour of the
/// previous call's injection with relevance ≥ [`BRIDGE_MIN_REL`], metabolic
/// for P ≥ [`metabolic_min_p`] of the metabolism's alpha.
pub fn trigger_for(rel: f64, p: f64, bridged: bool, alpha: f64) -> Option<Trigger> {
    if rel >= RESONANCE_MIN_REL {
        Some(Trigger::Resonance)
    } else if bridged && rel >= BRIDGE_MIN_REL {
        Some(Trigger::Bridge)
    } else if p >= metabolic_min_p(alpha) {
        Some(Trigger::Metabolic)
    } else {
        None
    }
}

/// Whether the drift guardrail rejects a memory: far in hops and weakly relevant.
pub fn is_drift(hops: u32, rel: f64) -> bool {
    hops > DRIFT_MAX_HOPS && rel < DRIFT_MIN_REL
}

/// The P at or above which the metabolic trigger fires for a metabolism at
/// `alpha`: 2.5 at the rested 0.60, rising by 5 per unit of alpha (3.25 when
/// stressed at 0.75, 4.0 when critical at 0.90).
pub fn metabolic_min_p(alpha: f64) -> f64 {
    4.0 + 5.0 * (alpha - 0.6)
}

/// Loop: rejected when injected this many times …
pub const LOOP_MAX_INJECTIONS: usize = 3;
/// … within this many milliseconds.
pub const LOOP_WINDOW_MS: u64 = 10_000;
/// Redundancy: rejected when the shingle similarity with injected text reaches this.
pub const REDUNDANCY_MIN_SIMILARITY: f64 = 0.95;
/// Characters per shingle in the redundancy check.
pub const SHINGLE_CHARS: usize = 4;

/// Why a memory was injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum Trigger {
    /// Among the best `min_items`.
    Floor,
    /// Clearly relevant: relevance ≥ [`RESONANCE_MIN_REL`].
    Resonance,
    /// A neighbour of the previous call's injection, relevance ≥ [`BRIDGE_MIN_REL`].
    Bridge,
    /// P ≥ [`metabolic_min_p`] of the metabolism's alpha.
    Metabolic,
}

/// Options of [`Store::context`]. JSON keys in `snake_case` or `camelCase`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(rename_all = "camelCase"))]
pub struct ContextOptions {
    /// Token budget (≥ 1). Default 2 000.
    #[serde(alias = "maxTokens")]
    pub max_tokens: usize,
    /// How many best memories seed the wake-up (≥ 1). Default 5.
    pub candidates: usize,
    /// Wake-up depth limit in hops (0..=16). Default 2.
    pub depth: u32,
    /// Alpha override; default: the metabolism's current alpha.
    pub alpha: Option<f64>,
    /// Deadline in ms; default: the configured `timeout_ms`.
    #[serde(alias = "timeoutMs")]
    pub timeout_ms: Option<u64>,
    /// Text put between injected memories. Default `"\n\n"`.
    pub separator: String,
    /// The time to score as of (Unix ms, ≥ 0); default: the store's clock.
    pub now: Option<i64>,
    /// The query's text, for lexical relevance (with or without an embedding).
    pub text: Option<String>,
    /// Weight of semantic relevance in the fusion; default: the configured `hybrid_weight`.
    #[serde(alias = "hybridWeight")]
    pub hybrid_weight: Option<f64>,
    /// The floor: this many best memories are taken while they fit (0..=max_items). Default 3.
    #[serde(alias = "minItems")]
    pub min_items: usize,
    /// Most memories in one context (≥ 1). Default 8.
    #[serde(alias = "maxItems")]
    pub max_items: usize,
    /// Prefix each item with its date, `[2023-05-08] `. Default true.
    #[serde(alias = "includeDates")]
    pub include_dates: bool,
    /// The namespace to draw from, or a list of them; default `""`.
    pub namespace: Option<crate::manage::Namespaces>,
    /// A metadata filter: only memories that pass are candidates or woken up.
    #[cfg_attr(feature = "ts", ts(type = "Filter"))]
    pub filter: Option<serde_json::Value>,
}

/// Default floor of [`ContextOptions::min_items`], chosen on the public data (`make quality`).
pub const DEFAULT_MIN_ITEMS: usize = 3;
/// Default [`ContextOptions::max_items`].
pub const DEFAULT_MAX_ITEMS: usize = 8;

impl Default for ContextOptions {
    fn default() -> Self {
        ContextOptions {
            max_tokens: 2000,
            candidates: 5,
            depth: 2,
            alpha: None,
            timeout_ms: None,
            separator: "\n\n".to_owned(),
            now: None,
            text: None,
            hybrid_weight: None,
            min_items: DEFAULT_MIN_ITEMS,
            max_items: DEFAULT_MAX_ITEMS,
            include_dates: true,
            namespace: None,
            filter: None,
        }
    }
}

impl ContextOptions {
    /// Defaults with this token budget.
    pub fn max_tokens(max_tokens: usize) -> ContextOptions {
        ContextOptions { max_tokens, ..ContextOptions::default() }
    }

    /// Parses options from a JSON object text (`{}` gives the defaults).
    pub fn from_json(text: &str) -> Result<ContextOptions> {
        parse_options(text, "options")
    }
}

/// One injected memory: the memory and its score as a retrieval returns
/// them, and why and at what cost it was injected. Its JSON form is the
/// hit's keys beside `trigger`, `hops` and `tokens`, in one object.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ContextItem {
    /// The memory (id, text, metadata, time, namespace) and its score.
    #[serde(flatten)]
    pub hit: Hit,
    /// The trigger that fired.
    pub trigger: Trigger,
    /// Graph distance from the candidate it was reached from (0 for candidates).
    pub hops: u32,
    /// Its token count.
    pub tokens: usize,
}

/// How many memories each guardrail rejected in one call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct GuardrailCounts {
    /// Rejected by the drift guardrail.
    pub drift: u64,
    /// Rejected by the loop guardrail.
    #[serde(rename = "loop")]
    pub loop_: u64,
    /// Rejected by the redundancy guardrail.
    pub redundancy: u64,
}

/// What [`Store::context`] returns.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ContextResult {
    /// The injected texts joined by the separator.
    pub context: String,
    /// Sum of the injected texts' tokens.
    pub tokens_used: usize,
    /// The budget asked for.
    pub max_tokens: usize,
    /// The alpha used.
    pub alpha: f64,
    /// Injected memories, in order.
    pub items: Vec<ContextItem>,
    /// Guardrail rejections in this call.
    pub guardrails: GuardrailCounts,
    /// Memories scored (candidates and woken).
    pub considered: usize,
    /// The metabolism after the charge.
    pub metabolism: MetabolismReport,
}

/// A scored, triggered candidate carried from the read phase to the write phase.
#[derive(Debug, Clone)]
struct Pending {
    /// The memory and its score, as the item will hold them.
    hit: Hit,
    /// The text as it appears in the context when that differs from the
    /// hit's (with its date); `None` when it is the hit's text itself.
    shown: Option<String>,
    /// The trigger that fired, if any (else only the floor can take it).
    trigger: Option<Trigger>,
    hops: u32,
}

impl Pending {
    /// The text as it appears in the context.
    fn shown(&self) -> &str {
        self.shown.as_deref().unwrap_or(&self.hit.text)
    }
}

/// How many characters of text work (shingling, comparing) run between two deadline checks.
const TEXT_CHECK_STRIDE: usize = 64 * 1024;

/// The shingle set of a text, sorted and without repeats: hashes of every
/// window of `SHINGLE_CHARS` characters of its lower-cased,
/// whitespace-collapsed form (the whole text if shorter). Linear in the text's
/// length (plus one sort); works on chars, so UTF-8 safe. Checks `deadline`
/// every 64 Ki characters.
pub(crate) fn shingles(text: &str, deadline: Option<&Deadline>) -> Result<Vec<u64>> {
    let check = |i: usize| match deadline {
        Some(d) if i.is_multiple_of(TEXT_CHECK_STRIDE) => d.check("context"),
        _ => Ok(()),
    };
    let mut norm: Vec<char> = Vec::with_capacity(text.len());
    let mut last_space = true;
    for (i, c) in text.chars().flat_map(char::to_lowercase).enumerate() {
        check(i)?;
        if c.is_whitespace() {
            if !last_space {
                norm.push(' ');
            }
            last_space = true;
        } else {
            norm.push(c);
            last_space = false;
        }
    }
    if norm.last() == Some(&' ') {
        norm.pop();
    }
    let hash = |w: &[char]| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        w.hash(&mut h);
        h.finish()
    };
    let mut out: Vec<u64> = if norm.len() <= SHINGLE_CHARS {
        vec![hash(&norm)]
    } else {
        let mut v = Vec::with_capacity(norm.len() - SHINGLE_CHARS + 1);
        for (i, w) in norm.windows(SHINGLE_CHARS).enumerate() {
            check(i)?;
            v.push(hash(w));
        }
        v
    };
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Jaccard similarity of two sorted shingle sets, in [0, 1]. Linear (a merge).
pub(crate) fn similarity(a: &[u64], b: &[u64]) -> f64 {
    let (mut i, mut j, mut inter) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                inter += 1;
                i += 1;
                j += 1;
            }
        }
    }
    let union = a.len() + b.len() - inter;
    if union == 0 {
        1.0
    } else {
        inter as f64 / union as f64
    }
}

/// How often `id` was injected within the loop window before `now_us`.
fn recent_injections(st: &crate::store::State, id: u64, now_us: u64) -> usize {
    let window_us = LOOP_WINDOW_MS * 1000;
    st.injections.get(&id).map_or(0, |q| q.iter().filter(|&&t0| now_us.saturating_sub(t0) < window_us).count())
}

/// The UTC date of Unix milliseconds, `YYYY-MM-DD`.
pub(crate) fn date_of(unix_ms: i64) -> String {
    crate::log::rfc3339_millis(unix_ms).chars().take(10).collect()
}

/// A caller's token counter: the token count of a text, or an error.
pub type TokenCounter<'a> = dyn Fn(&str) -> Result<usize> + 'a;

/// The default token estimate: ceil(bytes / 4).
pub fn estimate_tokens(text: &str) -> usize {
    text.len().div_ceil(4)
}

impl Store {
    /// Assembles a context for `query` (and `options.text`, if given) within
    /// `options.max_tokens` (see the module docs).
    ///
    /// Errors: INVALID_DATA (query, options), TIMEOUT (nothing changed), CIRCUIT_OPEN.
    pub fn context(&self, query: &[f32], options: &ContextOptions) -> Result<ContextResult> {
        self.context_with_counter(Some(query), options, None)
    }

    /// [`Store::context`] for a query that may lack an embedding (`options.text` alone).
    pub fn context_query(&self, query: Option<&[f32]>, options: &ContextOptions) -> Result<ContextResult> {
        self.context_with_counter(query, options, None)
    }

    /// [`Store::context_query`] as JSON text (what the C and JS front-ends return).
    /// The result is serialised after the store was updated, so that step is
    /// not deadline-checked; its size is bounded by the token budget.
    pub fn context_json(&self, query: Option<&[f32]>, options: &ContextOptions) -> Result<String> {
        self.context_query(query, options).map(|r| crate::frontend::to_json(&r))
    }

    /// [`Store::context_query`] with a caller's token counter instead of
    /// ceil(bytes / 4): it gets each item's text as it would appear in the
    /// context and returns its token count, or an error, which fails the call
    /// with that error and changes nothing (front-ends report a host counter
    /// that throws or returns a non-count as INVALID_DATA). The counter runs on
    /// the calling thread with no engine lock held; if it panics the call fails
    /// with INTERNAL and nothing changes.
    pub fn context_with_counter(
        &self,
        query: Option<&[f32]>,
        options: &ContextOptions,
        counter: Option<&TokenCounter<'_>>,
    ) -> Result<ContextResult> {
        self.call_within(Op::Context, true, options.timeout_ms, |logs, deadline| {
            let parts = self.query_parts(query, options.text.as_deref(), logs)?;
            if options.max_tokens == 0 {
                return Err(Error::invalid("max_tokens", "max_tokens must be at least 1"));
            }
            if options.candidates == 0 {
                return Err(Error::invalid("candidates", "candidates must be at least 1"));
            }
            if options.depth > 16 {
                return Err(Error::invalid("depth", "depth must be in 0..=16").with("got", options.depth));
            }
            if options.max_items == 0 {
                return Err(Error::invalid("max_items", "max_items must be at least 1"));
            }
            if options.min_items > options.max_items {
                return Err(Error::invalid("min_items", "min_items must not exceed max_items")
                    .with("min_items", options.min_items)
                    .with("max_items", options.max_items));
            }
            if let Some(a) = options.alpha {
                validate::alpha(a)?;
            }
            if let Some(w) = options.hybrid_weight {
                validate::unit_interval(w, "hybrid_weight")?;
            }
            validate::now(options.now)?;
            let spec = crate::manage::ScopeSpec::new(options.namespace.as_ref(), options.filter.as_ref())?;
            let scope_key = spec.key();

            // Phase 1 (read lock): candidates, wake-up, scores, triggers.
            let (alpha, considered, pending, recent) = {
                let st = self.state.read();
                let alpha = options.alpha.unwrap_or_else(|| st.metabolism.alpha());
                let clock_ms = self.clock.unix_millis();
                let mut scorer = self.scorer(alpha, None, options.now.unwrap_or(clock_ms), options.hybrid_weight);
                scorer.search_ef = Some(crate::scoring::DEFAULT_EF.max(options.candidates));
                let scope = spec.resolve(&st, clock_ms, deadline, "context")?;
                let ranking = Ranking::new(&st.graph, parts, scorer, &scope, None, deadline, "context")?;
                let k = options.candidates.min(ranking.scope_len());
                let seeds = ranking.top_k(&st.graph, k, deadline, "context")?;
                // Multi-source BFS; overflow links cost 2 hops, so walk by hop levels.
                let mut hops: HashMap<u64, u32> = seeds.iter().map(|r| (r.id, 0)).collect();
                let mut queue: VecDeque<u64> = seeds.iter().map(|r| r.id).collect();
                let mut visited = 0usize;
                while let Some(id) = queue.pop_front() {
                    visited += 1;
                    deadline.check_every(visited, "context")?;
                    let h = hops[&id];
                    let Some(node) = st.graph.node(id) else { continue };
                    let steps = node.edges.iter().map(|e| (e.to, 1)).chain(node.overflow.iter().map(|e| (e.to, 2)));
                    for (to, cost) in steps {
                        let nh = h + cost;
                        if nh > options.depth || !st.graph.slot(to).is_some_and(|s| ranking.in_scope(s)) {
                            continue;
                        }
                        if hops.get(&to).is_none_or(|&old| nh < old) {
                            hops.insert(to, nh);
                            queue.push_back(to);
                        }
                    }
                }
                let bridge_set: HashSet<u64> = st
                    .last_injected
                    .get(&scope_key)
                    .into_iter()
                    .flatten()
                    .filter_map(|id| st.graph.node(*id))
                    .flat_map(|n| n.edges.iter().map(|e| e.to))
                    .collect();
                let mut scored: Vec<(Score, u64, u32)> = Vec::with_capacity(hops.len());
                for (i, (&id, &h)) in hops.iter().enumerate() {
                    deadline.check_every(i, "context")?;
                    if let Some(slot) = st.graph.slot(id) {
                        scored.push((ranking.score(&st.graph, slot), id, h));
                    }
                }
                scored.sort_by(|a, b| b.0.p.total_cmp(&a.0.p).then(a.1.cmp(&b.1)));
                let considered = scored.len();
                // Untriggered memories matter only as floor reserves (guardrails may skip some).
                let mut reserves = options.min_items.saturating_mul(3);
                let mut pending: Vec<Pending> = Vec::new();
                for (score, id, hops) in scored {
                    let trigger = trigger_for(score.rel, score.p, bridge_set.contains(&id), alpha);
                    if trigger.is_none() {
                        if reserves == 0 {
                            continue;
                        }
                        reserves -= 1;
                    }
                    let Some(node) = st.graph.node(id) else { continue };
                    let shown = options.include_dates.then(|| format!("[{}] {}", date_of(node.created_at), node.text));
                    pending.push(Pending { hit: Hit::of(&st.graph, node, score), shown, trigger, hops });
                }
                // The loop guardrail's view of each pending memory: its injections
                // in the window, as of now (re-checked when the result is applied).
                let now_us = self.clock.monotonic_micros();
                let recent: Vec<usize> = pending.iter().map(|p| recent_injections(&st, p.hit.id, now_us)).collect();
                (alpha, considered, pending, recent)
            };

            // Phase 2 (no lock): token counts and every guardrail. The text work
            // (shingles, comparisons) is deadline-checked and blocks nobody.
            deadline.check("context")?;
            let mut guard = GuardrailCounts::default();
            let mut chosen: Vec<(Pending, usize)> = Vec::new();
            let mut chosen_shingles: Vec<Vec<u64>> = Vec::new();
            let mut used = 0usize;
            for (mut p, recent) in pending.into_iter().zip(recent) {
                if chosen.len() >= options.max_items {
                    break;
                }
                let floor = chosen.len() < options.min_items;
                if p.trigger.is_none() && !floor {
                    continue;
                }
                if is_drift(p.hops, p.hit.score.rel) {
                    guard.drift += 1;
                    continue;
                }
                if recent >= LOOP_MAX_INJECTIONS {
                    guard.loop_ += 1;
                    continue;
                }
                let sh = shingles(&p.hit.text, Some(deadline))?;
                let mut redundant = false;
                for o in &chosen_shingles {
                    deadline.check("context")?;
                    if similarity(o, &sh) >= REDUNDANCY_MIN_SIMILARITY {
                        redundant = true;
                        break;
                    }
                }
                if redundant {
                    guard.redundancy += 1;
                    continue;
                }
                let t = match counter {
                    Some(f) => f(p.shown())?,
                    None => estimate_tokens(p.shown()),
                };
                if used.saturating_add(t) > options.max_tokens {
                    break;
                }
                used += t;
                p.trigger.get_or_insert(Trigger::Floor);
                chosen_shingles.push(sh);
                chosen.push((p, t));
            }
            drop(chosen_shingles);
            deadline.check("context")?;

            // Phase 3 (write lock, brief, cannot fail): a concurrent call may have
            // injected a chosen memory meanwhile, or deleted it; those drop out.
            let mut st = self.state.write();
            let now_us = self.clock.monotonic_micros();
            let now_ms = self.clock.unix_millis();
            let window_us = LOOP_WINDOW_MS * 1000;
            let mut items: Vec<ContextItem> = Vec::with_capacity(chosen.len());
            let mut shown: Vec<Option<String>> = Vec::with_capacity(chosen.len());
            for (p, t) in chosen {
                if !st.graph.contains(p.hit.id) {
                    used -= t;
                    continue;
                }
                if recent_injections(&st, p.hit.id, now_us) >= LOOP_MAX_INJECTIONS {
                    guard.loop_ += 1;
                    used -= t;
                    continue;
                }
                shown.push(p.shown);
                items.push(ContextItem {
                    hit: p.hit,
                    trigger: p.trigger.unwrap_or(Trigger::Floor),
                    hops: p.hops,
                    tokens: t,
                });
            }
            for it in &items {
                if let Some(n) = st.graph.node_mut(it.hit.id) {
                    n.last_accessed = now_ms;
                    n.access_count += 1;
                }
                let q = st.injections.entry(it.hit.id).or_default();
                q.retain(|&t0| now_us.saturating_sub(t0) < window_us);
                q.push_back(now_us);
            }
            st.last_injected.insert(scope_key.clone(), items.iter().map(|i| i.hit.id).collect());
            st.metabolism.charge(used as u64);
            let metabolism = st.metabolism.report();
            drop(st);

            self.recorder.drift_detections.fetch_add(guard.drift, Ordering::Relaxed);
            self.recorder.loop_preventions.fetch_add(guard.loop_, Ordering::Relaxed);
            self.recorder.redundancy_filters.fetch_add(guard.redundancy, Ordering::Relaxed);
            let context = shown
                .iter()
                .zip(&items)
                .map(|(s, it)| s.as_deref().unwrap_or(&it.hit.text))
                .collect::<Vec<_>>()
                .join(&options.separator);
            if logs.enabled(Level::Info) {
                logs.push(
                    Level::Info,
                    "context assembled",
                    json!({ "items": items.len(), "tokens_used": used, "max_tokens": options.max_tokens,
                            "drift": guard.drift, "loop": guard.loop_, "redundancy": guard.redundancy }),
                );
            }
            Ok(ContextResult {
                context,
                tokens_used: used,
                max_tokens: options.max_tokens,
                alpha,
                items,
                guardrails: guard,
                considered,
                metabolism,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shingles_catch_duplicates_and_are_utf8_safe() {
        let sh = |t: &str| shingles(t, None).unwrap();
        let a = sh("The user prefers green tea.");
        assert_eq!(similarity(&a, &sh("The user prefers green tea.")), 1.0);
        assert_eq!(similarity(&a, &sh("  the USER   prefers green tea. ")), 1.0, "case and spacing");
        assert!(similarity(&a, &sh("Standup moved to 10:30")) < 0.2);
        let z = sh("żółw 🐢 żółw 🐢");
        assert_eq!(similarity(&z, &sh("żółw 🐢 żółw 🐢")), 1.0);
        assert_eq!(similarity(&sh("ab"), &sh("ab")), 1.0);
        assert_eq!(similarity(&sh("ab"), &sh("abc")), 0.0);
        // One character changed in a long text stays above the threshold.
        let long = "word ".repeat(400) + "end";
        let long2 = "word ".repeat(400) + "enD";
        assert!(similarity(&sh(&long), &sh(&long2)) >= REDUNDANCY_MIN_SIMILARITY);
        // Sorted, without repeats: "word word word …" has few distinct shingles.
        let w = sh(&long);
        assert!(w.windows(2).all(|p| p[0] < p[1]) && w.len() < 20);
    }

    #[test]
    fn trigger_boundaries() {
        let eps = 1e-9;
        let hi = metabolic_min_p(0.6) + 10.0;
        assert_eq!(trigger_for(RESONANCE_MIN_REL, 0.0, false, 0.6), Some(Trigger::Resonance));
        assert_eq!(trigger_for(RESONANCE_MIN_REL - eps, 0.0, false, 0.6), None);
        assert_eq!(trigger_for(BRIDGE_MIN_REL, 0.0, true, 0.6), Some(Trigger::Bridge));
        assert_eq!(trigger_for(BRIDGE_MIN_REL - eps, 0.0, true, 0.6), None);
        assert_eq!(trigger_for(BRIDGE_MIN_REL, 0.0, false, 0.6), None, "only neighbours of the last injection");
        for (alpha, min_p) in [(0.6, 4.0), (0.75, 4.75), (0.9, 5.5), (0.95, 5.75)] {
            assert!((metabolic_min_p(alpha) - min_p).abs() < 1e-12);
            assert_eq!(trigger_for(0.0, min_p, false, alpha), Some(Trigger::Metabolic), "alpha {alpha}");
            assert_eq!(trigger_for(0.0, min_p - eps, false, alpha), None, "alpha {alpha}");
        }
        assert_eq!(trigger_for(RESONANCE_MIN_REL, hi, true, 0.6), Some(Trigger::Resonance), "resonance first");
    }

    #[test]
    fn drift_boundaries() {
        assert!(!is_drift(DRIFT_MAX_HOPS, -10.0), "not far enough");
        assert!(is_drift(DRIFT_MAX_HOPS + 1, DRIFT_MIN_REL - 1e-9));
        assert!(!is_drift(DRIFT_MAX_HOPS + 1, DRIFT_MIN_REL), "relevant enough");
    }

    #[test]
    fn dates_are_utc_iso_days() {
        assert_eq!(date_of(1_683_504_000_000), "2023-05-08");
        assert_eq!(date_of(0), "1970-01-01");
        assert_eq!(date_of(-5), "1970-01-01", "clamped, never a panic");
    }

    #[test]
    fn token_estimate_is_ceil_bytes_over_4() {
        assert_eq!(estimate_tokens("abcd"), 1);
        assert_eq!(estimate_tokens("abcde"), 2);
        assert_eq!(estimate_tokens("ż"), 1);
    }

    #[test]
    fn options_json() {
        let o = ContextOptions::from_json(r#"{"maxTokens": 100, "depth": 3, "candidates": 2}"#).unwrap();
        assert_eq!((o.max_tokens, o.depth, o.candidates), (100, 3, 2));
        assert!(ContextOptions::from_json(r#"{"max_tokens": "x"}"#).is_err());
        assert!(ContextOptions::from_json(r#"{"tokens": 1}"#).is_err());
    }
}
