package ov.memory;

import java.util.Map;

/** {@code NOT_FOUND}: no memory has this id. */
public class NotFoundException extends OvMemoryException {
    private static final long serialVersionUID = 1L;

    /** An error with this message and context. */
    public NotFoundException(String message, Map<String, Object> context) {
        super("NOT_FOUND", message, context);
    }
}
