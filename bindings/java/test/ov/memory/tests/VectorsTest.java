package ov.memory.tests;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import ov.memory.MemoryStore;
import ov.memory.NotFoundException;
import ov.memory.OvMemoryException;

/** The shared test vectors (tests/vectors/*.json), as the Rust, C, JS and Python runners read them. */
final class VectorsTest {
    private VectorsTest() {}

    private static final List<String> RESULT_FIELDS = List.of("next_after_id", "texts", "namespaces", "keys",
        "weights", "expires_at", "deleted", "removed", "imported", "expired");

    @SuppressWarnings("unchecked")
    static Map<String, Object> map(Object o) {
        return (Map<String, Object>) o;
    }

    static Map<String, Object> options(Map<String, Object> step) {
        Object o = step.get("options");
        return o == null ? Map.of() : map(o);
    }

    static float[] vec(Object v) {
        return v == null ? null : Check.floats(v);
    }

    static List<Object> ids(List<Map<String, Object>> items) {
        return items.stream().map(h -> h.get("id")).collect(Collectors.toList());
    }

    @SuppressWarnings("unchecked")
    static Object run(MemoryStore s, Map<String, Object> step) {
        String op = (String) step.get("op");
        switch (op) {
            case "add": {
                Map<String, Object> o = new LinkedHashMap<>();
                if (step.containsKey("weight")) o.put("weight", Check.num(step.get("weight")));
                if (step.containsKey("metadata")) o.put("metadata", step.get("metadata"));
                if (step.containsKey("created_at")) o.put("created_at", step.get("created_at"));
                return Map.of("id", s.add(vec(step.get("embedding")), (String) step.get("text"), o));
            }
            case "get": {
                long id = (Long) step.get("id");
                Map<String, Object> m = s.get(id);
                if (m == null) throw new NotFoundException("no memory with id " + id, Map.of("id", id));
                return m;
            }
            case "delete":
                s.delete((Long) step.get("id"));
                return Map.of();
            case "count":
                return Map.of("count", s.size());
            case "retrieve":
                return Map.of("ids", ids(s.retrieve(vec(step.get("embedding")), options(step))));
            case "context": {
                Map<String, Object> r = s.context(vec(step.get("embedding")), options(step));
                return Map.of("ids", ids((List<Map<String, Object>>) r.get("items")), "context", r.get("context"));
            }
            case "add_with":
                return Map.of("id", s.add(vec(step.get("embedding")), (String) step.get("text"), options(step)));
            case "add_batch_with": {
                List<?> rows = (List<?>) step.get("embeddings");
                float[][] e = new float[rows.size()][];
                for (int i = 0; i < e.length; i++) e[i] = Check.floats(rows.get(i));
                String[] texts = ((List<?>) step.get("texts")).toArray(new String[0]);
                long[] got = s.addBatch(e, texts, options(step));
                List<Object> l = new ArrayList<>();
                for (long x : got) l.add(x);
                return Map.of("ids", l);
            }
            case "update": {
                Map<String, Object> patch = new LinkedHashMap<>(map(step.get("patch")));
                if (step.get("embedding") != null) patch.put("embedding", vec(step.get("embedding")));
                s.update((Long) step.get("id"), patch);
                return Map.of();
            }
            case "list": {
                Map<String, Object> page = s.list(options(step));
                Map<String, Object> r = new LinkedHashMap<>();
                r.put("ids", ids((List<Map<String, Object>>) page.get("memories")));
                r.put("next_after_id", page.get("next_after_id"));
                return r;
            }
            case "count_with":
                return Map.of("count", s.count(options(step)));
            case "get_many": {
                List<?> want = (List<?>) step.get("ids");
                long[] ids = new long[want.size()];
                for (int i = 0; i < ids.length; i++) ids[i] = (Long) want.get(i);
                List<Map<String, Object>> all = s.getMany(ids);
                Map<String, Object> r = new LinkedHashMap<>();
                for (String[] k : new String[][] {{"ids", "id"}, {"texts", "text"}, {"namespaces", "namespace"},
                        {"keys", "key"}, {"weights", "weight"}, {"expires_at", "expires_at"}}) {
                    List<Object> col = new ArrayList<>();
                    for (Map<String, Object> m : all) col.add(m == null ? null : m.get(k[1]));
                    r.put(k[0], col);
                }
                return r;
            }
            case "delete_many": {
                List<?> want = (List<?>) step.get("ids");
                long[] ids = new long[want.size()];
                for (int i = 0; i < ids.length; i++) ids[i] = (Long) want.get(i);
                return Map.of("deleted", s.deleteMany(ids));
            }
            case "delete_namespace":
                return Map.of("deleted", s.deleteNamespace((String) step.get("namespace")));
            case "sweep":
                return Map.of("removed", s.sweep());
            case "namespaces":
                return Map.of("namespaces", s.namespaces());
            case "export": {
                String text = s.exportJsonl(options(step));
                List<Object> l = new ArrayList<>();
                for (String line : text.split("\n")) if (!line.isEmpty()) l.add(map(Check.parse(line)).get("id"));
                return Map.of("ids", l);
            }
            case "import":
                return s.importJsonl((String) step.get("jsonl"), options(step));
            case "retrieve_many": {
                List<Object> queries = new ArrayList<>();
                for (Object q : (List<?>) step.get("queries")) {
                    if (q instanceof Map) {
                        Map<String, Object> m = new LinkedHashMap<>(map(q));
                        if (m.get("embedding") != null) m.put("embedding", vec(m.get("embedding")));
                        queries.add(m);
                    } else {
                        queries.add(vec(q));
                    }
                }
                List<Object> l = new ArrayList<>();
                for (List<Map<String, Object>> hits : s.retrieveMany(queries, options(step))) l.add(ids(hits));
                return Map.of("ids", l);
            }
            default:
                throw new AssertionError("unknown op " + op);
        }
    }

