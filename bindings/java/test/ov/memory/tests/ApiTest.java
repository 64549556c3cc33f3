package ov.memory.tests;

import static ov.memory.tests.Check.code;
import static ov.memory.tests.Check.eq;
import static ov.memory.tests.Check.ok;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import ov.memory.CircuitOpenException;
import ov.memory.InvalidDataException;
import ov.memory.MemoryStore;
import ov.memory.OVMemoryProduction;
import ov.memory.OvMemoryException;
import ov.memory.TimeoutException;

/** The whole Java API: results, every error code, malformed input, threads, logs, many calls. */
final class ApiTest {
    private ApiTest() {}

    static float[] unit(int i, int dim) {
        float[] v = new float[dim];
        for (int j = 0; j < dim; j++) v[j] = (float) Math.sin((i + 1) * (j + 0.5));
        return v;
    }

    @SuppressWarnings("unchecked")
    static void basics() {
        try (MemoryStore s = new MemoryStore(Map.of("embedding_dim", 8))) {
            eq(s.size(), 0L, "empty");
            long id = s.add(unit(1, 8), "the user prefers tea", Map.of("weight", 0.9, "metadata", Map.of("turn", 3)));
            eq(id, 1L, "first id");
            s.add(MemoryStore.toFloats(new double[] {1, 0, 0, 0, 0, 0, 0, 0}), "double[] works", null);
            Map<String, Object> m = s.get(1);
            eq(m.get("text"), "the user prefers tea", "text");
            eq(m.get("weight"), 0.9, "weight");
            eq(m.get("metadata"), Map.of("turn", 3L), "metadata");
            long fromText = s.add(unit(5, 8), "metadata as JSON text", Map.of("metadata", "{\"source\": \"chat\", \"n\": 2}"));
            eq(s.get(fromText).get("metadata"), Map.of("source", "chat", "n", 2L), "metadata from JSON text");
            eq(code(() -> s.add(unit(5, 8), "x", Map.of("metadata", "[1, 2]"))), "INVALID_DATA", "JSON text that is no object");
            eq(code(() -> s.add(unit(5, 8), "x", Map.of("metadata", "{bad"))), "INVALID_DATA", "malformed JSON text");
            s.delete(fromText);
            eq(m.get("embedding"), unit(1, 8), "embedding as float[]");
            ok(s.get(99) == null, "unknown id gives null");
            List<Map<String, Object>> hits = s.retrieve(unit(1, 8), Map.of("top_k", 1, "now", 1_700_000_000_000L));
            eq(hits.get(0).get("id"), 1L, "best hit");
            Map<String, Object> score = (Map<String, Object>) hits.get(0).get("score");
            ok(score.keySet().containsAll(List.of("S", "L", "C", "G", "rel", "R", "W", "P")), "score parts");
            eq(s.retrieve(unit(1, 8), Map.of("topK", 1, "now", 1L)), s.retrieve(unit(1, 8), Map.of("top_k", 1, "now", 1L)),
                "camelCase options");
            eq(s.retrieve(null, Map.of("text", "tea", "top_k", 1)).get(0).get("id"), 1L, "text-only query");
            Map<String, Object> ctx = s.context(unit(1, 8), Map.of("max_tokens", 30, "include_dates", false),
                t -> t.split(" ").length);
            eq(ctx.get("context"), "the user prefers tea\n\ndouble[] works", "context with a token counter");
            eq(code(() -> s.context(unit(1, 8), null, t -> -1)), "INVALID_DATA", "negative token count");
            eq(code(() -> s.context(unit(1, 8), null, t -> { throw new IllegalStateException("no"); })),
                "INVALID_DATA", "a throwing token counter");
            s.update(1, Map.of("text", "the user prefers coffee", "embedding", unit(2, 8)));
            eq(s.get(1).get("text"), "the user prefers coffee", "updated text");
            eq(s.get(1).get("embedding"), unit(2, 8), "updated embedding");
            long[] ids = s.addBatch(new float[][] {unit(3, 8), unit(4, 8)}, new String[] {"b1", "b2"},
                Map.of("namespace", "batch", "keys", List.of("k1", "k2")));
            eq(ids.length, 2, "batch ids");
            eq(s.namespaces(), Map.of("", 2L, "batch", 2L), "namespaces");
            Map<String, Object> page = s.list(Map.of("namespace", "batch", "limit", 1));
            eq(((List<?>) page.get("memories")).size(), 1, "page size");
            eq(page.get("next_after_id"), ids[0], "next page");
            eq(s.count(Map.of("namespace", List.of("", "batch"))), 4L, "count");
            eq(s.getMany(ids[0], 999).get(1), null, "get_many unknown");
            String exported = s.exportJsonl(null);
            try (MemoryStore t = new MemoryStore(Map.of("embedding_dim", 8))) {
                eq(t.importJsonl(exported, null), Map.of("imported", 4L, "expired", 0L), "import");
                eq(t.toBytes().length > 0, true, "bytes");
            }
            eq(s.deleteMany(ids[0], 999), 1L, "delete_many");
            eq(s.deleteNamespace("batch"), 1L, "delete_namespace");
            eq(s.sweep(), 0L, "sweep");
            ok(s.hubs("").length <= 2, "hubs");
            List<List<Map<String, Object>>> many = s.retrieveMany(
                List.of(unit(2, 8), Map.of("text", "double")), Map.of("top_k", 1));
            eq(many.get(0).get(0).get("id"), 1L, "batch query by vector");
            eq(many.get(1).get(0).get("id"), 2L, "batch query by text");
            eq(s.health().get("status"), "HEALTHY", "health");
            ok(s.healthJson().contains("\"status\""), "health JSON");
            ok(s.prometheus().contains("# TYPE ov_memory_calls_total counter\n"), "prometheus");
            ok(s.openmetrics().endsWith("# EOF\n"), "openmetrics");
            ok(((Map<String, Object>) s.metrics().get("operations")).containsKey("retrieve"), "metrics");
            s.resizeMetabolism(500);
            eq(s.metabolism().get("budget_tokens"), 500L, "metabolism");
            s.resetMetabolism();
            s.resetBreaker();
            eq(s.config().get("embedding_dim"), 8L, "config");
            s.checkIntegrity();
            eq(MemoryStore.estimateTokens("abcdefgh"), 2L, "estimate");
        }
    }

