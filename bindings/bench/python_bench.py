"""`make bench` (Python part): the Python front-end against the Rust core, in
the same run. Per-call cost on a 1-memory store, and exact top-10 retrieval
(alpha 1) over the real corpus as a ratio to the same calls' latency inside
the core (the store's own metrics). Prints Markdown tables."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Callable, List

import numpy as np

from ov_memory import MemoryStore

ROOT = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
DIM = 384


def per_call(f: Callable[[], object], n: int = 20_000, repeat: int = 25) -> float:
    """The best of `repeat` timings of `n` calls, in microseconds per call
    (many short windows: the best of them is the one a busy neighbour on the
    machine disturbed least)."""
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(n):
            f()
        best = min(best, (time.perf_counter() - t) / n)
    return best * 1e6


def percentile(xs: List[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(p * len(s)))]


def main() -> None:
    load = " ".join(open("/proc/loadavg").read().split()[:3])
    one = MemoryStore(embedding_dim=DIM)
    v = np.sin(np.arange(DIM, dtype=np.float32))
    one.add(v, "one memory")
    print(f"### Python front-end (load average {load})\n")
    print("| call on a 1-memory store | µs per call |")
    print("|---|---:|")
    print(f"| `len(store)` (the call itself) | {per_call(lambda: len(one)):.2f} |")
    print(f"| `retrieve(q)` | {per_call(lambda: one.retrieve(v)):.2f} |")
    print(f"| `retrieve(q, top_k=10)` | {per_call(lambda: one.retrieve(v, top_k=10)):.2f} |")
    print()

    corpus = ROOT / "tests" / "data" / "corpus"
    vectors = np.fromfile(corpus / "corpus_fortunes.f32", dtype=np.float32).reshape(-1, DIM)
    queries = np.fromfile(corpus / "corpus_queries.f32", dtype=np.float32).reshape(-1, DIM)
    texts = (corpus / "corpus_fortunes.txt").read_text(encoding="utf-8").split("\n")[: len(vectors)]
    store = MemoryStore(embedding_dim=DIM, max_nodes=20_000)
    t = time.perf_counter()
    store.add_batch(vectors, texts)
    build_s = time.perf_counter() - t
    lat: List[float] = []
    for q in queries:
        t = time.perf_counter()
        store.retrieve(q, top_k=10, alpha=1.0, exact=True)
        lat.append((time.perf_counter() - t) * 1000)
    p50, p99 = percentile(lat, 0.5), percentile(lat, 0.99)
    # The core's own latency of these very calls, from the store's metrics
    # (measured inside the engine, without the Python front-end around it).
    core = store.metrics()["operations"]["retrieve"]
    print(f"| {len(vectors)} memories × {DIM}, {len(queries)} queries | p50 ms | p99 ms |")
    print("|---|---:|---:|")
    print(f"| Python `retrieve(q, top_k=10, alpha=1, exact=True)`, timed around the call | {p50:.3f} | {p99:.3f} |")
    print(f"| the same calls inside the Rust core (the store's own metrics) | {core['p50_latency_ms']:.3f} "
          f"| {core['p99_latency_ms']:.3f} |")
    print(f"\nPython / Rust core: {p50 / core['p50_latency_ms']:.3f}× at p50; add_batch of the corpus {build_s:.2f} s")


if __name__ == "__main__":
    main()
