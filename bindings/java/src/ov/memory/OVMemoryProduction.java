package ov.memory;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The first version's surface, over {@link MemoryStore}:
 *
 * <pre>{@code
 * OVMemoryProduction memory = new OVMemoryProduction(768, 10000, true);
 * long id = memory.addMemory(embedding, "Important memory", 1.5, Map.of("source", "chat"));
 * Map<String, Object> health = memory.getHealthStatus(); // status, error_rate_percent, ...
 * }</pre>
 */
public final class OVMemoryProduction implements AutoCloseable {
    private final MemoryStore store;

    /** A store of {@code dim}-dimensional embeddings holding at most {@code maxNodes} memories. */
    public OVMemoryProduction(int dim, int maxNodes, boolean enableMonitoring) {
        this.store = new MemoryStore(Map.of("embedding_dim", dim, "max_nodes", maxNodes, "monitoring", enableMonitoring));
    }

    /** The underlying store, for the rest of the API. */
    public MemoryStore store() {
        return store;
    }

    /** Adds a memory (metadata may be null) and returns its id. */
    public long addMemory(float[] embedding, String text, double weight, Map<String, ?> metadata) {
        Map<String, Object> options = new LinkedHashMap<>();
        options.put("weight", weight);
        options.put("metadata", metadata);
        return store.add(embedding, text, options);
    }

    /** {@link #addMemory(float[], String, double, Map)} for a {@code double[]} embedding. */
    public long addMemory(double[] embedding, String text, double weight, Map<String, ?> metadata) {
        return addMemory(MemoryStore.toFloats(embedding), text, weight, metadata);
    }

    /** The memory with this id, or {@code null}. */
    public Map<String, Object> getMemory(long id) {
        return store.get(id);
    }

    /** The {@code topK} best memories for a query embedding. */
    public List<Map<String, Object>> retrieveMemories(float[] query, int topK, double alpha) {
        return store.retrieve(query, Map.of("top_k", topK, "alpha", alpha));
    }

    /**
     * The health report plus {@code error_rate_percent} (the share of failed
     * calls in the health window, in percent; also under {@code error_rate_pct}).
     */
    public Map<String, Object> getHealthStatus() {
        Map<String, Object> health = new LinkedHashMap<>(store.health());
        health.put("error_rate_percent", health.get("error_rate_pct"));
        return health;
    }

    /** Every metric. */
    public Map<String, Object> getMetrics() {
        return store.metrics();
    }

    /** Frees the store. */
    @Override
    public void close() {
        store.close();
    }
}