    static void everyCode(Path tmp) throws Exception {
        try (MemoryStore s = new MemoryStore(Map.of("embedding_dim", 4, "max_nodes", 2))) {
            s.add(new float[] {1, 0, 0, 0}, "a");
            s.add(new float[] {0, 1, 0, 0}, "b");
            byte[] before = s.toBytes();
            eq(code(() -> s.add(new float[] {0, 0, 1, 0}, "c")), "RESOURCE_EXHAUSTION", "full");
            eq(code(() -> s.delete(77)), "NOT_FOUND", "unknown id");
            eq(code(() -> MemoryStore.fromBytes(new byte[] {1, 2, 3})), "MEMORY_CORRUPTION", "garbage snapshot");
            eq(code(() -> s.load(tmp.resolve("missing.ovm"))), "IO", "missing file");
            eq(code(() -> s.save(tmp.resolve("no/dir/x.ovm"))), "IO", "missing directory");
            // Malformed input: every argument, each INVALID_DATA, nothing changes.
            List<Runnable> bad = new ArrayList<>();
            bad.add(() -> s.add(null, "x"));
            bad.add(() -> s.add(new float[] {1, 2, 3}, "x"));
            bad.add(() -> s.add(new float[] {1, 2, 3, Float.NaN}, "x"));
            bad.add(() -> s.add(new float[] {1, 0, 0, 0}, null));
            bad.add(() -> s.add(new float[] {1, 0, 0, 0}, "x", Map.of("weight", -1)));
            bad.add(() -> s.add(new float[] {1, 0, 0, 0}, "x", Map.of("weight", Double.NaN)));
            bad.add(() -> s.add(new float[] {1, 0, 0, 0}, "x", Map.of("wieght", 1)));
            bad.add(() -> s.add(new float[] {1, 0, 0, 0}, "x", Map.of("metadata", "not a map")));
            bad.add(() -> s.add(new float[] {1, 0, 0, 0}, "x", Map.of("metadata", Map.of("o", new Object()))));
            bad.add(() -> s.add(new float[] {1, 0, 0, 0}, "x", Map.of("created_at", "now")));
            bad.add(() -> s.get(-1));
            bad.add(() -> s.delete(-1));
            bad.add(() -> s.retrieve(new float[] {1, 2}, null));
            bad.add(() -> s.retrieve(null, null));
            bad.add(() -> s.retrieve(new float[] {1, 0, 0, 0}, 0));
            bad.add(() -> s.retrieve(new float[] {1, 0, 0, 0}, Map.of("alpha", 2)));
            bad.add(() -> s.retrieve(new float[] {1, 0, 0, 0}, Map.of("filter", Map.of("$bad", 1))));
            bad.add(() -> s.retrieve(new float[] {1, 0, 0, 0}, Map.of("top_k", "3")));
            bad.add(() -> s.context(new float[] {1, 0, 0, 0}, Map.of("max_tokens", 0)));
            bad.add(() -> s.list(Map.of("limit", 0)));
            bad.add(() -> s.getMany(-5));
            bad.add(() -> s.getMany((long[]) null));
            bad.add(() -> s.importJsonl("{not json", null));
            bad.add(() -> s.importJsonl(null, null));
            bad.add(() -> s.loadBytes(null));
            bad.add(() -> s.setLogLevel("LOUD"));
            bad.add(() -> s.setLogLevel(null));
            bad.add(() -> s.logTo("file"));
            bad.add(() -> s.resizeMetabolism(0));
            bad.add(() -> s.addBatch(new float[][] {{1, 0, 0, 0}}, new String[] {"a", "b"}));
            bad.add(() -> s.addBatch(new float[][] {{1, 0, 0, 0}, {1, 0}}, new String[] {"a", "b"}));
            bad.add(() -> s.addBatch(new float[][] {{1, 0, 0, 0}}, new String[] {null}));
            bad.add(() -> s.addBatch(null, new String[] {"a"}));
            bad.add(() -> s.retrieveMany(List.of("not a query"), null));
            bad.add(() -> s.retrieveMany(List.of(Map.of("nope", 1)), null));
            bad.add(() -> s.update(1, Map.of("colour", "red")));
            bad.add(() -> s.setAutosave(tmp.resolve("a.ovm"), 0));
            bad.add(() -> new MemoryStore(Map.of("embedding_dim", 0)));
            bad.add(() -> new MemoryStore(Map.of("nope", 1)));
            bad.add(() -> s.save(null));
            bad.add(() -> MemoryStore.fromBytes(null));
            for (int i = 0; i < bad.size(); i++) {
                final int k = i;
                try {
                    bad.get(k).run();
                    throw new AssertionError("malformed call " + k + " was accepted");
                } catch (InvalidDataException e) {
                    ok(e.code().equals("INVALID_DATA") && e.context().containsKey("field"),
                        "malformed call " + k + ": " + e.getMessage());
                }
            }
            eq(s.toBytes(), before, "nothing changed");
            ok(OvMemoryException.fromNative("INTERNAL", "m", Map.of()) instanceof ov.memory.InternalException, "INTERNAL");
            ok(OvMemoryException.fromNative("NEW_CODE", "m", Map.of()) instanceof ov.memory.InternalException, "unknown");
            for (String c : OvMemoryException.CODES) {
                eq(OvMemoryException.fromNative(c, "m", Map.of()).code(), c, "class of " + c);
            }
        }
        MemoryStore closed = new MemoryStore(Map.of("embedding_dim", 4));
        closed.close();
        closed.close();
        eq(code(closed::size), "INVALID_DATA", "a closed store");
    }

