import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import ov.memory.MemoryStore;

/**
 * OV-Memory demo (Java). The same scenario, line for line, as the C, Rust,
 * Node, Python and browser demos: a real conversation (LoCoMo conv-26) stored
 * as an agent's memory, its questions asked of the engine and of plain cosine
 * similarity, a context within a token budget, and the health line.
 *
 * <pre>java -cp ov-memory.jar:. Demo [examples/data/conversation.tsv]   (from the repository root)</pre>
 */
public final class Demo {
    private Demo() {}

    static final int TOP = 3;
    static final int CONTEXT_TOKENS = 120;
    static final long DAY_MS = 86_400_000L;
    static final DateTimeFormatter DAY = DateTimeFormatter.ofPattern("yyyy-MM-dd").withZone(ZoneOffset.UTC);
    static final PrintStream OUT = new PrintStream(System.out, true, StandardCharsets.UTF_8);

    record Question(boolean shown, String text, String answer, List<String> evidence) {}

    /** x with 3 decimals, rounded the same way in every language's demo. */
    static String fmt3(double x) {
        long k = (long) Math.floor(Math.abs(x) * 1000.0 + 0.5);
        return (x < 0 && k > 0 ? "-" : "") + (k / 1000) + "." + String.format("%03d", k % 1000);
    }

    /** At most n characters (code points), with an ellipsis when cut. */
    static String clip(String text, int n) {
        if (text.codePointCount(0, text.length()) <= n) return text;
        return text.substring(0, text.offsetByCodePoints(0, n - 1)) + "…";
    }

    static String day(long ms) {
        return DAY.format(Instant.ofEpochMilli(ms));
    }

    static String pad6(String s) {
        return String.format("%-6s", s);
    }

