import java.util.Map;
import ov.memory.MemoryStore;

/** `make bench` (Java part): the cost of a JNI call and of a retrieve on a 1-memory store. */
public final class CallCost {
    private CallCost() {}

    interface Call {
        Object run();
    }

    static double perCall(Call f, int n) {
        double best = Double.MAX_VALUE;
        for (int r = 0; r < 5; r++) {
            long t = System.nanoTime();
            for (int i = 0; i < n; i++) {
                f.run();
            }
            best = Math.min(best, (System.nanoTime() - t) / 1e3 / n);
        }
        return best;
    }

    public static void main(String[] args) throws Exception {
        String load = new String(java.nio.file.Files.readAllBytes(java.nio.file.Path.of("/proc/loadavg"))).trim();
        try (MemoryStore s = new MemoryStore(Map.of("embedding_dim", 384))) {
            float[] q = new float[384];
            for (int i = 0; i < q.length; i++) q[i] = (float) Math.sin(i);
            s.add(q, "one memory");
            System.out.println("### Java front-end (load average " + load.split(" ")[0] + ")\n");
            System.out.println("| call on a 1-memory store | µs per call |");
            System.out.println("|---|---:|");
            System.out.printf("| `size()` (the JNI call itself) | %.3f |%n", perCall(s::size, 2_000_000));
            System.out.printf("| `retrieve(q, 10)` (hits as Java maps) | %.2f |%n", perCall(() -> s.retrieve(q, 10), 200_000));
        }
    }
}
