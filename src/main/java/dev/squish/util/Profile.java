package dev.squish.util;

import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.LongAdder;

/**
 * Where compression time goes ({@code compress --profile}): wall time and floating-point
 * operations per phase, peak heap and peak resident memory.
 *
 * <p>Kernels report their work with {@link #addFlops} (always on: one {@link LongAdder} add per
 * GEMM call or per block forward, not per multiply). The pipeline marks phases with
 * {@link #enter} / {@link #exit} on its own thread; a switch charges the time and the flops
 * counted since the previous switch to the phase being left, so work done by worker threads
 * inside a phase lands in that phase. When no profile is {@link #start started} the phase calls
 * do nothing.
 */
public final class Profile implements AutoCloseable {
    public enum Phase {
        /** Block forward passes over the calibration samples (to gather statistics and to produce the next block's inputs). */
        FORWARD,
        /** Accumulating per-linear input statistics (Hessians X^T X, column norms, mean |x|). */
        STATISTICS,
        /** The methods' own work: OBS sweeps, inverse Cholesky, scale/clip searches, rounding, packing. */
        SOLVE,
        /** The per-layer reconstruction error of the report (quadratic forms through the Hessian). */
        ERROR,
        /** Writing compressed blocks to the output file. */
        WRITE,
        /** Everything else (loading, tokenizing, embedding, the non-block tensors). */
        OTHER;

        public String label() { return name().toLowerCase(java.util.Locale.ROOT); }
    }

    private static final LongAdder FLOPS = new LongAdder();
    private static volatile Profile active;

    /** Adds floating-point operations done by some kernel (2 per multiply-add). */
    public static void addFlops(long n) { FLOPS.add(n); }

    /** Floating-point operations reported since the JVM started. */
    public static long flops() { return FLOPS.sum(); }

    private final long[] nanos = new long[Phase.values().length], flops = new long[Phase.values().length],
            cpu = new long[Phase.values().length];
    private final long start, cpuStart;
    private Phase current = Phase.OTHER;
    private long since, flopsSince, cpuSince;
    private volatile long peakHeap;
    private final Thread sampler;
    /** The thread that started the profile: only it switches phases (see {@link #enter}). */
    private final Thread owner = Thread.currentThread();
    private volatile boolean running = true;

    private Profile() {
        start = since = System.nanoTime();
        flopsSince = FLOPS.sum();
        cpuStart = cpuSince = processCpuNanos();
        MemoryMXBean mem = ManagementFactory.getMemoryMXBean();
        sampler = Thread.ofPlatform().daemon().name("squish-profile").unstarted(() -> {
            // Sampled every 20 ms: a heap peak shorter than that can be missed, which the
            // per-block working sets (seconds each) are not.
            while (running) {
                peakHeap = Math.max(peakHeap, mem.getHeapMemoryUsage().getUsed());
                try { Thread.sleep(20); } catch (InterruptedException e) { return; }
            }
        });
        sampler.start();
    }

    /** Starts recording (one profile at a time per JVM); phases switch from the calling thread. */
    public static synchronized Profile start() {
        if (active != null) throw new IllegalStateException("a profile is already running");
        Profile p = new Profile();
        active = p;
        return p;
    }

    /**
     * Switches to phase p; returns the phase left (pass it to {@link #exit}), or null when not
     * profiling or when called from another thread than the one that started the profile: a Spark
     * executor running in the driver's JVM ({@code local[N]}) runs the same block code on its own
     * threads, and its phase marks would otherwise interleave with the driver's.
     */
    public static Phase enter(Phase p) {
        Profile a = active;
        return a == null || Thread.currentThread() != a.owner ? null : a.switchTo(p);
    }

    /** Returns to the phase {@link #enter} left. */
    public static void exit(Phase previous) {
        Profile a = active;
        if (a != null && previous != null) a.switchTo(previous);
    }

    private synchronized Phase switchTo(Phase p) {
        long now = System.nanoTime(), f = FLOPS.sum(), c = processCpuNanos();
        nanos[current.ordinal()] += now - since;
        flops[current.ordinal()] += f - flopsSince;
        cpu[current.ordinal()] += c - cpuSince;
        since = now;
        flopsSince = f;
        cpuSince = c;
        Phase old = current;
        current = p;
        return old;
    }

    /**
     * CPU time of this process (all threads) in nanoseconds, or -1 where the JVM cannot tell. On a
     * shared machine wall time depends on what else runs; CPU time per flop does much less.
     */
    public static long processCpuNanos() {
        if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os)
            return os.getProcessCpuTime();
        return -1;
    }

    /**
     * One phase's totals: wall seconds, flops, and CPU seconds of all threads (negative if unknown).
     * Rate in flops per wall second, floor = flops / reference rate.
     */
    public record Line(String phase, double seconds, long flops, double cpuSeconds) {
        public double rate() { return seconds > 0 ? flops / seconds : 0; }
        public double floorSeconds(double referenceRate) { return referenceRate > 0 ? flops / referenceRate : 0; }
    }

    /** The recorded phases (those that took time or flops), peak heap bytes and peak resident bytes (-1 if unknown). */
    public record Result(List<Line> phases, double seconds, long flops, double cpuSeconds, long peakHeapBytes, long peakResidentBytes) {}

    /** Stops recording and returns the totals. */
    public synchronized Result stop() {
        if (active == this) switchTo(current);
        active = null;
        running = false;
        sampler.interrupt();
        peakHeap = Math.max(peakHeap, ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed());
        List<Line> lines = new ArrayList<>();
        long total = 0;
        for (Phase p : Phase.values()) {
            if (nanos[p.ordinal()] == 0 && flops[p.ordinal()] == 0) continue;
            lines.add(new Line(p.label(), nanos[p.ordinal()] / 1e9, flops[p.ordinal()], cpuStart < 0 ? -1 : cpu[p.ordinal()] / 1e9));
            total += flops[p.ordinal()];
        }
        return new Result(lines, (System.nanoTime() - start) / 1e9, total, cpuStart < 0 ? -1 : (processCpuNanos() - cpuStart) / 1e9,
                peakHeap, residentPeak());
    }

    @Override public void close() { if (running) stop(); }

    /** VmHWM (peak resident set) of this process from /proc/self/status, in bytes; -1 where there is none. */
    public static long residentPeak() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status")))
                if (line.startsWith("VmHWM:")) return 1024L * Long.parseLong(line.replaceAll("[^0-9]", ""));
        } catch (Exception e) {
            // not Linux: unknown
        }
        return -1;
    }
}