    static float[][] readF32(Path path, int rows) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(path)).order(ByteOrder.LITTLE_ENDIAN);
        int dim = b.capacity() / 4 / rows;
        float[][] v = new float[rows][dim];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < dim; c++) v[r][c] = b.getFloat((r * dim + c) * 4);
        }
        return v;
    }

    static double part(Map<String, Object> hit, String key) {
        @SuppressWarnings("unchecked")
        Map<String, Object> score = (Map<String, Object>) hit.get("score");
        return ((Number) score.get(key)).doubleValue();
    }

    public static void main(String[] args) throws IOException {
        Path tsv = Path.of(args.length > 0 ? args[0] : "examples/data/conversation.tsv");
        List<Long> created = new ArrayList<>();
        List<String> turn = new ArrayList<>();
        List<String> texts = new ArrayList<>();
        List<Question> questions = new ArrayList<>();
        String[] files = new String[2];
        for (String line : Files.readAllLines(tsv, StandardCharsets.UTF_8)) {
            if (line.isEmpty() || line.startsWith("#")) continue;
            String[] f = line.split("\t", -1);
            switch (f[0]) {
                case "V" -> { files[0] = f[1]; files[1] = f[2]; }
                case "M" -> { created.add(Long.parseLong(f[1])); turn.add(f[2]); texts.add(f[3]); }
                case "Q" -> questions.add(new Question(f[1].equals("1"), f[2], f[3], Arrays.asList(f[4].split(","))));
                default -> { }
            }
        }
        int n = texts.size();
        float[][] vectors = readF32(Path.of(files[0]), n);
        float[][] qvectors = readF32(Path.of(files[1]), questions.size());
        int dim = vectors[0].length;

        OUT.println("OV-Memory demo: a long conversation as an agent's memory");
        OUT.println();
        OUT.println("Data: LoCoMo conversation conv-26 (CC BY-NC 4.0, non-commercial use only), " + n + " turns between");
        OUT.println("Caroline and Melanie from " + day(created.get(0)) + " to " + day(created.get(n - 1))
            + ". Each turn is one memory with its real date");
        OUT.println("and its all-MiniLM-L6-v2 embedding.");
        OUT.println();

        try (MemoryStore store = new MemoryStore(Map.of("embedding_dim", dim, "max_nodes", 1000))) {
            List<Map<String, Object>> meta = new ArrayList<>();
            for (String t : turn) meta.add(Map.of("turn", t));
            long[] ids = store.addBatch(vectors, texts.toArray(new String[0]), Map.of("created_at", created, "metadata", meta));
            Map<Long, Integer> byId = new HashMap<>();
            for (int i = 0; i < ids.length; i++) byId.put(ids[i], i);
            long now = created.get(n - 1) + DAY_MS; // "today" is the day after the last session
            OUT.println("Stored " + store.size() + " memories; the honeycomb links them with "
                + store.metrics().get("edge_count") + " edges.");
            OUT.println();
            OUT.println("For each question: the engine's top 3 (the question's embedding and its words) and plain");
            OUT.println("cosine's top 3 (the embedding alone). score: the engine's score, how far the match stands");
            OUT.println("above the other memories plus small bounded priors (importance, recency, links); cos: cosine");
            OUT.println("similarity; *: the turn the dataset names as the evidence for its answer.");

            int foundEngine = 0;
            int foundCosine = 0;
            for (int q = 0; q < questions.size(); q++) {
                Question question = questions.get(q);
                List<Map<String, Object>> engine = store.retrieve(qvectors[q], Map.of("text", question.text(), "top_k", TOP, "now", now));
                List<Map<String, Object>> cosine = store.retrieve(qvectors[q], Map.of("top_k", TOP, "alpha", 1.0, "now", now));
                if (engine.stream().anyMatch(h -> question.evidence().contains(turn.get(byId.get((Long) h.get("id")))))) foundEngine++;
                if (cosine.stream().anyMatch(h -> question.evidence().contains(turn.get(byId.get((Long) h.get("id")))))) foundCosine++;
                if (question.shown()) {
                    OUT.println();
                    OUT.println("Q: " + question.text());
                    OUT.println("   the dataset's answer: " + question.answer() + " (evidence: " + String.join(", ", question.evidence()) + ")");
                    String[] labels = {"engine", "cosine"};
                    String[] names = {"score", "cos"};
                    String[] keys = {"P", "S"};
                    List<List<Map<String, Object>>> lists = List.of(engine, cosine);
                    for (int l = 0; l < 2; l++) {
                        for (int k = 0; k < lists.get(l).size(); k++) {
                            Map<String, Object> h = lists.get(l).get(k);
                            int i = byId.get((Long) h.get("id"));
                            String mark = question.evidence().contains(turn.get(i)) ? "*" : " ";
                            OUT.println("    " + pad6(k == 0 ? labels[l] : "") + " " + (k + 1) + ". " + mark + " " + pad6(turn.get(i))
                                + " " + day(created.get(i)) + "  " + names[l] + " " + fmt3(part(h, keys[l])) + "  " + clip(texts.get(i), 44));
                        }
                    }
                }
            }
            OUT.println();
            OUT.println("All " + questions.size() + " questions of the conversation: the evidence is in the top 3 for "
                + foundEngine + " (engine)");
            OUT.println("and for " + foundCosine + " (plain cosine).");

            int asked = 0;
            while (!(questions.get(asked).shown() && questions.get(asked).evidence().size() > 1)) asked++;
            Question q = questions.get(asked);
            Map<String, Object> ctx = store.context(qvectors[asked], Map.of("text", q.text(), "max_tokens", CONTEXT_TOKENS, "now", now));
            @SuppressWarnings("unchecked")
            List<Map<String, Object>> items = (List<Map<String, Object>>) ctx.get("items");
            OUT.println();
            OUT.println("The context an agent would send for \"" + q.text() + "\" within " + CONTEXT_TOKENS + " tokens:");
            OUT.println(items.size() + " memories, " + ctx.get("tokens_used")
                + " tokens (the best matches and their honeycomb neighbours, each with its date):");
            for (Map<String, Object> item : items) {
                int i = byId.get((Long) item.get("id"));
                String mark = q.evidence().contains(turn.get(i)) ? "*" : " ";
                OUT.println("    " + mark + " " + pad6(turn.get(i)) + " " + day(created.get(i)) + "  " + clip(texts.get(i), 64));
            }

            Map<String, Object> health = store.health();
            Map<String, Object> metrics = store.metrics();
            OUT.println();
            OUT.println("Health: " + health.get("status") + ", circuit breaker " + health.get("circuit_breaker") + ", "
                + metrics.get("error_count") + " errors in " + metrics.get("queries_processed") + " calls.");
        }
    }
}
