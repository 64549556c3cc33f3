//! The lexical index: BM25 over the memories' texts.
//!
//! Names, dates and rare words are lexical: on real conversational memory
//! (the LoCoMo conversations in `tests/data/locomo`) BM25 finds an evidence
//! turn in its top 10 for far more questions than cosine does, and a fusion of
//! the two beats both (`make quality` prints the figures). So every memory's
//! text is indexed on add and removed on delete, in every front-end (the
//! browser build included). Snapshots store the postings, so that opening one
//! does not tokenise every text again (`Lexical::encode` gives the layout).
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
//! copies of documents or lack deletion. This index is a few hundred lines, shares the
//! store's ids and lock, and costs per memory about 11 bytes per distinct word
//! (153 bytes per memory on the 14 k corpus, vocabulary included).

use crate::bytes::Cursor;
use crate::graph::FastMap as HashMap;
use smallvec::SmallVec;
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

/// What the index keeps per memory: its token count (for length
/// normalisation) and how many distinct terms it posted. The terms themselves
/// are not kept: removal tokenises the text again (the tokeniser is a pure
/// function), which saves a list per memory.
#[derive(Debug, Clone, Copy, Default)]
struct DocStats {
    len: u32,
    terms: u32,
}

/// Version of the tokeniser ([`tokens`]). Saved with a persisted index: an
/// index written by another version is rebuilt from the texts instead.
pub(crate) const TOKENIZER_VERSION: u32 = 1;

/// A decoded lexical index whose postings still name memories by their
/// position in the snapshot (see [`Lexical::decode`]): the vocabulary, and
/// every term's `(position, frequency)` pairs one list after the other.
pub(crate) struct Positions {
    ix: Lexical,
    docs: Vec<DocStats>,
    pairs: Vec<[u32; 2]>,
    /// Where each term's pairs end in `pairs`.
    ends: Vec<usize>,
}

impl Positions {
    /// The index, with `ids[p]` for position `p`. Each list is written once,
    /// at its size; a large index's lists in two halves on two cores.
    pub(crate) fn finish(self, ids: &[u64]) -> Lexical {
        let Positions { mut ix, docs, pairs, ends } = self;
        debug_assert_eq!(ids.len(), docs.len());
        let lists = |ends: &[usize], from: usize| -> Vec<Postings> {
            let (mut start, mut scratch) = (from, Vec::new());
            let mut out = Vec::with_capacity(ends.len());
            for &end in ends {
                scratch.clear();
                for &[at, tf] in &pairs[start..end] {
                    put_posting(&mut scratch, ids[at as usize], tf);
                }
                start = end;
                out.push(Postings(SmallVec::from_slice(&scratch)));
            }
            out
        };
        // Split where half the postings are behind.
        let half = ends.partition_point(|&e| e < pairs.len() / 2);
        let (a, b) = ends.split_at(half);
        let from_b = a.last().copied().unwrap_or(0);
        let (first, second) =
            crate::store::join_if(pairs.len() >= PARALLEL_POSTINGS, || lists(a, 0), || lists(b, from_b));
        ix.postings = first;
        ix.postings.extend(second);
        ix.docs.reserve(docs.len());
        for (&id, stats) in ids.iter().zip(docs) {
            ix.total_len += u64::from(stats.len);
            ix.docs.insert(id, stats);
        }
        ix
    }
}

/// Postings from which [`Positions::finish`] writes the lists on two cores
/// (the corpus's 14 k memories have 191 k).
const PARALLEL_POSTINGS: usize = 1 << 16;

/// The terms ever indexed, numbered in the order they came: their texts one
/// after the other in one string, and a table from a term's text to its
/// number. Terms are never removed (one without postings is left out of a
/// snapshot). Against a `HashMap<String, u32>`, no allocation per term: a
/// snapshot of the 14 k corpus brings 27 k terms.
#[derive(Debug, Clone, Default)]
struct Vocabulary {
    /// The terms' texts, concatenated.
    text: String,
    /// Where each term's text ends in `text` (it starts where the one before ends).
    ends: Vec<usize>,
    /// Term numbers, hashed by their text.
    table: hashbrown::HashTable<u32>,
    hasher: foldhash::fast::RandomState,
}

impl Vocabulary {
    #[cfg(test)]
    fn len(&self) -> usize {
        self.ends.len()
    }

    /// The text of term `t` (a number this vocabulary gave).
    fn term(&self, t: u32) -> &str {
        term_in(&self.text, &self.ends, t)
    }

