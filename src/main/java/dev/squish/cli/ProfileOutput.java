package dev.squish.cli;

import dev.squish.util.Profile;
import dev.squish.weights.DenseLinear;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * {@code compress --profile}: the machine's prefill GEMM rate, measured in the same run, and the
 * per-phase table (time, flops, achieved rate, floor = flops / prefill rate, ratio to the floor),
 * peak heap and peak resident memory, for stderr and for {@code --json}.
 */
final class ProfileOutput {
    private ProfileOutput() {}

    /** The prefill rate and the shape it was measured on. */
    record Rate(double flopsPerSecond, int rows, int cols, int tokens) {}

    /**
     * Float32 flops per second of the prefill matmul ({@link DenseLinear#matmul}, the kernel the
     * forward pass runs) on a width x width matrix and {@code tokens} tokens: the best of five
     * timed batches of at least 0.2 s each after a warm-up, so that a shared machine's busy
     * moments do not lower the floor.
     */
    static Rate prefillRate(int width, int tokens) {
        int t = Math.max(1, Math.min(tokens, 512));
        float[] w = new float[width * width], x = new float[t * width], y = new float[t * width];
        SplittableRandom rnd = new SplittableRandom(1);
        for (int i = 0; i < w.length; i++) w[i] = (float) (rnd.nextDouble() - 0.5);
        for (int i = 0; i < x.length; i++) x[i] = (float) (rnd.nextDouble() - 0.5);
        DenseLinear lin = new DenseLinear(width, width, w);
        double perCall = 2.0 * t * width * width;
        // warm-up until the JIT has compiled the kernel: interpreted Vector API code is ~1000x slower,
        // and on a loaded machine the compiler threads take a while (30 calls and 1 s)
        long warm = System.nanoTime();
        for (int calls = 0; calls < 30 || System.nanoTime() - warm < 1_000_000_000L; calls++) lin.matmul(x, t, y);
        double best = 0;
        for (int b = 0; b < 5; b++) {
            long t0 = System.nanoTime();
            int calls = 0;
            long el;
            do { lin.matmul(x, t, y); calls++; } while ((el = System.nanoTime() - t0) < 200_000_000L);
            best = Math.max(best, calls * perCall / (el / 1e9));
        }
        return new Rate(best, width, width, t);
    }

    static void print(PrintWriter err, Profile.Result r, Rate rate) {
        double ref = rate.flopsPerSecond();
        err.printf("profile: prefill GEMM %.1f GFLOP/s (float32, %dx%d x %d tokens, measured in this run)%n",
                ref / 1e9, rate.rows(), rate.cols(), rate.tokens());
        err.printf("%-11s %9s %10s %9s %9s %8s%n", "phase", "seconds", "GFLOP", "GFLOP/s", "floor s", "x floor");
        for (Profile.Line l : r.phases()) line(err, l.phase(), l.seconds(), l.flops(), ref);
        line(err, "total", r.seconds(), r.flops(), ref);
        err.printf("peak heap %s, peak resident %s (VmHWM)%n", mib(r.peakHeapBytes()), mib(r.peakResidentBytes()));
        err.flush();
    }

    private static void line(PrintWriter err, String name, double s, long flops, double ref) {
        double floor = flops / ref;
        err.printf("%-11s %9.2f %10.1f %9s %9s %8s%n", name, s, flops / 1e9,
                flops == 0 ? "-" : String.format("%.1f", flops / s / 1e9),
                flops == 0 ? "-" : String.format("%.2f", floor),
                flops == 0 ? "-" : String.format("%.1f", s / floor));
    }

    private static String mib(long b) { return b < 0 ? "unknown" : String.format("%,d MiB", b >> 20); }

    static Map<String, Object> json(Profile.Result r, Rate rate) {
        double ref = rate.flopsPerSecond();
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("prefill_gflops_per_s", ref / 1e9);
        m.put("prefill_shape", List.of(rate.rows(), rate.cols(), rate.tokens()));
        List<Map<String, Object>> phases = new ArrayList<>();
        for (Profile.Line l : r.phases()) phases.add(phase(l.phase(), l.seconds(), l.flops(), ref));
        m.put("phases", phases);
        m.put("total", phase("total", r.seconds(), r.flops(), ref));
        m.put("peak_heap_bytes", r.peakHeapBytes());
        m.put("peak_resident_bytes", r.peakResidentBytes() < 0 ? null : r.peakResidentBytes());
        return m;
    }

    private static Map<String, Object> phase(String name, double s, long flops, double ref) {
        Map<String, Object> p = new LinkedHashMap<>();
        p.put("phase", name);
        p.put("seconds", s);
        p.put("flops", flops);
        p.put("gflops_per_s", s > 0 ? flops / s / 1e9 : 0);
        p.put("floor_seconds", flops / ref);
        p.put("ratio_to_floor", flops == 0 ? null : s / (flops / ref));
        return p;
    }
}
