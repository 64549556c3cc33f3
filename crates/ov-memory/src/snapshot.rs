//! Snapshots: the whole store — memories, graph, configuration, id
//! counter and metabolism, not runtime metrics — as bytes or a file.
//!
//! # Format (version 4, little-endian; versions 1 to 3 still load)
//!
//! ```text
//! header   "OVMEMSNP" (8 bytes) · version u32 · section count u32 (= 7; 6 in
//!          version 3, 5 before)
//! section  kind u32 · payload length u64 · CRC-32 of the payload u32 · payload
//!   1 config     the configuration as JSON text
//!   2 state      next_id u64 · budget_tokens u64 · used_tokens u64
//!   3 memories   count u64, then per memory (in storage order):
//!                id u64 · weight f64 · created_at i64 · last_accessed i64 ·
//!                access_count u64 · text length u64 · text (UTF-8) ·
//!                metadata length u64 (0 = none) · metadata (JSON object) ·
//!                namespace length u64 · namespace (UTF-8) ·
//!                key length u64 (0 = none) · key (UTF-8) ·
//!                expires_at i64 (i64::MIN = never) ·
//!                embedding: embedding_dim × f32; in a store whose
//!                configuration names a compact `vector_precision`, the
//!                stored row instead: its codes (f16 as u16, or i8), zero
//!                bytes up to a multiple of 4, then its scale f32
//!                (version 1 records lack the namespace, key and expires_at
//!                fields: they load into namespace "" without key or expiry)
//!   4 adjacency  count u64, then per directed edge entry: from u64 · to u64 ·
//!                relevance f32 (each undirected edge appears once per end, in
//!                each memory's own order, so centrality is bit-identical)
//!   5 overflow   count u64, then per entry: owner u64 · target u64 · relevance f32
//!   6 index      (version 3) count u64 of namespace indexes, then per index
//!                (by namespace name): name length u64 · name · node count u64 ·
//!                the memory id of each node in position order (u64 each) ·
//!                inserts so far u64 · entry node u32 (u32::MAX: none) · per
//!                node its level u8, then per level 0..=level a link count u8
//!                and the linked positions (u32 each). Files of versions 1
//!                and 2 have no index: it is rebuilt from the vectors on load.
//!   7 lexical    (version 4) the BM25 index: tokeniser version u32 · term
//!                count u64 · per term: length u64 · term (UTF-8) · posting
//!                count u64 · per posting: the memory's position in section 3
//!                u32 · frequency u32.
//!                Files of versions 1 to 3, or written by another tokeniser
//!                version, have none that fits: it is rebuilt from the texts.
//! ```
//!
//! Loading checks everything before a store is built — magic, version,
//! section order, every length against the bytes that are really there (no
//! allocation larger than the input justifies), checksums, configuration,
//! ids (unique, below the id counter), UTF-8, finite values, non-zero vectors,
//! degree bound, symmetric edges, no self or duplicate edge, every memory in
//! exactly its own namespace's index, link counts within bounds, no self or
//! duplicate link (a link past the last node is kept: deletes leave such
//! links and searches skip them), lexical postings only for stored memories,
//! none repeated, no empty or repeated term — and answers
//! MEMORY_CORRUPTION naming the section and the check. It never panics.
//! What is not checked is whether saved values are the ones the engine would
//! compute again (edge relevances, postings against the texts): a file edited
//! to stay well-formed can change scores, never the store's integrity.
//!
//! Saving to a path is atomic: the bytes go to a temporary file in the same
//! directory, which is fsynced, renamed over the target, and the directory is
//! fsynced. A crash leaves either the previous file or the new one.

use crate::bytes::{Counter, Cursor, Filler, Sink, Writer};
use crate::config::{Config, Precision};
use crate::error::{Error, ErrorCode, Result};
use crate::graph::{Edge, Graph, NewNode, Node};
use crate::metabolism::Metabolism;
use crate::metrics::Op;
use crate::store::{State, Store};
use serde_json::{Map, Value};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// The first 8 bytes of every snapshot.
pub const MAGIC: &[u8; 8] = b"OVMEMSNP";
/// The format version this build writes (it reads this one and every older one).
pub const VERSION: u32 = 4;
/// The oldest format version this build reads.
pub const MIN_VERSION: u32 = 1;
/// `expires_at` of a memory that never expires, in the file.
const NEVER: i64 = i64::MIN;

const SECTIONS: [(u32, &str); 7] =
    [(1, "config"), (2, "state"), (3, "memories"), (4, "adjacency"), (5, "overflow"), (6, "index"), (7, "lexical")];
/// Sections of a version 1 or 2 file (no saved index: it is rebuilt on load).
const SECTIONS_V2: usize = 5;
/// Sections of a version 3 file (no saved lexical index: it is rebuilt on load).
const SECTIONS_V3: usize = 6;
const HEADER_BYTES: usize = 16;
const SECTION_HEADER_BYTES: usize = 16;
/// Fixed bytes of one memory record besides its text, metadata and vector (version 1).
const MEMORY_FIXED_BYTES_V1: usize = 8 * 7;
/// … and in version 2 (namespace and key lengths, expires_at).
const MEMORY_FIXED_BYTES: usize = 8 * 10;
const EDGE_BYTES: usize = 8 + 8 + 4;
/// Snapshots from this size on are read on two cores. Under Miri (where the
/// two halves run in turn) 4 KiB, so that its tests walk the split paths
/// with a store of a few memories.
const PARALLEL_LOAD_BYTES: usize = if cfg!(miri) { 1 << 12 } else { 1 << 20 };

fn corrupt(section: &str, check: &str, message: impl Into<String>) -> Error {
    Error::new(ErrorCode::MemoryCorruption, message).with("section", section).with("check", check)
}

