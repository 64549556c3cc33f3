"""The whole Python API: results, every error code, malformed input, threads, logs."""

from __future__ import annotations

import gc
import json
import logging
import pickle
import threading
from pathlib import Path
from typing import Any, Callable, Dict, List

import numpy as np
import pytest

import ov_memory
from ov_memory import MemoryStore
from conftest import code_of, unit


def test_config_keywords_and_defaults() -> None:
    a = MemoryStore(embedding_dim=8, max_nodes=5, breaker={"open_ms": 1000})
    assert a.config()["embedding_dim"] == 8 and a.embedding_dim == 8
    assert a.config()["breaker"]["open_ms"] == 1000
    assert MemoryStore().config()["embedding_dim"] == 768
    b = MemoryStore(embedding_dim=4, log_level="DEBUG")
    assert b.log_level == "DEBUG"
    for bad in [{"embedding_dim": 0}, {"nope": 1}, {"embedding_dim": "8"}, {"alpha": 2}, {"embedding_dim": 1.5},
                {"max_nodes": -1}, {"breaker": {"nope": 1}}, {"log_level": "LOUD"}, {"alpha": float("nan")}]:
        assert code_of(lambda: MemoryStore(**bad)) == "INVALID_DATA", bad


def test_add_get_delete_len() -> None:
    s = MemoryStore(embedding_dim=8)
    assert len(s) == 0
    i = s.add(unit(1), "the user prefers tea", weight=0.9, metadata={"source": "chat", "turn": 3})
    assert i == 1
    assert s.add(list(map(float, unit(2))), "plain lists work too") == 2
    assert s.add(unit(3).astype(np.float64), "float64 is converted") == 3
    assert len(s) == 3 and 1 in s and 9 not in s and "x" not in s
    m = s.get(1)
    assert m is not None
    assert m["text"] == "the user prefers tea" and m["weight"] == 0.9
    assert m["metadata"] == {"source": "chat", "turn": 3}
    assert m["embedding"].dtype == np.float32 and np.array_equal(m["embedding"], unit(1))
    assert set(m) == {"id", "text", "embedding", "weight", "metadata", "created_at", "last_accessed",
                      "access_count", "neighbors", "namespace", "key", "expires_at"}
    assert s.get(99) is None
    s.delete(2)
    assert code_of(lambda: s.delete(2)) == "NOT_FOUND"
    assert len(s) == 2 and s.get(2) is None
    assert repr(s) == "MemoryStore(embedding_dim=8, memories=2)"


def test_a_borrowed_array_is_not_copied_or_kept() -> None:
    s = MemoryStore(embedding_dim=8)
    v = unit(1)
    s.add(v, "a")
    v[:] = 0  # the store copied what it keeps; the caller's array is free again
    got = s.get(1)
    assert got is not None and np.array_equal(got["embedding"], unit(1))
    # A strided view is converted, not rejected.
    wide = np.stack([unit(2), unit(3)], axis=1)
    assert s.add(wide[:, 0], "strided") == 2


def test_retrieve_and_score_parts() -> None:
    s = MemoryStore(embedding_dim=8)
    for i in range(10):
        s.add(unit(i), f"memory number {i}", metadata={"n": i, "topic": "even" if i % 2 == 0 else "odd"},
              created_at=1_700_000_000_000 + i)
    hits = s.retrieve(unit(3), top_k=3, now=1_700_000_100_000)
    assert [h["id"] for h in hits][0] == 4
    h = hits[0]
    assert set(h) == {"id", "text", "metadata", "created_at", "namespace", "score"}
    assert set(h["score"]) == {"S", "L", "C", "G", "rel", "R", "W", "P"}
    assert h["score"]["S"] == pytest.approx(1.0)
    assert hits[0]["score"]["P"] >= hits[1]["score"]["P"] >= hits[2]["score"]["P"]
    only_odd = s.retrieve(unit(3), top_k=10, filter={"topic": "odd"})
    assert {x["metadata"]["n"] % 2 for x in only_odd} == {1}  # type: ignore[index]
    text_only = s.retrieve(text="number 7", top_k=1, now=1_700_000_100_000)
    assert text_only[0]["id"] == 8 and text_only[0]["score"]["L"] > 0
    assert s.retrieve(unit(3), topK=2, now=1) == s.retrieve(unit(3), top_k=2, now=1)  # type: ignore[call-arg]
    many = s.retrieve_many([unit(3), {"text": "number 7"}, {"embedding": unit(5), "text": "number 5"}], top_k=1,
                           now=1_700_000_100_000)
    assert [m[0]["id"] for m in many] == [4, 8, 6]
    at = 1_700_000_100_000
    assert s.retrieve(unit(3), exact=True, top_k=10, now=at) == s.retrieve(unit(3), top_k=10, now=at)


