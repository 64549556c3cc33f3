package ov.memory.tests;

/** The million-call run of {@link ApiTest#manyCalls}, outside -Xcheck:jni (which slows every call tenfold). */
public final class ManyCalls {
    private ManyCalls() {}

    public static void main(String[] args) {
        ApiTest.manyCalls(args.length > 0 ? Integer.parseInt(args[0]) : 1_000_000);
        System.out.println("ok   " + Check.checks + " checks");
    }
}
