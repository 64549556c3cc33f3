package ov.memory.tests;

import java.util.List;
import java.util.Map;
import java.util.Objects;
import ov.memory.OvMemoryException;

/** Assertions for the Java tests. */
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

    /** Parses JSON text with the library's own reader. */
    static Object parse(String text) {
        return ov.memory.Json.parse(text);
    }
}
