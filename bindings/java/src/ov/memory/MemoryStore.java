package ov.memory;

import java.lang.ref.Cleaner;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.ToIntFunction;

/**
 * A memory store: memories (text, embedding, weight, metadata, time) linked in
 * a bounded-degree graph, ranked retrieval and token-budgeted context.
 *
 * <p>Options and configuration are maps whose keys are the engine's names
 * ({@code "top_k"}, {@code "namespace"}, {@code "filter"}, ...; camelCase spellings
 * such as {@code "topK"} work too); an unknown key is an {@link InvalidDataException}.
 * Results are plain {@link Map}s and {@link List}s (numbers as {@link Long} or
 * {@link Double}; embeddings as {@code float[]}) with the same keys as the
 * JSON of the other front-ends. Every method throws an {@link OvMemoryException}
 * subclass on failure, and bad input changes nothing.
 *
 * <p>Thread-safe: reads run side by side, writes one at a time. {@link #close()}
 * frees the store (a store that is garbage-collected is freed too); calls on a
 * closed store throw {@link InvalidDataException}.
 */
public final class MemoryStore implements AutoCloseable {
    private static final Cleaner CLEANER = Cleaner.create();

    private final long handle;
    private final Cleaner.Cleanable cleanable;

    private MemoryStore(long handle) {
        this.handle = handle;
        this.cleanable = CLEANER.register(this, () -> Native.close(handle));
    }

    /** A store with the default settings (768-dimensional embeddings, 10 000 memories). */
    public MemoryStore() {
        this(Native.create("{}"));
    }

    /** A store with these settings, e.g. {@code Map.of("embedding_dim", 384, "max_nodes", 100_000)}. */
    public MemoryStore(Map<String, ?> config) {
        this(Native.create(json(config)));
    }

    /** A store from snapshot bytes ({@link #toBytes()}). */
    public static MemoryStore fromBytes(byte[] data) {
        return new MemoryStore(Native.fromBytes(data, null));
    }

    /** A store from snapshot bytes; {@code config} sets the limits (the file never does). */
    public static MemoryStore fromBytes(byte[] data, Map<String, ?> config) {
        return new MemoryStore(Native.fromBytes(data, json(config)));
    }

    /** A store from a snapshot file. */
    public static MemoryStore open(Path path) {
        return new MemoryStore(Native.open(path(path), null));
    }

    /** A store from a snapshot file; {@code config} sets the limits. */
    public static MemoryStore open(Path path, Map<String, ?> config) {
        return new MemoryStore(Native.open(path(path), json(config)));
    }

    private static String json(Map<String, ?> options) {
        return options == null ? null : Json.write(options);
    }

    /** Options whose {@code metadata} may be given as JSON object text: parsed here. */
    private static String withMetadata(Map<String, ?> options) {
        if (options == null || !(options.get("metadata") instanceof String)) {
            return json(options);
        }
        Map<String, Object> copy = new LinkedHashMap<>(options);
        copy.put("metadata", Json.parse((String) options.get("metadata")));
        return Json.write(copy);
    }

    private static String path(Path p) {
        return p == null ? null : p.toString();
    }