def test_context_and_token_counter() -> None:
    s = MemoryStore(embedding_dim=8)
    for i in range(6):
        s.add(unit(i), f"fact {i} about the project", created_at=1_700_000_000_000)
    r = s.context(unit(2), max_tokens=40, now=1_700_000_000_000)
    assert r["tokens_used"] <= 40 and r["items"] and r["context"].startswith("[2023-11-14] ")
    assert set(r) == {"context", "tokens_used", "max_tokens", "alpha", "items", "guardrails", "considered",
                      "metabolism"}
    seen: List[str] = []

    def words(text: str) -> int:
        seen.append(text)
        return len(text.split())

    r2 = MemoryStore(embedding_dim=8)
    r2.add(unit(1), "one two three")
    got = r2.context(unit(1), max_tokens=10, include_dates=False, token_counter=words)
    assert got["items"][0]["tokens"] == 3 and seen == ["one two three"]
    assert code_of(lambda: r2.context(unit(1), token_counter=lambda t: -1)) == "INVALID_DATA"
    assert code_of(lambda: r2.context(unit(1), token_counter=lambda t: "3")) == "INVALID_DATA"
    assert code_of(lambda: r2.context(unit(1), token_counter=lambda t: 1 / 0)) == "INVALID_DATA"
    assert ov_memory.estimate_tokens("abcdefgh") == 2


def test_managing_memories() -> None:
    s = MemoryStore(embedding_dim=8)
    a = s.add(unit(1), "alice likes tea", namespace="alice", key="drink")
    s.add(unit(2), "bob likes coffee", namespace="bob")
    assert s.add(unit(3), "alice now likes coffee", namespace="alice", key="drink") == a
    assert s.namespaces() == {"alice": 1, "bob": 1}
    assert [h["id"] for h in s.retrieve(unit(1), namespace="alice", top_k=5)] == [a]
    s.update(a, text="alice likes water", weight=2.0, metadata={"k": 1})
    m = s.get(a)
    assert m is not None and m["text"] == "alice likes water" and m["weight"] == 2.0
    s.update(a, metadata=None, embedding=unit(4))
    m = s.get(a)
    assert m is not None and m["metadata"] is None and np.array_equal(m["embedding"], unit(4))
    assert code_of(lambda: s.update(a, embedding=[1.0])) == "INVALID_DATA"
    assert code_of(lambda: s.update(a, colour="red")) == "INVALID_DATA"  # type: ignore[call-arg]
    assert code_of(lambda: s.update(99, text="x")) == "NOT_FOUND"
    ids = s.add_batch(np.stack([unit(i) for i in range(5)]), [f"b{i}" for i in range(5)], namespace="batch",
                      weights=[1, 2, 3, 4, 5], metadata=[{"i": i} for i in range(5)],
                      created_at=[1_700_000_000_000 + i for i in range(5)])
    assert len(ids) == 5
    page = s.list(namespace="batch", limit=2)
    assert [m["id"] for m in page["memories"]] == ids[:2] and page["next_after_id"] == ids[1]
    assert s.count(namespace="batch", filter={"i": {"$gte": 3}}) == 2
    assert [m and m["text"] for m in s.get_many([ids[0], 999])] == ["b0", None]
    exported = s.export_jsonl(namespace="batch")
    assert len(exported.strip().split("\n")) == 5
    t = MemoryStore(embedding_dim=8)
    assert t.import_jsonl(exported) == {"imported": 5, "expired": 0}
    assert t.get(ids[0]) is not None
    assert s.delete_many([ids[0], ids[1], 999]) == 2
    assert s.delete_namespace("batch") == 3
    assert s.sweep() == 0
    assert isinstance(s.hubs("alice"), list) and s.hubs() == []