/// The CRC-32 of a section's payload; from [`PARALLEL_LOAD_BYTES`] on, its
/// two halves on two cores, combined (the same value: the combination is
/// exact).
fn checksum(payload: &[u8]) -> u32 {
    if payload.len() < PARALLEL_LOAD_BYTES {
        return crc32fast::hash(payload);
    }
    let (a, b) = payload.split_at(payload.len() / 2);
    let half = |bytes: &[u8]| {
        let mut h = crc32fast::Hasher::new();
        h.update(bytes);
        h
    };
    let (mut a, b) = crate::store::par_join(|| half(a), || half(b));
    a.combine(&b);
    a.finalize()
}

fn io_error(path: &Path, op: &str, e: &std::io::Error) -> Error {
    Error::new(ErrorCode::Io, format!("{op} {}: {e}", path.display()))
        .with("path", path.display().to_string())
        .with("operation", op)
        .with("os_error", e.to_string())
}

// ---------------------------------------------------------------- writing

fn put_u32(out: &mut impl Sink, v: u32) {
    out.put(&v.to_le_bytes());
}
fn put_u64(out: &mut impl Sink, v: u64) {
    out.put(&v.to_le_bytes());
}

/// Appends floats as little-endian bytes: one copy on little-endian targets.
fn put_f32s(out: &mut impl Sink, xs: &[f32]) {
    if cfg!(target_endian = "little") {
        out.put(bytemuck::cast_slice(xs));
    } else {
        for x in xs {
            out.put(&x.to_le_bytes());
        }
    }
}

/// Appends a stored row (its words, see [`crate::precision`]): the floats of
/// a full-precision row, or a compact row's codes and scale, little-endian.
fn put_row(out: &mut impl Sink, p: Precision, words: &[f32]) {
    if cfg!(target_endian = "little") || p == Precision::F32 {
        return put_f32s(out, words);
    }
    let (codes, scale) = words.split_at(words.len().saturating_sub(1));
    match p {
        Precision::F16 => bytemuck::cast_slice::<f32, u16>(codes).iter().for_each(|c| out.put(&c.to_le_bytes())),
        _ => out.put(bytemuck::cast_slice(codes)),
    }
    put_f32s(out, scale);
}

/// Reads a stored row written by [`put_row`] (exactly 4 bytes per word).
fn get_row(bytes: &[u8], p: Precision, out: &mut [f32]) {
    get_f32s(bytes, out);
    if cfg!(target_endian = "big") && p == Precision::F16 {
        // The codes were read as words: put each back from its own two bytes.
        let n = out.len().saturating_sub(1);
        for (c, b) in bytemuck::cast_slice_mut::<f32, u16>(&mut out[..n]).iter_mut().zip(bytes.chunks_exact(2)) {
            *c = u16::from_le_bytes([b[0], b[1]]);
        }
    } else if cfg!(target_endian = "big") && p == Precision::I8 {
        let n = out.len().saturating_sub(1);
        bytemuck::cast_slice_mut::<f32, u8>(&mut out[..n]).copy_from_slice(&bytes[..4 * n]);
    }
}

/// Reads `out.len()` little-endian floats from `bytes` (exactly 4 per float).
fn get_f32s(bytes: &[u8], out: &mut [f32]) {
    if cfg!(target_endian = "little") {
        bytemuck::cast_slice_mut::<f32, u8>(out).copy_from_slice(bytes);
    } else {
        for (x, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
            *x = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
    }
}

/// Appends a section: its header, then what `write` appends as its payload
/// (length and checksum filled in afterwards: no copy of the payload).
fn section_with<S: Sink>(out: &mut S, kind: u32, write: impl FnOnce(&mut S)) {
    put_u32(out, kind);
    let head = out.pos();
    out.put(&[0; 12]);
    let start = out.pos();
    write(out);
    let len = (out.pos() - start) as u64;
    let crc = out.since(start, 0, checksum);
    out.patch(head, &len.to_le_bytes());
    out.patch(head + 8, &crc.to_le_bytes());
}

/// Appends a u64 length and then what `write` appends (the length of that).
fn put_len_prefixed<S: Sink>(out: &mut S, write: impl FnOnce(&mut S)) {
    let at = out.pos();
    put_u64(out, 0);
    write(out);
    let len = (out.pos() - at - 8) as u64;
    out.patch(at, &len.to_le_bytes());
}

/// Writes a snapshot in two parts whose concatenation is the snapshot: the
/// header, configuration, state and memories (most of the bytes: the rows)
/// into `head`, the other sections into `tail`, on two cores when
/// `parallel`. `config` is the configuration's JSON text.
fn encode_parts<A: Sink + Send, B: Sink + Send>(config: &str, st: &State, head: &mut A, tail: &mut B, parallel: bool) {
    let g = &st.graph;
    let memories = |out: &mut A| {
        out.put(MAGIC);
        put_u32(out, VERSION);
        put_u32(out, SECTIONS.len() as u32);
        section_with(out, 1, |o| o.put(config.as_bytes()));
        section_with(out, 2, |o| {
            let m = st.metabolism.report();
            put_u64(o, st.next_id);
            put_u64(o, m.budget_tokens);
            put_u64(o, m.used_tokens);
        });
        section_with(out, 3, |o| {
            put_u64(o, g.len() as u64);
            for (node, row) in g.iter() {
                put_u64(o, node.id);
                o.put(&node.weight.to_le_bytes());
                o.put(&node.created_at.to_le_bytes());
                o.put(&node.last_accessed.to_le_bytes());
                put_u64(o, node.access_count);
                put_u64(o, node.text.len() as u64);
                o.put(node.text.as_bytes());
                put_len_prefixed(o, |o| {
                    if let Some(m) = node.metadata() {
                        // (Writing a map of JSON values to a sink cannot fail.)
                        let _ = serde_json::to_writer(Writer(o), m);
                    }
                });
                let ns = g.namespaces.name(node.ns);
                put_u64(o, ns.len() as u64);
                o.put(ns.as_bytes());
                let key = node.key().map_or("", String::as_str);
                put_u64(o, key.len() as u64);
                o.put(key.as_bytes());
                o.put(&node.expires_at().unwrap_or(NEVER).to_le_bytes());
                put_row(o, g.precision(), row);
            }
        });
    };
    let others = |out: &mut B| {
        // Adjacency, then overflow: count u64, then (from, to, relevance) per entry.
        for (kind, links) in [(4, (|n: &Node| &n.edges) as fn(&Node) -> &Vec<Edge>), (5, |n: &Node| &n.overflow)] {
            section_with(out, kind, |o| {
                put_u64(o, g.iter().map(|(n, _)| links(n).len() as u64).sum());
                for (node, _) in g.iter() {
                    for e in links(node) {
                        put_u64(o, node.id);
                        put_u64(o, e.to);
                        o.put(&e.relevance.to_le_bytes());
                    }
                }
            });
        }
        section_with(out, 6, |o| g.encode_indexes(o));
        section_with(out, 7, |o| g.lexical.encode(o, |id| g.slot(id).unwrap_or(0) as u32));
    };
    crate::store::join_if(parallel, || memories(head), || others(tail));
}

/// A snapshot's writer: its length, counted by the encoder itself, and its
/// bytes on demand (see [`Store::to_bytes_with`]).
struct Encoder<'a> {
    config: String,
    st: &'a State,
    /// Bytes of the two parts of [`encode_parts`].
    parts: (usize, usize),
    parallel: bool,
}

