#!/usr/bin/env python3
"""`make bench`, peers part: faiss, hnswlib and usearch on the same real corpus
(tests/data/corpus: 14 152 all-MiniLM-L6-v2 vectors of 384 dims, 200
perturbed queries), one query thread, and the ratio of OV-Memory's figures
(build/bench_ours.json, written by the engine's bench in the same `make bench`
run) to each peer's.

faiss IndexFlatIP on unit vectors is exact cosine: the peer for exact top-10.
hnswlib (M 16, ef_construction 200) and usearch (connectivity 16, expansion_add
200) are approximate: the peers for OV-Memory's approximate retrieval (compared
at equal recall@10 against the exact answer), for ingest and for snapshot
save/load.

Then the same on the generated clustered 100 k × 768 set that the engine's
bench writes to build/large_*.f32 (recipe in crates/ov-memory/examples/bench.rs:
64-d latent, 200 clusters, uniform noise, a fixed 64 → 768 map, normalised):
faiss exact, hnswlib built on as many threads as OV-Memory's batch used.

Usage: peers.py REPO_ROOT
"""
import json
import os
import statistics
import sys
import tempfile
import time

import faiss
import hnswlib
import numpy as np
from usearch.index import Index

ROOT = sys.argv[1] if len(sys.argv) > 1 else "."
DATA = os.path.join(ROOT, "tests", "data", "corpus")
DIM = 384
ROUNDS = 3


def load(name):
    v = np.fromfile(os.path.join(DATA, name), dtype="<f4")
    return v.reshape(-1, DIM)


def unit(m):
    return (m / np.linalg.norm(m, axis=1, keepdims=True)).astype(np.float32)


def timed(f):
    t = time.perf_counter()
    r = f()
    return r, time.perf_counter() - t


def percentiles(samples_s):
    a = np.array(samples_s) * 1000.0
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


def per_query(search, queries):
    """Latency of one query at a time, ROUNDS passes; returns (p50 ms, p99 ms, results of the last pass)."""
    lat, out = [], []
    for _ in range(ROUNDS):
        out = []
        for q in queries:
            r, dt = timed(lambda: search(q))
            lat.append(dt)
            out.append(r)
    return (*percentiles(lat), out)


def recall(got, truth):
    return sum(len(set(map(int, g)) & set(map(int, t))) for g, t in zip(got, truth)) / (10 * len(truth))


def hnsw_sweep(index, queries, exact, efs):
    """(ef, p50 ms, p99 ms, recall@10 against `exact`) per ef, one query at a time."""
    rows = []
    for ef in efs:
        index.set_ef(ef)
        p50, p99, got = per_query(lambda q: index.knn_query(q, k=10)[0][0], queries)
        rows.append((ef, p50, p99, recall(got, exact)))
    return rows


def load_average():
    return " ".join(open("/proc/loadavg").read().split()[:3])


def exact_and_hnsw(xb, xq, threads):
    """faiss IndexFlatIP's exact top-10 (p50, p99, ids per query), and an
    hnswlib M16 efC200 index built on `threads` threads (with its build time,
    s); the index then searches on one thread."""
    n, d = xb.shape
    flat = faiss.IndexFlatIP(d)
    flat.add(xb)
    f50, f99, exact = per_query(lambda q: flat.search(q[None, :], 10)[1][0], xq)
    hnsw = hnswlib.Index(space="cosine", dim=d)
    hnsw.set_num_threads(threads)
    hnsw.init_index(max_elements=n, M=16, ef_construction=200, random_seed=1)
    _, build = timed(lambda: hnsw.add_items(xb, np.arange(n)))
    hnsw.set_num_threads(1)
    return f50, f99, exact, hnsw, build


def fastest(points, target):
    """The fastest (p50, recall, label) point whose recall reaches `target`."""
    ok = [p for p in points if p[1] >= target]
    return min(ok) if ok else None


