package ov.memory;

import java.util.Map;

/** {@code INTERNAL}: a caught panic or an impossible state (please report it). */
public class InternalException extends OvMemoryException {
    private static final long serialVersionUID = 1L;

    /** An error with this message and context. */
    public InternalException(String message, Map<String, Object> context) {
        super("INTERNAL", message, context);
    }
}