    fn get(&self, word: &str) -> Option<u32> {
        let hash = std::hash::BuildHasher::hash_one(&self.hasher, word);
        self.table.find(hash, |&t| self.term(t) == word).copied()
    }

    /// The number of `word`, a new one (the next) if it is new: `(number, new)`.
    fn insert(&mut self, word: &str) -> (u32, bool) {
        let Vocabulary { text, ends, table, hasher } = self;
        let hash = std::hash::BuildHasher::hash_one(&*hasher, word);
        let same = |&t: &u32| term_in(text, ends, t) == word;
        match table.entry(hash, same, |&t| hash_term(hasher, text, ends, t)) {
            hashbrown::hash_table::Entry::Occupied(e) => (*e.get(), false),
            hashbrown::hash_table::Entry::Vacant(e) => {
                let next = ends.len() as u32;
                e.insert(next);
                text.push_str(word);
                ends.push(text.len());
                (next, true)
            }
        }
    }

    fn reserve(&mut self, terms: usize, bytes: usize) {
        let Vocabulary { text, ends, table, hasher } = self;
        text.reserve(bytes);
        ends.reserve(terms);
        table.reserve(terms, |&t| hash_term(hasher, text, ends, t));
    }

    fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        self.text.capacity()
            + self.ends.capacity() * size_of::<usize>()
            + self.table.capacity() * (size_of::<u32>() + 1)
    }
}

/// Term `t`'s text in a vocabulary's `text` and `ends` (a free function, so
/// that the table's closures can use it while the table is borrowed).
fn term_in<'a>(text: &'a str, ends: &[usize], t: u32) -> &'a str {
    let t = t as usize;
    &text[if t == 0 { 0 } else { ends[t - 1] }..ends[t]]
}

/// The table's hash of term `t` (what the table rehashes by as it grows).
fn hash_term(hasher: &foldhash::fast::RandomState, text: &str, ends: &[usize], t: u32) -> u64 {
    std::hash::BuildHasher::hash_one(hasher, term_in(text, ends, t))
}

/// A term's postings: for each memory whose text has the term, its id and
/// how often the term occurs there (the frequency), both as LEB128 varints
/// (seven bits a byte), in the order they were added. An id below 2¹⁴ takes
/// two bytes and a frequency below 128 one, so a posting takes about 3 bytes
/// where a fixed-width one took 12; the lists were most of the index. Up to
/// 16 bytes are kept inline, in the space a `Vec` would take for its pointer
/// and length: a term of a few memories (half of a vocabulary's terms occur
/// in one memory only) allocates nothing. Lists are read whole (a query's
/// terms, a removal's search): no posting is found by position.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Postings(SmallVec<[u8; 16]>);
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<Postings>() == std::mem::size_of::<Vec<u8>>());

impl Postings {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Number of postings: each ends with the last byte of its frequency,
    /// and every varint's last byte is the one below 128.
    fn len(&self) -> usize {
        self.0.iter().filter(|&&b| b < 0x80).count() / 2
    }

    /// `(id, frequency)` of each posting, in order.
    fn iter(&self) -> PostingIter<'_> {
        PostingIter { rest: &self.0 }
    }

    fn push(&mut self, id: u64, tf: u32) {
        put_posting(&mut self.0, id, tf);
    }

    /// Removes `id`'s posting; whether it had one.
    fn remove(&mut self, id: u64) -> bool {
        let mut it = self.iter();
        let mut start = 0;
        while let Some((p, _)) = it.next() {
            let end = self.0.len() - it.rest.len();
            if p == id {
                self.0.drain(start..end);
                return true;
            }
            start = end;
        }
        false
    }

    /// Heap bytes beyond the list itself (none while inline).
    fn heap_bytes(&self) -> usize {
        if self.0.spilled() {
            self.0.capacity()
        } else {
            0
        }
    }
}

/// Reads a [`Postings`] list.
struct PostingIter<'a> {
    rest: &'a [u8],
}

impl Iterator for PostingIter<'_> {
    type Item = (u64, u32);

    fn next(&mut self) -> Option<(u64, u32)> {
        let id = take_varint(&mut self.rest)?;
        let tf = take_varint(&mut self.rest)?;
        // (Frequencies are written from u32s.)
        Some((id, u32::try_from(tf).unwrap_or(u32::MAX)))
    }
}