def main():
    faiss.omp_set_num_threads(1)
    corpus, queries = load("corpus_fortunes.f32"), load("corpus_queries.f32")
    n = len(corpus)
    xb, xq = unit(corpus), unit(queries)
    print(f"### Peers on the same corpus ({n} × {DIM}, {len(xq)} queries, one thread)\n")
    print(f"load average at the start: {load_average()}\n")

    f50, f99, exact, hnsw, hnsw_build = exact_and_hnsw(xb, xq, 1)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "h.bin")
        # The median of five saves and five loads, as for the engine's snapshots.
        hnsw_save = statistics.median(timed(lambda: hnsw.save_index(path))[1] for _ in range(5))

        def load_once():
            again = hnswlib.Index(space="cosine", dim=DIM)
            return timed(lambda: again.load_index(path, max_elements=n))[1]

        hnsw_load = statistics.median(load_once() for _ in range(5))
        hnsw_bytes = os.path.getsize(path)
    hnsw_rows = hnsw_sweep(hnsw, xq, exact, (16, 20, 24, 32, 48, 64, 96, 128))

    us = Index(ndim=DIM, metric="cos", dtype="f32", connectivity=16, expansion_add=200)
    _, us_build = timed(lambda: us.add(np.arange(n), xb, threads=1))
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "u.usearch")
        _, us_save = timed(lambda: us.save(path))
        _, us_load = timed(lambda: Index.restore(path))
    us_rows = []
    for ef in (16, 32, 64, 128):
        us.expansion_search = ef
        p50, p99, got = per_query(lambda q: us.search(q, 10, threads=1).keys, xq)
        us_rows.append((ef, p50, p99, recall(got, exact)))

    print("| peer | operation | p50 ms | p99 ms | recall@10 vs exact |")
    print("|---|---|---:|---:|---:|")
    print(f"| faiss IndexFlatIP | exact top-10 | {f50:.3f} | {f99:.3f} | 1.0000 |")
    for ef, p50, p99, r in hnsw_rows:
        print(f"| hnswlib M16 | top-10, ef {ef} | {p50:.3f} | {p99:.3f} | {r:.4f} |")
    for ef, p50, p99, r in us_rows:
        print(f"| usearch c16 | top-10, expansion {ef} | {p50:.3f} | {p99:.3f} | {r:.4f} |")
    print()
    print("| peer | build (1 thread) | save | load | file |")
    print("|---|---:|---:|---:|---:|")
    print(f"| hnswlib M16 efC200 | {hnsw_build:.2f} s | {hnsw_save * 1000:.1f} ms | {hnsw_load * 1000:.1f} ms | {hnsw_bytes / 1048576:.1f} MiB |")
    print(f"| usearch c16 ea200 | {us_build:.2f} s | {us_save * 1000:.1f} ms | {us_load * 1000:.1f} ms | |")
    print()

    ours_path = os.path.join(ROOT, "build", "bench_ours.json")
    if not os.path.exists(ours_path):
        print("(no build/bench_ours.json: run the engine's bench first for the ratios)")
        return
    ours = json.load(open(ours_path))
    raw = DIM * 4
    rows = [
        ("exact top-10 p50 (alpha 1)", f"{ours['exact_alpha1_p50_ms']:.3f} ms", "faiss IndexFlatIP", f"{f50:.3f} ms", ours["exact_alpha1_p50_ms"] / f50),
        ("exact top-10 p50, default score", f"{ours['default_score_p50_ms']:.3f} ms", "faiss IndexFlatIP", f"{f50:.3f} ms", ours["default_score_p50_ms"] / f50),
        ("ingest, single adds", f"{ours['ingest_single_adds_s']:.2f} s", "hnswlib M16 efC200", f"{hnsw_build:.2f} s", ours["ingest_single_adds_s"] / hnsw_build),
        ("ingest, one add_batch", f"{ours['ingest_add_batch_s']:.2f} s", "hnswlib M16 efC200", f"{hnsw_build:.2f} s", ours["ingest_add_batch_s"] / hnsw_build),
        ("snapshot to bytes", f"{ours['to_bytes_ms']:.1f} ms", "hnswlib save_index", f"{hnsw_save * 1000:.1f} ms", ours["to_bytes_ms"] / (hnsw_save * 1000)),
        ("snapshot from bytes", f"{ours['from_bytes_ms']:.1f} ms", "hnswlib load_index", f"{hnsw_load * 1000:.1f} ms", ours["from_bytes_ms"] / (hnsw_load * 1000)),
        ("RSS growth per memory", f"{ours['rss_growth_bytes_per_memory']:.0f} B", "the raw vector", f"{raw} B", ours["rss_growth_bytes_per_memory"] / raw),
    ]
    if "text_bytes_per_memory" in ours:
        # Against what the caller hands over: the vector and its text.
        given = raw + ours["text_bytes_per_memory"]
        rows.append(("RSS growth per memory", f"{ours['rss_growth_bytes_per_memory']:.0f} B", "the raw vector and its text",
                     f"{given:.0f} B", ours["rss_growth_bytes_per_memory"] / given))
    ours_points = [(a["p50_ms"], a["recall"], f"ef {a['ef']}") for a in ours.get("approximate", [])]
    hnsw_points = [(p50, r, f"ef {ef}") for ef, p50, _, r in hnsw_rows]
    for i, target in enumerate((0.95, 0.99)):
        o, h = fastest(ours_points, target), fastest(hnsw_points, target)
        if o and h:
            rows.insert(2 + i, (f"approximate top-10 p50 at recall ≥ {target}", f"{o[0]:.3f} ms ({o[2]}, {o[1]:.3f})",
                            "hnswlib M16", f"{h[0]:.3f} ms ({h[2]}, {h[1]:.3f})", o[0] / h[0]))
    print(f"### OV-Memory against its peers (ours: build/bench_ours.json, load average then {ours['load_average']})\n")
    print("| what | OV-Memory | peer | peer's figure | ratio (ours / peer) |")
    print("|---|---:|---|---:|---:|")
    for what, o, peer, p, r in rows:
        print(f"| {what} | {o} | {peer} | {p} | {r:.2f}× |")
    print(f"\nload average at the end: {load_average()}")
    large()


