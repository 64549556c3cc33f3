//! Metadata filters: a small JSON language, checked once per call and then
//! evaluated inside the scan, so a filtered `top_k` is the exact top k among
//! the memories that pass.
//!
//! A filter is a JSON object. Each key is either a dotted path into the
//! memory's metadata (`"user.city"` reads `{"user": {"city": …}}`) or a logical
//! operator; all keys of one object must hold (AND).
//!
//! | form | matches when |
//! |---|---|
//! | `{"topic": "tea"}` | the value at `topic` equals `"tea"` (JSON equality; `1` equals `1.0`) |
//! | `{"n": {"$ne": 3}}` | the value is absent or differs |
//! | `{"tag": {"$in": ["a", "b"]}}` / `$nin` | the value equals one of / none of the list (`$nin` also matches an absent value) |
//! | `{"n": {"$gt": 2, "$lte": 9}}` | numbers compare numerically, strings lexicographically (by UTF-8 bytes); other types never match |
//! | `{"email": {"$exists": true}}` | the path is present (`false`: absent) |
//! | `{"$and": [f, …]}`, `{"$or": [f, …]}` | every / at least one sub-filter matches (non-empty lists) |
//! | `{"$not": f}` | the sub-filter does not match |
//!
//! A memory without metadata behaves as `{}`. An invalid filter — an unknown
//! `$operator`, an operand of the wrong type, an empty path or list, nesting
//! deeper than [`MAX_DEPTH`], more than [`MAX_CLAUSES`] clauses — is
//! INVALID_DATA whose context names the clause (`path`, e.g.
//! `filter.$and[1].age.$gt`).

use crate::error::{Error, Result};
use serde_json::{Map, Value};
use std::cmp::Ordering;

/// Deepest nesting of operators a filter may have.
pub const MAX_DEPTH: usize = 32;
/// Most clauses (conditions on a path, plus logical operators) a filter may have.
pub const MAX_CLAUSES: usize = 1024;

