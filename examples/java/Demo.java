import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import ov.memory.MemoryStore;

/**
 * OV-Memory demo (Java): the same coding-assistant scenario as examples/c/demo.c,
 * examples/node/demo.js and examples/python/demo.py. Loads examples/data/demo.tsv
 * (real all-MiniLM-L6-v2 embeddings), stores the memories, answers the demo
 * questions, and prints a context, the health and the metrics.
 */
public final class Demo {
    private Demo() {}

    static float[] vector(String field) {
        String[] parts = field.split(" ");
        float[] v = new float[parts.length];
        for (int i = 0; i < v.length; i++) v[i] = Float.parseFloat(parts[i]);
        return v;
    }

    @SuppressWarnings("unchecked")
    public static void main(String[] args) throws Exception {
        Path path = Path.of(args.length > 0 ? args[0] : "examples/data/demo.tsv");
        List<String[]> memories = new ArrayList<>();
        List<String[]> queries = new ArrayList<>();
        for (String line : Files.readAllLines(path)) {
            if (line.isEmpty() || line.startsWith("#")) continue;
            String[] f = line.split("\t");
            if (f[0].equals("M")) memories.add(f);
            if (f[0].equals("Q")) queries.add(f);
        }
        try (MemoryStore store = new MemoryStore(Map.of("embedding_dim", 384, "max_nodes", 1000))) {
            for (String[] m : memories) {
                store.add(vector(m[3]), m[2], Map.of("weight", Double.parseDouble(m[1]), "metadata", Map.of("source", "qa_coding")));
            }
            System.out.println("stored " + store.size() + " memories");
            for (int i = 0; i < queries.size(); i++) {
                String[] q = queries.get(i);
                System.out.println("\nQ: " + q[1]);
                List<Map<String, Object>> hits = store.retrieve(vector(q[2]), 3);
                for (int k = 0; k < hits.size(); k++) {
                    Map<String, Object> h = hits.get(k);
                    double p = (Double) ((Map<String, Object>) h.get("score")).get("P");
                    System.out.printf("  %d. [%.3f] #%d %s%n", k + 1, p, (Long) h.get("id"), h.get("text"));
                }
                if (i == 1) {
                    Map<String, Object> ctx = store.context(vector(q[2]), Map.of("max_tokens", 64));
                    System.out.println("  context (" + ctx.get("tokens_used") + " tokens, alpha " + ctx.get("alpha") + "): "
                        + ov.memory.Json.write(ctx.get("context")));
                    for (Map<String, Object> item : (List<Map<String, Object>>) ctx.get("items")) {
                        double p = (Double) ((Map<String, Object>) item.get("score")).get("P");
                        System.out.printf("    #%d trigger=%s hops=%d P=%.3f%n", (Long) item.get("id"), item.get("trigger"),
                            (Long) item.get("hops"), p);
                    }
                }
            }
            System.out.println("\nhealth: " + store.healthJson());
            Map<String, Object> m = store.metrics();
            System.out.println("metrics: " + m.get("queries_processed") + " calls, p50 " + m.get("p50_latency_ms") + " ms, p99 "
                + m.get("p99_latency_ms") + " ms, " + m.get("edge_count") + " edges");
        }
    }
}
