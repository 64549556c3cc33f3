package ov.memory;

import java.lang.reflect.Array;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * JSON text to and from plain Java values, the form options go to the native
 * library in and retrieval results come back in.
 *
 * <p>{@link #write} takes {@code null}, {@link Boolean}, numbers (finite),
 * {@link CharSequence}, {@link Enum} (its name), {@link Map} with string keys,
 * {@link Iterable} and arrays; anything else is an {@link InvalidDataException}.
 * {@link #parse} gives {@link LinkedHashMap}, {@link ArrayList}, {@link Long}
 * (integers that fit), {@link Double}, {@link String}, {@link Boolean} and {@code null}.
 */
public final class Json {
    private static final int MAX_DEPTH = 128;

    private Json() {}

    /** The JSON text of a value. */
    public static String write(Object value) {
        StringBuilder out = new StringBuilder();
        write(out, value, 0);
        return out.toString();
    }

    private static InvalidDataException invalid(String message) {
        return new InvalidDataException(message, Map.of("field", "options"));
    }

    private static void write(StringBuilder out, Object v, int depth) {
        if (depth > MAX_DEPTH) {
            throw invalid("values nest deeper than " + MAX_DEPTH + " levels");
        }
        if (v == null) {
            out.append("null");
        } else if (v instanceof Boolean) {
            out.append(v);
        } else if (v instanceof Double || v instanceof Float) {
            double d = ((Number) v).doubleValue();
            if (!Double.isFinite(d)) {
                throw invalid("numbers must be finite, got " + d);
            }
            out.append(v instanceof Float ? Float.toString((Float) v) : Double.toString(d));
        } else if (v instanceof Long || v instanceof Integer || v instanceof Short || v instanceof Byte
                || v instanceof BigInteger) {
            out.append(v);
        } else if (v instanceof BigDecimal) {
            out.append(((BigDecimal) v).toPlainString());
        } else if (v instanceof CharSequence || v instanceof Character) {
            string(out, v.toString());
        } else if (v instanceof Enum) {
            string(out, ((Enum<?>) v).name());
        } else if (v instanceof Map) {
            out.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
                if (!(e.getKey() instanceof String)) {
                    throw invalid("map keys must be strings");
                }
                if (!first) {
                    out.append(',');
                }
                first = false;
                string(out, (String) e.getKey());
                out.append(':');
                write(out, e.getValue(), depth + 1);
            }
            out.append('}');
        } else if (v instanceof Iterable) {
            out.append('[');
            boolean first = true;
            for (Object x : (Iterable<?>) v) {
                if (!first) {
                    out.append(',');
                }
                first = false;
                write(out, x, depth + 1);
            }
            out.append(']');
        } else if (v.getClass().isArray()) {
            out.append('[');
            int n = Array.getLength(v);
            for (int i = 0; i < n; i++) {
                if (i > 0) {
                    out.append(',');
                }
                write(out, Array.get(v, i), depth + 1);
            }
            out.append(']');
        } else {
            throw invalid("a value of type " + v.getClass().getName() + " cannot be used here (JSON types only)");
        }
    }

    private static void string(StringBuilder out, String s) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"': out.append("\\\""); break;
                case '\\': out.append("\\\\"); break;
                case '\n': out.append("\\n"); break;
                case '\r': out.append("\\r"); break;
                case '\t': out.append("\\t"); break;
                default:
                    if (c < 0x20 || Character.isSurrogate(c)) {
                        if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                            out.append(c).append(s.charAt(++i));
                        } else if (Character.isSurrogate(c)) {
                            throw invalid("a string holds an unpaired surrogate");
                        } else {
                            out.append(String.format("\\u%04x", (int) c));
                        }
                    } else {
                        out.append(c);
                    }
            }
        }
        out.append('"');
    }

    /** Parses JSON text (see the class docs for the types); malformed text is an {@link InvalidDataException}. */
    public static Object parse(String text) {
        if (text == null) {
            throw new InvalidDataException("JSON text must not be null", Map.of("field", "json"));
        }
        Reader r = new Reader(text);
        try {
            Object v = r.value(0);
            r.skip();
            if (r.at != text.length()) {
                throw r.error("trailing text");
            }
            return v;
        } catch (IndexOutOfBoundsException e) {
            throw r.error("unexpected end");
        }
    }

    private static final class Reader {
        final String s;
        int at;

        Reader(String s) {
            this.s = s;
        }

        InvalidDataException error(String what) {
            return new InvalidDataException("invalid JSON: " + what + " at " + at, Map.of("field", "json", "at", (long) at));
        }

        void skip() {
            while (at < s.length()) {
                char c = s.charAt(at);
                if (c != ' ' && c != '\n' && c != '\r' && c != '\t') {
                    return;
                }
                at++;
            }
        }

        void expect(char c) {
            skip();
            if (s.charAt(at) != c) {
                throw error("expected '" + c + "'");
            }
            at++;
        }

        Object value(int depth) {
            if (depth > MAX_DEPTH) {
                throw error("nesting deeper than " + MAX_DEPTH);
            }
            skip();
            char c = s.charAt(at);
            switch (c) {
                case '{': {
                    at++;
                    Map<String, Object> m = new LinkedHashMap<>();
                    skip();
                    if (s.charAt(at) == '}') {
                        at++;
                        return m;
                    }
                    while (true) {
                        skip();
                        if (s.charAt(at) != '"') {
                            throw error("expected a key");
                        }
                        String k = string();
                        expect(':');
                        m.put(k, value(depth + 1));
                        skip();
                        char d = s.charAt(at++);
                        if (d == '}') {
                            return m;
                        }
                        if (d != ',') {
                            throw error("expected ',' or '}'");
                        }
                    }
                }
                case '[': {
                    at++;
                    List<Object> l = new ArrayList<>();
                    skip();
                    if (s.charAt(at) == ']') {
                        at++;
                        return l;
                    }
                    while (true) {
                        l.add(value(depth + 1));
                        skip();
                        char d = s.charAt(at++);
                        if (d == ']') {
                            return l;
                        }
                        if (d != ',') {
                            throw error("expected ',' or ']'");
                        }
                    }
                }
                case '"':
                    return string();
                case 't':
                    return word("true", Boolean.TRUE);
                case 'f':
                    return word("false", Boolean.FALSE);
                case 'n':
                    return word("null", null);
                default:
                    return number();
            }
        }

        Object word(String w, Object v) {
            if (!s.startsWith(w, at)) {
                throw error("unexpected text");
            }
            at += w.length();
            return v;
        }

        String string() {
            at++; // the opening quote
            StringBuilder b = null;
            int start = at;
            while (true) {
                char c = s.charAt(at++);
                if (c == '"') {
                    return b == null ? s.substring(start, at - 1) : b.append(s, start, at - 1).toString();
                }
                if (c == '\\') {
                    if (b == null) {
                        b = new StringBuilder();
                    }
                    b.append(s, start, at - 1);
                    char e = s.charAt(at++);
                    switch (e) {
                        case 'n': b.append('\n'); break;
                        case 't': b.append('\t'); break;
                        case 'r': b.append('\r'); break;
                        case 'b': b.append('\b'); break;
                        case 'f': b.append('\f'); break;
                        case 'u':
                            b.append((char) Integer.parseInt(s.substring(at, at + 4), 16));
                            at += 4;
                            break;
                        default: b.append(e);
                    }
                    start = at;
                }
            }
        }

        Object number() {
            int start = at;
            boolean integer = true;
            while (at < s.length()) {
                char c = s.charAt(at);
                if (c >= '0' && c <= '9' || c == '-' || c == '+') {
                    at++;
                } else if (c == '.' || c == 'e' || c == 'E') {
                    integer = false;
                    at++;
                } else {
                    break;
                }
            }
            String n = s.substring(start, at);
            try {
                if (integer) {
                    try {
                        return Long.parseLong(n);
                    } catch (NumberFormatException tooBig) {
                        return Double.parseDouble(n);
                    }
                }
                return Double.parseDouble(n);
            } catch (NumberFormatException e) {
                throw error("bad number '" + n + "'");
            }
        }
    }
}
