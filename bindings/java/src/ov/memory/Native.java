package ov.memory;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Locale;

/**
 * The native methods (crates/ov-memory-jni) and the library's loading. Not
 * public API: {@link MemoryStore} is. Options are JSON object text.
 */
final class Native {
    private Native() {}

    static {
        load();
    }

    /** The platform's folder inside the jar, e.g. {@code linux-x86_64}. */
    static String platform() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        String o = os.contains("linux") ? "linux" : os.contains("mac") ? "macos" : os.contains("win") ? "windows" : os;
        String a = arch.equals("amd64") || arch.equals("x86_64") ? "x86_64"
            : arch.equals("aarch64") || arch.equals("arm64") ? "aarch64" : arch;
        return o + "-" + a;
    }

    /**
     * Loads the library: the file named by the system property
     * {@code ov.memory.library} if set, else the copy inside the jar for this
     * platform (extracted to a temporary file), else {@code ov_memory_jni}
     * from {@code java.library.path}.
     */
    private static void load() {
        String explicit = System.getProperty("ov.memory.library");
        if (explicit != null) {
            System.load(explicit);
            return;
        }
        String name = System.mapLibraryName("ov_memory_jni");
        String resource = "/ov/memory/native/" + platform() + "/" + name;
        try (InputStream in = Native.class.getResourceAsStream(resource)) {
            if (in != null) {
                Path dir = Files.createTempDirectory("ov-memory-");
                Path file = dir.resolve(name);
                Files.copy(in, file, StandardCopyOption.REPLACE_EXISTING);
                file.toFile().deleteOnExit();
                dir.toFile().deleteOnExit();
                System.load(file.toAbsolutePath().toString());
                return;
            }
        } catch (java.io.IOException e) {
            throw new UnsatisfiedLinkError("cannot extract " + resource + ": " + e);
        }
        try {
            System.loadLibrary("ov_memory_jni");
        } catch (UnsatisfiedLinkError e) {
            throw new UnsatisfiedLinkError("ov-memory has no native library for " + platform()
                + " in this jar and none on java.library.path (" + e.getMessage() + ")");
        }
    }

    static native long create(String config);
    static native long fromBytes(byte[] data, String config);
    static native long open(String path, String config);
    static native void close(long h);
    static native long add(long h, float[] embedding, String text, String options);
    static native long[] addBatch(long h, float[] flat, String[] texts, String options);
    static native Object get(long h, long id);
    static native void delete(long h, long id);
    static native void update(long h, long id, float[] embedding, String patch);
    static native String retrieve(long h, float[] query, String options);
    static native String retrieveMany(long h, int count, float[] flat, byte[] has, String[] texts, String options);
    static native String context(long h, float[] query, String options, Object counter);
    static native Object list(long h, String options);
    static native long count(long h, String options);
    static native Object getMany(long h, long[] ids);
    static native long deleteMany(long h, long[] ids);
    static native long deleteNamespace(long h, String namespace);
    static native long sweep(long h);
    static native Object namespaces(long h);
    static native long[] hubs(long h, String namespace);
    static native String exportJsonl(long h, String options);
    static native Object importJsonl(long h, String jsonl, String options);
    static native byte[] toBytes(long h);
    static native void loadBytes(long h, byte[] data);
    static native void save(long h, String path);
    static native void load(long h, String path);
    static native void setAutosave(long h, String path, long every);
    static native Object health(long h);
    static native String healthJson(long h);
    static native Object metrics(long h);
    static native String prometheus(long h);

    static native String openmetrics(long h);
    static native void setLogLevel(long h, String level);
    static native String logLevel(long h);
    static native void setLogCallback(long h, Object callback);
    static native void logTo(long h, String target);
    static native void resetBreaker(long h);
    static native Object metabolism(long h);
    static native void resetMetabolism(long h);
    static native void resizeMetabolism(long h, long budget);
    static native Object config(long h);
    static native long size(long h);
    static native void checkIntegrity(long h);
    static native long estimateTokens(String text);
    static native String version();
}
