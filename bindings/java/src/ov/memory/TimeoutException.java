package ov.memory;

import java.util.Map;

/** {@code TIMEOUT}: the operation passed its deadline; nothing was changed. */
public class TimeoutException extends OvMemoryException {
    private static final long serialVersionUID = 1L;

    /** An error with this message and context. */
    public TimeoutException(String message, Map<String, Object> context) {
        super("TIMEOUT", message, context);
    }
}
