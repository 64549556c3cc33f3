package ov.memory;

import java.util.Map;

/** {@code MEMORY_CORRUPTION}: a snapshot or the internal state failed its checks. */
public class MemoryCorruptionException extends OvMemoryException {
    private static final long serialVersionUID = 1L;

    /** An error with this message and context. */
    public MemoryCorruptionException(String message, Map<String, Object> context) {
        super("MEMORY_CORRUPTION", message, context);
    }
}
