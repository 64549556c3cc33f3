//! The lexical index: BM25 over the memories' texts.
//!
//! Names, dates and rare words are lexical: on real conversational memory
//! (the LoCoMo conversations in `tests/data/locomo`) BM25 finds an evidence
//! turn in its top 10 for far more questions than cosine does, and a fusion of
//! the two beats both (`make quality` prints the figures). So every memory's
//! text is indexed on add and removed on delete, in every front-end (the
//! browser build included); snapshots do not store the index, it is rebuilt
//! from the texts on load.
//!
//! Tokens: Unicode words (UAX #29, the `unicode-segmentation` crate),
//! lower-cased, minus a short list of English function words (measured: the
//! list lifts BM25's R@10 on LoCoMo by four points; it changes nothing for
//! other languages). No stemming (measured: a crude plural stemmer added less
//! than one point).
//!
//! Scoring: BM25 with k1 = [`BM25_K1`] and b = [`BM25_B`], idf =
//! ln(1 + (N − df + 0.5)/(df + 0.5)). b = 0 (no length normalisation) was
//! chosen on the public data (LoCoMo R@10 62.4 for BM25 alone at b = 0,
//! 61.8 at 0.3, 60.3 at the textbook 0.75): short conversational turns gain
//! nothing from penalising a longer turn that names the thing asked about.
//!
//! Why not a crate: tantivy is a full search engine (segments, files, threads)
//! too heavy for the browser build; the small BM25 crates keep their own
//! copies of documents or lack deletion. This index is ~150 lines, shares the
//! store's ids and lock, and costs per memory about 20 bytes per distinct word.

use crate::graph::FastMap as HashMap;
use std::borrow::Cow;
use unicode_segmentation::UnicodeSegmentation;

/// BM25 term-frequency saturation.
pub const BM25_K1: f64 = 0.9;
/// BM25 length normalisation (0: none, 1: full).
pub const BM25_B: f64 = 0.0;

/// Whether a lower-cased word is too common to say anything about a memory
/// (English function words; a `match`, not a scan of a list: it runs for every word indexed).
fn is_stop_word(w: &str) -> bool {
    matches!(
        w,
        "a" | "an"
            | "the"
            | "and"
            | "or"
            | "but"
            | "if"
            | "of"
            | "to"
            | "in"
            | "on"
            | "at"
            | "for"
            | "with"
            | "by"
            | "from"
            | "as"
            | "is"
            | "are"
            | "was"
            | "were"
            | "be"
            | "been"
            | "being"
            | "it"
            | "its"
            | "this"
            | "that"
            | "these"
            | "those"
            | "i"
            | "you"
            | "he"
            | "she"
            | "we"
            | "they"
            | "me"
            | "him"
            | "her"
            | "us"
            | "them"
            | "my"
            | "your"
            | "his"
            | "our"
            | "their"
            | "what"
            | "which"
            | "who"
            | "whom"
            | "when"
            | "where"
            | "why"
            | "how"
            | "do"
            | "does"
            | "did"
            | "have"
            | "has"
            | "had"
            | "not"
            | "no"
            | "so"
            | "than"
            | "too"
            | "very"
            | "can"
            | "will"
            | "just"
    )
}

/// The tokens of a text: lower-cased Unicode words without stop words.
pub fn tokens(text: &str) -> impl Iterator<Item = String> + '_ {
    words(text).map(Cow::into_owned)
}

/// [`tokens`] without copying words that are lower-case already.
fn words(text: &str) -> impl Iterator<Item = Cow<'_, str>> + '_ {
    text.unicode_words().filter_map(|w| {
        let lower = if w.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
            Cow::Borrowed(w)
        } else {
            Cow::Owned(w.to_lowercase())
        };
        (!is_stop_word(&lower)).then_some(lower)
    })
}

#[derive(Debug, Clone, Default)]
struct Doc {
    len: u32,
    terms: Vec<u32>,
}

/// An inverted index of memory texts.
#[derive(Debug, Clone, Default)]
pub(crate) struct Lexical {
    vocabulary: HashMap<String, u32>,
    /// term id → (memory id, term frequency)
    postings: Vec<Vec<(u64, u32)>>,
    docs: HashMap<u64, Doc>,
    total_len: u64,
}

