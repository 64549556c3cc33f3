package ov.memory;

import java.util.Map;

/** {@code RESOURCE_EXHAUSTION}: max_nodes or max_memory_mb would be exceeded. */
public class ResourceExhaustionException extends OvMemoryException {
    private static final long serialVersionUID = 1L;

    /** An error with this message and context. */
    public ResourceExhaustionException(String message, Map<String, Object> context) {
        super("RESOURCE_EXHAUSTION", message, context);
    }
}
