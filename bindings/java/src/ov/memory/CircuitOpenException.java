package ov.memory;

import java.util.Map;

/** {@code CIRCUIT_OPEN}: rejected by an open circuit breaker (see MemoryStore.resetBreaker). */
public class CircuitOpenException extends OvMemoryException {
    private static final long serialVersionUID = 1L;

    /** An error with this message and context. */
    public CircuitOpenException(String message, Map<String, Object> context) {
        super("CIRCUIT_OPEN", message, context);
    }
}
