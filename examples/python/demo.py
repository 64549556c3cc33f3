"""OV-Memory demo (Python): the same coding-assistant scenario as examples/c/demo.c
and examples/node/demo.js. Loads examples/data/demo.tsv (real all-MiniLM-L6-v2
embeddings), stores the memories, answers the demo questions, and
prints a context, the health and the metrics."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Tuple

import numpy as np
import numpy.typing as npt

from ov_memory import MemoryStore


def load(path: Path) -> Tuple[List[Tuple[float, str, npt.NDArray[np.float32]]], List[Tuple[str, npt.NDArray[np.float32]]]]:
    memories: List[Tuple[float, str, npt.NDArray[np.float32]]] = []
    queries: List[Tuple[str, npt.NDArray[np.float32]]] = []
    for line in path.read_text(encoding="utf-8").split("\n"):
        if not line or line.startswith("#"):
            continue
        f = line.split("\t")
        if f[0] == "M":
            memories.append((float(f[1]), f[2], np.array(f[3].split(" "), dtype=np.float32)))
        elif f[0] == "Q":
            queries.append((f[1], np.array(f[2].split(" "), dtype=np.float32)))
    return memories, queries


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent.parent / "data" / "demo.tsv"
    memories, queries = load(path)
    store = MemoryStore(embedding_dim=384, max_nodes=1000)
    # Single adds, in order, so the ids and the graph match the C and Node demos.
    for weight, text, vec in memories:
        store.add(vec, text, weight=weight, metadata={"source": "qa_coding"})
    print(f"stored {len(store)} memories")

    for i, (text, vec) in enumerate(queries):
        print(f"\nQ: {text}")
        for k, h in enumerate(store.retrieve(vec, top_k=3)):
            print(f"  {k + 1}. [{h['score']['P']:.3f}] #{h['id']} {h['text']}")
        if i == 1:
            ctx = store.context(vec, max_tokens=64)
            print(f"  context ({ctx['tokens_used']} tokens, alpha {ctx['alpha']}): {json.dumps(ctx['context'])}")
            for item in ctx["items"]:
                print(f"    #{item['id']} trigger={item['trigger']} hops={item['hops']} P={item['score']['P']:.3f}")
    print(f"\nhealth: {store.health_json()}")
    m = store.metrics()
    print(f"metrics: {m['queries_processed']} calls, p50 {m['p50_latency_ms']} ms, p99 {m['p99_latency_ms']} ms, "
          f"{m['edge_count']} edges")


if __name__ == "__main__":
    main()