    static void snapshots(Path tmp) {
        try (MemoryStore s = new MemoryStore(Map.of("embedding_dim", 4))) {
            for (int i = 0; i < 5; i++) s.add(new float[] {1, i, 0, 0}, "memory " + i, Map.of("metadata", Map.of("i", i)));
            Path p = tmp.resolve("store.ovm");
            s.save(p);
            try (MemoryStore t = MemoryStore.open(p)) {
                eq(t.toBytes(), s.toBytes(), "file round trip");
            }
            try (MemoryStore t = MemoryStore.fromBytes(s.toBytes(), Map.of("embedding_dim", 4, "max_nodes", 50))) {
                eq(t.config().get("max_nodes"), 50L, "limits from the caller");
            }
            eq(code(() -> MemoryStore.fromBytes(s.toBytes(), Map.of("embedding_dim", 4, "max_nodes", 3))),
                "RESOURCE_EXHAUSTION", "file larger than the limit");
        }
    }

    static void logs() {
        try (MemoryStore s = new MemoryStore(Map.of("embedding_dim", 4))) {
            List<String> lines = Collections.synchronizedList(new ArrayList<>());
            s.onLog(lines::add);
            s.setLogLevel("DEBUG");
            eq(s.logLevel(), "DEBUG", "level");
            s.add(new float[] {1, 0, 0, 0}, "logged");
            ok(!lines.isEmpty() && lines.get(0).contains("\"memory added\""), "a log line");
            s.onLog(line -> { throw new IllegalStateException("callback fails"); });
            s.add(new float[] {0, 1, 0, 0}, "still added");
            eq(s.size(), 2L, "a throwing callback fails nothing");
            s.onLog(line -> s.size());
            s.add(new float[] {0, 0, 1, 0}, "re-entrant");
            s.onLog(null);
        }
    }

