package ov.memory.tests;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import ov.memory.OvMemoryException;

/** Assertions and a small JSON reader for the test data (the library itself never parses JSON in Java). */
final class Check {
    private Check() {}

    static int checks = 0;

    static void ok(boolean cond, String what) {
        checks++;
        if (!cond) {
            throw new AssertionError(what);
        }
    }

    static void eq(Object got, Object want, String what) {
        checks++;
        if (!Objects.deepEquals(got, want)) {
            throw new AssertionError(what + ": got " + got + ", want " + want);
        }
    }

    /** The code of the OvMemoryException that {@code f} throws. */
    static String code(Runnable f) {
        try {
            f.run();
        } catch (OvMemoryException e) {
            ok(e.getMessage().startsWith(e.code() + ": "), "message starts with the code: " + e.getMessage());
            ok(OvMemoryException.CODES.contains(e.code()), "known code " + e.code());
            return e.code();
        }
        throw new AssertionError("no exception thrown");
    }

    static float[] floats(Object list) {
        List<?> l = (List<?>) list;
        float[] f = new float[l.size()];
        for (int i = 0; i < f.length; i++) {
            f[i] = (float) num(l.get(i));
        }
        return f;
    }

    static double num(Object v) {
        if (v instanceof String) {
            switch ((String) v) {
                case "NaN": return Double.NaN;
                case "Infinity": return Double.POSITIVE_INFINITY;
                case "-Infinity": return Double.NEGATIVE_INFINITY;
                default: throw new IllegalArgumentException("not a number: " + v);
            }
        }
        return ((Number) v).doubleValue();
    }

    /** Parses JSON text: objects as LinkedHashMap, arrays as ArrayList, integers as Long, other numbers as Double. */
    static Object parse(String text) {
        int[] at = {0};
        Object v = value(text, at);
        skip(text, at);
        if (at[0] != text.length()) {
            throw new IllegalArgumentException("trailing text at " + at[0]);
        }
        return v;
    }

    private static void skip(String s, int[] at) {
        while (at[0] < s.length() && Character.isWhitespace(s.charAt(at[0]))) {
            at[0]++;
        }
    }

    private static Object value(String s, int[] at) {
        skip(s, at);
        char c = s.charAt(at[0]);
        if (c == '{') {
            Map<String, Object> m = new LinkedHashMap<>();
            at[0]++;
            skip(s, at);
            if (s.charAt(at[0]) == '}') {
                at[0]++;
                return m;
            }
            while (true) {
                skip(s, at);
                String k = (String) value(s, at);
                skip(s, at);
                at[0]++; // ':'
                m.put(k, value(s, at));
                skip(s, at);
                if (s.charAt(at[0]++) == '}') {
                    return m;
                }
            }
        }
        if (c == '[') {
            List<Object> l = new ArrayList<>();
            at[0]++;
            skip(s, at);
            if (s.charAt(at[0]) == ']') {
                at[0]++;
                return l;
            }
            while (true) {
                l.add(value(s, at));
                skip(s, at);
                if (s.charAt(at[0]++) == ']') {
                    return l;
                }
            }
        }
        if (c == '"') {
            StringBuilder b = new StringBuilder();
            at[0]++;
            while (true) {
                char d = s.charAt(at[0]++);
                if (d == '"') {
                    return b.toString();
                }
                if (d == '\\') {
                    char e = s.charAt(at[0]++);
                    switch (e) {
                        case 'n': b.append('\n'); break;
                        case 't': b.append('\t'); break;
                        case 'r': b.append('\r'); break;
                        case 'b': b.append('\b'); break;
                        case 'f': b.append('\f'); break;
                        case 'u': b.append((char) Integer.parseInt(s.substring(at[0], at[0] + 4), 16)); at[0] += 4; break;
                        default: b.append(e);
                    }
                } else {
                    b.append(d);
                }
            }
        }
        if (s.startsWith("true", at[0])) {
            at[0] += 4;
            return Boolean.TRUE;
        }
        if (s.startsWith("false", at[0])) {
            at[0] += 5;
            return Boolean.FALSE;
        }
        if (s.startsWith("null", at[0])) {
            at[0] += 4;
            return null;
        }
        int start = at[0];
        while (at[0] < s.length() && "+-0123456789.eE".indexOf(s.charAt(at[0])) >= 0) {
            at[0]++;
        }
        String n = s.substring(start, at[0]);
        if (n.isEmpty()) {
            throw new IllegalArgumentException("unexpected character at " + start);
        }
        if (n.contains(".") || n.contains("e") || n.contains("E")) {
            return Double.parseDouble(n);
        }
        return Long.parseLong(n);
    }
}
