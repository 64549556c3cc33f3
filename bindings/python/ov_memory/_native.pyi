"""Type stubs of the native module (the Rust core through PyO3).

Results are plain dicts and lists; the ``TypedDict`` classes below give their
shapes (the same JSON shapes as the C, Node.js and browser packages).
Options are keyword arguments; an unknown or mistyped one raises
``InvalidDataError`` at run time, and a type checker flags it here.
"""

import os
from typing import Any, Callable, Dict, List, Literal, Optional, Sequence, TypedDict, Union, final

import numpy as np
import numpy.typing as npt
from typing_extensions import NotRequired, Unpack

__all__ = ["MemoryStore", "__version__", "estimate_tokens", "error_codes"]
__version__: str

#: An embedding: a float32 array is used without copying; other arrays and
#: sequences of numbers are converted once.
Vector = Union[npt.NDArray[np.floating[Any]], Sequence[float]]
#: Many embeddings: an ``n × embedding_dim`` array (or a sequence of rows).
Matrix = Union[npt.NDArray[np.floating[Any]], Sequence[Sequence[float]], Sequence[npt.NDArray[np.floating[Any]]]]
#: One namespace or a list of them (default ``""``).
Namespaces = Union[str, Sequence[str]]
#: A metadata filter: ``{"topic": "tea"}``, operators ``$eq $ne $in $nin $gt
#: $gte $lt $lte $exists $and $or $not``, dotted paths into nested objects.
Filter = Dict[str, Any]
PathLike = Union[str, "os.PathLike[str]"]
LogLevelName = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]

class BreakerOptions(TypedDict, total=False):
    failure_threshold: int
    open_ms: int
    half_open_probes: int

class Config(TypedDict, total=False):
    """Store settings (``MemoryStore(**config)``); every key is optional."""

    embedding_dim: int
    max_nodes: int
    max_memory_mb: Optional[float]
    max_degree: int
    max_text_chars: int
    max_metadata_bytes: int
    max_top_k: int
    timeout_ms: int
    decay_tau_secs: float
    alpha: float
    hybrid_weight: float
    graph_weight: float
    recency_weight: float
    importance_weight: float
    scoring: Literal["geometric", "product"]
    breaker: BreakerOptions
    health_window_secs: int
    monitoring: bool
    log_level: LogLevelName
    budget_tokens: int
    exact_limit: int
    #: How vectors are stored: "f32" (the default), "f16" (half the memory) or "i8" (a quarter).
    vector_precision: Literal["f32", "f16", "i8"]
    #: Candidates each add examines in the approximate index, 1..=10000 (default 200).
    ef_construction: int

class AddOptions(TypedDict, total=False):
    weight: float
    metadata: Optional[Dict[str, Any]]
    timeout_ms: int
    created_at: int
    namespace: str
    key: str
    expires_at: int
    ttl_ms: int

class BatchOptions(TypedDict, total=False):
    """Options of ``add_batch``: the per-item ones hold one entry per text."""

    weights: Sequence[float]
    metadata: Sequence[Optional[Dict[str, Any]]]
    created_at: Sequence[int]
    keys: Sequence[Optional[str]]
    expires_at: Sequence[Optional[int]]
    namespace: str
    ttl_ms: int
    timeout_ms: int

class UpdateOptions(TypedDict, total=False):
    text: str
    embedding: Vector
    weight: float
    metadata: Optional[Dict[str, Any]]
    expires_at: Optional[int]
    ttl_ms: int
    timeout_ms: int

class RetrieveOptions(TypedDict, total=False):
    top_k: int
    alpha: float
    timeout_ms: int
    scoring: Literal["geometric", "product"]
    now: int
    text: str
    hybrid_weight: float
    namespace: Namespaces
    filter: Filter
    exact: bool
    ef: int

class ContextOptions(TypedDict, total=False):
    max_tokens: int
    candidates: int
    depth: int
    alpha: float
    timeout_ms: int
    separator: str
    now: int
    text: str
    hybrid_weight: float
    min_items: int
    max_items: int
    include_dates: bool
    namespace: Namespaces
    filter: Filter

class ListOptions(TypedDict, total=False):
    namespace: Namespaces
    filter: Filter
    after_id: int
    limit: int

class ScopeOptions(TypedDict, total=False):
    namespace: Namespaces
    filter: Filter