def test_batches_validate_every_argument_and_change_nothing() -> None:
    s = MemoryStore(embedding_dim=4)
    good = np.eye(4, dtype=np.float32)[:2] + 0.1
    bad_calls: List[Callable[[], object]] = [
        lambda: s.add_batch(good, ["a"]),
        lambda: s.add_batch(np.ones((2, 3), dtype=np.float32), ["a", "b"]),
        lambda: s.add_batch(np.ones(8, dtype=np.float32), ["a", "b"]),
        lambda: s.add_batch(good, "ab"),
        lambda: s.add_batch(good, ["a", 2]),  # type: ignore[list-item]
        lambda: s.add_batch(good, ["a", "b"], weights=[1.0]),
        lambda: s.add_batch(good, ["a", "b"], metadata=[{"k": 1}]),
        lambda: s.add_batch(good, ["a", "b"], metadata=[{"k": 1}, [1]]),  # type: ignore[list-item]
        lambda: s.add_batch(good, ["a", "b"], keys=["x"]),
        lambda: s.add_batch(good, ["a", "b"], keys=["x", 3]),  # type: ignore[list-item]
        lambda: s.add_batch(good, ["a", "b"], created_at=[1]),
        lambda: s.add_batch(good, ["a", "b"], expires_at=["soon", None]),  # type: ignore[list-item]
        lambda: s.add_batch(good, ["a", "b"], ttl_ms=-5),
        lambda: s.add_batch([[1, 2, 3, 4], [1, 2]], ["a", "b"]),
        lambda: s.add_batch(np.array([[1, 2, 3, np.nan], [1, 2, 3, 4]], dtype=np.float32), ["a", "b"]),
    ]
    for f in bad_calls:
        assert code_of(f) == "INVALID_DATA"
    assert len(s) == 0
    assert code_of(lambda: s.add_batch([], [])) == "INVALID_DATA"  # a batch needs at least one memory
    assert s.add_batch(good, ("a", "b"), weights=np.array([1.0, 2.0])) == [1, 2]