impl<'a> Encoder<'a> {
    fn new(config: &Config, st: &'a State) -> Encoder<'a> {
        let config = config.to_json();
        let (mut head, mut tail) = (Counter::default(), Counter::default());
        // Counting repeats the encoder's walk without writing anything: the
        // price of allocating the snapshot once, at its size.
        encode_parts(&config, st, &mut head, &mut tail, false);
        let parallel = head.0 + tail.0 >= PARALLEL_LOAD_BYTES;
        Encoder { config, st, parts: (head.0, tail.0), parallel }
    }

    fn len(&self) -> usize {
        self.parts.0 + self.parts.1
    }

    /// Writes the snapshot into `buf`, which must be exactly [`Encoder::len`] bytes.
    fn write(&self, buf: &mut [u8]) -> Result<()> {
        if buf.len() != self.len() {
            return Err(Error::invalid("buffer", "the buffer is not the snapshot's length")
                .with("bytes", buf.len())
                .with("expected", self.len()));
        }
        let (a, b) = buf.split_at_mut(self.parts.0);
        let (mut head, mut tail) = (Filler::new(a), Filler::new(b));
        encode_parts(&self.config, self.st, &mut head, &mut tail, self.parallel);
        if !(head.filled() && tail.filled()) {
            return Err(Error::new(ErrorCode::Internal, "the snapshot's length changed while it was written"));
        }
        Ok(())
    }

    /// The snapshot in a new buffer of its size.
    fn to_vec(&self) -> Vec<u8> {
        let mut head = Vec::with_capacity(self.len());
        let mut tail = Vec::with_capacity(self.parts.1);
        encode_parts(&self.config, self.st, &mut head, &mut tail, self.parallel);
        head.extend_from_slice(&tail);
        head
    }
}

/// Serialises the store's state.
pub(crate) fn encode(config: &Config, st: &State) -> Vec<u8> {
    Encoder::new(config, st).to_vec()
}

// ---------------------------------------------------------------- reading

/// A cursor over one section's payload ([`Cursor`]) whose reads past the
/// end are MEMORY_CORRUPTION errors naming the section and what was read.
struct Reader<'a> {
    cur: Cursor<'a>,
    section: &'static str,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], section: &'static str) -> Reader<'a> {
        Reader { cur: Cursor::new(buf), section }
    }
    fn past_end(&self, what: &str) -> crate::Error {
        corrupt(self.section, "length", format!("{what} runs past the end of the {} section", self.section))
    }
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        self.cur.take(n).ok_or_else(|| self.past_end(what))
    }
    fn u32(&mut self, what: &str) -> Result<u32> {
        self.cur.u32().ok_or_else(|| self.past_end(what))
    }
    fn u64(&mut self, what: &str) -> Result<u64> {
        self.cur.u64().ok_or_else(|| self.past_end(what))
    }
    fn i64(&mut self, what: &str) -> Result<i64> {
        self.cur.i64().ok_or_else(|| self.past_end(what))
    }
    fn f64(&mut self, what: &str) -> Result<f64> {
        self.cur.f64().ok_or_else(|| self.past_end(what))
    }
    fn f32(&mut self, what: &str) -> Result<f32> {
        self.cur.f32().ok_or_else(|| self.past_end(what))
    }
    fn len(&mut self, what: &str) -> Result<usize> {
        let v = self.u64(what)?;
        usize::try_from(v).map_err(|_| corrupt(self.section, "length", format!("{what} is impossibly large")))
    }
    /// A count of records of at least `min_bytes` each, checked against the bytes left.
    fn count(&mut self, what: &str, min_bytes: usize) -> Result<usize> {
        let n = self.len(what)?;
        if n.checked_mul(min_bytes).is_none_or(|need| need > self.cur.left()) {
            return Err(corrupt(
                self.section,
                "count",
                format!("{what} {n} does not fit the {} section", self.section),
            )
            .with("count", n));
        }
        Ok(n)
    }
    fn done(&self) -> Result<()> {
        if self.cur.left() != 0 {
            return Err(corrupt(self.section, "length", format!("the {} section has trailing bytes", self.section)));
        }
        Ok(())
    }
}

/// A decoded snapshot, fully checked.
pub(crate) struct Decoded {
    pub config: Config,
    pub next_id: u64,
    pub metabolism: Metabolism,
    pub graph: Graph,
}