class ImportOptions(TypedDict, total=False):
    keep_ids: bool
    timeout_ms: int

class BatchQuery(TypedDict, total=False):
    embedding: Optional[Vector]
    text: Optional[str]

Score = TypedDict(
    "Score",
    {
        # semantic relevance max(0, cos); 0 without a query embedding
        "S": float,
        # lexical relevance (BM25); 0 without a query text
        "L": float,
        # centrality
        "C": float,
        # graph activation from strongly relevant neighbours, in [0, 1]
        "G": float,
        # the per-query standardised fusion of S and L
        "rel": float,
        # recency exp(-age / tau)
        "R": float,
        # importance weight
        "W": float,
        # the combined score results are ranked by
        "P": float,
    },
)

class Hit(TypedDict):
    id: int
    text: str
    metadata: Optional[Dict[str, Any]]
    created_at: int
    namespace: str
    score: Score

class Memory(TypedDict):
    id: int
    text: str
    embedding: npt.NDArray[np.float32]
    weight: float
    metadata: Optional[Dict[str, Any]]
    created_at: int
    last_accessed: int
    access_count: int
    neighbors: List[int]
    namespace: str
    key: Optional[str]
    expires_at: Optional[int]

class Page(TypedDict):
    memories: List[Memory]
    next_after_id: Optional[int]

class ImportReport(TypedDict):
    imported: int
    expired: int

class ContextItem(Hit):
    trigger: Literal["floor", "resonance", "bridge", "metabolic"]
    hops: int
    tokens: int

class MetabolismReport(TypedDict):
    budget_tokens: int
    used_tokens: int
    remaining_pct: float
    state: Literal["HEALTHY", "STRESSED", "CRITICAL", "EMERGENCY"]
    alpha: float

Guardrails = TypedDict("Guardrails", {"drift": int, "loop": int, "redundancy": int})

class ContextResult(TypedDict):
    context: str
    tokens_used: int
    max_tokens: int
    alpha: float
    items: List[ContextItem]
    guardrails: Guardrails
    considered: int
    metabolism: MetabolismReport

class HealthSummary(TypedDict):
    queries: int
    qps: float
    avg_latency_ms: float
    p95_latency_ms: float
    p99_latency_ms: float
    error_count: int
    nodes: int
    capacity_pct: float

class HealthReport(TypedDict):
    status: Literal["HEALTHY", "WARNING", "CRITICAL"]
    error_rate_pct: float
    caller_error_rate_pct: float
    circuit_breaker: Literal["CLOSED", "OPEN", "HALF_OPEN"]
    reasons: List[str]
    metrics: HealthSummary
    timestamp: str

class LogRecord(TypedDict):
    timestamp: str
    level: LogLevelName
    message: str
    fields: Dict[str, Any]

