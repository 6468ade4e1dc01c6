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

    /**
     * The prefill rate (flops per wall second, and per CPU second of all threads; the latter 0 if
     * unknown) and the shape it was measured on.
     */
    record Rate(double flopsPerSecond, double flopsPerCpuSecond, int rows, int cols, int tokens) {}

    /**
     * Float32 flops per second of the prefill matmul ({@link DenseLinear#matmul}, the kernel the
     * forward pass runs) on a width x width matrix and {@code tokens} tokens: the best of five
     * timed batches of at least 0.2 s each after a warm-up, so that a shared machine's busy
     * moments do not lower the floor. Also per CPU second: on a loaded machine the wall-clock
     * ratio to the floor mostly measures the other jobs, while CPU seconds per flop, phase against
     * prefill, still compare the kernels.
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
        double best = 0, bestCpu = 0;
        for (int b = 0; b < 5; b++) {
            long t0 = System.nanoTime(), c0 = Profile.processCpuNanos();
            int calls = 0;
            long el;
            do { lin.matmul(x, t, y); calls++; } while ((el = System.nanoTime() - t0) < 200_000_000L);
            long cpu = Profile.processCpuNanos() - c0;
            best = Math.max(best, calls * perCall / (el / 1e9));
            if (c0 >= 0 && cpu > 0) bestCpu = Math.max(bestCpu, calls * perCall / (cpu / 1e9));
        }
        return new Rate(best, bestCpu, width, width, t);
    }

    static void print(PrintWriter err, Profile.Result r, Rate rate) {
        double ref = rate.flopsPerSecond(), refCpu = rate.flopsPerCpuSecond();
        err.printf("profile: prefill GEMM %.1f GFLOP/s, %.1f GFLOP per CPU second (float32, %dx%d x %d tokens, measured in this run)%n",
                ref / 1e9, refCpu / 1e9, rate.rows(), rate.cols(), rate.tokens());
        err.printf("%-11s %9s %9s %6s %10s %9s %9s %8s %8s%n", "phase", "seconds", "cpu s", "cores", "GFLOP", "GFLOP/s", "floor s", "x floor", "x cpu");
        for (Profile.Line l : r.phases()) line(err, l.phase(), l.seconds(), l.cpuSeconds(), l.flops(), ref, refCpu);
        line(err, "total", r.seconds(), r.cpuSeconds(), r.flops(), ref, refCpu);
        err.printf("peak heap %s, peak resident %s (VmHWM)%n", mib(r.peakHeapBytes()), mib(r.peakResidentBytes()));
        err.flush();
    }

    /** x floor: wall seconds / (flops / prefill rate); x cpu: CPU seconds / (flops / prefill flops per CPU second). */
    private static void line(PrintWriter err, String name, double s, double cpu, long flops, double ref, double refCpu) {
        double floor = flops / ref;
        boolean f = flops > 0, c = cpu >= 0;
        err.printf("%-11s %9.2f %9s %6s %10.1f %9s %9s %8s %8s%n", name, s,
                c ? String.format("%.2f", cpu) : "-", c && s > 0 ? String.format("%.2f", cpu / s) : "-",
                flops / 1e9,
                f ? String.format("%.1f", flops / s / 1e9) : "-",
                f ? String.format("%.2f", floor) : "-",
                f ? String.format("%.1f", s / floor) : "-",
                f && c && refCpu > 0 ? String.format("%.1f", cpu / (flops / refCpu)) : "-");
    }

    private static String mib(long b) { return b < 0 ? "unknown" : String.format("%,d MiB", b >> 20); }

    static Map<String, Object> json(Profile.Result r, Rate rate) {
        double ref = rate.flopsPerSecond(), refCpu = rate.flopsPerCpuSecond();
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("prefill_gflops_per_s", ref / 1e9);
        m.put("prefill_gflops_per_cpu_s", refCpu > 0 ? refCpu / 1e9 : null);
        m.put("prefill_shape", List.of(rate.rows(), rate.cols(), rate.tokens()));
        List<Map<String, Object>> phases = new ArrayList<>();
        for (Profile.Line l : r.phases()) phases.add(phase(l.phase(), l.seconds(), l.cpuSeconds(), l.flops(), ref, refCpu));
        m.put("phases", phases);
        m.put("total", phase("total", r.seconds(), r.cpuSeconds(), r.flops(), ref, refCpu));
        m.put("peak_heap_bytes", r.peakHeapBytes());
        m.put("peak_resident_bytes", r.peakResidentBytes() < 0 ? null : r.peakResidentBytes());
        return m;
    }

    private static Map<String, Object> phase(String name, double s, double cpu, long flops, double ref, double refCpu) {
        Map<String, Object> p = new LinkedHashMap<>();
        p.put("phase", name);
        p.put("seconds", s);
        p.put("cpu_seconds", cpu < 0 ? null : cpu);
        p.put("cores_busy", cpu < 0 || s <= 0 ? null : cpu / s);
        p.put("flops", flops);
        p.put("gflops_per_s", s > 0 ? flops / s / 1e9 : 0);
        p.put("floor_seconds", flops / ref);
        p.put("ratio_to_floor", flops == 0 ? null : s / (flops / ref));
        p.put("ratio_to_floor_cpu", flops == 0 || cpu < 0 || refCpu <= 0 ? null : cpu / (flops / refCpu));
        return p;
    }
}
