package ov.memory.tests;

import java.nio.file.Files;
import java.nio.file.Path;

/** Runs every Java test (no test framework: plain Java, as built by the Makefile). */
public final class AllTests {
    private AllTests() {}

    interface Test {
        void run() throws Exception;
    }

    public static void main(String[] args) throws Exception {
        Path root = Path.of(args.length > 0 ? args[0] : ".");
        int calls = args.length > 1 ? Integer.parseInt(args[1]) : 1_000_000;
        Path tmp = Files.createTempDirectory("ov-memory-java-test");
        String[] names = {"vectors", "basics", "every code and malformed input", "snapshots", "logs", "threads",
            "timeout and circuit breaker", "many calls", "production guide surface"};
        Test[] tests = {
            () -> VectorsTest.runAll(root.resolve("tests/vectors")), ApiTest::basics, () -> ApiTest.everyCode(tmp),
            () -> ApiTest.snapshots(tmp), ApiTest::logs, ApiTest::threads, ApiTest::timeouts, () -> ApiTest.manyCalls(calls),
            ApiTest::guide,
        };
        int failed = 0;
        for (int i = 0; i < tests.length; i++) {
            try {
                tests[i].run();
                System.out.println("ok   " + names[i]);
            } catch (Throwable e) {
                failed++;
                System.out.println("FAIL " + names[i] + ": " + e);
                e.printStackTrace(System.out);
            }
        }
        System.out.println(Check.checks + " checks, " + failed + " of " + tests.length + " tests failed");
        if (failed > 0) {
            System.exit(1);
        }
    }
}