/// The format version and the five checked section payloads.
fn sections(bytes: &[u8]) -> Result<(u32, Vec<&[u8]>)> {
    if bytes.len() < HEADER_BYTES {
        return Err(corrupt("header", "length", "input is shorter than a snapshot header").with("bytes", bytes.len()));
    }
    if &bytes[..8] != MAGIC {
        return Err(corrupt("header", "magic", "not an OV-Memory snapshot (bad magic number)"));
    }
    let mut r = Reader { cur: Cursor::at(bytes, 8), section: "header" };
    let version = r.u32("version")?;
    if !(MIN_VERSION..=VERSION).contains(&version) {
        return Err(corrupt("header", "version", format!("unsupported snapshot version {version}"))
            .with("version", version)
            .with("supported", format!("{MIN_VERSION}..={VERSION}")));
    }
    let count = r.u32("section count")?;
    let expected = match version {
        ..=2 => SECTIONS_V2,
        3 => SECTIONS_V3,
        _ => SECTIONS.len(),
    };
    if count as usize != expected {
        return Err(corrupt("header", "section_count", format!("expected {expected} sections, found {count}")));
    }
    let mut out = Vec::with_capacity(expected);
    for &(kind, name) in &SECTIONS[..expected] {
        r.section = name;
        if r.cur.left() < SECTION_HEADER_BYTES {
            return Err(corrupt(name, "length", format!("the {name} section header is cut off")));
        }
        let k = r.u32("section kind")?;
        if k != kind {
            return Err(corrupt(name, "kind", format!("expected section {kind} ({name}), found {k}")));
        }
        let len = r.len("section length")?;
        let crc = r.u32("checksum")?;
        let payload = r.take(len, "section payload")?;
        if checksum(payload) != crc {
            return Err(corrupt(name, "checksum", format!("the {name} section fails its CRC-32 check")));
        }
        out.push(payload);
    }
    r.section = "trailer";
    r.done()?;
    Ok((version, out))
}

/// Reads a links section's entries (count u64, then per entry two ids and a
/// relevance), rejecting self links and relevances outside (0, 1].
fn read_links(r: &mut Reader<'_>, what: &str) -> Result<Vec<(u64, u64, f32)>> {
    let n = r.count(&format!("{what} count"), EDGE_BYTES)?;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let (from, to, rel) = (r.u64("from")?, r.u64("to")?, r.f32("relevance")?);
        let bad = |check: &str, why: &str| corrupt(r.section, check, format!("{what} #{i}: {why}")).with("index", i);
        if from == to {
            return Err(bad("self_edge", "links a memory to itself"));
        }
        if !(rel.is_finite() && rel > 0.0 && rel <= 1.0) {
            return Err(bad("relevance", "relevance outside (0, 1]"));
        }
        out.push((from, to, rel));
    }
    Ok(out)
}

/// Memory records with their namespace names, and their stored rows in one slab.
type Records<'a> = (Vec<(NewNode, &'a str)>, crate::slab::Slab);

/// Reads and checks the memories section: each record (its namespace name
/// beside it, to be interned in order) and every stored row (at precision
/// `p`) in one slab.
fn read_memories(buf: &[u8], version: u32, dim: usize, p: Precision, next_id: u64) -> Result<Records<'_>> {
    let mut r = Reader::new(buf, "memories");
    let fixed = if version >= 2 { MEMORY_FIXED_BYTES } else { MEMORY_FIXED_BYTES_V1 };
    let words = crate::precision::row_words(p, dim);
    let n = r.count("memory count", fixed + 4 * words)?;
    let mut records = Vec::new();
    records.try_reserve_exact(n).map_err(|_| corrupt("memories", "count", "too many memories to hold"))?;
    // At most a quarter of the section's bytes (`count` checked that). Each
    // row is written below before anything reads it.
    let mut vectors = crate::slab::Slab::for_overwrite(n * words)
        .map_err(|_| corrupt("memories", "count", "too many memories to hold"))?;
    let mut decoded: Vec<f32> = Vec::new();
    for i in 0..n {
        let bad = |check: &str, what: &str| corrupt("memories", check, format!("memory #{i}: {what}")).with("index", i);
        let id = r.u64("id")?;
        let weight = r.f64("weight")?;
        let created_at = r.i64("created_at")?;
        let last_accessed = r.i64("last_accessed")?;
        let access_count = r.u64("access_count")?;
        let text_len = r.len("text length")?;
        let text =
            std::str::from_utf8(r.take(text_len, "text")?).map_err(|_| bad("utf8", "text is not valid UTF-8"))?;
        let meta_len = r.len("metadata length")?;
        let meta_bytes = r.take(meta_len, "metadata")?;
        let (mut namespace, mut key, mut expires_at) = ("", None, None);
        if version >= 2 {
            let len = r.len("namespace length")?;
            namespace = std::str::from_utf8(r.take(len, "namespace")?)
                .map_err(|_| bad("utf8", "namespace is not valid UTF-8"))?;
            crate::validate::namespace(namespace).map_err(|e| bad("namespace", e.message()))?;
            let len = r.len("key length")?;
            let k = std::str::from_utf8(r.take(len, "key")?).map_err(|_| bad("utf8", "key is not valid UTF-8"))?;
            if !k.is_empty() {
                crate::validate::key(k).map_err(|e| bad("key", e.message()))?;
                key = Some(k.to_owned());
            }
            let t = r.i64("expires_at")?;
            expires_at = (t != NEVER).then_some(t);
        }
        let row = &mut vectors[i * words..(i + 1) * words];
        get_row(r.take(4 * words, "embedding")?, p, row);
        if id == 0 || id >= next_id {
            return Err(bad("ids", "id is 0 or not below next_id").with("id", id));
        }
        if !(weight.is_finite() && weight > 0.0) {
            return Err(bad("weight", "weight is not finite and > 0"));
        }
        if text.trim().is_empty() {
            return Err(bad("text", "text is empty"));
        }
        let metadata: Option<Map<String, Value>> = if meta_len == 0 {
            None
        } else {
            match serde_json::from_slice::<Value>(meta_bytes) {
                Ok(Value::Object(m)) => Some(m),
                _ => return Err(bad("metadata", "metadata is not a JSON object")),
            }
        };
        // A compact row: the norm of its decoded codes (what its cosines
        // use), and the embedding's (times the scale) must be in range.
        let scale = crate::precision::scale(p, row);
        if !(scale.is_finite() && scale > 0.0) {
            return Err(bad("embedding", "the stored row's scale is not finite and > 0"));
        }
        decoded.clear();
        let (sum_sq, finite) = if p == Precision::F32 {
            crate::validate::squares(row)
        } else {
            crate::precision::decode(p, row, dim, &mut decoded);
            crate::validate::squares(&decoded)
        };
        if !finite {
            return Err(bad("embedding", "embedding holds a non-finite value"));
        }
        let norm = sum_sq.sqrt();
        if !(norm > 0.0 && crate::validate::norm_in_range(norm * f64::from(scale))) {
            return Err(bad("embedding", "embedding norm is zero or outside the accepted range"));
        }
        let node = NewNode {
            id,
            text: text.to_owned(),
            weight,
            metadata,
            metadata_bytes: meta_len,
            created_at,
            last_accessed,
            access_count,
            ns: 0,
            key,
            expires_at,
            norm,
        };
        records.push((node, namespace));
    }
    r.done()?;
    Ok((records, vectors))
}