/// A checked filter, ready to evaluate.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter(Clause);

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Clause {
    And(Vec<Clause>),
    Or(Vec<Clause>),
    Not(Box<Clause>),
    Field(Vec<String>, Cond),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cond {
    Eq(Value),
    Ne(Value),
    In(Vec<Value>),
    Nin(Vec<Value>),
    Cmp(Ordering, bool, Value),
    Exists(bool),
}

struct Builder {
    clauses: usize,
}

fn bad(path: &str, message: impl Into<String>) -> Error {
    Error::invalid("filter", message).with("path", path.to_owned())
}

impl Builder {
    fn count(&mut self, path: &str) -> Result<()> {
        self.clauses += 1;
        if self.clauses > MAX_CLAUSES {
            return Err(bad(path, format!("a filter may have at most {MAX_CLAUSES} clauses")));
        }
        Ok(())
    }

    fn object(&mut self, v: &Value, path: &str, depth: usize) -> Result<Clause> {
        if depth > MAX_DEPTH {
            return Err(bad(path, format!("a filter may nest at most {MAX_DEPTH} levels")));
        }
        let Value::Object(map) = v else {
            return Err(bad(path, "a filter is a JSON object"));
        };
        let mut all = Vec::with_capacity(map.len());
        for (k, v) in map {
            let here = format!("{path}.{k}");
            self.count(&here)?;
            all.push(match k.as_str() {
                "$and" | "$or" => {
                    let Value::Array(items) = v else {
                        return Err(bad(&here, format!("{k} takes a non-empty list of filters")));
                    };
                    if items.is_empty() {
                        return Err(bad(&here, format!("{k} takes a non-empty list of filters")));
                    }
                    let subs = items
                        .iter()
                        .enumerate()
                        .map(|(i, f)| self.object(f, &format!("{here}[{i}]"), depth + 1))
                        .collect::<Result<Vec<_>>>()?;
                    if k == "$and" {
                        Clause::And(subs)
                    } else {
                        Clause::Or(subs)
                    }
                }
                "$not" => Clause::Not(Box::new(self.object(v, &here, depth + 1)?)),
                op if op.starts_with('$') => return Err(bad(&here, format!("unknown filter operator {op}"))),
                field => {
                    let parts: Vec<String> = field.split('.').map(str::to_owned).collect();
                    if parts.iter().any(String::is_empty) {
                        return Err(bad(&here, "a field path has an empty part"));
                    }
                    self.field(parts, v, &here)?
                }
            });
        }
        Ok(if all.len() == 1 { all.pop().unwrap_or(Clause::And(Vec::new())) } else { Clause::And(all) })
    }

    /// The conditions on one path: a plain value (equality) or an object of `$` operators.
    fn field(&mut self, parts: Vec<String>, v: &Value, path: &str) -> Result<Clause> {
        let Value::Object(ops) = v else {
            return Ok(Clause::Field(parts, Cond::Eq(v.clone())));
        };
        if ops.is_empty() || !ops.keys().all(|k| k.starts_with('$')) {
            if ops.keys().any(|k| k.starts_with('$')) {
                return Err(bad(path, "operators and plain keys cannot be mixed in one condition"));
            }
            // A plain object: equality with that object.
            return Ok(Clause::Field(parts, Cond::Eq(v.clone())));
        }
        let mut conds = Vec::with_capacity(ops.len());
        for (op, arg) in ops {
            let here = format!("{path}.{op}");
            if !conds.is_empty() {
                self.count(&here)?;
            }
            let list = |arg: &Value| match arg {
                Value::Array(a) => Ok(a.clone()),
                _ => Err(bad(&here, format!("{op} takes a list"))),
            };
            let cmp = |ord: Ordering, eq: bool| match arg {
                Value::Number(_) | Value::String(_) => Ok(Cond::Cmp(ord, eq, arg.clone())),
                _ => Err(bad(&here, format!("{op} takes a number or a string"))),
            };
            conds.push(match op.as_str() {
                "$eq" => Cond::Eq(arg.clone()),
                "$ne" => Cond::Ne(arg.clone()),
                "$in" => Cond::In(list(arg)?),
                "$nin" => Cond::Nin(list(arg)?),
                "$gt" => cmp(Ordering::Greater, false)?,
                "$gte" => cmp(Ordering::Greater, true)?,
                "$lt" => cmp(Ordering::Less, false)?,
                "$lte" => cmp(Ordering::Less, true)?,
                "$exists" => match arg {
                    Value::Bool(b) => Cond::Exists(*b),
                    _ => return Err(bad(&here, "$exists takes true or false")),
                },
                _ => return Err(bad(&here, format!("unknown filter operator {op}"))),
            });
        }
        let mut nodes: Vec<Clause> = conds.into_iter().map(|c| Clause::Field(parts.clone(), c)).collect();
        Ok(if nodes.len() == 1 { nodes.pop().unwrap_or(Clause::And(Vec::new())) } else { Clause::And(nodes) })
    }
}

/// JSON equality, with numbers compared by value (`1 == 1.0`; integers exactly).
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
                x == y
            } else if let (Some(x), Some(y)) = (x.as_u64(), y.as_u64()) {
                x == y
            } else {
                x.as_f64() == y.as_f64()
            }
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        _ => None,
    }
}

fn lookup<'a>(meta: Option<&'a Map<String, Value>>, path: &[String]) -> Option<&'a Value> {
    let mut cur = meta?.get(path.first()?)?;
    for p in &path[1..] {
        cur = cur.as_object()?.get(p)?;
    }
    Some(cur)
}

impl Clause {
    fn matches(&self, meta: Option<&Map<String, Value>>) -> bool {
        match self {
            Clause::And(all) => all.iter().all(|n| n.matches(meta)),
            Clause::Or(any) => any.iter().any(|n| n.matches(meta)),
            Clause::Not(n) => !n.matches(meta),
            Clause::Field(path, cond) => {
                let v = lookup(meta, path);
                match cond {
                    Cond::Eq(want) => v.is_some_and(|v| json_eq(v, want)),
                    Cond::Ne(want) => !v.is_some_and(|v| json_eq(v, want)),
                    Cond::In(list) => v.is_some_and(|v| list.iter().any(|w| json_eq(v, w))),
                    Cond::Nin(list) => !v.is_some_and(|v| list.iter().any(|w| json_eq(v, w))),
                    Cond::Cmp(ord, or_eq, want) => {
                        v.and_then(|v| compare(v, want)).is_some_and(|o| o == *ord || (*or_eq && o == Ordering::Equal))
                    }
                    Cond::Exists(want) => v.is_some() == *want,
                }
            }
        }
    }
}

