"""OV-Memory for Python: an embedded memory engine for AI agents.

Store memories (text, embedding, importance, metadata, time), then ask for
the ones that matter now, ranked by a documented score (``retrieve``) or
assembled into a context that fits a token budget (``context``)::

    import numpy as np
    from ov_memory import MemoryStore

    store = MemoryStore(embedding_dim=4)
    store.add(np.array([0.1, 0.9, 0.0, 0.2], dtype=np.float32), "prefers dark mode")
    hits = store.retrieve(np.array([0.1, 0.8, 0.1, 0.2], dtype=np.float32), top_k=1)
    print(hits[0]["text"], hits[0]["score"]["p"])

The engine is the same Rust core as the C, Node.js and browser packages, so
every language gives the same ids, scores and error codes. Results are plain
dicts and lists (their shapes are the ``TypedDict``s in the type stubs);
embeddings are numpy ``float32`` arrays. See the README for the whole API.
"""

from __future__ import annotations

import enum
import json
import logging
import math
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Union, cast

import numpy as np
import numpy.typing as npt

from ._errors import (
    ERROR_CODES,
    CircuitOpenError,
    CircuitOpenException,
    InternalError,
    InternalException,
    InvalidDataError,
    InvalidDataException,
    IOException,
    MemoryCorruptionError,
    MemoryCorruptionException,
    NotFoundError,
    NotFoundException,
    OperationTimeoutError,
    OvMemoryError,
    ResourceExhaustionError,
    ResourceExhaustionException,
    StorageIOError,
    TimeoutException,
)
from ._native import MemoryStore, __version__, estimate_tokens

if TYPE_CHECKING:
    from ._native import LogLevelName, LogRecord

__all__ = [
    "MemoryStore",
    "OVMemoryProduction",
    "LogLevel",
    "estimate_tokens",
    "log_to_logging",
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
    "__version__",
]

Vector = Union[npt.NDArray[np.float32], Sequence[float]]


class LogLevel(str, enum.Enum):
    """Log thresholds, lowest first (the names of the log lines' ``level``)."""

    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"
    CRITICAL = "CRITICAL"


_LOGGING_LEVELS = {
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
    "CRITICAL": logging.CRITICAL,
}


def log_to_logging(store: MemoryStore, logger: Optional[logging.Logger] = None) -> None:
    """Routes the store's log records to a :mod:`logging` logger (default
    ``logging.getLogger("ov_memory")``): each record's message becomes the log
    message, its level the logging level, and its ``fields`` dict travels as
    ``extra={"ov_memory": fields}``. The store's own threshold
    (``set_log_level``) still decides which records are made."""
    target = logger if logger is not None else logging.getLogger("ov_memory")

    def emit(record: "LogRecord", line: str) -> None:
        level = _LOGGING_LEVELS.get(str(record.get("level")), logging.INFO)
        if target.isEnabledFor(level):
            fields: Dict[str, Any] = record.get("fields", {})
            message = str(record.get("message", line))
            if fields:
                message = f"{message} {json.dumps(fields, sort_keys=True)}"
            target.log(level, message, extra={"ov_memory": fields})

    store.on_log(emit)


class OVMemoryProduction:
    """The first version's surface (``OVMemoryProduction``), over :class:`MemoryStore`::

        memory = OVMemoryProduction(embedding_dim=768, max_nodes=10000,
                                    enable_monitoring=True, log_level=LogLevel.INFO)
        node_id = memory.add_memory(embedding=vec, text="Important memory", intrinsic_weight=1.5)
        status = memory.get_health_status()   # status, error_rate, ...

    ``log_level`` sets the threshold and sends the records to the
    :mod:`logging` logger ``"ov_memory"``.
    """

    def __init__(
        self,
        embedding_dim: int = 768,
        max_nodes: int = 10000,
        enable_monitoring: bool = True,
        log_level: Union[LogLevel, str] = LogLevel.INFO,
    ) -> None:
        if not isinstance(enable_monitoring, bool):
            raise InvalidDataError(
                "INVALID_DATA", "enable_monitoring must be a bool", {"field": "enable_monitoring"}
            )
        level = cast("LogLevelName", log_level.value if isinstance(log_level, LogLevel) else log_level)
        #: The underlying store, for the rest of the API.
        self.store = MemoryStore(
            embedding_dim=embedding_dim, max_nodes=max_nodes, monitoring=enable_monitoring, log_level=level
        )
        log_to_logging(self.store)

    def add_memory(
        self,
        embedding: Vector,
        text: str,
        intrinsic_weight: float = 1.0,
        metadata: Optional[Dict[str, Any]] = None,
    ) -> int:
        """Adds a memory and returns its id."""
        return self.store.add(embedding, text, weight=intrinsic_weight, metadata=metadata)

    def get_memory(self, node_id: int) -> Optional[Dict[str, Any]]:
        """The memory with this id as a dict, or ``None``."""
        memory = self.store.get(node_id)
        return None if memory is None else dict(memory)

    def retrieve_memories(
        self, query_embedding: Vector, top_k: int = 5, alpha: float = 0.75, timeout_seconds: float = 30.0
    ) -> List[Dict[str, Any]]:
        """The ``top_k`` best memories for a query embedding."""
        timeout_ms = max(1, math.ceil(timeout_seconds * 1000))
        return [dict(h) for h in self.store.retrieve(query_embedding, top_k=top_k, alpha=alpha, timeout_ms=timeout_ms)]

    def get_health_status(self) -> Dict[str, Any]:
        """The health report as a dict: ``status`` (HEALTHY, DEGRADED or
        CRITICAL), ``error_rate`` (failed calls in the health window, a
        fraction of 1), ``error_rate_pct`` (the same in percent),
        ``circuit_breaker``, ``reasons``, ``metrics`` and ``timestamp``."""
        health: Dict[str, Any] = dict(self.store.health())
        health["error_rate"] = float(health["error_rate_pct"]) / 100.0
        return health

    def get_metrics(self) -> Dict[str, Any]:
        """Every metric as a dict."""
        return dict(self.store.metrics())
