package ov.memory;

import java.util.Map;

/** {@code INVALID_DATA}: bad input of any kind; nothing was changed. */
public class InvalidDataException extends OvMemoryException {
    private static final long serialVersionUID = 1L;

    /** An error with this message and context. */
    public InvalidDataException(String message, Map<String, Object> context) {
        super("INVALID_DATA", message, context);
    }
}
