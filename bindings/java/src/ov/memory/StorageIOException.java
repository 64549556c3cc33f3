package ov.memory;

import java.util.Map;

/** {@code IO}: the file system failed while saving or loading. */
public class StorageIOException extends OvMemoryException {
    private static final long serialVersionUID = 1L;

    /** An error with this message and context. */
    public StorageIOException(String message, Map<String, Object> context) {
        super("IO", message, context);
    }
}
