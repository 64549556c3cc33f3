//! Strict JSON input: every JSON text a caller passes (configuration,
//! options, metadata) is parsed here, so a duplicate key anywhere — which
//! `serde_json` would silently resolve to the last value — is an error.

use crate::error::{Error, Result};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// A JSON value whose objects hold no duplicate key.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Strict, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> std::result::Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> std::result::Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> std::result::Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> std::result::Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E>(self, v: &str) -> std::result::Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> std::result::Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate key \"{key}\"")));
            }
            let Strict(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

/// Parses JSON text, rejecting duplicate keys. Errors are INVALID_DATA naming `field`.
pub(crate) fn parse(text: &str, field: &str) -> Result<Value> {
    serde_json::from_str::<Strict>(text)
        .map(|s| s.0)
        .map_err(|e| Error::invalid(field, format!("{field} is not valid JSON: {e}")))
}

/// Parses JSON text that must be an object, rejecting duplicate keys.
pub(crate) fn parse_object(text: &str, field: &str) -> Result<Value> {
    let v = parse(text, field)?;
    if !v.is_object() {
        return Err(Error::invalid(field, format!("{field} must be a JSON object")));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_keys_are_rejected_at_any_depth() {
        assert!(parse(r#"{"a": 1, "b": {"c": [1, {"d": 2}]}}"#, "x").is_ok());
        for bad in [r#"{"a": 1, "a": 2}"#, r#"{"a": {"b": 1, "b": 1}}"#, r#"[{"k": 1, "k": 1}]"#] {
            let e = parse(bad, "options").unwrap_err();
            assert!(e.message().contains("duplicate key"), "{bad}: {e}");
            assert_eq!(e.context()["field"], "options");
        }
        assert_eq!(parse("1.5", "x").unwrap(), Value::from(1.5));
        assert_eq!(parse("-3", "x").unwrap(), Value::from(-3));
        assert_eq!(parse("null", "x").unwrap(), Value::Null);
        assert!(parse_object("[1]", "x").is_err() && parse_object("", "x").is_err());
    }
}