def large():
    """The generated 100 k × 768 clustered set (written by the engine's bench):
    faiss IndexFlatIP exact, hnswlib M16 efC200 on as many threads as our
    batch used, and the ratios."""
    base_path = os.path.join(ROOT, "build", "large_base.f32")
    ours_path = os.path.join(ROOT, "build", "bench_ours_large.json")
    if not (os.path.exists(base_path) and os.path.exists(ours_path)):
        print("(no generated set: run the engine's bench first)")
        return
    ours = json.load(open(ours_path))
    d = ours["dim"]
    xb = np.fromfile(base_path, dtype="<f4").reshape(-1, d)
    xq = np.fromfile(os.path.join(ROOT, "build", "large_queries.f32"), dtype="<f4").reshape(-1, d)
    n, threads = len(xb), ours["threads"]
    print(f"\n### Peers on the generated set ({n} × {d}, {len(xq)} queries)\n")
    print(f"load average at the start: {load_average()}\n")
    f50, f99, exact, hnsw, build = exact_and_hnsw(xb, xq, threads)
    rows = [(p50, r, f"ef {ef}") for ef, p50, _, r in hnsw_sweep(hnsw, xq, exact, (16, 20, 24, 32, 48, 64, 128))]
    print("| peer | operation | p50 ms | recall@10 vs exact |")
    print("|---|---|---:|---:|")
    print(f"| faiss IndexFlatIP | exact top-10 | {f50:.3f} | 1.0000 |")
    for p50, r, ef in rows:
        print(f"| hnswlib M16 | top-10, {ef} | {p50:.3f} | {r:.4f} |")
    print(f"\nhnswlib M16 efC200 build on {threads} threads: {build:.1f} s\n")

    ours_points = [(a["p50_ms"], a["recall"], f"ef {a['ef']}") for a in ours["approximate"]]
    table = [
        ("exact top-10 p50", f"{ours['exact_alpha1_p50_ms']:.2f} ms", "faiss IndexFlatIP", f"{f50:.2f} ms", ours["exact_alpha1_p50_ms"] / f50),
        ("exact top-10 p50", f"{ours['exact_alpha1_p50_ms']:.2f} ms", "one pass over the vectors (ours)", f"{ours['floor_p50_ms']:.2f} ms", ours["exact_alpha1_p50_ms"] / ours["floor_p50_ms"]),
    ]
    for target in (0.95, 0.99):
        o, h = fastest(ours_points, target), fastest(rows, target)
        if o and h:
            table.append((f"approximate p50 at recall@10 ≥ {target}", f"{o[0]:.3f} ms ({o[2]}, {o[1]:.3f})", "hnswlib M16", f"{h[0]:.3f} ms ({h[2]}, {h[1]:.3f})", o[0] / h[0]))
    table.append((f"ingest ({threads} threads)", f"{ours['ingest_add_batch_s']:.1f} s", f"hnswlib M16 efC200 ({threads} threads)", f"{build:.1f} s", ours["ingest_add_batch_s"] / build))
    print(f"### OV-Memory on the generated set against its peers (ours: load average then {ours['load_average']})\n")
    print("| what | OV-Memory | peer | peer's figure | ratio (ours / peer) |")
    print("|---|---:|---|---:|---:|")
    for what, o, peer, p, r in table:
        print(f"| {what} | {o} | {peer} | {p} | {r:.2f}× |")
    print(f"\nload average at the end: {load_average()}")


if __name__ == "__main__":
    main()