def test_malformed_input_is_invalid_data_everywhere_and_changes_nothing() -> None:
    s = MemoryStore(embedding_dim=4, max_nodes=100)
    s.add([0.1, 0.2, 0.3, 0.4], "keep me", namespace="n")
    before = s.to_bytes()
    v = [1.0, 0.0, 0.0, 0.0]
    # Every argument with values of the wrong type, shape or range.
    table: List[tuple[str, Callable[[Any], object], List[Any]]] = [
        ("add.embedding", lambda x: s.add(x, "x"), [None, "text", b"bytes", 5, [1, "x", 0, 0], [[1, 2, 3, 4]],
                                                    [1, 2, 3], [1, 2, 3, float("nan")], {"a": 1}, object()]),
        ("add.text", lambda x: s.add(v, x), [None, 5, b"bytes", ["x"], object(), "x" * 1_000_001]),
        ("add.weight", lambda x: s.add(v, "x", weight=x), ["1", 0, -1, float("nan"), True, [1], object()]),
        ("add.metadata", lambda x: s.add(v, "x", metadata=x), ["text", 5, [1], {"a": object()}, {1: "x"},
                                                              {"a": float("inf")}, {"a": 2**70}]),
        ("add.created_at", lambda x: s.add(v, "x", created_at=x), ["now", 1.5, 2**70, True]),
        ("add.namespace", lambda x: s.add(v, "x", namespace=x), [5, b"n", ["n"]]),
        ("add.unknown", lambda x: s.add(v, "x", wieght=x), [1]),
        ("get.id", lambda x: s.get(x), [-1, 1.5, "1", True, 2**70, None]),
        ("delete.id", lambda x: s.delete(x), [-1, 1.5, "1", None]),
        ("update.text", lambda x: s.update(1, text=x), [5, None]),
        ("retrieve.query", lambda x: s.retrieve(x), ["text", [1, 2], [[1, 0, 0, 0]], {"a": 1}]),
        ("retrieve.top_k", lambda x: s.retrieve(v, top_k=x), [0, -1, 1.5, "3", True]),
        ("retrieve.alpha", lambda x: s.retrieve(v, alpha=x), [2, -0.1, float("nan"), "0.5"]),
        ("retrieve.filter", lambda x: s.retrieve(v, filter=x), [{"$bad": 1}, "x", [1], {"a": {"$gt": []}}]),
        ("retrieve.namespace", lambda x: s.retrieve(v, namespace=x), [3, [1], {"a": 1}]),
        ("retrieve.now", lambda x: s.retrieve(v, now=x), [-1, "now", 1.5]),
        ("context.max_tokens", lambda x: s.context(v, max_tokens=x), [0, -1, "10"]),
        ("list.limit", lambda x: s.list(limit=x), [0, 10_001, "5"]),
        ("get_many.ids", lambda x: s.get_many(x), [5, "12", [-1], [1.5], None]),
        ("delete_many.ids", lambda x: s.delete_many(x), [5, "12", [-1], [None]]),
        ("import.jsonl", lambda x: s.import_jsonl(x), ["{not json", 5, '{"text": "x"}', None]),
        ("load_bytes", lambda x: s.load_bytes(x), ["str", 5, None]),
        ("set_log_level", lambda x: s.set_log_level(x), ["LOUD", 5, None]),
        ("resize_metabolism", lambda x: s.resize_metabolism(x), [0, -1, "5", None]),
        ("retrieve_many", lambda x: s.retrieve_many(x), [[{"nope": 1}], "text", 5, [[1, 2]], {"text": "x"}]),
        ("hubs", lambda x: s.hubs(x), [5, [1]]),
        ("save", lambda x: s.save(x), [5, b"/tmp/x", ""]),
        ("estimate_tokens", lambda x: ov_memory.estimate_tokens(x), [5, None]),
    ]
    for name, call, values in table:
        for x in values:
            with pytest.raises(ov_memory.InvalidDataError) as info:
                call(x)
            e = info.value
            assert e.code == "INVALID_DATA" and isinstance(e, ValueError), (name, x)
            assert e.context.get("field"), (name, x, e)
    assert s.to_bytes() == before
    s.check_integrity()


def test_weights_and_times_keep_their_checks() -> None:
    s = MemoryStore(embedding_dim=4)
    for w in [0, -1, float("nan"), float("inf")]:
        assert code_of(lambda: s.add([1, 0, 0, 0], "x", weight=w)) == "INVALID_DATA"
    assert len(s) == 0


def test_every_error_code_has_its_class_and_guide_alias() -> None:
    pairs = {
        "INVALID_DATA": (ov_memory.InvalidDataError, ov_memory.InvalidDataException, ValueError),
        "NOT_FOUND": (ov_memory.NotFoundError, ov_memory.NotFoundException, LookupError),
        "RESOURCE_EXHAUSTION": (ov_memory.ResourceExhaustionError, ov_memory.ResourceExhaustionException, None),
        "TIMEOUT": (ov_memory.OperationTimeoutError, ov_memory.TimeoutException, TimeoutError),
        "CIRCUIT_OPEN": (ov_memory.CircuitOpenError, ov_memory.CircuitOpenException, None),
        "MEMORY_CORRUPTION": (ov_memory.MemoryCorruptionError, ov_memory.MemoryCorruptionException, None),
        "IO": (ov_memory.StorageIOError, ov_memory.IOException, OSError),
        "INTERNAL": (ov_memory.InternalError, ov_memory.InternalException, None),
    }
    assert list(pairs) == list(ov_memory.ERROR_CODES) == ov_memory._native.error_codes()
    for code, (cls, alias, builtin) in pairs.items():
        assert cls is alias and issubclass(cls, ov_memory.OvMemoryError)
        e = ov_memory._errors.from_native(code, "m", {"k": 1})
        assert type(e) is cls and e.code == code and e.context == {"k": 1} and str(e) == f"{code}: m"
        if builtin is not None:
            assert isinstance(e, builtin)
        again = pickle.loads(pickle.dumps(e))
        assert type(again) is cls and again.context == {"k": 1}


