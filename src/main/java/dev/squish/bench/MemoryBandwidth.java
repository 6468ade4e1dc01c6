package dev.squish.bench;

import dev.squish.util.Parallel;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * Read bandwidth of main memory, measured the way decode uses it: all threads stream a large
 * off-heap array (far larger than the last-level cache) once per pass through Vector API loads,
 * summing it so the loads cannot be elided. Hand-written because it must use the same load path
 * as the weight kernels; the result is the bound decode speed is judged against.
 */
public final class MemoryBandwidth {
    private MemoryBandwidth() {}

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final long CHUNK = 1L << 20;
    private static volatile float sink;

    /**
     * Read bandwidth in bytes per second: wall = the best pass; cpu = all passes' bytes per
     * (process CPU seconds / threads), which other processes on a shared machine distort less.
     */
    public record Result(double wall, double cpu) {}

    /** Streams an array of the given size passes times with the given number of threads working. */
    public static Result measure(long bytes, int passes, int threads) {
        long size = Math.max(CHUNK, bytes / CHUNK * CHUNK);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment seg = arena.allocate(size, 64);
            // touch every page with non-zero data so the reads hit real memory
            for (long o = 0; o < size; o += 4096) seg.set(java.lang.foreign.ValueLayout.JAVA_BYTE, o, (byte) 1);
            int chunks = (int) (size / CHUNK);
            double best = 0;
            long cpu0 = 0;
            int warm = 3;   // passes before the CPU clock starts: JIT compilation runs on other threads then
            for (int p = 0; p < warm + passes; p++) {
                if (p == warm) cpu0 = cpuNanos();
                float[] sums = new float[chunks];
                long t0 = System.nanoTime();
                Parallel.forRange(chunks, 1, (c0, c1) -> {
                    for (int c = c0; c < c1; c++) sums[c] = sum(seg, c * CHUNK, CHUNK);
                });
                long dt = System.nanoTime() - t0;
                float s = 0;
                for (float v : sums) s += v;
                sink += s;
                best = Math.max(best, size / (dt / 1e9));
            }
            long cpu = cpuNanos() - cpu0;
            return new Result(best, cpu > 0 ? (double) size * passes / (cpu / 1e9 / threads) : Double.NaN);
        }
    }

    static long cpuNanos() {
        return java.lang.management.ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os
                ? os.getProcessCpuTime() : -1;
    }

    private static float sum(MemorySegment seg, long off, long len) {
        int step = S.vectorByteSize();
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
        ByteOrder le = ByteOrder.LITTLE_ENDIAN;
        for (long o = off, end = off + len; o < end; o += 4L * step) {
            a0 = a0.add(FloatVector.fromMemorySegment(S, seg, o, le));
            a1 = a1.add(FloatVector.fromMemorySegment(S, seg, o + step, le));
            a2 = a2.add(FloatVector.fromMemorySegment(S, seg, o + 2L * step, le));
            a3 = a3.add(FloatVector.fromMemorySegment(S, seg, o + 3L * step, le));
        }
        return a0.add(a1).add(a2.add(a3)).reduceLanes(VectorOperators.ADD);
    }
}
