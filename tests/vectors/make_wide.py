#!/usr/bin/env python3
"""Writes tests/vectors/wide_{f32,f16,i8}.json: stores of 40-dimensional vectors
served by their approximate index from the first memory, so that every
runner (Rust, C, Node, wasm, Python, Java) goes through the SIMD kernels'
whole blocks and their remainders (40 = 32 + 8 floats, 16 + 16 + 8 codes).

The alpha-1 expectations are computed here with numpy, independently of the
engine: the exact cosine over the stored vectors (f32 as given; f16 rounded
to half precision; i8 as its codes, round(127·x / m) with m the largest
magnitude, which the cosine does not need scaled back). The other answers
(a small ef, the default score with its priors, a filter, a text) are the
engine's, recorded once: they check that every front-end agrees with it.

Usage: build/py-venv/bin/python tests/vectors/make_wide.py  (needs the ov_memory wheel and numpy)
"""
import json
from pathlib import Path

import numpy as np
import ov_memory

DIM, N = 40, 48
HERE = Path(__file__).resolve().parent
DAY = 86_400_000
T0 = 1_700_000_000_000


def data():
    rng = np.random.default_rng(20261125)
    centres = rng.uniform(-1, 1, (6, DIM))
    rows = [np.round(centres[i % 6] + rng.uniform(-0.6, 0.6, DIM), 3) for i in range(N)]
    queries = [np.round(centres[k] + rng.uniform(-0.3, 0.3, DIM), 3) for k in (0, 3, 5)]
    return rows, queries


def stored(x, precision):
    x = np.asarray(x, dtype=np.float32)
    if precision == "f16":
        return x.astype(np.float16).astype(np.float64)
    if precision == "i8":
        return np.clip(np.round(127 * x / np.abs(x).max()), -127, 127)
    return x.astype(np.float64)


def exact_top(rows, q, k, precision, admit=lambda i: True):
    # The engine codes an i8 store's query as its rows (the cosine of codes).
    qq = stored(q, precision) if precision == "i8" else np.asarray(q, dtype=np.float32).astype(np.float64)
    cos = []
    for i, r in enumerate(rows):
        s = stored(r, precision)
        cos.append((float(s @ qq / (np.linalg.norm(s) * np.linalg.norm(qq))), i + 1))
    ranked = sorted(((c, i) for c, i in cos if admit(i)), key=lambda t: (-t[0], t[1]))
    top = ranked[:k]
    # Ties within the float32 rounding would make the expectation fragile.
    assert all(a[0] - b[0] > 1e-5 for a, b in zip(ranked[:k], ranked[1 : k + 1])), "near tie"
    return [i for _, i in top]


def main():
    rows, queries = data()
    for precision in ("f32", "f16", "i8"):
        config = {"embedding_dim": DIM, "max_nodes": 200, "exact_limit": 0, "vector_precision": precision}
        store = ov_memory.MemoryStore(**config)
        steps = []
        for i, r in enumerate(rows):
            options = {"metadata": {"even": (i + 1) % 2 == 0}, "created_at": T0 + i * DAY, "weight": 1 + (i % 3)}
            got = store.add(r.astype(np.float32), f"memory {i + 1} about topic {i % 6}", **options)
            assert got == i + 1
            steps.append({"op": "add_with", "embedding": [float(v) for v in r], "text": f"memory {i + 1} about topic {i % 6}",
                          "options": options, "expect": {"id": i + 1}})
        now = T0 + N * DAY
        for q in queries:
            qf = q.astype(np.float32)
            ql = [float(v) for v in q]
            want = exact_top(rows, q, 5, precision)
            for options in ({"top_k": 5, "alpha": 1}, {"top_k": 5, "alpha": 1, "exact": True}):
                ids = [h["id"] for h in store.retrieve(qf, **options)]
                assert ids == want, (precision, options, ids, want)
                steps.append({"op": "retrieve", "embedding": ql, "options": options, "expect": {"ids": want}})
            even = exact_top(rows, q, 3, precision, admit=lambda i: i % 2 == 0)
            options = {"top_k": 3, "alpha": 1, "exact": True, "filter": {"even": True}}
            assert [h["id"] for h in store.retrieve(qf, **options)] == even
            steps.append({"op": "retrieve", "embedding": ql, "options": options, "expect": {"ids": even}})
            for options in ({"top_k": 5, "alpha": 1, "ef": 4}, {"top_k": 5, "now": now},
                            {"top_k": 3, "filter": {"even": True}, "now": now},
                            {"top_k": 3, "text": "topic 2", "now": now}):
                ids = [h["id"] for h in store.retrieve(qf, **options)]
                steps.append({"op": "retrieve", "embedding": ql, "options": options, "expect": {"ids": ids}})
        store.delete(7)
        steps.append({"op": "delete", "id": 7, "expect": {}})
        ids = [h["id"] for h in store.retrieve(queries[0].astype(np.float32), top_k=5, now=now)]
        assert 7 not in ids
        steps.append({"op": "retrieve", "embedding": [float(v) for v in queries[0]], "options": {"top_k": 5, "now": now},
                      "expect": {"ids": ids}})
        steps.append({"op": "count", "expect": {"count": N - 1}})
        doc = {
            "name": f"wide_{precision}",
            "description": (f"{N} memories of {DIM} dimensions at {precision}, served by the approximate index from the "
                            "first memory (exact_limit 0), so the SIMD kernels' whole blocks and remainders run in every "
                            "front-end. The alpha-1 answers are numpy's exact cosine over the stored vectors; the others "
                            "(a small ef, the default score, a filter, a text) are the engine's. Written by make_wide.py."),
            "config": config,
            "steps": steps,
        }
        # One step per line, as the hand-written files are.
        head = json.dumps({k: v for k, v in doc.items() if k != "steps"}, indent=2)[:-2]
        body = ",\n".join("    " + json.dumps(step) for step in steps)
        (HERE / f"wide_{precision}.json").write_text(f'{head},\n  "steps": [\n{body}\n  ]\n}}\n', encoding="utf-8")
        print(f"wide_{precision}.json: {len(steps)} steps")


if __name__ == "__main__":
    main()
