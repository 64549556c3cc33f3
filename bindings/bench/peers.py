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

The exact and approximate comparisons are interleaved: the engine's own
store (saved by its bench as build/bench_corpus.ovm and build/bench_large.ovm,
opened here through the Python front-end) and faiss, then hnswlib at each ef
of one sweep, answer the same query one after the other, in alternating
order, so that both see the same machine; so are snapshot saves and opens
(OV-Memory's to_bytes and open of its file against hnswlib's save_index and
load_index). The exact figure inside the core
(the store's own latency metric for the same calls) is printed beside it. Both are called from Python; each call's Python overhead (a few
µs: the query array in, the ten results out) is inside both timings. On the
generated set OV-Memory's ingest (one add_batch, through the same front-end)
is also timed right after hnswlib's build, for the same reason.

Memory: each peer's index of the corpus is built in a process of its own
(`peers.py ROOT --rss PEER`), which reports its RSS growth per vector, as the
engine's bench reports a store's. The peers keep vectors and links only; the
engine also keeps each memory's text, record, honeycomb edges and lexical
index, so these rows show what that costs, not a like-for-like index.

Usage: peers.py REPO_ROOT
"""
import ctypes
import json
import os
import statistics
import sys
import tempfile
import time

import faiss
import hnswlib
import numpy as np
from ov_memory import MemoryStore
from usearch.index import Index

ROOT = sys.argv[1] if len(sys.argv) > 1 else "."
DATA = os.path.join(ROOT, "tests", "data", "corpus")
DIM = 384
ROUNDS = 3
# Snapshot saves and opens timed per side (the median is reported).
SNAPSHOT_ROUNDS = 7
# The ef values swept for hnswlib and for OV-Memory (the engine's bench sweeps the same).
EF_SWEEP = (10, 12, 14, 16, 18, 20, 24, 32, 48, 64, 96, 128)


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


def alternately(i, ours, peer):
    """Times `ours` and `peer` one right after the other, the first of them
    alternating with `i`: (ours' result, its time, the peer's, its time)."""
    if i % 2:
        (p, dp), (o, do) = timed(peer), timed(ours)
    else:
        (o, do), (p, dp) = timed(ours), timed(peer)
    return o, do, p, dp


def interleaved(store, index, queries, exact):
    """OV-Memory's approximate retrieve (top 10, alpha 1, at each ef) and
    hnswlib's knn_query (the same ef), query by query in alternating order,
    ROUNDS passes: per ef (ef, ours p50 ms, ours recall, hnswlib p50 ms,
    hnswlib recall), recall@10 against `exact` (row indices; the engine's ids
    are row + 1)."""
    unit_queries = unit(queries)
    rows = []
    for ef in EF_SWEEP:
        index.set_ef(ef)
        ours_lat, peer_lat, ours_got, peer_got = [], [], [], []
        for _ in range(ROUNDS):
            ours_got, peer_got = [], []
            for i, q in enumerate(queries):
                def ours():
                    return [h["id"] - 1 for h in store.retrieve(q, top_k=10, alpha=1.0, ef=ef)]

                def peer():
                    return index.knn_query(unit_queries[i], k=10)[0][0]

                o, do, p, dp = alternately(i, ours, peer)
                ours_lat.append(do)
                peer_lat.append(dp)
                ours_got.append(o)
                peer_got.append(p)
        rows.append((ef, percentiles(ours_lat)[0], recall(ours_got, exact), percentiles(peer_lat)[0], recall(peer_got, exact)))
    return rows


def interleaved_snapshots(store, ours_file, hnsw, hnsw_file, n):
    """OV-Memory's snapshot to bytes and open (of the file the engine's bench
    saved) and hnswlib's save_index and load_index, one right after the other
    in alternating order, SNAPSHOT_ROUNDS times each: the medians in seconds,
    (ours to bytes, hnswlib save, ours open, hnswlib load). Both files are in
    the page cache; both opens read theirs and build the index from it."""

    def load_hnsw():
        again = hnswlib.Index(space="cosine", dim=DIM)
        again.load_index(hnsw_file, max_elements=n)
        return again

    saves, opens = [], []
    for i in range(SNAPSHOT_ROUNDS):
        _, do, _, dp = alternately(i, store.to_bytes, lambda: hnsw.save_index(hnsw_file))
        saves.append((do, dp))
        o, do, p, dp = alternately(i, lambda: MemoryStore.open(ours_file, embedding_dim=DIM, max_nodes=20_000), load_hnsw)
        assert len(o) == p.get_current_count() == n
        del o, p
        opens.append((do, dp))
    med = lambda xs, k: statistics.median(x[k] for x in xs)
    return med(saves, 0), med(saves, 1), med(opens, 0), med(opens, 1)


def interleaved_exact(store, flat, queries):
    """OV-Memory's exact retrieve (top 10, alpha 1) and faiss IndexFlatIP's
    search, query by query in alternating order, ROUNDS passes, both timed
    around the Python call: (ours p50 ms, faiss p50 ms, ours p50 ms inside the
    core). The last is the store's own latency metric for these calls, so
    `store` must not have answered any query before."""
    unit_queries = unit(queries)
    ours_lat, peer_lat = [], []
    for _ in range(ROUNDS):
        for i, q in enumerate(queries):
            def ours():
                return store.retrieve(q, top_k=10, alpha=1.0, exact=True)

            def peer():
                return flat.search(unit_queries[i][None, :], 10)

            _, do, _, dp = alternately(i, ours, peer)
            ours_lat.append(do)
            peer_lat.append(dp)
    core = store.metrics()["operations"]["retrieve"]["p50_latency_ms"]
    return percentiles(ours_lat)[0], percentiles(peer_lat)[0], core


def print_exact(ours, peer, core):
    print(f"Exact top-10 interleaved query by query: OV-Memory (alpha 1) {ours:.3f} ms p50 timed around the "
          f"Python call ({core:.3f} ms inside the core, by its own metrics), faiss IndexFlatIP {peer:.3f} ms: "
          f"{ours / peer:.2f}× ({core / peer:.2f}× inside the core)\n")


def print_interleaved(rows):
    print("| ef | OV-Memory p50 ms | recall@10 | hnswlib M16 p50 ms | recall@10 | ratio (ours / hnswlib) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for ef, o50, orc, h50, hrc in rows:
        print(f"| {ef} | {o50:.3f} | {orc:.4f} | {h50:.3f} | {hrc:.4f} | {o50 / h50:.2f}× |")
    print()


def equal_recall(rows, targets=(0.95, 0.99)):
    """Rows for the summary: at each recall target, each side's fastest point reaching it."""
    out = []
    ours = [(o50, orc, f"ef {ef}") for ef, o50, orc, _, _ in rows]
    peer = [(h50, hrc, f"ef {ef}") for ef, _, _, h50, hrc in rows]
    for target in targets:
        o, h = fastest(ours, target), fastest(peer, target)
        if o and h:
            out.append((f"approximate top-10 p50 at recall ≥ {target} (interleaved)", f"{o[0]:.3f} ms ({o[2]}, {o[1]:.3f})",
                        "hnswlib M16", f"{h[0]:.3f} ms ({h[2]}, {h[1]:.3f})", o[0] / h[0]))
    return out


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
    return f50, f99, exact, hnsw, build, flat