impl Lexical {
    /// Indexes a memory's text.
    pub(crate) fn add(&mut self, id: u64, text: &str) {
        let mut all: Vec<u32> = Vec::new();
        for t in words(text) {
            let term = match self.vocabulary.get(t.as_ref()) {
                Some(&term) => term,
                None => {
                    let next = self.postings.len() as u32;
                    self.vocabulary.insert(t.into_owned(), next);
                    self.postings.push(Vec::new());
                    next
                }
            };
            all.push(term);
        }
        let len = u32::try_from(all.len()).unwrap_or(u32::MAX);
        all.sort_unstable();
        let mut terms: Vec<u32> = Vec::new();
        for run in all.chunk_by(|a, b| a == b) {
            terms.push(run[0]);
            self.postings[run[0] as usize].push((id, run.len() as u32));
        }
        self.total_len += u64::from(len);
        self.docs.insert(id, Doc { len, terms });
    }

    /// Removes a memory's text from the index.
    pub(crate) fn remove(&mut self, id: u64) {
        if let Some(doc) = self.docs.remove(&id) {
            for t in doc.terms {
                let list = &mut self.postings[t as usize];
                if let Some(i) = list.iter().position(|&(d, _)| d == id) {
                    list.swap_remove(i);
                }
            }
            self.total_len -= u64::from(doc.len);
        }
    }

    /// Number of indexed memories.
    pub(crate) fn len(&self) -> usize {
        self.docs.len()
    }

    /// Bytes the index holds (capacities of its tables, keys and lists; what
    /// `make bench` reports per memory).
    pub(crate) fn heap_bytes(&self) -> u64 {
        use std::mem::size_of;
        let vocab: usize = self.vocabulary.keys().map(|k| k.capacity() + size_of::<String>() + 4 + 8).sum();
        let postings: usize =
            self.postings.iter().map(|p| p.capacity() * size_of::<(u64, u32)>() + size_of::<Vec<(u64, u32)>>()).sum();
        let docs: usize = self.docs.values().map(|d| d.terms.capacity() * 4 + size_of::<Doc>() + 8 + 8).sum();
        (vocab + postings + docs) as u64
    }

    /// BM25 scores of every memory that shares a token with `query` (the
    /// others score 0), in no particular order, computed over the memories
    /// `in_scope` admits (`scope_len` of them): document frequencies and the
    /// collection size count only those, so a namespace's scores do not depend
    /// on another's texts. `tick` is called once per posting visited (for
    /// deadline checks).
    pub(crate) fn scores(
        &self,
        query: &str,
        scope_len: usize,
        in_scope: impl Fn(u64) -> bool,
        mut tick: impl FnMut(usize) -> crate::Result<()>,
    ) -> crate::Result<HashMap<u64, f64>> {
        let n = scope_len as f64;
        let mut out: HashMap<u64, f64> = HashMap::default();
        if self.docs.is_empty() || scope_len == 0 {
            return Ok(out);
        }
        let whole = scope_len == self.docs.len();
        let avg = if BM25_B > 0.0 {
            let total: u64 = if whole {
                self.total_len
            } else {
                self.docs.iter().filter(|(id, _)| in_scope(**id)).map(|(_, d)| u64::from(d.len)).sum()
            };
            (total as f64 / n).max(1e-9)
        } else {
            1.0 // unused: without length normalisation the average length cancels
        };
        let mut seen: Vec<u32> = Vec::new();
        let mut visited = 0usize;
        for t in words(query) {
            let Some(&term) = self.vocabulary.get(t.as_ref()) else { continue };
            if seen.contains(&term) {
                continue;
            }
            seen.push(term);
            let list = &self.postings[term as usize];
            let df = if whole {
                list.len()
            } else {
                let mut df = 0usize;
                for &(id, _) in list {
                    tick(visited)?;
                    visited += 1;
                    df += usize::from(in_scope(id));
                }
                df
            };
            if df == 0 {
                continue;
            }
            let df = df as f64;
            let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
            for &(id, tf) in list {
                tick(visited)?;
                visited += 1;
                if !whole && !in_scope(id) {
                    continue;
                }
                let len = if BM25_B > 0.0 { self.docs.get(&id).map_or(0.0, |d| f64::from(d.len)) } else { 0.0 };
                let tf = f64::from(tf);
                let s = idf * tf * (BM25_K1 + 1.0) / (tf + BM25_K1 * (1.0 - BM25_B + BM25_B * len / avg));
                *out.entry(id).or_insert(0.0) += s;
            }
        }
        Ok(out)
    }