    /** A {@code double[]} as the {@code float[]} the engine stores. */
    public static float[] toFloats(double[] v) {
        if (v == null) {
            return null;
        }
        float[] f = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            f[i] = (float) v[i];
        }
        return f;
    }

    // ------------------------------------------------------------ memories

    /** Adds a memory and returns its id. */
    public long add(float[] embedding, String text) {
        return Native.add(handle, embedding, text, null);
    }

    /**
     * Adds a memory with options: {@code weight}, {@code metadata} (a map, or
     * JSON object text),
     * {@code created_at}, {@code namespace}, {@code key} (adding with a key that
     * exists in the namespace replaces that memory, same id), {@code expires_at},
     * {@code ttl_ms}, {@code timeout_ms}.
     */
    public long add(float[] embedding, String text, Map<String, ?> options) {
        return Native.add(handle, embedding, text, withMetadata(options));
    }

    /** {@link #add(float[], String, Map)} for a {@code double[]} embedding. */
    public long add(double[] embedding, String text, Map<String, ?> options) {
        return add(toFloats(embedding), text, options);
    }

    /** Adds many memories at once (all or nothing, on every core); returns their ids. */
    public long[] addBatch(float[][] embeddings, String[] texts) {
        return addBatch(embeddings, texts, null);
    }

    /**
     * Adds many memories at once with options: {@code weights}, {@code metadata},
     * {@code created_at}, {@code keys}, {@code expires_at} (one entry per text),
     * {@code namespace}, {@code ttl_ms}, {@code timeout_ms}.
     */
    public long[] addBatch(float[][] embeddings, String[] texts, Map<String, ?> options) {
        if (embeddings == null) {
            throw new InvalidDataException("embeddings must not be null", Map.of("field", "embeddings"));
        }
        int dim = 0;
        for (float[] row : embeddings) {
            if (row == null) {
                throw new InvalidDataException("embeddings must not hold null", Map.of("field", "embeddings"));
            }
            dim = row.length;
        }
        float[] flat = new float[Math.multiplyExact(embeddings.length, dim)];
        for (int i = 0; i < embeddings.length; i++) {
            if (embeddings[i].length != dim) {
                throw new InvalidDataException("every embedding must have the same length",
                    Map.of("field", "embeddings", "index", (long) i));
            }
            System.arraycopy(embeddings[i], 0, flat, i * dim, dim);
        }
        return Native.addBatch(handle, flat, texts, json(options));
    }

    /** The memory with this id, or {@code null}. */
    @SuppressWarnings("unchecked")
    public Map<String, Object> get(long id) {
        return (Map<String, Object>) Native.get(handle, id);
    }

    /** Deletes a memory ({@link NotFoundException} if there is none). */
    public void delete(long id) {
        Native.delete(handle, id);
    }

    /**
     * Changes a memory in place: {@code text}, {@code embedding} ({@code float[]}
     * or {@code double[]}), {@code weight}, {@code metadata} (a map or JSON object
     * text; null removes it),
     * {@code expires_at} (null removes it), {@code ttl_ms}, {@code timeout_ms}.
     */
    public void update(long id, Map<String, ?> patch) {
        float[] embedding = null;
        Map<String, Object> rest = new LinkedHashMap<>();
        if (patch != null) {
            for (Map.Entry<String, ?> e : patch.entrySet()) {
                if ("embedding".equals(e.getKey()) && e.getValue() instanceof float[]) {
                    embedding = (float[]) e.getValue();
                } else if ("embedding".equals(e.getKey()) && e.getValue() instanceof double[]) {
                    embedding = toFloats((double[]) e.getValue());
                } else {
                    rest.put(e.getKey(), e.getValue());
                }
            }
        }
        Native.update(handle, id, embedding, withMetadata(rest));
    }

    // ------------------------------------------------------------ reads

    /** The 5 best memories for a query embedding. */
    public List<Map<String, Object>> retrieve(float[] query) {
        return retrieve(query, null);
    }

    /** The {@code topK} best memories for a query embedding. */
    public List<Map<String, Object>> retrieve(float[] query, int topK) {
        return hits(Native.retrieve(handle, query, "{\"top_k\":" + topK + "}"));
    }

    /**
     * The best memories for a query embedding (or {@code null} with a {@code text}
     * option: a text-only query), best first. Options: {@code top_k}, {@code alpha},
     * {@code text}, {@code hybrid_weight}, {@code now}, {@code namespace}, {@code filter},
     * {@code scoring}, {@code exact}, {@code ef}, {@code timeout_ms}. Each hit has
     * {@code id}, {@code text}, {@code metadata}, {@code created_at}, {@code namespace}
     * and {@code score} (S, L, C, G, rel, R, W, P).
     */
    public List<Map<String, Object>> retrieve(float[] query, Map<String, ?> options) {
        return hits(Native.retrieve(handle, query, json(options)));
    }

    @SuppressWarnings("unchecked")
    private static List<Map<String, Object>> hits(String json) {
        return (List<Map<String, Object>>) Json.parse(json);
    }

    /**
     * Answers several queries at once, on every core. Each query is a
     * {@code float[]} or a map with {@code embedding} and/or {@code text}.
     */
    @SuppressWarnings("unchecked")
    public List<List<Map<String, Object>>> retrieveMany(List<?> queries, Map<String, ?> options) {
        if (queries == null) {
            throw new InvalidDataException("queries must not be null", Map.of("field", "queries"));
        }
        int n = queries.size();
        byte[] has = new byte[n];
        String[] texts = new String[n];
        List<float[]> rows = new ArrayList<>();
        int values = 0;
        for (int i = 0; i < n; i++) {
            Object q = queries.get(i);
            Object e = q;
            if (q instanceof Map) {
                Map<?, ?> m = (Map<?, ?>) q;
                for (Object k : m.keySet()) {
                    if (!"embedding".equals(k) && !"text".equals(k)) {
                        throw new InvalidDataException("unknown query key " + k, Map.of("field", "queries", "index", (long) i));
                    }
                }
                e = m.get("embedding");
                Object t = m.get("text");
                if (t != null && !(t instanceof String)) {
                    throw new InvalidDataException("text must be a String", Map.of("field", "text", "index", (long) i));
                }
                texts[i] = (String) t;
            }
            if (e instanceof double[]) {
                e = toFloats((double[]) e);
            }
            if (e instanceof float[]) {
                rows.add((float[]) e);
                values += ((float[]) e).length;
                has[i] = 1;
            } else if (e != null) {
                throw new InvalidDataException("a query is a float[] or a map with embedding and/or text",
                    Map.of("field", "queries", "index", (long) i));
            }
        }
        float[] flat = new float[values];
        int at = 0;
        for (float[] r : rows) {
            System.arraycopy(r, 0, flat, at, r.length);
            at += r.length;
        }
        return (List<List<Map<String, Object>>>) Json.parse(Native.retrieveMany(handle, n, flat, has, texts, json(options)));
    }

    /**
     * A context for the query that fits {@code max_tokens}: {@code context} (the
     * text), {@code items}, {@code tokens_used}, {@code guardrails}, ... Options:
     * {@code max_tokens}, {@code candidates}, {@code depth}, {@code min_items},
     * {@code max_items}, {@code include_dates}, {@code separator}, {@code text},
     * {@code now}, {@code namespace}, {@code filter}, {@code alpha}, {@code timeout_ms}.
     */
    public Map<String, Object> context(float[] query, Map<String, ?> options) {
        return context(query, options, null);
    }

    /** {@link #context(float[], Map)} with a token counter (e.g. the model's tokenizer). */
    @SuppressWarnings("unchecked")
    public Map<String, Object> context(float[] query, Map<String, ?> options, ToIntFunction<String> tokenCounter) {
        return (Map<String, Object>) Json.parse(Native.context(handle, query, json(options), tokenCounter));
    }

    /** One page of memories in id order: {@code namespace}, {@code filter}, {@code after_id}, {@code limit}. */
    @SuppressWarnings("unchecked")
    public Map<String, Object> list(Map<String, ?> options) {
        return (Map<String, Object>) Native.list(handle, json(options));
    }

    /** How many memories are in {@code namespace} and pass {@code filter}. */
    public long count(Map<String, ?> options) {
        return Native.count(handle, json(options));
    }

    /** The memories with these ids ({@code null} for unknown ones). */
    @SuppressWarnings("unchecked")
    public List<Map<String, Object>> getMany(long... ids) {
        return (List<Map<String, Object>>) Native.getMany(handle, ids);
    }

    /** Deletes these ids (unknown ones are skipped); returns how many were deleted. */
    public long deleteMany(long... ids) {
        return Native.deleteMany(handle, ids);
    }

    /** Deletes every memory of a namespace; returns how many. */
    public long deleteNamespace(String namespace) {
        return Native.deleteNamespace(handle, namespace);
    }

    /** Removes expired memories now; returns how many. */
    public long sweep() {
        return Native.sweep(handle);
    }

    /** Memories per namespace. */
    @SuppressWarnings("unchecked")
    public Map<String, Object> namespaces() {
        return (Map<String, Object>) Native.namespaces(handle);
    }

    /** The ids of the namespace's most connected memories. */
    public long[] hubs(String namespace) {
        return Native.hubs(handle, namespace);
    }

    /** The memories of {@code namespace} (default: all) passing {@code filter}, as JSON Lines. */
    public String exportJsonl(Map<String, ?> options) {
        return Native.exportJsonl(handle, json(options));
    }

    /** Adds the memories of a JSON Lines text, all or nothing: {@code keep_ids}, {@code timeout_ms}. */
    @SuppressWarnings("unchecked")
    public Map<String, Object> importJsonl(String jsonl, Map<String, ?> options) {
        return (Map<String, Object>) Native.importJsonl(handle, jsonl, json(options));
    }

    // ------------------------------------------------------------ snapshots

    /** The store as snapshot bytes. */
    public byte[] toBytes() {
        return Native.toBytes(handle);
    }

    /** Replaces the contents with a snapshot's, all or nothing. */
    public void loadBytes(byte[] data) {
        Native.loadBytes(handle, data);
    }

    /** Writes a snapshot file atomically. */
    public void save(Path path) {
        Native.save(handle, path(path));
    }

    /** Replaces the contents with a snapshot file's, all or nothing. */
    public void load(Path path) {
        Native.load(handle, path(path));
    }

    /** Saves to {@code path} after every {@code everyChanges} changes; {@code null} stops. */
    public void setAutosave(Path path, long everyChanges) {
        Native.setAutosave(handle, path(path), everyChanges);
    }

    // ------------------------------------------------------------ operations

    /** The health report: {@code status}, {@code error_rate_pct}, {@code circuit_breaker}, {@code reasons}, ... */
    @SuppressWarnings("unchecked")
    public Map<String, Object> health() {
        return (Map<String, Object>) Native.health(handle);
    }

    /** The health report as JSON text. */
    public String healthJson() {
        return Native.healthJson(handle);
    }

    /** Every metric (counts, latency percentiles, breaker, metabolism, ...). */
    @SuppressWarnings("unchecked")
    public Map<String, Object> metrics() {
        return (Map<String, Object>) Native.metrics(handle);
    }

    /**
     * The metrics in the Prometheus text format (0.0.4): seconds and bytes,
     * {@code _total} counters, latency as a summary per operation.
     */
    public String prometheus() {
        return Native.prometheus(handle);
    }

    /** The same metrics in the OpenMetrics text format (1.0.0, ends with {@code # EOF}). */
    public String openmetrics() {
        return Native.openmetrics(handle);
    }

    /** Sets the log threshold: DEBUG, INFO, WARNING, ERROR or CRITICAL. */
    public void setLogLevel(String level) {
        Native.setLogLevel(handle, level);
    }

    /** The log threshold. */
    public String logLevel() {
        return Native.logLevel(handle);
    }

    /**
     * Sends each log line (a JSON object text) to {@code callback}, on the thread
     * that logged; {@code null} stops. An exception from the callback is dropped.
     */
    public void onLog(Consumer<String> callback) {
        Native.setLogCallback(handle, callback);
    }

    /** Writes log lines to {@code "stderr"} or {@code "stdout"}; {@code null} stops. */
    public void logTo(String target) {
        Native.logTo(handle, target);
    }

    /** Closes an open circuit breaker. */
    public void resetBreaker() {
        Native.resetBreaker(handle);
    }

    /** The metabolism: token budget, use, state and the alpha it sets. */
    @SuppressWarnings("unchecked")
    public Map<String, Object> metabolism() {
        return (Map<String, Object>) Native.metabolism(handle);
    }

    /** Gives the metabolism its whole budget back. */
    public void resetMetabolism() {
        Native.resetMetabolism(handle);
    }

    /** Sets the metabolism's token budget. */
    public void resizeMetabolism(long budgetTokens) {
        Native.resizeMetabolism(handle, budgetTokens);
    }

    /** The store's settings. */
    @SuppressWarnings("unchecked")
    public Map<String, Object> config() {
        return (Map<String, Object>) Native.config(handle);
    }

    /** How many memories the store holds. */
    public long size() {
        return Native.size(handle);
    }

    /** Checks every internal invariant ({@link MemoryCorruptionException} if one fails). */
    public void checkIntegrity() {
        Native.checkIntegrity(handle);
    }

    /** Frees the store now; idempotent. Later calls throw {@link InvalidDataException}. */
    @Override
    public void close() {
        cleanable.clean();
    }

    /** The default token estimate, {@code ceil(UTF-8 bytes / 4)}. */
    public static long estimateTokens(String text) {
        return Native.estimateTokens(text);
    }

    /** The library's version. */
    public static String version() {
        return Native.version();
    }
}