def rss_kib():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def faiss_flat(xb):
    f = faiss.IndexFlatIP(DIM)
    f.add(xb)
    return f


def hnswlib_index(xb):
    h = hnswlib.Index(space="cosine", dim=DIM)
    h.init_index(max_elements=len(xb), M=16, ef_construction=200, random_seed=1)
    h.add_items(xb, np.arange(len(xb)))
    return h


def usearch_index(xb, dtype):
    u = Index(ndim=DIM, metric="cos", dtype=dtype, connectivity=16, expansion_add=200)
    u.add(np.arange(len(xb)), xb, threads=1)
    return u


# The peers whose memory `make bench` measures, as the engine's bench measures
# its own: RSS growth while building the corpus, in a process of its own.
RSS_PEERS = {
    "faiss IndexFlatIP": faiss_flat,
    "hnswlib M16 efC200": hnswlib_index,
    "usearch c16 f32": lambda xb: usearch_index(xb, "f32"),
    "usearch c16 i8": lambda xb: usearch_index(xb, "i8"),
}


def rss_growth_of(peer):
    """In a child process (`peers.py ROOT --rss PEER`): the corpus loaded
    first, then the peer's index built and kept; prints the RSS growth per
    vector in bytes."""
    xb = unit(load("corpus_fortunes.f32"))
    # Hand the heap memory that loading freed back to the system, so that the
    # index cannot reuse pages already counted before it was built.
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    before = rss_kib()
    index = RSS_PEERS[peer](xb)
    after = rss_kib()
    print((after - before) * 1024 / len(xb))
    del index