/// Checks that directed edge entries come in symmetric pairs: for each entry
/// a → b exactly one b → a with the same relevance, and no entry twice. By
/// sorting a copy: passes over memory in order instead of a lookup of both
/// ends per edge.
fn check_pairs(edges: &[(u64, u64, f32)]) -> std::result::Result<(), String> {
    // (lower id, higher id, relevance bits, direction): a pair sorts side by side.
    let mut keys: Vec<(u64, u64, u32, bool)> =
        edges.iter().map(|&(a, b, r)| (a.min(b), a.max(b), r.to_bits(), a < b)).collect();
    keys.sort_unstable();
    for two in keys.chunks(2) {
        match two {
            [x, y] if (x.0, x.1, x.2) == (y.0, y.1, y.2) && x.3 != y.3 => {}
            _ => {
                let (a, b, _, _) = two[0];
                return Err(format!("edge {a}-{b} has no matching entry from its other end, or appears twice"));
            }
        }
    }
    Ok(())
}

/// Checks and decodes snapshot bytes.
pub(crate) fn decode(bytes: &[u8]) -> Result<Decoded> {
    let (version, s) = sections(bytes)?;

    let config_text =
        std::str::from_utf8(s[0]).map_err(|_| corrupt("config", "utf8", "the configuration is not valid UTF-8"))?;
    // The file's behaviour settings, never its limits: those come from the
    // store or the caller (a file must not decide how much it may grow, and a
    // limit valid on one platform may not be on another).
    let config = Config::from_json_unchecked(config_text)
        .map(|c| c.with_limits_of(&Config::default()))
        .and_then(|c| c.validate().map(|()| c))
        .map_err(|e| corrupt("config", "config", format!("the configuration is invalid: {}", e.message())))?;
    let dim = config.embedding_dim;

    let mut r = Reader::new(s[1], "state");
    let next_id = r.u64("next_id")?;
    let budget = r.u64("budget_tokens")?;
    let used = r.u64("used_tokens")?;
    r.done()?;
    if next_id == 0 || budget == 0 {
        return Err(corrupt("state", "state", "next_id and budget_tokens must be at least 1"));
    }

    // The memory records and a saved lexical index are read at the same time
    // (on two cores where there are two): the records are checked and their
    // vectors copied into one slab, the index is checked, then the records go
    // into the graph in order. With the index in first, each memory's insert
    // finds its postings instead of tokenising its text (every memory has an
    // entry: one without postings is a text without words).
    let precision = config.vector_precision;
    let words = crate::precision::row_words(precision, dim);
    // The edge and overflow entries are read on the records' side (the
    // lexical index takes longer), and their errors reported after the
    // records' as before.
    let links = || -> Result<_> {
        let mut r = Reader::new(s[3], "adjacency");
        let edges = read_links(&mut r, "edge entry")?;
        r.done()?;
        let mut r = Reader::new(s[4], "overflow");
        let over = read_links(&mut r, "overflow entry")?;
        r.done()?;
        Ok((edges, over))
    };
    let read = || (read_memories(s[2], version, dim, precision, next_id), links());
    let lexical = || {
        // The memory count as far as the section can hold it (a larger
        // one fails in `read_memories`; this only bounds positions).
        let fixed = if version >= 2 { MEMORY_FIXED_BYTES } else { MEMORY_FIXED_BYTES_V1 };
        let n = Cursor::new(s[2]).u64().unwrap_or(0);
        let n = usize::try_from(n).unwrap_or(usize::MAX).min(s[2].len() / (fixed + 4 * words));
        s.get(6).map(|b| crate::lexical::Lexical::decode(b, n)).transpose()
    };
    // Two cores only pay off for a large file (and a small load then never
    // starts the thread pool).
    let parallel = bytes.len() >= PARALLEL_LOAD_BYTES;
    let ((records, links), lexical) = crate::store::join_if(parallel, read, lexical);
    let (records, vectors) = records?;
    let lexical = lexical.map_err(|what| corrupt("lexical", "structure", what))?.flatten();
    let mut graph = Graph::new(dim, config.max_degree).with_precision(precision);
    if let Some(ix) = lexical {
        let ids: Vec<u64> = records.iter().map(|(node, _)| node.id).collect();
        graph.lexical = ix.finish(&ids);
    }
    graph.try_reserve_tables(records.len())?;
    graph
        .load_records(records, vectors)
        .map_err(|(i, check, what)| corrupt("memories", check, format!("memory #{i}: {what}")).with("index", i))?;

    // Entries were only read. Known ids, degree bounds and no repeated
    // overflow entry are checked as they are linked; symmetry, duplicates and
    // dangling targets by the check below.
    let (edges, over) = links?;
    // What loading does not establish as it goes is checked beside it (on a
    // second core: the check reads only the entries): edges in symmetric
    // pairs (which makes every target a known memory). The tables beside the
    // records (id index, norms, centralities, counts, keys, expiry, overflow
    // back references) were built from checked records, and the approximate
    // indexes are checked as they are read. Errors are reported in the order
    // of the steps, whichever finished first.
    let load = || -> Result<()> {
        graph.load_edges(&edges).map_err(|what| corrupt("adjacency", "links", what))?;
        graph.load_overflow(&over).map_err(|what| corrupt("overflow", "links", what))?;
        match s.get(5) {
            Some(index) => graph.decode_indexes(index).map_err(|what| corrupt("index", "structure", what))?,
            None => graph.rebuild_indexes(),
        }
        Ok(())
    };
    let pairs = || check_pairs(&edges).map_err(|what| corrupt("adjacency", "symmetry", what));
    let (loaded, paired) = crate::store::join_if(parallel, load, pairs);
    loaded?;
    paired?;
    // And links across namespaces. Debug builds, the fuzzer's included, check
    // it all again.
    if graph.namespaces.len() > 1 {
        graph.check_links().map_err(|what| corrupt("adjacency", "links", what))?;
    }
    debug_assert_eq!(graph.check_invariants(), Ok(()));
    Ok(Decoded { config, next_id, metabolism: Metabolism::with_used(budget, used), graph })
}