def test_resource_exhaustion_corruption_and_io(tmp_path: Path) -> None:
    s = MemoryStore(embedding_dim=4, max_nodes=2)
    s.add([1, 0, 0, 0], "a")
    s.add([0, 1, 0, 0], "b")
    assert code_of(lambda: s.add([0, 0, 1, 0], "c")) == "RESOURCE_EXHAUSTION"
    assert code_of(lambda: MemoryStore.from_bytes(b"OVM garbage")) == "MEMORY_CORRUPTION"
    snap = bytearray(s.to_bytes())
    snap[len(snap) // 2] ^= 0xFF
    assert code_of(lambda: s.load_bytes(bytes(snap))) == "MEMORY_CORRUPTION"
    assert code_of(lambda: s.load(tmp_path / "missing.ovm")) == "IO"
    assert code_of(lambda: s.save(tmp_path / "no" / "dir.ovm")) == "IO"
    assert code_of(lambda: MemoryStore.open(tmp_path / "missing.ovm")) == "IO"
    assert len(s) == 2


def test_snapshots_files_and_autosave(tmp_path: Path) -> None:
    s = MemoryStore(embedding_dim=4)
    for i in range(5):
        s.add([1, i, 0, 0], f"memory {i}", metadata={"i": i})
    path = tmp_path / "store.ovm"
    s.save(path)
    t = MemoryStore.open(str(path))
    assert len(t) == 5 and t.to_bytes() == s.to_bytes()
    u = MemoryStore(embedding_dim=4)
    u.load(path)
    assert u.retrieve([1, 2, 0, 0], top_k=5, now=0) == s.retrieve([1, 2, 0, 0], top_k=5, now=0)
    assert MemoryStore.from_bytes(s.to_bytes(), embedding_dim=4, max_nodes=50).config()["max_nodes"] == 50
    assert code_of(lambda: MemoryStore.from_bytes(s.to_bytes(), embedding_dim=4, max_nodes=3)) == "RESOURCE_EXHAUSTION"
    assert code_of(lambda: MemoryStore.from_bytes(s.to_bytes(), embedding_dim=3)) == "MEMORY_CORRUPTION"
    auto = tmp_path / "auto.ovm"
    t.set_autosave(auto, 2)
    t.add([0, 1, 1, 0], "first change")
    assert not auto.exists()
    t.delete(1)
    assert len(MemoryStore.open(auto)) == 5
    assert code_of(lambda: t.set_autosave(auto, 0)) == "INVALID_DATA"
    t.set_autosave(None)


def test_c_snapshot_gives_the_same_results() -> None:
    from conftest import ROOT

    snap = ROOT / "build" / "c_snapshot.ovm"
    assert snap.exists(), "run the C tests first (make test-c writes build/c_snapshot.ovm)"
    expected = json.loads((ROOT / "build" / "c_snapshot_expected.json").read_text())
    now, results = expected["now"], expected["results"]
    store = MemoryStore.from_bytes(snap.read_bytes())
    lines = (ROOT / "tests" / "data" / "qa_coding.jsonl").read_text().strip().split("\n")
    queries = [json.loads(line) for line in lines]
    assert len(queries) == len(results)
    for q, want in zip(queries, results):
        hits = store.retrieve(np.array(q["query_embedding"], dtype=np.float32), top_k=3, now=now)
        strip = lambda hs: [{k: v for k, v in h.items() if k != "score"} for h in hs]  # noqa: E731
        assert strip(hits) == strip(want), q["id"]
        for h, w in zip(hits, want):
            for f in ("S", "C", "W", "R", "P"):
                assert h["score"][f] == w["score"][f], (q["id"], f)  # type: ignore[literal-required]


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_logs_reach_a_callback_and_the_logging_module(caplog: pytest.LogCaptureFixture) -> None:
    s = MemoryStore(embedding_dim=4)
    records: List[Dict[str, Any]] = []
    lines: List[str] = []

    def keep(r: Any, line: str) -> None:
        records.append(r)
        lines.append(line)

    s.on_log(keep)
    s.set_log_level(ov_memory.LogLevel.DEBUG)
    s.add([1, 0, 0, 0], "logged")
    assert records and records[0]["message"] == "memory added" and records[0]["level"] == "DEBUG"
    assert json.loads(lines[0]) == records[0]
    s.on_log(None)
    n = len(records)
    s.add([0, 1, 0, 0], "not logged")
    assert len(records) == n
    # A raising callback never fails the call that logged.
    s.on_log(lambda r, line: 1 / 0)
    s.add([0, 0, 1, 0], "still added")
    assert len(s) == 3
    # A callback may call back into the store.
    s.on_log(lambda r, line: len(s))
    s.add([0, 0, 0, 1], "re-entrant")
    s.set_log_level("WARNING")
    ov_memory.log_to_logging(s)
    with caplog.at_level(logging.DEBUG, logger="ov_memory"):
        s.add([2, 0, 0, 0], "outside [-1, 1]")
    assert any(r.levelno == logging.WARNING and r.name == "ov_memory" for r in caplog.records)
    assert code_of(lambda: s.log_to("file")) == "INVALID_DATA"  # type: ignore[arg-type]
    s.log_to(None)


def test_health_metrics_and_prometheus() -> None:
    s = MemoryStore(embedding_dim=4)
    s.add([1, 0, 0, 0], "a")
    s.retrieve([1, 0, 0, 0])
    h = s.health()
    assert h["status"] == "HEALTHY" and h["circuit_breaker"] == "CLOSED"
    assert json.loads(s.health_json())["status"] == "HEALTHY"
    m = s.metrics()
    assert m["node_count"] == 1 and m["operations"]["retrieve"]["count"] == 1
    # Both expositions as the official Prometheus client's parsers read them.
    from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics
    from prometheus_client.parser import text_string_to_metric_families as classic

    for parse, text in ((classic, s.prometheus()), (openmetrics, s.openmetrics())):
        families = {f.name: f for f in parse(text)}
        calls = families["ov_memory_calls"]
        assert calls.type == "counter"
        by_op = {smp.labels["operation"]: smp.value for smp in calls.samples}
        assert by_op["add"] == 1 and by_op["retrieve"] == 1
        latency = families["ov_memory_operation_duration_seconds"]
        assert latency.type == "summary"
        got = {(smp.name, smp.labels.get("quantile")) for smp in latency.samples if smp.labels["operation"] == "retrieve"}
        assert ("ov_memory_operation_duration_seconds", "0.99") in got
        assert ("ov_memory_operation_duration_seconds_count", None) in got
        p50 = next(smp.value for smp in latency.samples
                   if smp.labels == {"operation": "retrieve", "quantile": "0.5"})
        assert p50 == m["operations"]["retrieve"]["p50_latency_ms"] / 1000
        assert families["ov_memory_memories"].samples[0].value == 1
        assert families["ov_memory_memory_estimate_bytes"].type == "gauge"
        assert all(f.type != "unknown" for f in families.values()), sorted(families)
    assert families["ov_memory_uptime_seconds"].unit == "seconds"
    assert s.metabolism()["state"] == "HEALTHY"
    s.resize_metabolism(500)
    assert s.metabolism()["budget_tokens"] == 500
    s.reset_metabolism()
    s.reset_breaker()
    s.check_integrity()


def test_the_production_guide_surface() -> None:
    memory = ov_memory.OVMemoryProduction(embedding_dim=8, max_nodes=100, enable_monitoring=True,
                                          log_level=ov_memory.LogLevel.INFO)
    node_id = memory.add_memory(embedding=unit(1), text="Important memory", intrinsic_weight=1.5)
    assert node_id == 1
    got = memory.get_memory(node_id)
    assert got is not None and got["weight"] == 1.5
    assert memory.get_memory(42) is None
    assert memory.retrieve_memories(unit(1), top_k=1)[0]["id"] == node_id
    status = memory.get_health_status()
    assert status["status"] == "HEALTHY" and status["error_rate"] == 0.0
    assert memory.get_metrics()["node_count"] == 1
    with pytest.raises(ov_memory.InvalidDataException):
        memory.add_memory(embedding=unit(1)[:4], text="wrong size")
    with pytest.raises(ov_memory.InvalidDataException):
        ov_memory.OVMemoryProduction(embedding_dim=8, enable_monitoring="yes")  # type: ignore[arg-type]


def test_threads_share_one_store() -> None:
    s = MemoryStore(embedding_dim=16, max_nodes=100_000)
    errors: List[BaseException] = []
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((8, 300, 16)).astype(np.float32)

    def work(t: int) -> None:
        try:
            mine = []
            for i in range(300):
                mine.append(s.add(vectors[t, i], f"thread {t} item {i}", namespace=f"t{t}"))
                s.retrieve(vectors[t, i], top_k=3, namespace=f"t{t}")
                if i % 10 == 9:
                    s.delete(mine.pop(0))
                if i % 50 == 0:
                    s.context(vectors[t, i], max_tokens=50, namespace=f"t{t}")
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert len(s) == 8 * 270
    assert s.namespaces() == {f"t{t}": 270 for t in range(8)}
    s.check_integrity()


def _timed_out(s: MemoryStore) -> BaseException | None:
    """Retrieves with a 1 ms deadline while a big batch holds the write lock on
    another thread; calls before or after the batch simply succeed, so this
    does not depend on timing (the batch holds the lock for a long while)."""
    dim, n = 384, 2500
    flat = np.sin(np.arange(n * dim, dtype=np.float32) * np.float32(0.37)).reshape(n, dim)
    done = threading.Event()

    def batch() -> None:
        # A retrieve may miss its 1 ms before the batch starts (a busy machine)
        # and open a breaker of threshold 1: the batch is then rejected, fine here.
        try:
            s.add_batch(flat, [f"m{i}" for i in range(n)])
        except ov_memory.CircuitOpenError:
            pass
        finally:
            done.set()

    t = threading.Thread(target=batch)
    t.start()
    error = None
    q = np.full(dim, 0.1, dtype=np.float32)
    while not done.is_set() and error is None:
        try:
            s.retrieve(q, timeout_ms=1)
        except ov_memory.OvMemoryError as e:
            error = e
    t.join()
    return error


def test_timeout_and_circuit_open() -> None:
    s = MemoryStore(embedding_dim=384, max_nodes=100_000)
    e = _timed_out(s)
    assert isinstance(e, ov_memory.OperationTimeoutError) and isinstance(e, TimeoutError)
    b = MemoryStore(embedding_dim=384, max_nodes=100_000, breaker={"failure_threshold": 1})
    e = _timed_out(b)
    assert isinstance(e, ov_memory.TimeoutException)
    q = np.full(384, 0.1, dtype=np.float32)
    assert code_of(lambda: b.retrieve(q)) == "CIRCUIT_OPEN"
    assert b.health()["circuit_breaker"] == "OPEN"
    b.reset_breaker()
    # Whether or not the batch ran, calls succeed again.
    id_ = b.add(q, "after the reset")
    assert b.retrieve(q, top_k=1)[0]["id"] == id_


def test_a_store_in_a_cycle_with_its_log_callback_is_collected() -> None:
    import weakref

    class Sentinel:
        pass

    s = MemoryStore(embedding_dim=4)
    s.add([1, 0, 0, 0], "x")
    token = Sentinel()
    seen = weakref.ref(token)

    def callback(record: Any, line: str, store: MemoryStore = s, token: Sentinel = token) -> None:
        len(store)

    s.on_log(callback)
    del s, token, callback
    gc.collect()
    assert seen() is None, "the store, its callback and what the callback holds were collected"
