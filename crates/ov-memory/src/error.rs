//! The one error type of the engine.
//!
//! Every front-end maps [`Error`] to its own idiom (a C status code plus a
//! per-thread last error, a JS `Error` with `code` and `context`), but the
//! codes, names and context keys are decided here, once.

use serde_json::{Map, Value};
use std::fmt;

/// Status and error codes, shared by every front-end (the C API calls
/// this enum `OvStatus`). Append-only: a code is never renumbered or reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u32)]
pub enum ErrorCode {
    /// Success.
    Ok = 0,
    /// Bad caller input of any kind (a NULL pointer, a wrong length, NaN, empty
    /// text, invalid UTF-8, …); nothing changed.
    InvalidData = 1,
    /// Unknown memory id.
    NotFound = 2,
    /// max_nodes or max_memory_mb would be exceeded; nothing changed.
    ResourceExhaustion = 3,
    /// The operation passed its deadline; nothing changed.
    Timeout = 4,
    /// Rejected by the open circuit breaker; retry later, or reset the breaker.
    CircuitOpen = 5,
    /// A snapshot or internal state failed its checks.
    MemoryCorruption = 6,
    /// File system failure while saving or loading.
    Io = 7,
    /// A caught panic or an impossible state.
    Internal = 8,
}

impl ErrorCode {
    /// Every code, in numeric order.
    pub const fn all() -> [ErrorCode; 9] {
        [
            ErrorCode::Ok,
            ErrorCode::InvalidData,
            ErrorCode::NotFound,
            ErrorCode::ResourceExhaustion,
            ErrorCode::Timeout,
            ErrorCode::CircuitOpen,
            ErrorCode::MemoryCorruption,
            ErrorCode::Io,
            ErrorCode::Internal,
        ]
    }

    /// The stable name (`"INVALID_DATA"`, …) used as `code` by the JS front-ends
    /// and as the key of `error_breakdown` in metrics.
    pub const fn name(self) -> &'static str {
        match self {
            ErrorCode::Ok => "OK",
            ErrorCode::InvalidData => "INVALID_DATA",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::ResourceExhaustion => "RESOURCE_EXHAUSTION",
            ErrorCode::Timeout => "TIMEOUT",
            ErrorCode::CircuitOpen => "CIRCUIT_OPEN",
            ErrorCode::MemoryCorruption => "MEMORY_CORRUPTION",
            ErrorCode::Io => "IO",
            ErrorCode::Internal => "INTERNAL",
        }
    }

    /// The numeric value shared by every front-end.
    pub const fn as_u32(self) -> u32 {
        self as u32
    }

    /// The code with this numeric value, if any.
    pub fn from_u32(v: u32) -> Option<ErrorCode> {
        ErrorCode::all().get(v as usize).copied()
    }

    /// Whether a failure with this code counts towards opening the circuit
    /// breaker (last column). Caller errors never count.
    pub const fn counts_for_breaker(self) -> bool {
        matches!(self, ErrorCode::Timeout | ErrorCode::MemoryCorruption | ErrorCode::Io | ErrorCode::Internal)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An engine error: a stable [`ErrorCode`], a human-readable message and a
/// context map with machine-readable details (for example
/// `{"expected": 768, "got": 512}`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Error {
    code: ErrorCode,
    message: String,
    context: Map<String, Value>,
}

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error with an empty context.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Error {
        Error { code, message: message.into(), context: Map::new() }
    }

    /// Adds one context entry (builder style).
    #[must_use]
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Error {
        self.context.insert(key.to_owned(), value.into());
        self
    }

    /// Shorthand for an [`ErrorCode::InvalidData`] error naming the offending field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Error {
        Error::new(ErrorCode::InvalidData, message).with("field", field)
    }

    /// Shorthand for an [`ErrorCode::NotFound`] error about a memory id.
    pub fn not_found(id: u64) -> Error {
        Error::new(ErrorCode::NotFound, format!("no memory with id {id}")).with("id", id)
    }

    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The message, without the code prefix that `Display` adds.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The context map.
    pub fn context(&self) -> &Map<String, Value> {
        &self.context
    }

    /// The context map as a JSON object text.
    pub fn context_json(&self) -> String {
        Value::Object(self.context.clone()).to_string()
    }
}