/// Appends a posting to `out`: `id` then `tf` as LEB128 varints (seven bits
/// a byte, lowest first, the high bit set on every byte but a varint's last).
#[inline(always)]
fn put_posting(out: &mut impl ByteSink, id: u64, tf: u32) {
    put_varint(out, id);
    put_varint(out, u64::from(tf));
}

/// Appends `v` as a LEB128 varint, up to eight bytes (56 bits) at a time
/// built in a register and stored at once. (Written byte by byte into an
/// array and copied from there, the bytes were read back before their
/// stores had landed, and a copy of a varying length called memmove: the
/// corpus's lists took several times longer to write.)
#[inline(always)]
fn put_varint(out: &mut impl ByteSink, mut v: u64) {
    // The low 56 bits, seven to a byte.
    let spread = |v: u64| (0..8).fold(0u64, |x, i| x | ((v >> (7 * i)) & 0x7f) << (8 * i));
    while v >= 1 << 56 {
        out.put(spread(v) | 0x8080_8080_8080_8080, 8);
        v >>= 56;
    }
    let len = (64 - (v | 1).leading_zeros() as usize).div_ceil(7);
    // The high bit on every byte but the last.
    out.put(spread(v) | (((1u64 << (8 * (len - 1))) - 1) & 0x8080_8080_8080_8080), len);
}

/// Where [`put_varint`] writes: a list's bytes, or the buffer a list is
/// built in.
trait ByteSink {
    /// Appends the first `len` (at most 8) bytes of `x`, lowest first.
    fn put(&mut self, x: u64, len: usize);
}

impl ByteSink for Vec<u8> {
    #[inline(always)]
    fn put(&mut self, x: u64, len: usize) {
        let end = self.len() + len;
        self.extend_from_slice(&x.to_le_bytes());
        self.truncate(end);
    }
}

/// A list grown in place (as a memory is added) takes its bytes one by one,
/// so that it never reserves room for bytes it drops.
impl ByteSink for SmallVec<[u8; 16]> {
    #[inline(always)]
    fn put(&mut self, x: u64, len: usize) {
        for i in 0..len {
            self.push((x >> (8 * i)) as u8);
        }
    }
}

/// Reads a varint [`put_varint`] wrote from the front of `bytes`; `None` at
/// the end (or, never for a list this module wrote, a cut or overlong one).
fn take_varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = bytes.split_first()?;
        *bytes = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

/// An inverted index of memory texts.
#[derive(Debug, Clone, Default)]
pub(crate) struct Lexical {
    vocabulary: Vocabulary,
    /// term number → postings
    postings: Vec<Postings>,
    docs: HashMap<u64, DocStats>,
    total_len: u64,
}

impl Lexical {
    /// Indexes a memory's text. An id that is indexed already is left as it is
    /// (a loaded snapshot brings its postings; [`Lexical::remove`] comes first
    /// when a text changes).
    pub(crate) fn add(&mut self, id: u64, text: &str) {
        if self.docs.contains_key(&id) {
            return;
        }
        let mut all: Vec<u32> = Vec::new();
        for t in words(text) {
            let (term, new) = self.vocabulary.insert(&t);
            if new {
                self.postings.push(Postings::default());
            }
            all.push(term);
        }
        let len = u32::try_from(all.len()).unwrap_or(u32::MAX);
        all.sort_unstable();
        let mut terms = 0u32;
        for run in all.chunk_by(|a, b| a == b) {
            terms += 1;
            self.postings[run[0] as usize].push(id, run.len() as u32);
        }
        self.total_len += u64::from(len);
        self.docs.insert(id, DocStats { len, terms });
    }

    /// Removes a memory's text from the index; `text` is the text it was
    /// indexed with. Should the postings found that way not account for every
    /// term the memory posted (an index loaded from a file that was edited to
    /// stay well-formed), every list is swept for the id.
    pub(crate) fn remove(&mut self, id: u64, text: &str) {
        let Some(doc) = self.docs.remove(&id) else { return };
        let mut removed = 0u32;
        for term in self.known_terms(text) {
            if self.postings[term as usize].remove(id) {
                removed += 1;
            }
        }
        if removed != doc.terms {
            for list in &mut self.postings {
                while list.remove(id) {}
            }
        }
        self.total_len -= u64::from(doc.len).min(self.total_len);
    }

