package dev.squish.bench;

import dev.squish.SquishException;
import dev.squish.weights.Bf16DenseLinear;
import dev.squish.weights.DenseLinear;
import dev.squish.weights.Linear;
import dev.squish.weights.LowRankLinear;
import dev.squish.weights.NMSparseLinear;
import dev.squish.weights.QuantizedLinear;
import dev.squish.weights.SparseLinear;
import dev.squish.weights.SparseQuantizedLinear;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The weight formats {@code squish bench} measures, and how a dense matrix becomes each of them:
 * magnitude pruning for the sparse formats, round-to-nearest for the quantized ones, truncated
 * SVD (or random factors, see {@link #LOWRANK_50}) for low-rank. The point is speed: these are the
 * formats {@code squish compress} produces, filled with the simplest compression of the same
 * weights, so that every row of the table reads the same model.
 */
public enum BenchFormat {
    DENSE_F32("dense-f32", "float32, row-major"),
    DENSE_BF16("dense-bf16", "bfloat16"),
    SPARSE_50("sparse-50", "50% unstructured (magnitude), bitmask + values"),
    SPARSE_70("sparse-70", "70% unstructured (magnitude), bitmask + values"),
    NM_2_4("2:4", "2 of every 4 (magnitude), packed values + 2-bit indices"),
    INT8("int8-g128", "8-bit round-to-nearest, groups of 128"),
    INT4("int4-g128", "4-bit round-to-nearest, groups of 128"),
    SPARSE_50_INT4("sparse-50-int4", "50% unstructured + 4-bit codes of the survivors, groups of 128"),
    /**
     * Rank k with k (rows + cols) = rows * cols / 2. Matrices up to {@link #SVD_LIMIT} entries are
     * factorized by SVD; larger ones get random factors of the same shapes (an SVD of every matrix
     * of a 1B model takes far longer than the benchmark, and speed does not depend on the values).
     */
    LOWRANK_50("lowrank-0.5", "low-rank A(rows x k) B(k x cols), half the parameters"),
    /**
     * A model folder as compressed: its own formats and run-time sparsity (TEAL thresholds, CATS,
     * MoE-ified MLPs), which no conversion from dense weights can reproduce. Only on request
     * ({@code --formats dense-f32,stored}), and only for a folder.
     */
    STORED("stored", "the folder's own formats and run-time sparsity, as compressed (folders only, on request)");

    /** Entries up to which low-rank factors come from an SVD of the weights. */
    public static final long SVD_LIMIT = 1L << 18;

    public final String id;
    public final String description;

    BenchFormat(String id, String description) { this.id = id; this.description = description; }

    public static BenchFormat parse(String id) {
        for (BenchFormat f : values()) if (f.id.equalsIgnoreCase(id.strip())) return f;
        throw new SquishException("unknown format '" + id + "' (known: " + String.join(", ", ids()) + ")");
    }

    /** What {@code bench} measures when no {@code --formats} is given: every format made from dense weights. */
    public static List<BenchFormat> defaults() {
        List<BenchFormat> out = new ArrayList<>(Arrays.asList(values()));
        out.remove(STORED);
        return out;
    }

    public static List<String> ids() {
        List<String> out = new ArrayList<>();
        for (BenchFormat f : values()) out.add(f.id);
        return out;
    }

    /**
     * Converts a dense row-major matrix w [rows x cols] (which it may overwrite) into this format.
     * Dense float32 is copied into {@code arena} (off the Java heap); seed drives random low-rank
     * factors.
     */
    public Linear make(float[] w, int rows, int cols, Arena arena, long seed) {
        return switch (this) {
            case DENSE_F32 -> offHeap(w, rows, cols, arena);
            case DENSE_BF16 -> Bf16DenseLinear.fromDense(w, rows, cols);
            case SPARSE_50 -> SparseLinear.fromDense(prune(w, 0.5), rows, cols);
            case SPARSE_70 -> SparseLinear.fromDense(prune(w, 0.7), rows, cols);
            case NM_2_4 -> NMSparseLinear.fromDense(pruneNm(w, cols, 2, 4), rows, cols, 2, 4);
            case INT8 -> QuantizedLinear.quantizeRtn(w, rows, cols, 8, 128, false);
            case INT4 -> QuantizedLinear.quantizeRtn(w, rows, cols, 4, 128, false);
            case SPARSE_50_INT4 -> SparseQuantizedLinear.quantizeRtn(prune(w, 0.5), rows, cols, 4, 128, false);
            case LOWRANK_50 -> lowRank(w, rows, cols, seed);
            case STORED -> throw new IllegalStateException("stored weights are not made from dense ones");
        };
    }

    public static DenseLinear offHeap(float[] w, int rows, int cols, Arena arena) {
        MemorySegment seg = arena.allocate(4L * rows * cols, 64);
        MemorySegment.copy(w, 0, seg, ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0, w.length);
        return new DenseLinear(rows, cols, seg);
    }

    /** Rank that keeps half the parameters: k (rows + cols) = rows * cols / 2, at least 1. */
    public static int halfRank(int rows, int cols) {
        return (int) Math.max(1, (long) rows * cols / (2L * (rows + cols)));
    }

    private static Linear lowRank(float[] w, int rows, int cols, long seed) {
        int k = halfRank(rows, cols);
        if ((long) rows * cols <= SVD_LIMIT) return LowRankLinear.fromDense(w, rows, cols, k);
        // Random factors whose product has the spread of w: std(AB) = s^2 sqrt(k).
        double std = std(w);
        float s = (float) Math.sqrt(std / Math.sqrt(k));
        float[] a = new float[rows * k], b = new float[k * cols];
        SyntheticWeights.fill(a, s, seed);
        SyntheticWeights.fill(b, s, seed ^ 0x5DEECE66DL);
        return LowRankLinear.of(a, b, rows, k, cols);
    }

    private static double std(float[] w) {
        double ss = 0;
        for (float v : w) ss += (double) v * v;
        return Math.sqrt(ss / Math.max(1, w.length));
    }

    /**
     * Magnitude pruning in place: zeroes the entries whose |w| is below the sparsity quantile of
     * |w| (taken exactly from a sort for matrices up to 2^16 entries, else from a fixed-stride sample
     * of 2^16 of them, which for large matrices lands within a fraction of a percent).
     */
    static float[] prune(float[] w, double sparsity) {
        int n = w.length, sample = Math.min(n, 1 << 16);
        float[] a = new float[sample];
        long stride = Math.max(1, n / sample);
        for (int i = 0; i < sample; i++) a[i] = Math.abs(w[(int) Math.min(n - 1, i * stride)]);
        Arrays.sort(a);
        int k = (int) Math.round(sparsity * sample);
        if (k == 0) return w;
        float t = a[k - 1];
        if (sample == n) {
            // exact count: prune everything below t, then ties at t in order until k are gone
            int below = 0;
            for (float v : w) if (Math.abs(v) < t) below++;
            int ties = k - below;
            for (int i = 0; i < n; i++) {
                float m = Math.abs(w[i]);
                if (m < t) w[i] = 0;
                else if (m == t && ties > 0) { w[i] = 0; ties--; }
            }
        } else {
            for (int i = 0; i < n; i++) if (Math.abs(w[i]) <= t) w[i] = 0;
        }
        return w;
    }

    /** N:M pruning in place: in every group of m consecutive columns keep the n largest |w|. */
    static float[] pruneNm(float[] w, int cols, int n, int m) {
        if (cols % m != 0) throw new SquishException("2:4 sparsity needs every input width to be a multiple of 4, got " + cols);
        boolean[] dropped = new boolean[m];
        for (int g = 0; g < w.length; g += m) {
            Arrays.fill(dropped, false);
            for (int drop = 0; drop < m - n; drop++) {
                int best = -1;
                for (int j = 0; j < m; j++)
                    if (!dropped[j] && (best < 0 || Math.abs(w[g + j]) < Math.abs(w[g + best]))) best = j;
                dropped[best] = true;
                w[g + best] = 0;
            }
        }
        return w;
    }

    static long seed(long base, int layer, String name) {
        return new SplittableRandom(base * 1_000_003L + layer * 7919L + name.hashCode()).nextLong();
    }
}