// ---------------------------------------------------------------- files

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Removes temporary files that a killed save left next to the target: files
/// named `<prefix><pid>-<n>` (the naming of [`write_atomic`]) whose process no
/// longer runs. Only where `/proc` tells which processes run (Linux); this
/// process's own temporary files are never touched (another thread may be
/// writing one). Best effort: a file that cannot be removed stays.
fn remove_stale_temps(dir: &Path, prefix: &str) {
    let proc_root = Path::new("/proc/self");
    if !proc_root.exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let me = std::process::id();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(prefix)) else { continue };
        let Some((pid, n)) = rest.split_once('-') else { continue };
        let (Ok(pid), true) = (pid.parse::<u32>(), !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())) else {
            continue;
        };
        if pid != me && !Path::new("/proc").join(pid.to_string()).exists() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Writes `bytes` to `path` atomically (temp file, fsync, rename, fsync dir).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| Error::invalid("path", "the path names no file").with("path", path.display().to_string()))?;
    let prefix = format!(".{}.tmp-", name.to_string_lossy());
    remove_stale_temps(&dir, &prefix);
    let tmp = dir.join(format!("{prefix}{}-{}", std::process::id(), TMP_COUNTER.fetch_add(1, Ordering::Relaxed)));
    let result = (|| {
        {
            // (Closed at the end of this block, before the rename.)
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)
                .map_err(|e| io_error(&tmp, "create", &e))?;
            f.write_all(bytes).map_err(|e| io_error(&tmp, "write", &e))?;
            f.sync_all().map_err(|e| io_error(&tmp, "fsync", &e))?;
        }
        std::fs::rename(&tmp, path).map_err(|e| io_error(path, "rename", &e))?;
        // Make the rename itself durable.
        if let Ok(d) = std::fs::File::open(&dir) {
            d.sync_all().map_err(|e| io_error(&dir, "fsync directory", &e))?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The largest snapshot file that `load` and `open` read (16 GiB). Larger
/// files, and anything that is not a regular file (a FIFO would block, a
/// device would never end), are refused with IO before any byte is read.
pub const MAX_SNAPSHOT_BYTES: u64 = 16 << 30;

/// Fills `out` from the start of `f` and leaves the file's position after
/// it. A large file is read in two halves at once (on Unix, on two cores):
/// the kernel's copy out of the page cache was a fifth of opening the corpus.
fn read_whole(f: &std::fs::File, out: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read;
    #[cfg(unix)]
    if out.len() >= PARALLEL_LOAD_BYTES {
        use std::io::Seek;
        use std::os::unix::fs::FileExt;
        let half = out.len() / 2;
        let (a, b) = out.split_at_mut(half);
        let (ra, rb) = crate::store::par_join(|| f.read_exact_at(a, 0), || f.read_exact_at(b, half as u64));
        ra?;
        rb?;
        (&*f).seek(std::io::SeekFrom::Start(out.len() as u64))?;
        return Ok(());
    }
    (&*f).read_exact(out)
}

fn read_file(path: &Path) -> Result<crate::slab::Bytes> {
    use std::io::Read;
    let not_regular = |what: &str| {
        Error::new(ErrorCode::Io, format!("{}: not a regular file ({what})", path.display()))
            .with("path", path.display().to_string())
            .with("operation", "read")
    };
    // stat first: opening a FIFO for reading would block until a writer came.
    let meta = std::fs::metadata(path).map_err(|e| io_error(path, "read", &e))?;
    if !meta.is_file() {
        return Err(not_regular(if meta.is_dir() { "a directory" } else { "a FIFO, socket or device" }));
    }
    let mut f = std::fs::File::open(path).map_err(|e| io_error(path, "read", &e))?;
    let meta = f.metadata().map_err(|e| io_error(path, "read", &e))?;
    if !meta.is_file() {
        return Err(not_regular("replaced while opening"));
    }
    if meta.len() > MAX_SNAPSHOT_BYTES {
        return Err(Error::new(ErrorCode::Io, format!("{}: larger than the snapshot maximum", path.display()))
            .with("path", path.display().to_string())
            .with("bytes", meta.len())
            .with("max_bytes", MAX_SNAPSHOT_BYTES));
    }
    // Read whole into a buffer of the stat's size (through `take` the reader
    // gave no size hint, and growing a buffer by doubling took as long as
    // decoding the snapshot), which a large file takes from the maps of
    // dropped slabs (see `slab`): faulting in fresh memory took longer than
    // reading the file.
    let mut out = usize::try_from(meta.len())
        .ok()
        .and_then(|len| crate::slab::Bytes::for_overwrite(len).ok())
        .ok_or_else(|| io_error(path, "read", &std::io::ErrorKind::OutOfMemory.into()))?;
    read_whole(&f, &mut out).map_err(|e| io_error(path, "read", &e))?;
    // A file that grew after the stat is being written by someone else.
    if f.read(&mut [0u8; 1]).map_err(|e| io_error(path, "read", &e))? != 0 {
        return Err(Error::new(ErrorCode::Io, format!("{}: changed while it was read", path.display()))
            .with("path", path.display().to_string())
            .with("operation", "read"));
    }
    Ok(out)
}

// ---------------------------------------------------------------- the store's API

impl Store {
    /// The whole store as snapshot bytes (see the module docs for the format).
    /// Guarded by the breaker.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        self.call(Op::Save, true, |_| Ok(encode(&self.config, &self.state.read())))
    }

    /// The whole store as snapshot bytes, written straight into a buffer
    /// the caller allocates — a front-end's own byte string, so that the
    /// snapshot is written once instead of written and then copied.
    /// `provide` is called once, with the snapshot's exact length and a
    /// function that writes the snapshot into a buffer of that length
    /// (INVALID_DATA for a buffer of another length); what `provide`
    /// returns is returned. The store is read once for both: nothing
    /// changes between the length and the bytes. Guarded by the breaker.
    pub fn to_bytes_with<T>(
        &self,
        provide: impl FnOnce(usize, &mut (dyn FnMut(&mut [u8]) -> Result<()> + Send)) -> T,
    ) -> Result<T> {
        self.call(Op::Save, true, |_| {
            let st = self.state.read();
            let encoder = Encoder::new(&self.config, &st);
            Ok(provide(encoder.len(), &mut |buf: &mut [u8]| encoder.write(buf)))
        })
    }

    /// Saves a snapshot to `path` atomically: a crash leaves the previous file
    /// or the new one, never a mix. Errors: IO (with the OS error), CIRCUIT_OPEN.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        self.call(Op::Save, true, |logs| {
            let bytes = encode(&self.config, &self.state.read());
            write_atomic(path, &bytes)?;
            logs.push(
                crate::log::Level::Info,
                "snapshot saved",
                serde_json::json!({ "path": path.display().to_string(), "bytes": bytes.len() }),
            );
            Ok(())
        })
    }

    /// Replaces this store's memories, graph, id counter and metabolism with
    /// those of a snapshot. The snapshot's `embedding_dim`, `max_degree` and
    /// `vector_precision` must equal this store's (MEMORY_CORRUPTION otherwise), and its memories
    /// must fit this store's limits — `max_nodes`, `max_memory_mb`,
    /// `max_text_chars`, `max_metadata_bytes` — (RESOURCE_EXHAUSTION
    /// otherwise). Everything is checked first; on any error nothing changes.
    /// Guarded by the breaker (corruption counts).
    pub fn load_bytes(&self, bytes: &[u8]) -> Result<()> {
        let r = self.call(Op::Load, true, |logs| self.load_checked(bytes, None, logs));
        self.changed(r.is_ok(), 1);
        r
    }

    /// [`Store::load_bytes`] from a file: a regular file of at most
    /// [`MAX_SNAPSHOT_BYTES`] (a FIFO, a device or a directory is IO).
    /// Errors: IO, MEMORY_CORRUPTION, RESOURCE_EXHAUSTION, CIRCUIT_OPEN.
    pub fn load(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let r = self.call(Op::Load, true, |logs| self.load_checked(&read_file(path)?, Some(path), logs));
        self.changed(r.is_ok(), 1);
        r
    }

    fn load_checked(&self, bytes: &[u8], path: Option<&Path>, logs: &mut crate::log::LogBuf) -> Result<()> {
        self.replace_state(decode(bytes)?)?;
        logs.push(
            crate::log::Level::Info,
            "snapshot loaded",
            serde_json::json!({ "path": path.map(|p| p.display().to_string()), "bytes": bytes.len() }),
        );
        Ok(())
    }

    fn replace_state(&self, d: Decoded) -> Result<()> {
        let mine = &self.config;
        let mismatch = |what: &str, theirs: Value, ours: Value| {
            corrupt("config", "compatibility", format!("the snapshot's {what} does not fit this store"))
                .with("snapshot", theirs)
                .with("store", ours)
        };
        if d.config.embedding_dim != mine.embedding_dim {
            return Err(mismatch("embedding_dim", d.config.embedding_dim.into(), mine.embedding_dim.into()));
        }
        // The rows are read and written at the store's precision.
        if d.config.vector_precision != mine.vector_precision {
            return Err(mismatch(
                "vector_precision",
                serde_json::to_value(d.config.vector_precision).unwrap_or_default(),
                serde_json::to_value(mine.vector_precision).unwrap_or_default(),
            ));
        }
        // Centrality divides by max_degree: only an equal bound keeps every score.
        if d.config.max_degree != mine.max_degree {
            return Err(mismatch("max_degree", d.config.max_degree.into(), mine.max_degree.into()));
        }
        check_limits(mine, &d.graph)?;
        let mut st = self.state.write();
        st.graph = d.graph;
        st.graph.set_exact_limit(mine.exact_limit);
        st.graph.set_ef_construction(mine.ef_construction);
        st.next_id = d.next_id;
        st.metabolism = d.metabolism;
        st.last_injected.clear();
        st.injections.clear();
        Ok(())
    }

    /// A new store from snapshot bytes on the given clock. With `config`, the
    /// store has exactly that configuration (its `embedding_dim`, `max_degree`
    /// and `vector_precision` must match the snapshot's); without, it has the snapshot's
    /// settings but the default resource limits ([`Config::with_limits_of`]).
    /// Errors: MEMORY_CORRUPTION, RESOURCE_EXHAUSTION (the snapshot does not
    /// fit the limits), INVALID_DATA (a bad `config`).
    pub fn from_bytes_with(bytes: &[u8], config: Option<Config>, clock: crate::clock::SharedClock) -> Result<Store> {
        if let Some(c) = &config {
            c.validate()?;
        }
        let d = decode(bytes)?;
        let config = config.unwrap_or_else(|| d.config.clone());
        let store = Store::with_clock(config, clock)?;
        store.replace_state(d)?;
        Ok(store)
    }

    /// A new store from snapshot bytes, with the snapshot's settings, the
    /// default resource limits and the given clock (see [`Store::from_bytes_with`]).
    pub fn from_bytes_with_clock(bytes: &[u8], clock: crate::clock::SharedClock) -> Result<Store> {
        Store::from_bytes_with(bytes, None, clock)
    }

    /// A new store from snapshot bytes, with the snapshot's settings and the
    /// default resource limits (see [`Store::from_bytes_with`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Store> {
        Store::from_bytes_with(bytes, None, crate::clock::default_clock())
    }

    /// A new store from a snapshot file (a regular file of at most
    /// [`MAX_SNAPSHOT_BYTES`]); `config` as in [`Store::from_bytes_with`].
    /// Errors: IO, MEMORY_CORRUPTION, RESOURCE_EXHAUSTION.
    pub fn open_with(path: impl AsRef<Path>, config: Option<Config>) -> Result<Store> {
        Store::from_bytes_with(&read_file(path.as_ref())?, config, crate::clock::default_clock())
    }

    /// A new store from a snapshot file, with the snapshot's settings and the
    /// default resource limits. Errors: IO, MEMORY_CORRUPTION, RESOURCE_EXHAUSTION.
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        Store::open_with(path, None)
    }
}