    /// The distinct terms of `text` that the vocabulary holds, in the order
    /// they first appear.
    fn known_terms(&self, text: &str) -> Vec<u32> {
        let mut terms: Vec<u32> = Vec::new();
        for t in words(text) {
            if let Some(term) = self.vocabulary.get(&t) {
                if !terms.contains(&term) {
                    terms.push(term);
                }
            }
        }
        terms
    }

    /// Number of indexed memories.
    pub(crate) fn len(&self) -> usize {
        self.docs.len()
    }

    /// Bytes the index holds (capacities of its tables, keys and lists; what
    /// `make bench` reports per memory).
    pub(crate) fn heap_bytes(&self) -> u64 {
        use std::mem::size_of;
        let vocab = self.vocabulary.heap_bytes();
        let postings: usize = self.postings.iter().map(|p| p.heap_bytes() + size_of::<Postings>()).sum();
        let docs = self.docs.capacity() * (size_of::<u64>() + size_of::<DocStats>() + 1);
        (vocab + postings + docs) as u64
    }

    /// Appends the index in the snapshot layout: tokeniser version u32 ·
    /// term count u64 · per term with postings: length u64 · the term (UTF-8)
    /// · posting count u64 · per posting the memory's position in the
    /// snapshot's memories section u32 and the frequency u32. `position`
    /// gives that position for every indexed id. Terms no memory uses any
    /// more are left out (and so dropped on load).
    pub(crate) fn encode(&self, out: &mut impl crate::bytes::Sink, position: impl Fn(u64) -> u32) {
        out.put(&TOKENIZER_VERSION.to_le_bytes());
        let used = self.postings.iter().filter(|p| !p.is_empty()).count();
        out.put(&(used as u64).to_le_bytes());
        for (i, list) in self.postings.iter().enumerate().filter(|(_, p)| !p.is_empty()) {
            let term = self.vocabulary.term(i as u32);
            out.put(&(term.len() as u64).to_le_bytes());
            out.put(term.as_bytes());
            out.put(&(list.len() as u64).to_le_bytes());
            for (id, tf) in list.iter() {
                out.put(&position(id).to_le_bytes());
                out.put(&tf.to_le_bytes());
            }
        }
    }

