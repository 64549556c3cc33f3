package ov.memory;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The exception every OV-Memory call throws: a stable {@link #code()} (the
 * same name in every language of OV-Memory), a message and a
 * {@link #context()} map of details, e.g. {@code {field=embedding, expected=768, got=512}}.
 * Each code has its own subclass ({@link InvalidDataException}, {@link NotFoundException}, ...).
 */
public class OvMemoryException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** Every error code, in numeric order (1..8). */
    public static final java.util.List<String> CODES = java.util.List.of(
        "INVALID_DATA", "NOT_FOUND", "RESOURCE_EXHAUSTION", "TIMEOUT",
        "CIRCUIT_OPEN", "MEMORY_CORRUPTION", "IO", "INTERNAL");

    private final String code;
    private final String detail;
    private final transient Map<String, Object> context;

    /** An error with this code, message and context (the context is copied). */
    public OvMemoryException(String code, String message, Map<String, Object> context) {
        super(code + ": " + message);
        this.code = code;
        this.detail = message;
        this.context = Collections.unmodifiableMap(new LinkedHashMap<>(context == null ? Map.of() : context));
    }

    /** The stable error name, e.g. {@code "INVALID_DATA"}. */
    public String code() {
        return code;
    }

    /** What went wrong, in words (the exception's message without the code). */
    public String detail() {
        return detail;
    }

    /** Machine-readable details (read-only). */
    public Map<String, Object> context() {
        return context;
    }

    /** The exception of {@code code} (used by the native library; an unknown code gives INTERNAL). */
    public static OvMemoryException fromNative(String code, String message, Map<String, Object> context) {
        switch (code) {
            case "INVALID_DATA": return new InvalidDataException(message, context);
            case "NOT_FOUND": return new NotFoundException(message, context);
            case "RESOURCE_EXHAUSTION": return new ResourceExhaustionException(message, context);
            case "TIMEOUT": return new TimeoutException(message, context);
            case "CIRCUIT_OPEN": return new CircuitOpenException(message, context);
            case "MEMORY_CORRUPTION": return new MemoryCorruptionException(message, context);
            case "IO": return new StorageIOException(message, context);
            case "INTERNAL": return new InternalException(message, context);
            default: return new InternalException(code + ": " + message, context);
        }
    }
}
