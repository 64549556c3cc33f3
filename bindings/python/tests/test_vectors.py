"""The shared test vectors (tests/vectors/*.json), as the Rust, C and JS runners read them."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional

import numpy as np
import pytest

import ov_memory
from conftest import ROOT

FILES = sorted((ROOT / "tests" / "vectors").glob("*.json"))
SPECIAL = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


def num(v: Any) -> Any:
    return SPECIAL[v] if isinstance(v, str) else v


def vec(v: Optional[List[Any]]) -> Any:
    return None if v is None else np.array([num(x) for x in v], dtype=np.float32)


def drop_none(d: Dict[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def run(store: ov_memory.MemoryStore, step: Dict[str, Any]) -> Any:
    op = step["op"]
    if op == "add":
        extra = drop_none({"weight": num(step.get("weight")), "metadata": step.get("metadata"),
                           "created_at": step.get("created_at")})
        return store.add(vec(step["embedding"]), step["text"], **extra)
    if op == "get":
        m = store.get(step["id"])
        if m is None:
            raise ov_memory.NotFoundError("NOT_FOUND", f"no memory with id {step['id']}")
        return m
    if op == "delete":
        return store.delete(step["id"])
    if op == "count":
        return len(store)
    if op == "retrieve":
        return {"ids": [h["id"] for h in store.retrieve(vec(step["embedding"]), **step["options"])]}
    if op == "context":
        r = store.context(vec(step["embedding"]), **step["options"])
        return {"ids": [i["id"] for i in r["items"]], "context": r["context"]}
    if op == "add_with":
        return {"id": store.add(vec(step["embedding"]), step["text"], **step["options"])}
    if op == "add_batch_with":
        o = step["options"]
        return {"ids": store.add_batch(np.array(step["embeddings"], dtype=np.float32), step["texts"],
                                       namespace=o.get("namespace"), keys=o.get("keys"),
                                       expires_at=o.get("expires_at"), ttl_ms=o.get("ttl_ms"))}
    if op == "update":
        patch = dict(step["patch"])
        if step.get("embedding"):
            patch["embedding"] = step["embedding"]
        store.update(step["id"], **patch)
        return {}
    if op == "list":
        page = store.list(**step["options"])
        return {"ids": [m["id"] for m in page["memories"]], "next_after_id": page["next_after_id"]}
    if op == "count_with":
        return {"count": store.count(**step["options"])}
    if op == "get_many":
        got = store.get_many(step["ids"])
        def col(k: str) -> List[Any]:
            return [None if m is None else m[k] for m in got]  # type: ignore[literal-required]
        return {"ids": col("id"), "texts": col("text"), "namespaces": col("namespace"), "keys": col("key"),
                "weights": col("weight"), "expires_at": col("expires_at")}
    if op == "delete_many":
        return {"deleted": store.delete_many(step["ids"])}
    if op == "delete_namespace":
        return {"deleted": store.delete_namespace(step["namespace"])}
    if op == "sweep":
        return {"removed": store.sweep()}
    if op == "namespaces":
        return {"namespaces": store.namespaces()}
    if op == "export":
        text = store.export_jsonl(**step["options"])
        return {"ids": [json.loads(line)["id"] for line in text.split("\n") if line]}
    if op == "import":
        return store.import_jsonl(step["jsonl"], **step["options"])
    if op == "retrieve_many":
        queries = [q if isinstance(q, dict) else q for q in step["queries"]]
        return {"ids": [[h["id"] for h in hits] for hits in store.retrieve_many(queries, **step["options"])]}
    raise AssertionError(f"unknown op {op}")


RESULT_FIELDS = ["next_after_id", "texts", "namespaces", "keys", "weights", "expires_at", "deleted", "removed",
                 "imported", "expired"]


def test_vector_files_are_present() -> None:
    assert len(FILES) >= 4


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_vectors(path: Any) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    if "cases" in doc:
        for case in doc["cases"]:
            cfg = case["config"]
            try:
                ov_memory.MemoryStore(**cfg)
                error = None
            except ov_memory.OvMemoryError as e:
                error = e.code
            assert error == case["expect"].get("error"), json.dumps(cfg)
        return
    store = ov_memory.MemoryStore(**doc["config"])
    for i, step in enumerate(doc["steps"]):
        want = step["expect"]
        try:
            got: Any = run(store, step)
            error = None
        except ov_memory.OvMemoryError as e:
            got, error = None, e.code
        assert error == want.get("error"), f"step {i} ({step['op']}): {error}"
        if error:
            continue
        flat = isinstance(got, dict) and "embedding" not in got
        if "id" in want:
            assert (got["id"] if flat else got) == want["id"], f"step {i}: id"
        if "count" in want:
            assert (got["count"] if flat else got) == want["count"], f"step {i}: count"
        for k in RESULT_FIELDS:
            if k in want:
                assert got[k] == want[k], f"step {i}: {k}"
        for k in ("text", "weight", "metadata", "created_at", "ids", "context"):
            if k in want:
                assert got[k] == want[k], f"step {i}: {k}"
        if "embedding" in want:
            assert got["embedding"].dtype == np.float32
            assert np.array_equal(got["embedding"], np.array(want["embedding"], dtype=np.float32)), f"step {i}"