@final
class MemoryStore:
    """A memory store. ``MemoryStore(embedding_dim=384, max_nodes=100_000, ...)``.

    Safe to share between threads: reads run side by side, writes one at a
    time, and every call releases the GIL while it works.
    """

    def __new__(cls, **config: Unpack[Config]) -> MemoryStore: ...
    @staticmethod
    def from_bytes(data: bytes, **config: Unpack[Config]) -> MemoryStore:
        """A store from snapshot bytes; the given settings override the file's limits."""
    @staticmethod
    def open(path: PathLike, **config: Unpack[Config]) -> MemoryStore:
        """A store from a snapshot file; the given settings override the file's limits."""
    def __len__(self) -> int: ...
    def __contains__(self, key: object, /) -> bool: ...
    @property
    def embedding_dim(self) -> int: ...
    def add(self, embedding: Vector, text: str, **options: Unpack[AddOptions]) -> int:
        """Adds a memory and returns its id (a key already in the namespace: replaced, same id)."""
    def add_batch(self, embeddings: Matrix, texts: Sequence[str], **options: Unpack[BatchOptions]) -> List[int]:
        """Adds many memories at once, all or nothing, on every core; returns their ids."""
    def get(self, id: int) -> Optional[Memory]:
        """The memory with this id, or ``None``."""
    def delete(self, id: int) -> None:
        """Deletes a memory (``NotFoundError`` if there is none)."""
    def update(self, id: int, **patch: Unpack[UpdateOptions]) -> None:
        """Changes a memory in place; the id and ``created_at`` stay."""
    def retrieve(self, query: Optional[Vector] = None, **options: Unpack[RetrieveOptions]) -> List[Hit]:
        """The best memories for a query embedding and/or ``text=``, best first."""
    def retrieve_many(
        self, queries: Sequence[Union[Vector, BatchQuery]], **options: Unpack[RetrieveOptions]
    ) -> List[List[Hit]]:
        """Answers several queries at once, on every core."""
    def context(
        self,
        query: Optional[Vector] = None,
        *,
        token_counter: Optional[Callable[[str], int]] = None,
        **options: Unpack[ContextOptions],
    ) -> ContextResult:
        """A context for the query that fits ``max_tokens``."""
    def list(self, **options: Unpack[ListOptions]) -> Page:
        """One page of memories in id order."""
    def count(self, **options: Unpack[ScopeOptions]) -> int:
        """How many memories are in ``namespace`` and pass ``filter``."""
    def get_many(self, ids: Sequence[int]) -> List[Optional[Memory]]:
        """The memories with these ids (``None`` for unknown ones)."""
    def delete_many(self, ids: Sequence[int]) -> int:
        """Deletes these ids (unknown ones are skipped); returns how many."""
    def delete_namespace(self, namespace: str) -> int:
        """Deletes every memory of a namespace; returns how many."""
    def sweep(self) -> int:
        """Removes expired memories now; returns how many."""
    def namespaces(self) -> Dict[str, int]:
        """Memories per namespace."""
    def hubs(self, namespace: Optional[str] = None) -> List[int]:
        """The ids of the namespace's (default ``""``) most connected memories."""
    def export_jsonl(self, **options: Unpack[ScopeOptions]) -> str:
        """Memories as JSON Lines (default: every namespace)."""
    def import_jsonl(self, jsonl: str, **options: Unpack[ImportOptions]) -> ImportReport:
        """Adds the memories of a JSON Lines text, all or nothing."""
    def to_bytes(self) -> bytes:
        """The store as snapshot bytes."""
    def load_bytes(self, data: bytes) -> None:
        """Replaces the contents with a snapshot's, all or nothing."""
    def save(self, path: PathLike) -> None:
        """Writes a snapshot file atomically."""
    def load(self, path: PathLike) -> None:
        """Replaces the contents with a snapshot file's, all or nothing."""
    def set_autosave(self, path: Optional[PathLike], every_changes: Optional[int] = None) -> None:
        """Saves to ``path`` after every ``every_changes`` changes (default 1); ``None`` stops."""
    def health(self) -> HealthReport:
        """The health report."""
    def health_json(self) -> str:
        """The health report as JSON text."""
    def metrics(self) -> Dict[str, Any]:
        """Every metric (counts, latency percentiles, breaker, metabolism, ...)."""
    def prometheus(self) -> str:
        """The metrics in the Prometheus text format (0.0.4): seconds and bytes,
        ``_total`` counters, latency as a summary per operation."""
    def openmetrics(self) -> str:
        """The same metrics in the OpenMetrics text format (1.0.0, ends with ``# EOF``)."""
    @property
    def log_level(self) -> LogLevelName: ...
    def set_log_level(self, level: str) -> None:
        """Sets the log threshold (DEBUG, INFO, WARNING, ERROR, CRITICAL)."""
    def on_log(self, callback: Optional[Callable[[LogRecord, str], object]]) -> None:
        """Sends each log record (and its JSON line) to ``callback``; ``None`` stops."""
    def log_to(self, target: Optional[Literal["stderr", "stdout"]] = None) -> None:
        """Writes JSON log lines to stderr or stdout; ``None`` stops."""
    def reset_breaker(self) -> None:
        """Closes an open circuit breaker."""
    def metabolism(self) -> MetabolismReport:
        """The metabolism: token budget, use, state and the alpha it sets."""
    def reset_metabolism(self) -> None:
        """Gives the metabolism its whole budget back."""
    def resize_metabolism(self, budget_tokens: int) -> None:
        """Sets the metabolism's token budget."""
    def config(self) -> Dict[str, Any]:
        """The store's settings."""
    def check_integrity(self) -> None:
        """Checks every internal invariant (``MemoryCorruptionError`` if one fails)."""

def estimate_tokens(text: str) -> int:
    """The default token estimate, ``ceil(UTF-8 bytes / 4)``."""

def error_codes() -> List[str]:
    """Every error code, in numeric order."""