    /// Reads what [`Lexical::encode`] wrote for a snapshot of `memories`
    /// memories. `Ok(None)`: the index was written by another tokeniser
    /// version (rebuild it from the texts). Checked: lengths, UTF-8, no empty
    /// or repeated term, positions below `memories`, frequencies ≥ 1, no
    /// memory twice in a term's list. A memory without postings is indexed as
    /// a text without words. [`Positions::finish`] turns positions into ids.
    pub(crate) fn decode(bytes: &[u8], memories: usize) -> std::result::Result<Option<Positions>, String> {
        const CUT: &str = "the lexical section is cut off";
        let b = &mut Cursor::new(bytes);
        let u64_at = |b: &mut Cursor<'_>| b.u64().ok_or(CUT);
        let version = b.u32().ok_or(CUT)?;
        if version != TOKENIZER_VERSION {
            return Ok(None);
        }
        let count = u64_at(b)?;
        // Each term takes at least 8 + 1 + 8 + 8 bytes.
        if count > (b.left() / 25) as u64 {
            return Err(format!("{count} terms do not fit the lexical section"));
        }
        let mut ix = Lexical::default();
        // Words are short: 8 bytes each to start with (the text grows as needed).
        ix.vocabulary.reserve(count as usize, count as usize * 8);
        // Each posting takes 8 bytes in the section.
        let mut pairs: Vec<[u32; 2]> = Vec::with_capacity(b.left() / 8);
        let mut ends: Vec<usize> = Vec::with_capacity(count as usize);
        // Per memory position: its stats and the last term it was seen in
        // (a repeat shows as equal).
        let mut docs = vec![(DocStats::default(), u32::MAX); memories];
        for term in 0..count as u32 {
            let len = u64_at(b)?;
            let text = b.take(usize::try_from(len).map_err(|_| "a term is impossibly long")?).ok_or(CUT)?;
            let text = std::str::from_utf8(text).map_err(|_| "a term is not UTF-8")?;
            if text.is_empty() || !ix.vocabulary.insert(text).1 {
                return Err(format!("term {term} is empty or repeated"));
            }
            let n = u64_at(b)?;
            if n == 0 || n > (b.left() / 8) as u64 {
                return Err(format!("term {term}: {n} postings do not fit the lexical section"));
            }
            let raw = b.take(n as usize * 8).ok_or(CUT)?;
            for p in raw.chunks_exact(8) {
                let at = u32::from_le_bytes([p[0], p[1], p[2], p[3]]);
                let tf = u32::from_le_bytes([p[4], p[5], p[6], p[7]]);
                let Some((stats, last)) = docs.get_mut(at as usize) else {
                    return Err(format!("term {term}: position {at} is past the last memory"));
                };
                if tf == 0 || *last == term {
                    return Err(format!("term {term}: a zero frequency or position {at} twice"));
                }
                *last = term;
                stats.terms += 1;
                stats.len = stats.len.saturating_add(tf);
                pairs.push([at, tf]);
            }
            ends.push(pairs.len());
        }
        if b.left() != 0 {
            return Err("the lexical section has trailing bytes".into());
        }
        ix.vocabulary.text.shrink_to_fit();
        Ok(Some(Positions { ix, docs: docs.into_iter().map(|(d, _)| d).collect(), pairs, ends }))
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
        let mut visited = 0usize;
        // Each term's list and how many memories in scope it names, first:
        // the map of scores then has room for every memory it can hold
        // (grown as it filled, its rehashing took a tenth of a hybrid read
        // of the corpus).
        let mut terms: Vec<(&Postings, usize)> = Vec::new();
        for term in self.known_terms(query) {
            let list = &self.postings[term as usize];
            let df = if whole {
                list.len()
            } else {
                let mut df = 0usize;
                for (id, _) in list.iter() {
                    tick(visited)?;
                    visited += 1;
                    df += usize::from(in_scope(id));
                }
                df
            };
            if df > 0 {
                terms.push((list, df));
            }
        }
        out.reserve(terms.iter().map(|&(_, df)| df).sum::<usize>().min(scope_len));
        for (list, df) in terms {
            let df = df as f64;
            // The portable ln (see Cargo.toml): the same bits on every platform.
            let idf = libm::log(1.0 + (n - df + 0.5) / (df + 0.5));
            for (id, tf) in list.iter() {
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

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(if cfg!(miri) { 4 } else { 256 }))]

        /// A list behaves as a `Vec` of `(id, frequency)` pairs under pushes of
        /// new ids and removals, across the inline and the spilled forms.
        #[test]
        fn postings_behave_as_a_list_of_pairs(
            ops in proptest::collection::vec((0u8..3, 0u64..40, 1u32..300, proptest::bits::u64::ANY), 0..120)
        ) {
            let (mut list, mut model) = (Postings::default(), Vec::<(u64, u32)>::new());
            for (op, small, tf, any) in ops {
                // Small ids collide (removals find them); any id tests the widths.
                let id = if op == 2 { any } else { small };
                if op == 1 {
                    let at = model.iter().position(|&(m, _)| m == id);
                    proptest::prop_assert_eq!(list.remove(id), at.is_some());
                    if let Some(at) = at {
                        model.remove(at);
                    }
                } else if !model.iter().any(|&(m, _)| m == id) {
                    list.push(id, tf);
                    model.push((id, tf));
                }
                proptest::prop_assert_eq!(list.iter().collect::<Vec<_>>(), model.clone());
                proptest::prop_assert_eq!(list.len(), model.len());
                proptest::prop_assert_eq!(list.is_empty(), model.is_empty());
            }
        }
    }

    #[test]
    fn the_vocabulary_numbers_terms_in_order_and_finds_them_after_growing() {
        let mut v = Vocabulary::default();
        let words: Vec<String> = (0..5000).map(|i| format!("w{i}ż")).collect();
        for (i, w) in words.iter().enumerate() {
            assert_eq!(v.insert(w), (i as u32, true));
        }
        assert_eq!(v.insert("w17ż"), (17, false), "a known word keeps its number");
        assert_eq!(v.len(), 5000);
        for (i, w) in words.iter().enumerate() {
            assert_eq!(v.get(w), Some(i as u32));
            assert_eq!(v.term(i as u32), w);
        }
        assert_eq!(v.get("w5000ż"), None);
        assert_eq!(v.get("w1"), None, "a prefix of a term is not the term");
        assert_eq!(v.get(""), None);
        assert!(v.heap_bytes() >= v.text.len());
    }