impl Filter {
    /// Checks a filter given as a JSON value (INVALID_DATA naming the bad clause).
    pub fn new(v: &Value) -> Result<Filter> {
        Builder { clauses: 0 }.object(v, "filter", 0).map(Filter)
    }

    /// Checks a filter given as JSON text (strict: duplicate keys are rejected).
    pub fn from_json(text: &str) -> Result<Filter> {
        Filter::new(&crate::json::parse_object(text, "filter")?)
    }

    /// Whether a memory with this metadata passes.
    pub fn matches(&self, metadata: Option<&Map<String, Value>>) -> bool {
        self.0.matches(metadata)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    fn check(filter: Value, meta: Value) -> bool {
        Filter::new(&filter).unwrap().matches(Some(&m(meta)))
    }

    #[test]
    fn operators() {
        let doc = json!({"topic": "tea", "n": 3, "x": 1.5, "user": {"city": "Oslo", "age": 40}, "tags": ["a", "b"], "z": null});
        let yes = [
            json!({}),
            json!({"topic": "tea"}),
            json!({"n": 3.0}),
            json!({"user.city": "Oslo"}),
            json!({"user": {"city": "Oslo", "age": 40}}),
            json!({"tags": ["a", "b"]}),
            json!({"z": null}),
            json!({"n": {"$eq": 3}}),
            json!({"n": {"$ne": 4}}),
            json!({"missing": {"$ne": 4}}),
            json!({"topic": {"$in": ["coffee", "tea"]}}),
            json!({"topic": {"$nin": ["coffee"]}}),
            json!({"missing": {"$nin": ["coffee"]}}),
            json!({"n": {"$gt": 2, "$lte": 3}}),
            json!({"x": {"$gte": 1.5, "$lt": 2}}),
            json!({"topic": {"$gt": "coffee"}}),
            json!({"user.age": {"$lt": 41}}),
            json!({"topic": {"$exists": true}, "missing": {"$exists": false}}),
            json!({"$and": [{"topic": "tea"}, {"n": 3}]}),
            json!({"$or": [{"topic": "coffee"}, {"n": 3}]}),
            json!({"$not": {"topic": "coffee"}}),
            json!({"$not": {"$or": [{"n": 1}, {"n": 2}]}}),
        ];
        for f in yes {
            assert!(check(f.clone(), doc.clone()), "{f} should match");
        }
        let no = [
            json!({"topic": "coffee"}),
            json!({"n": "3"}),
            json!({"user.city.x": "Oslo"}),
            json!({"missing": null}),
            json!({"n": {"$ne": 3}}),
            json!({"topic": {"$in": ["coffee"]}}),
            json!({"missing": {"$in": ["coffee"]}}),
            json!({"topic": {"$nin": ["tea"]}}),
            json!({"n": {"$gt": 3}}),
            json!({"n": {"$gt": "2"}}),
            json!({"topic": {"$lt": 5}}),
            json!({"missing": {"$lt": 5}}),
            json!({"topic": {"$exists": false}}),
            json!({"$and": [{"topic": "tea"}, {"n": 4}]}),
            json!({"$or": [{"topic": "coffee"}, {"n": 4}]}),
            json!({"$not": {"topic": "tea"}}),
        ];
        for f in no {
            assert!(!check(f.clone(), doc.clone()), "{f} should not match");
        }
        // No metadata behaves as {}.
        let f = Filter::new(&json!({"a": {"$exists": false}})).unwrap();
        assert!(f.matches(None));
        assert!(!Filter::new(&json!({"a": 1})).unwrap().matches(None));
    }

    #[test]
    fn invalid_filters_name_the_clause() {
        let cases = [
            (json!([1]), "filter"),
            (json!({"$and": []}), "filter.$and"),
            (json!({"$or": {"a": 1}}), "filter.$or"),
            (json!({"$and": [{"a": 1}, 3]}), "filter.$and[1]"),
            (json!({"$nor": [{"a": 1}]}), "filter.$nor"),
            (json!({"a": {"$gtx": 1}}), "filter.a.$gtx"),
            (json!({"a": {"$gt": true}}), "filter.a.$gt"),
            (json!({"a": {"$lt": null}}), "filter.a.$lt"),
            (json!({"a": {"$in": 1}}), "filter.a.$in"),
            (json!({"a": {"$nin": "x"}}), "filter.a.$nin"),
            (json!({"a": {"$exists": 1}}), "filter.a.$exists"),
            (json!({"a": {"$gt": 1, "b": 2}}), "filter.a"),
            (json!({"a..b": 1}), "filter.a..b"),
            (json!({"": 1}), "filter."),
            (json!({"$not": 1}), "filter.$not"),
            (json!({"$and": [{"$or": [{"x": {"$in": [1], "$foo": 2}}]}]}), "filter.$and[0].$or[0].x.$foo"),
        ];
        for (f, path) in cases {
            let e = Filter::new(&f).unwrap_err();
            assert_eq!(e.code(), crate::ErrorCode::InvalidData, "{f}");
            assert_eq!(e.context()["path"], json!(path), "{f}: {e}");
        }
        let mut deep = json!({"a": 1});
        for _ in 0..40 {
            deep = json!({ "$not": deep });
        }
        assert!(Filter::new(&deep).unwrap_err().message().contains("nest"));
        let many: Vec<Value> = (0..2000).map(|i| json!({ "a": i })).collect();
        assert!(Filter::new(&json!({ "$or": many })).unwrap_err().message().contains("clauses"));
        assert!(Filter::from_json(r#"{"a": 1, "a": 2}"#).is_err(), "duplicate keys");
    }
}

// ---------------------------------------------------------------- column evaluation
//
// Walking every memory's metadata map for every filtered read costs several
// dependent cache misses per memory (the map, its keys, their bytes): on the
// 14 k fortune corpus that doubled the cost of a retrieve. So the first read
// that filters on a path builds a *column* for it — one compact value per
// storage slot — kept in step with every insert, delete and metadata change,
// and a filter is evaluated on columns: one array read per clause and memory.
// Values a column cannot hold exactly (arrays, objects, integers beyond 2^53)
// are marked `Other`, and those memories are evaluated on their metadata as
// before, so both ways give the same answer. At most [`MAX_COLUMNS`] columns
// are kept (least recently used go first).

/// Most filter columns a store keeps.
pub const MAX_COLUMNS: usize = 32;

/// A metadata value at one path, as a column holds it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Scalar {
    Missing,
    Null,
    Bool(bool),
    Num(f64),
    /// An index into the column's string table.
    Str(u32),
    /// An array, an object or a number f64 cannot hold exactly: evaluated on the metadata.
    Other,
}

/// A number as a column holds it: `None` beyond ±2^53, where JSON integers
/// compare exactly and floats approximately (those go the slow way).
fn exact_f64(n: &serde_json::Number) -> Option<f64> {
    const LIMIT: u64 = 1 << 53;
    if let Some(u) = n.as_u64() {
        return (u <= LIMIT).then_some(u as f64);
    }
    if let Some(i) = n.as_i64() {
        return (i.unsigned_abs() <= LIMIT).then_some(i as f64);
    }
    n.as_f64().filter(|x| x.abs() < LIMIT as f64)
}

/// One path's values, by storage slot.
#[derive(Debug, Clone)]
struct Column {
    path: Vec<String>,
    values: Vec<Scalar>,
    strings: Vec<String>,
    ids: std::collections::HashMap<String, u32>,
    last_used: u64,
}

impl Column {
    fn scalar(&mut self, meta: Option<&Map<String, Value>>) -> Scalar {
        match lookup(meta, &self.path) {
            None => Scalar::Missing,
            Some(Value::Null) => Scalar::Null,
            Some(Value::Bool(b)) => Scalar::Bool(*b),
            Some(Value::Number(n)) => exact_f64(n).map_or(Scalar::Other, Scalar::Num),
            Some(Value::String(s)) => {
                let next = self.strings.len() as u32;
                let id = *self.ids.entry(s.clone()).or_insert(next);
                if id == next {
                    self.strings.push(s.clone());
                }
                Scalar::Str(id)
            }
            Some(_) => Scalar::Other,
        }
    }
}

/// The filter columns of one store, kept in step with its storage slots.
#[derive(Debug, Default)]
pub(crate) struct Columns {
    cols: Vec<Column>,
    tick: u64,
}

impl Columns {
    /// A memory was appended at the last slot.
    pub(crate) fn push(&mut self, meta: Option<&Map<String, Value>>) {
        for c in &mut self.cols {
            let s = c.scalar(meta);
            c.values.push(s);
        }
    }

    /// The memory in `slot` was removed and the last one moved into its place.
    pub(crate) fn swap_remove(&mut self, slot: usize) {
        for c in &mut self.cols {
            if slot < c.values.len() {
                c.values.swap_remove(slot);
            }
        }
    }

    /// The metadata of the memory in `slot` changed.
    pub(crate) fn set(&mut self, slot: usize, meta: Option<&Map<String, Value>>) {
        for c in &mut self.cols {
            let s = c.scalar(meta);
            if let Some(v) = c.values.get_mut(slot) {
                *v = s;
            }
        }
    }

    /// Bytes the columns hold.
    pub(crate) fn heap_bytes(&self) -> u64 {
        self.cols
            .iter()
            .map(|c| {
                (c.values.capacity() * std::mem::size_of::<Scalar>()
                    + c.strings.iter().map(|s| 2 * s.capacity() + 48).sum::<usize>()) as u64
            })
            .sum()
    }

    /// The index of the column for `path`, built from `metas` (every memory's
    /// metadata in slot order) if missing.
    fn ensure(&mut self, path: &[String], metas: &mut dyn Iterator<Item = Option<&Map<String, Value>>>) -> usize {
        self.tick += 1;
        if let Some(i) = self.cols.iter().position(|c| c.path == path) {
            self.cols[i].last_used = self.tick;
            return i;
        }
        let mut c = Column {
            path: path.to_vec(),
            values: Vec::new(),
            strings: Vec::new(),
            ids: std::collections::HashMap::new(),
            last_used: self.tick,
        };
        c.values = metas.map(|m| c.scalar(m)).collect();
        if self.cols.len() >= MAX_COLUMNS {
            if let Some((i, _)) = self.cols.iter().enumerate().min_by_key(|(_, c)| c.last_used) {
                self.cols.swap_remove(i);
            }
        }
        self.cols.push(c);
        self.cols.len() - 1
    }
}

/// The column cache behind its own lock, so reads (which share the store's
/// lock) can build columns: a read takes it exclusively only to make sure its
/// columns exist, then shares it while it evaluates.
#[derive(Debug, Default)]
pub(crate) struct ColumnCache(pub(crate) parking_lot::RwLock<Columns>);

impl Clone for ColumnCache {
    fn clone(&self) -> Self {
        let c = self.0.read();
        ColumnCache(parking_lot::RwLock::new(Columns { cols: c.cols.clone(), tick: c.tick }))
    }
}

/// A filter operand resolved against one column.
#[derive(Debug, Clone)]
pub(crate) enum Want {
    /// Equal to this column value (strings: their id; `None` when no memory has the string).
    Is(Option<Scalar>),
    /// An array or object operand: only `Other` values can equal it.
    Complex,
}

/// A filter resolved against the columns, for one read.
#[derive(Debug)]
pub(crate) enum Compiled<'f> {
    And(Vec<Compiled<'f>>),
    Or(Vec<Compiled<'f>>),
    Not(Box<Compiled<'f>>),
    Field { col: usize, cond: CCond, clause: &'f Clause },
}

#[derive(Debug)]
pub(crate) enum CCond {
    Eq(Want),
    Ne(Want),
    In(Vec<Want>),
    Nin(Vec<Want>),
    CmpNum(Ordering, bool, f64),
    CmpStr(Ordering, bool, String),
    Exists(bool),
}

fn want(c: &Column, v: &Value) -> Want {
    match v {
        Value::Null => Want::Is(Some(Scalar::Null)),
        Value::Bool(b) => Want::Is(Some(Scalar::Bool(*b))),
        Value::Number(n) => Want::Is(exact_f64(n).map(Scalar::Num)),
        Value::String(s) => Want::Is(c.ids.get(s).map(|&i| Scalar::Str(i))),
        _ => Want::Complex,
    }
}

fn equal(have: Scalar, w: &Want) -> bool {
    match w {
        Want::Is(Some(Scalar::Num(x))) => matches!(have, Scalar::Num(y) if y == *x),
        Want::Is(Some(s)) => have == *s,
        Want::Is(None) | Want::Complex => false,
    }
}

impl Filter {
    /// Resolves this filter against the store's columns (building the missing
    /// ones from `nodes`, every memory in slot order).
    pub(crate) fn compile<'f>(&'f self, cols: &mut Columns, nodes: &[crate::graph::Node]) -> Compiled<'f> {
        compile(&self.0, cols, nodes)
    }
}

fn compile<'f>(c: &'f Clause, cols: &mut Columns, nodes: &[crate::graph::Node]) -> Compiled<'f> {
    match c {
        Clause::And(all) => Compiled::And(all.iter().map(|x| compile(x, cols, nodes)).collect()),
        Clause::Or(any) => Compiled::Or(any.iter().map(|x| compile(x, cols, nodes)).collect()),
        Clause::Not(x) => Compiled::Not(Box::new(compile(x, cols, nodes))),
        Clause::Field(path, cond) => {
            let col = cols.ensure(path, &mut nodes.iter().map(|n| n.metadata()));
            let column = &cols.cols[col];
            let cond = match cond {
                Cond::Eq(v) => CCond::Eq(want(column, v)),
                Cond::Ne(v) => CCond::Ne(want(column, v)),
                Cond::In(vs) => CCond::In(vs.iter().map(|v| want(column, v)).collect()),
                Cond::Nin(vs) => CCond::Nin(vs.iter().map(|v| want(column, v)).collect()),
                Cond::Cmp(o, e, Value::String(s)) => CCond::CmpStr(*o, *e, s.clone()),
                Cond::Cmp(o, e, v) => CCond::CmpNum(*o, *e, v.as_f64().unwrap_or(f64::NAN)),
                Cond::Exists(b) => CCond::Exists(*b),
            };
            Compiled::Field { col, cond, clause: c }
        }
    }
}

impl Compiled<'_> {
    /// Whether the memory in `slot` passes; `meta` gives its metadata, asked
    /// for only when a column cannot answer (the metadata is boxed apart
    /// from the record, so reading it is another trip to memory).
    pub(crate) fn matches<'m>(
        &self,
        cols: &Columns,
        slot: usize,
        meta: &dyn Fn() -> Option<&'m Map<String, Value>>,
    ) -> bool {
        match self {
            Compiled::And(all) => all.iter().all(|x| x.matches(cols, slot, meta)),
            Compiled::Or(any) => any.iter().any(|x| x.matches(cols, slot, meta)),
            Compiled::Not(x) => !x.matches(cols, slot, meta),
            Compiled::Field { col, cond, clause } => {
                let column = &cols.cols[*col];
                let have = column.values.get(slot).copied().unwrap_or(Scalar::Other);
                if have == Scalar::Other {
                    return clause.matches(meta());
                }
                let order = |o: Ordering, e: bool, got: Option<Ordering>| {
                    got.is_some_and(|g| g == o || (e && g == Ordering::Equal))
                };
                match cond {
                    CCond::Eq(w) => equal(have, w),
                    CCond::Ne(w) => !equal(have, w),
                    CCond::In(ws) => ws.iter().any(|w| equal(have, w)),
                    CCond::Nin(ws) => !ws.iter().any(|w| equal(have, w)),
                    CCond::CmpNum(o, e, x) => order(
                        *o,
                        *e,
                        match have {
                            Scalar::Num(y) => y.partial_cmp(x),
                            _ => None,
                        },
                    ),
                    CCond::CmpStr(o, e, x) => order(
                        *o,
                        *e,
                        match have {
                            Scalar::Str(i) => column.strings.get(i as usize).map(|s| s.as_bytes().cmp(x.as_bytes())),
                            _ => None,
                        },
                    ),
                    CCond::Exists(b) => (have != Scalar::Missing) == *b,
                }
            }
        }
    }
}