    static void runAll(Path dir) throws Exception {
        List<Path> files;
        try (Stream<Path> st = Files.list(dir)) {
            files = st.filter(p -> p.toString().endsWith(".json")).sorted().collect(Collectors.toList());
        }
        Check.ok(files.size() >= 4, "vector files are present");
        for (Path f : files) {
            Map<String, Object> doc = map(Check.parse(Files.readString(f)));
            if (doc.containsKey("cases")) {
                for (Object c : (List<?>) doc.get("cases")) {
                    Map<String, Object> cs = map(c);
                    String error = null;
                    try {
                        new MemoryStore(map(cs.get("config"))).close();
                    } catch (OvMemoryException e) {
                        error = e.code();
                    }
                    Check.eq(error, map(cs.get("expect")).get("error"), f.getFileName() + " " + cs.get("config"));
                }
                continue;
            }
            try (MemoryStore s = new MemoryStore(map(doc.get("config")))) {
                List<?> steps = (List<?>) doc.get("steps");
                for (int i = 0; i < steps.size(); i++) {
                    Map<String, Object> step = map(steps.get(i));
                    Map<String, Object> want = map(step.get("expect"));
                    String where = f.getFileName() + " step " + i + " (" + step.get("op") + ")";
                    Object got = null;
                    String error = null;
                    try {
                        got = run(s, step);
                    } catch (OvMemoryException e) {
                        error = e.code();
                    }
                    Check.eq(error, want.get("error"), where);
                    if (error != null) continue;
                    Map<String, Object> r = map(got);
                    for (String k : List.of("id", "count", "text", "weight", "metadata", "created_at", "ids", "context")) {
                        if (want.containsKey(k)) Check.eq(r.get(k), want.get(k), where + ": " + k);
                    }
                    for (String k : RESULT_FIELDS) {
                        if (want.containsKey(k)) Check.eq(r.get(k), want.get(k), where + ": " + k);
                    }
                    if (want.containsKey("embedding")) {
                        Check.eq(r.get("embedding"), Check.floats(want.get("embedding")), where + ": embedding");
                    }
                }
            }
            System.out.println("  vectors: " + f.getFileName() + " ok");
        }
    }
}