    #[test]
    fn a_posting_keeps_any_id_and_frequency() {
        let ids = [0, 1, 127, 128, u64::from(u32::MAX), u64::from(u32::MAX) + 1, 0x1234_5678_9abc_def0, u64::MAX];
        let tfs = [1, 127, 128, 16_384, u32::MAX, 2, 3, 1];
        let mut list = Postings::default();
        for (&id, &tf) in ids.iter().zip(&tfs) {
            list.push(id, tf);
        }
        assert_eq!(list.iter().collect::<Vec<_>>(), ids.iter().copied().zip(tfs).collect::<Vec<_>>());
        assert_eq!(list.len(), ids.len());
        // Id + frequency: 1+1, 1+1, 1+2, 2+3, 5+5, 5+1, 9+1, 10+1 bytes.
        assert_eq!(list.0.len(), 49);
        let mut cut: &[u8] = &[0x80, 0x80];
        assert_eq!(take_varint(&mut cut), None, "a cut varint");
        let mut overlong: &[u8] = &[0xff; 11];
        assert_eq!(take_varint(&mut overlong), None, "more than ten bytes");
        let mut ix = Lexical::default();
        ix.add(u64::MAX - 1, "far away");
        ix.add(3, "near");
        assert_eq!(ix.scores("away", 2, |_| true, ok).unwrap().keys().copied().collect::<Vec<_>>(), [u64::MAX - 1]);
        ix.remove(u64::MAX - 1, "far away");
        assert!(ix.scores("away", 1, |_| true, ok).unwrap().is_empty());
    }

    #[test]
    fn removal_with_a_text_that_misses_postings_sweeps_them() {
        let mut ix = Lexical::default();
        ix.add(1, "alpha beta");
        ix.add(2, "beta gamma");
        ix.add(1, "delta"); // indexed already: left as it is
        assert!(ix.scores("delta", 2, |_| true, ok).unwrap().is_empty());
        // Postings that the given text does not account for (as in a file
        // edited to stay well-formed) are found by the sweep.
        ix.remove(1, "alpha");
        assert_eq!(ix.len(), 1);
        assert_eq!(ix.scores("alpha beta", 1, |_| true, ok).unwrap().keys().copied().collect::<Vec<_>>(), [2]);
        assert_eq!(ix.total_len, 2);
    }

    #[test]
    fn a_decoded_index_equals_the_encoded_one() {
        let mut ix = Lexical::default();
        for (id, text) in [(10, "red apple"), (11, "green apple pie"), (12, "the of"), (13, "apple apple red")] {
            ix.add(id, text);
        }
        ix.remove(11, "green apple pie"); // "green" and "pie" lose their only posting
        let ids = [10u64, 12, 13];
        let mut bytes = Vec::new();
        ix.encode(&mut bytes, |id| ids.iter().position(|&x| x == id).unwrap() as u32);
        let back = Lexical::decode(&bytes, ids.len()).unwrap().unwrap().finish(&ids);
        assert_eq!(back.vocabulary.len(), 2, "terms without postings are dropped");
        assert_eq!(back.total_len, ix.total_len);
        for q in ["red", "apple", "red apple pie"] {
            let (a, b) = (ix.scores(q, 3, |_| true, ok).unwrap(), back.scores(q, 3, |_| true, ok).unwrap());
            assert_eq!(a, b, "{q}");
        }
        let stats = |l: &Lexical| -> Vec<(u64, u32, u32)> {
            let mut v: Vec<_> = l.docs.iter().map(|(&id, d)| (id, d.len, d.terms)).collect();
            v.sort_unstable();
            v
        };
        assert_eq!(stats(&back), stats(&ix));
        // Another tokeniser version: not used.
        bytes[0] ^= 1;
        assert!(Lexical::decode(&bytes, ids.len()).unwrap().is_none());
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
        ix.remove(1, "Caroline went to the LGBTQ support group");
        assert_eq!(ix.len(), 2);
        assert!(!ix.scores("LGBTQ", 2, |_| true, ok).unwrap().contains_key(&1));
        ix.remove(1, "Caroline went to the LGBTQ support group"); // twice: nothing happens
        ix.add(4, "LGBTQ");
        assert_eq!(ix.scores("lgbtq", 3, |_| true, ok).unwrap().keys().copied().collect::<Vec<_>>(), [4]);
        // A scope counts only its own documents: "painted" alone in a scope of one.
        let scoped = ix.scores("painted melanie", 1, |id| id == 2, ok).unwrap();
        assert_eq!(scoped.keys().copied().collect::<Vec<_>>(), [2]);
        let idf1 = (1.0f64 + 0.5 / 1.5).ln();
        assert!((scoped[&2] - 2.0 * idf1).abs() < 1e-12, "{scoped:?}");
    }
}