/// Checks a decoded graph against a store's resource limits (RESOURCE_EXHAUSTION).
fn check_limits(limits: &Config, g: &Graph) -> Result<()> {
    let over = |what: &str, limit: Value, got: Value| {
        Error::new(ErrorCode::ResourceExhaustion, format!("the snapshot's {what} exceeds this store's limit"))
            .with("limit", limit)
            .with("got", got)
            .with("field", what)
    };
    if g.len() > limits.max_nodes {
        return Err(over("max_nodes", limits.max_nodes.into(), g.len().into()));
    }
    if let Some(mb) = limits.effective_max_memory_mb() {
        let limit = (mb * 1024.0 * 1024.0) as u64;
        if g.estimate_bytes() > limit {
            return Err(over("max_memory_mb", limit.into(), g.estimate_bytes().into()));
        }
    }
    for (n, _) in g.iter() {
        if n.metadata_bytes() > limits.max_metadata_bytes {
            return Err(over("max_metadata_bytes", limits.max_metadata_bytes.into(), n.metadata_bytes().into())
                .with("id", n.id));
        }
        if n.text.len() > limits.max_text_chars && n.text.chars().count() > limits.max_text_chars {
            return Err(
                over("max_text_chars", limits.max_text_chars.into(), n.text.chars().count().into()).with("id", n.id)
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::AddOptions;

    /// A file is read whole the same way small (in one read) and large (two
    /// halves at once), and the position is left at its end.
    #[test]
    #[cfg_attr(miri, ignore)] // files
    #[cfg_attr(target_os = "wasi", ignore = "no file system given to the WASI run")]
    fn files_are_read_whole_at_any_size() {
        use std::io::Read;
        let dir = std::env::temp_dir().join(format!("ov-read-whole-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for len in [0, 1, 4097, PARALLEL_LOAD_BYTES - 1, PARALLEL_LOAD_BYTES, 3 * PARALLEL_LOAD_BYTES + 7] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 131 % 251) as u8).collect();
            let path = dir.join(format!("f{len}"));
            std::fs::write(&path, &bytes).unwrap();
            let mut f = std::fs::File::open(&path).unwrap();
            let mut out = vec![0u8; len];
            read_whole(&f, &mut out).unwrap();
            assert!(out == bytes, "{len} bytes");
            assert_eq!(f.read(&mut [0u8; 1]).unwrap(), 0, "{len}: the position is at the end");
            // A file shorter than the buffer is an error, not zeros.
            let mut longer = vec![0u8; len + 1];
            assert!(read_whole(&std::fs::File::open(&path).unwrap(), &mut longer).is_err(), "{len} + 1");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A store past the size from which a snapshot is written on two cores,
    /// with every kind of field: metadata, keys, namespaces, expiry, edges,
    /// overflow, indexes and texts.
    fn large_store() -> Store {
        let dim = 384;
        let store = Store::new(Config { embedding_dim: dim, ..Config::default() }).unwrap();
        for i in 0..if cfg!(miri) { 12usize } else { 800 } {
            let v: Vec<f32> = (0..dim).map(|j| ((i * 31 + j * 7919) % 997) as f32 / 500.0 - 1.0).collect();
            let o = AddOptions {
                metadata: (i % 3 == 0).then(|| serde_json::json!({ "i": i, "tag": format!("t{}", i % 5) })),
                namespace: (i % 4 == 1).then(|| "other".to_string()),
                key: (i % 7 == 0).then(|| format!("k{i}")),
                expires_at: (i % 11 == 0).then_some(i64::MAX / 2),
                ..AddOptions::default()
            };
            store.add(&v, &format!("memory {i} about topic {} and word{}", i % 17, i % 101), o).unwrap();
        }
        store
    }

    #[test]
    fn one_encoder_counts_writes_in_place_and_appends_the_same_bytes() {
        let store = large_store();
        let st = store.state.read();
        let e = Encoder::new(&store.config, &st);
        assert!(e.parallel, "{} bytes: not past the parallel size", e.len());
        let bytes = e.to_vec();
        assert_eq!(bytes.len(), e.len());
        let mut buf = vec![0xAA; e.len()];
        e.write(&mut buf).unwrap();
        assert!(buf == bytes, "written in place, the bytes differ");
        // On one core, into one buffer: the same bytes.
        let (mut head, mut tail) = (Vec::new(), Vec::new());
        encode_parts(&e.config, &st, &mut head, &mut tail, false);
        assert_eq!(head.len(), e.parts.0);
        head.extend_from_slice(&tail);
        assert!(head == bytes, "on one core, the bytes differ");
        assert!(decode(&bytes).is_ok());
    }

    #[test]
    fn a_buffer_of_another_length_is_refused_and_left_as_it_was() {
        let store = large_store();
        let st = store.state.read();
        let e = Encoder::new(&store.config, &st);
        for len in [0, 1, e.len() - 1, e.len() + 1] {
            let mut buf = vec![7u8; len];
            assert_eq!(e.write(&mut buf).unwrap_err().code(), ErrorCode::InvalidData, "{len} bytes");
            assert!(buf.iter().all(|&b| b == 7));
        }
    }
}