    /// Whether `query` has at least one token the index could match.
    pub(crate) fn has_tokens(query: &str) -> bool {
        words(query).next().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(_: usize) -> crate::Result<()> {
        Ok(())
    }

    #[test]
    fn tokens_are_lowercased_unicode_words_without_stop_words() {
        let t: Vec<String> = tokens("The user's café in Zürich — opened 8 May, 2023!").collect();
        assert_eq!(t, ["user's", "café", "zürich", "opened", "8", "may", "2023"]);
        assert_eq!(tokens("żółw 🐢 ŻÓŁW").collect::<Vec<_>>(), ["żółw", "żółw"]);
        assert!(!Lexical::has_tokens("the of and ?!"));
    }

    proptest::proptest! {
        // (A few cases under Miri, where Unicode segmentation is slow.)
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(if cfg!(miri) { 4 } else { 256 }))]

        /// The copy-free path gives exactly what lower-casing every word gives.
        #[test]
        fn tokens_match_lowercasing_every_word(text in "[a-zA-Z0-9 'ŻółÉé.,\\-]{0,60}") {
            let want: Vec<String> =
                text.unicode_words().map(str::to_lowercase).filter(|w| !is_stop_word(w)).collect();
            proptest::prop_assert_eq!(tokens(&text).collect::<Vec<_>>(), want);
        }
    }

    #[test]
    fn stop_words_are_dropped_in_any_case() {
        assert_eq!(tokens("The AND tHe Of tea").collect::<Vec<_>>(), ["tea"]);
    }

    #[test]
    fn bm25_ranks_rare_matching_words_first_and_follows_deletes() {
        let mut ix = Lexical::default();
        ix.add(1, "Caroline went to the LGBTQ support group");
        ix.add(2, "Melanie painted a sunrise");
        ix.add(3, "Caroline talked about her painting with Melanie");
        let s = ix.scores("When did Caroline go to the support group?", 3, |_| true, ok).unwrap();
        assert!(s[&1] > s[&3], "{s:?}");
        assert!(!s.contains_key(&2));
        // idf matches the formula for a term in 1 of 3 documents.
        let only = ix.scores("sunrise", 3, |_| true, ok).unwrap();
        let idf = (1.0f64 + (3.0 - 1.0 + 0.5) / 1.5).ln();
        let len = 3.0; // melanie, painted, sunrise
        let avg = (5.0 + 3.0 + 5.0) / 3.0;
        let want = idf * 1.0 * (BM25_K1 + 1.0) / (1.0 + BM25_K1 * (1.0 - BM25_B + BM25_B * len / avg));
        assert!((only[&2] - want).abs() < 1e-12, "{} vs {want}", only[&2]);
        ix.remove(1);
        assert_eq!(ix.len(), 2);
        assert!(!ix.scores("LGBTQ", 2, |_| true, ok).unwrap().contains_key(&1));
        ix.remove(1); // twice: nothing happens
        ix.add(4, "LGBTQ");
        assert_eq!(ix.scores("lgbtq", 3, |_| true, ok).unwrap().keys().copied().collect::<Vec<_>>(), [4]);
        // A scope counts only its own documents: "painted" alone in a scope of one.
        let scoped = ix.scores("painted melanie", 1, |id| id == 2, ok).unwrap();
        assert_eq!(scoped.keys().copied().collect::<Vec<_>>(), [2]);
        let idf1 = (1.0f64 + 0.5 / 1.5).ln();
        assert!((scoped[&2] - 2.0 * idf1).abs() < 1e-12, "{scoped:?}");
    }
}