def peer_rss():
    """Each peer's RSS growth per vector, measured in a process of its own."""
    import subprocess
    out = {}
    for peer in RSS_PEERS:
        r = subprocess.run([sys.executable, __file__, ROOT, "--rss", peer], capture_output=True, text=True, check=True)
        out[peer] = float(r.stdout.split()[-1])
    return out


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

    f50, f99, exact, hnsw, hnsw_build, flat = exact_and_hnsw(xb, xq, 1)
    ours_file = os.path.join(ROOT, "build", "bench_corpus.ovm")
    store = MemoryStore.open(ours_file, embedding_dim=DIM, max_nodes=20_000)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "h.bin")
        hnsw.save_index(path)
        hnsw_bytes = os.path.getsize(path)
        ours_save, hnsw_save, ours_open, hnsw_load = interleaved_snapshots(store, ours_file, hnsw, path, n)
    exact_row = interleaved_exact(store, flat, queries)
    approx_rows = interleaved(store, hnsw, queries, exact)
    del store

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
    del us

    # Compact vectors: the engine's i8 store (saved by its bench) and usearch's
    # i8 index, each swept over ef; recall against the exact f32 top 10.
    compact_rows = []
    i8_path = os.path.join(ROOT, "build", "bench_corpus_i8.ovm")
    if os.path.exists(i8_path):
        store = MemoryStore.open(i8_path, embedding_dim=DIM, max_nodes=20_000, vector_precision="i8")
        ours_i8 = []
        for ef in EF_SWEEP:
            p50, _, got = per_query(lambda q: [h["id"] - 1 for h in store.retrieve(q, top_k=10, alpha=1.0, ef=ef)], queries)
            ours_i8.append((p50, recall(got, exact), f"ef {ef}"))
        del store
        us8 = Index(ndim=DIM, metric="cos", dtype="i8", connectivity=16, expansion_add=200)
        us8.add(np.arange(n), xb, threads=1)
        peer_i8 = []
        for ef in EF_SWEEP:
            us8.expansion_search = ef
            p50, _, got = per_query(lambda q: us8.search(q, 10, threads=1).keys, xq)
            peer_i8.append((p50, recall(got, exact), f"expansion {ef}"))
        del us8
        for target in (0.95, 0.99):
            o, u = fastest(ours_i8, target), fastest(peer_i8, target)
            if o and u:
                compact_rows.append((f"approximate top-10 p50 at recall ≥ {target}, i8 vectors", f"{o[0]:.3f} ms ({o[2]}, {o[1]:.3f})",
                                     "usearch c16 i8", f"{u[0]:.3f} ms ({u[2]}, {u[1]:.3f})", o[0] / u[0]))

    print("| peer | operation | p50 ms | p99 ms | recall@10 vs exact |")
    print("|---|---|---:|---:|---:|")
    print(f"| faiss IndexFlatIP | exact top-10 | {f50:.3f} | {f99:.3f} | 1.0000 |")
    for ef, p50, p99, r in us_rows:
        print(f"| usearch c16 | top-10, expansion {ef} | {p50:.3f} | {p99:.3f} | {r:.4f} |")
    print()
    print_exact(*exact_row)
    print("Approximate top-10, OV-Memory (alpha 1) and hnswlib interleaved query by query:\n")
    print_interleaved(approx_rows)
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
        ("exact top-10 p50 (alpha 1, interleaved)", f"{exact_row[0]:.3f} ms", "faiss IndexFlatIP", f"{exact_row[1]:.3f} ms", exact_row[0] / exact_row[1]),
        ("exact top-10 p50, default score (the engine's bench)", f"{ours['default_score_p50_ms']:.3f} ms", "the same at alpha 1",
         f"{ours['exact_alpha1_p50_ms']:.3f} ms", ours["default_score_p50_ms"] / ours["exact_alpha1_p50_ms"]),
        ("ingest, single adds", f"{ours['ingest_single_adds_s']:.2f} s", "hnswlib M16 efC200", f"{hnsw_build:.2f} s", ours["ingest_single_adds_s"] / hnsw_build),
        ("ingest, one add_batch", f"{ours['ingest_add_batch_s']:.2f} s", "hnswlib M16 efC200", f"{hnsw_build:.2f} s", ours["ingest_add_batch_s"] / hnsw_build),
        ("snapshot to bytes (interleaved)", f"{ours_save * 1000:.1f} ms ({ours['to_bytes_ms']:.1f} ms in the engine's bench)",
         "hnswlib save_index", f"{hnsw_save * 1000:.1f} ms", ours_save / hnsw_save),
        ("snapshot open of the file (interleaved)", f"{ours_open * 1000:.1f} ms (from bytes {ours['from_bytes_ms']:.1f} ms in the engine's bench)",
         "hnswlib load_index", f"{hnsw_load * 1000:.1f} ms", ours_open / hnsw_load),
        ("RSS growth per memory", f"{ours['rss_growth_bytes_per_memory']:.0f} B", "the raw vector", f"{raw} B", ours["rss_growth_bytes_per_memory"] / raw),
    ]
    if "text_bytes_per_memory" in ours:
        # Against what the caller hands over: the vector and its text.
        given = raw + ours["text_bytes_per_memory"]
        rows.append(("RSS growth per memory", f"{ours['rss_growth_bytes_per_memory']:.0f} B", "the raw vector and its text",
                     f"{given:.0f} B", ours["rss_growth_bytes_per_memory"] / given))
        # The compact stores (each built in a process of its own) against the same given bytes.
        for c in ours.get("compact", []):
            if c["precision"] != "f32":
                rows.append((f"RSS growth per memory, {c['precision']} vectors", f"{c['rss_growth_bytes_per_memory']:.0f} B",
                             "the raw vector and its text", f"{given:.0f} B", c["rss_growth_bytes_per_memory"] / given))
    # The peers' own RSS growth, each built in a process of its own (they keep
    # no text, no lexical index and no memory records).
    peers_rss = peer_rss()
    for peer in ("faiss IndexFlatIP", "hnswlib M16 efC200", "usearch c16 f32"):
        rows.append(("RSS growth per memory", f"{ours['rss_growth_bytes_per_memory']:.0f} B", peer,
                     f"{peers_rss[peer]:.0f} B", ours["rss_growth_bytes_per_memory"] / peers_rss[peer]))
    for c in ours.get("compact", []):
        if c["precision"] == "i8":
            rows.append(("RSS growth per memory, i8 vectors", f"{c['rss_growth_bytes_per_memory']:.0f} B", "usearch c16 i8",
                         f"{peers_rss['usearch c16 i8']:.0f} B", c["rss_growth_bytes_per_memory"] / peers_rss["usearch c16 i8"]))
    rows[2:2] = equal_recall(approx_rows) + compact_rows
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
    f50, f99, exact, hnsw, build, flat = exact_and_hnsw(xb, xq, threads)
    # OV-Memory's ingest of the same set (one add_batch, through the Python
    # front-end) right after hnswlib's build: the same minutes of the machine
    # (the engine's own bench built it minutes earlier).
    texts = [f"generated memory {i}" for i in range(n)]
    fresh = MemoryStore(embedding_dim=d, max_nodes=n)
    _, ours_build = timed(lambda: fresh.add_batch(xb, texts, timeout_ms=3_600_000))
    del fresh
    store = MemoryStore.open(os.path.join(ROOT, "build", "bench_large.ovm"), embedding_dim=d, max_nodes=n)
    exact_row = interleaved_exact(store, flat, xq)
    approx_rows = interleaved(store, hnsw, xq, exact)
    del store
    print("| peer | operation | p50 ms | recall@10 vs exact |")
    print("|---|---|---:|---:|")
    print(f"| faiss IndexFlatIP | exact top-10 | {f50:.3f} | 1.0000 |")
    print(f"\nbuild on {threads} threads, one after the other: hnswlib M16 efC200 {build:.1f} s, "
          f"OV-Memory add_batch {ours_build:.1f} s (in the engine's bench: {ours['ingest_add_batch_s']:.1f} s)\n")
    print_exact(*exact_row)
    print("Approximate top-10, OV-Memory (alpha 1) and hnswlib interleaved query by query:\n")
    print_interleaved(approx_rows)

    table = [
        ("exact top-10 p50 (interleaved)", f"{exact_row[0]:.2f} ms", "faiss IndexFlatIP", f"{exact_row[1]:.2f} ms", exact_row[0] / exact_row[1]),
        ("exact top-10 p50", f"{ours['exact_alpha1_p50_ms']:.2f} ms", "one pass over the vectors (ours)", f"{ours['floor_p50_ms']:.2f} ms", ours["exact_alpha1_p50_ms"] / ours["floor_p50_ms"]),
    ]
    table += equal_recall(approx_rows)
    table.append((f"ingest ({threads} threads, one after the other)", f"{ours_build:.1f} s", f"hnswlib M16 efC200 ({threads} threads)", f"{build:.1f} s", ours_build / build))
    print(f"### OV-Memory on the generated set against its peers (ours: load average then {ours['load_average']})\n")
    print("| what | OV-Memory | peer | peer's figure | ratio (ours / peer) |")
    print("|---|---:|---|---:|---:|")
    for what, o, peer, p, r in table:
        print(f"| {what} | {o} | {peer} | {p} | {r:.2f}× |")
    print(f"\nload average at the end: {load_average()}")


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[2] == "--rss":
        rss_growth_of(sys.argv[3])
    else:
        main()