    static void threads() throws Exception {
        try (MemoryStore s = new MemoryStore(Map.of("embedding_dim", 16, "max_nodes", 100_000))) {
            AtomicReference<Throwable> failure = new AtomicReference<>();
            List<Thread> ts = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                final int me = t;
                ts.add(new Thread(() -> {
                    try {
                        List<Long> mine = new ArrayList<>();
                        for (int i = 0; i < 300; i++) {
                            float[] v = unit(me * 1000 + i, 16);
                            mine.add(s.add(v, "thread " + me + " item " + i, Map.of("namespace", "t" + me)));
                            s.retrieve(v, Map.of("top_k", 3, "namespace", "t" + me));
                            if (i % 10 == 9) s.delete(mine.remove(0));
                            if (i % 50 == 0) s.context(v, Map.of("max_tokens", 50, "namespace", "t" + me));
                        }
                    } catch (Throwable e) {
                        failure.compareAndSet(null, e);
                    }
                }));
            }
            for (Thread t : ts) t.start();
            for (Thread t : ts) t.join();
            if (failure.get() != null) throw new AssertionError("a thread failed", failure.get());
            eq(s.size(), 8L * 270, "every thread's memories");
            Map<String, Object> want = new HashMap<>();
            for (int t = 0; t < 8; t++) want.put("t" + t, 270L);
            eq(s.namespaces(), want, "per namespace");
            s.checkIntegrity();
        }
    }

    /** A retrieve with a 1 ms deadline meets a big batch's write lock (calls before or after it succeed). */
    static OvMemoryException timedOut(MemoryStore s) throws Exception {
        int dim = 384, n = 2500;
        float[][] rows = new float[n][dim];
        for (int i = 0; i < n; i++) for (int j = 0; j < dim; j++) rows[i][j] = (float) Math.sin((i * dim + j) * 0.37);
        String[] texts = new String[n];
        for (int i = 0; i < n; i++) texts[i] = "m" + i;
        // A retrieve may miss its 1 ms before the batch starts (a busy machine) and
        // open a breaker of threshold 1: the batch is then rejected, which is fine here.
        Thread batch = new Thread(() -> {
            try {
                s.addBatch(rows, texts);
            } catch (CircuitOpenException rejected) {
                // the breaker opened first
            }
        });
        batch.start();
        float[] q = new float[dim];
        java.util.Arrays.fill(q, 0.1f);
        OvMemoryException error = null;
        while (batch.isAlive() && error == null) {
            try {
                s.retrieve(q, Map.of("timeout_ms", 1));
            } catch (OvMemoryException e) {
                error = e;
            }
        }
        batch.join();
        return error;
    }

    static void timeouts() throws Exception {
        try (MemoryStore s = new MemoryStore(Map.of("embedding_dim", 384, "max_nodes", 100_000,
                "breaker", Map.of("failure_threshold", 1)))) {
            OvMemoryException e = timedOut(s);
            ok(e instanceof TimeoutException, "TIMEOUT: " + e);
            float[] q = new float[384];
            java.util.Arrays.fill(q, 0.1f);
            try {
                s.retrieve(q, 1);
                throw new AssertionError("the breaker did not open");
            } catch (CircuitOpenException open) {
                eq(s.health().get("circuit_breaker"), "OPEN", "breaker state");
            }
            s.resetBreaker();
            // Whether or not the batch ran (see timedOut), calls succeed again.
            long id = s.add(q, "after the reset");
            eq(s.retrieve(q, 1).get(0).get("id"), id, "after the reset");
        }
    }

    /**
     * Many calls through JNI (a million in `make test`): no local reference
     * outlives its call and nothing grows; under -Xcheck:jni the JVM also
     * reports any local frame overflow.
     */
    static void manyCalls(int calls) {
        try (MemoryStore s = new MemoryStore(Map.of("embedding_dim", 8))) {
            s.add(unit(1, 8), "one memory", Map.of("metadata", Map.of("k", List.of(1, 2, 3))));
            float[] q = unit(1, 8);
            long start = System.nanoTime();
            for (int i = 0; i < calls; i++) {
                if (s.retrieve(q, 1).size() != 1) throw new AssertionError("retrieve " + i);
                if (i % 4 == 0 && s.get(1) == null) throw new AssertionError("get " + i);
            }
            long ns = System.nanoTime() - start;
            System.out.printf("  %d retrieve calls (and %d gets): %.2f us per call%n", calls, calls / 4, ns / 1e3 / calls);
            // One call that returns many objects stays within the local frame.
            long[] ids = new long[5000];
            float[][] rows = new float[5000][];
            String[] texts = new String[5000];
            for (int i = 0; i < rows.length; i++) {
                rows[i] = unit(i + 10, 8);
                texts[i] = "m" + i;
            }
            ids = s.addBatch(rows, texts);
            eq(s.getMany(ids).size(), 5000, "5 000 memories in one call");
            eq(((List<?>) s.list(Map.of("limit", 5000)).get("memories")).size(), 5000, "a page of 5 000");
        }
    }

    static void guide() {
        try (OVMemoryProduction memory = new OVMemoryProduction(8, 100, true)) {
            Map<String, Object> metadata = new LinkedHashMap<>();
            metadata.put("source", "chat");
            long id = memory.addMemory(unit(1, 8), "Important memory", 1.5, metadata);
            eq(id, 1L, "addMemory returns the id");
            eq(memory.getMemory(id).get("weight"), 1.5, "weight");
            Map<String, Object> health = memory.getHealthStatus();
            eq(health.get("status"), "HEALTHY", "status");
            eq(health.get("error_rate_percent"), 0.0, "error_rate_percent");
            eq(memory.retrieveMemories(unit(1, 8), 1, 0.75).get(0).get("id"), id, "retrieveMemories");
            eq(code(() -> new OVMemoryProduction(0, 10, true)), "INVALID_DATA", "dimension 0");
        }
    }
}
