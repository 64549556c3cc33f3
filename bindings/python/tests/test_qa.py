"""The coding QA set: the same ids as the Rust and C runs (tests/qa/coding_expected.json)."""

from __future__ import annotations

import json
from typing import Any, Dict, List

import numpy as np

from ov_memory import MemoryStore
from conftest import ROOT

DIM = 384


def records() -> List[Dict[str, Any]]:
    lines = (ROOT / "tests" / "data" / "qa_coding.jsonl").read_text(encoding="utf-8").strip().split("\n")
    return [json.loads(line) for line in lines]


def build(recs: List[Dict[str, Any]]) -> MemoryStore:
    """Every memory, truth then two distractors per record, in file order, with its metadata weight."""
    store = MemoryStore(embedding_dim=DIM, max_nodes=10000, monitoring=True)
    for r in recs:
        for item in [r["truth"], r["distractors"][0], r["distractors"][1]]:
            store.add(np.array(item["embedding"], dtype=np.float32), item["text"], weight=item["metadata"]["weight"])
    return store


def test_retrieve_and_context_ids_match_the_other_front_ends() -> None:
    recs = records()
    expected = json.loads((ROOT / "tests" / "qa" / "coding_expected.json").read_text())["queries"]
    assert len(recs) == len(expected) == 53
    store = build(recs)
    # The same embeddings as one float32 matrix, queried together on every core.
    queries = np.array([r["query_embedding"] for r in recs], dtype=np.float32)
    together = store.retrieve_many(list(queries), top_k=3)
    for i, (r, want) in enumerate(zip(recs, expected)):
        assert want["id"] == r["id"]
        hits = store.retrieve(queries[i], top_k=3)
        assert [h["id"] for h in hits] == want["retrieve"], r["id"]
        assert [h["id"] for h in together[i]] == want["retrieve"], r["id"]
        fresh = build(recs)
        ctx = fresh.context(queries[i], max_tokens=96)
        assert [item["id"] for item in ctx["items"]] == want["context"], r["id"]
        assert ctx["tokens_used"] <= 96
