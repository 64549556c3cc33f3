"""The exceptions every call raises: one class per error code.

Every error is an :class:`OvMemoryError` with a stable ``code`` (the same
name in every language of OV-Memory), a ``message`` and a ``context`` dict
(for example ``{"field": "embedding", "expected": 768, "got": 512}``).
Each code has its own subclass, which also derives from the closest
built-in exception, so ``except ValueError`` catches invalid input and
``except TimeoutError`` a passed deadline. The first version's
names (``InvalidDataException``, ...) are aliases of these.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple, Type

__all__ = [
    "ERROR_CODES",
    "OvMemoryError",
    "InvalidDataError",
    "NotFoundError",
    "ResourceExhaustionError",
    "OperationTimeoutError",
    "CircuitOpenError",
    "MemoryCorruptionError",
    "StorageIOError",
    "InternalError",
    "InvalidDataException",
    "NotFoundException",
    "ResourceExhaustionException",
    "TimeoutException",
    "CircuitOpenException",
    "MemoryCorruptionException",
    "IOException",
    "InternalException",
    "from_native",
]

#: Every error code, in numeric order (1..8).
ERROR_CODES: Tuple[str, ...] = (
    "INVALID_DATA",
    "NOT_FOUND",
    "RESOURCE_EXHAUSTION",
    "TIMEOUT",
    "CIRCUIT_OPEN",
    "MEMORY_CORRUPTION",
    "IO",
    "INTERNAL",
)


class OvMemoryError(Exception):
    """An OV-Memory error: ``code``, ``message`` and ``context``.

    ``str(e)`` is ``"CODE: message"``.
    """

    #: The stable error name, e.g. ``"INVALID_DATA"``.
    code: str
    #: What went wrong, in words.
    message: str
    #: Machine-readable details, e.g. ``{"field": "top_k"}``.
    context: Dict[str, Any]

    def __init__(self, code: str, message: str, context: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.context = dict(context or {})

    def __reduce__(self) -> Tuple[Any, ...]:
        return (from_native, (self.code, self.message, self.context))


class InvalidDataError(OvMemoryError, ValueError):
    """INVALID_DATA: bad input of any kind; nothing was changed."""


class NotFoundError(OvMemoryError, LookupError):
    """NOT_FOUND: no memory has this id."""


class ResourceExhaustionError(OvMemoryError):
    """RESOURCE_EXHAUSTION: ``max_nodes`` or ``max_memory_mb`` would be exceeded."""


class OperationTimeoutError(OvMemoryError, TimeoutError):
    """TIMEOUT: the operation passed its deadline; nothing was changed."""


class CircuitOpenError(OvMemoryError):
    """CIRCUIT_OPEN: rejected by an open circuit breaker (see ``reset_breaker``)."""


class MemoryCorruptionError(OvMemoryError):
    """MEMORY_CORRUPTION: a snapshot or the internal state failed its checks."""


class StorageIOError(OvMemoryError, OSError):
    """IO: the file system failed while saving or loading."""

    def __init__(self, code: str, message: str, context: Optional[Dict[str, Any]] = None) -> None:
        OvMemoryError.__init__(self, code, message, context)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class InternalError(OvMemoryError):
    """INTERNAL: a caught panic or an impossible state (please report it)."""


_CLASSES: Dict[str, Type[OvMemoryError]] = {
    "INVALID_DATA": InvalidDataError,
    "NOT_FOUND": NotFoundError,
    "RESOURCE_EXHAUSTION": ResourceExhaustionError,
    "TIMEOUT": OperationTimeoutError,
    "CIRCUIT_OPEN": CircuitOpenError,
    "MEMORY_CORRUPTION": MemoryCorruptionError,
    "IO": StorageIOError,
    "INTERNAL": InternalError,
}

# The first version's names.
InvalidDataException = InvalidDataError
NotFoundException = NotFoundError
ResourceExhaustionException = ResourceExhaustionError
TimeoutException = OperationTimeoutError
CircuitOpenException = CircuitOpenError
MemoryCorruptionException = MemoryCorruptionError
IOException = StorageIOError
InternalException = InternalError


def from_native(code: str, message: str, context: Optional[Dict[str, Any]] = None) -> OvMemoryError:
    """The exception of ``code`` (used by the native module; unknown codes give INTERNAL)."""
    cls = _CLASSES.get(code)
    if cls is None:
        return InternalError("INTERNAL", f"{code}: {message}", context)
    return cls(code, message, context)
