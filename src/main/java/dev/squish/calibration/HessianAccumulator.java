package dev.squish.calibration;

import dev.squish.util.Blas;
import dev.squish.util.Parallel;

/**
 * Streaming layer Hessian {@code H = 2/N * sum_t x_t x_t^T} of one linear layer with {@code cols}
 * inputs, over N calibration token rows, plus the per-input squared norms
 * {@code sum_t x_tj^2} (Wanda's {@code ||X_j||_2^2}).
 *
 * <p>The reference ({@code add_batch} in IST-DASLab/sparsegpt and gptq) keeps a float32 running
 * average: {@code H *= N/(N+n); N += n; inp = sqrt(2/N) * inp; H += inp inp^T}, which after
 * any sequence of batches equals {@code 2/N * sum x x^T}. Here the un-normalized sum is kept in
 * float64 and scaled by {@code 2/N} when read: the same value, without the repeated rescaling
 * (which only keeps float32 magnitudes bounded). N counts token rows; the reference counts
 * sequences (its batch dimension). The scale of H cancels out in SparseGPT and GPTQ (the
 * dampening is relative to mean(diag H), and the updates use ratios of H^-1 entries), so this
 * does not change any result.
 *
 * <p>The symmetric rank-k update ({@code tokens x cols^2} multiply-adds per layer, the largest
 * cost of statistics) is a triangle-mode {@link Blas#gemm}: token rows are buffered in float64
 * (CAP of them, so each GEMM call has depth CAP) and {@code X^T X} is added to the upper triangle.
 * Accumulators over disjoint sets of tokens {@link #merge} by adding their sums, so Hessians
 * computed on partitions of the calibration set reduce to the one-pass Hessian.
 * Not thread-safe: call {@code add} from one thread.
 */
public final class HessianAccumulator {
    /** Buffered tokens per GEMM: the GEMM depth (two KC panels). */
    private static final int CAP = 2 * Blas.KC;

    private final int cols;
    // The sum over chunks is kept as an unevaluated pair hi + lo (TwoSum, "double-double", about
    // 106 bits), where a chunk is the rows of one add call (one calibration sample), at most CAP at
    // a time. Each chunk's own sum is one GEMM in a fixed order; adding chunks in double-double is
    // exact to ~2^-106, so hi + lo rounds to the same double whatever the order of the chunks and
    // however they are grouped: partial statistics from a cluster's partitions (Spark) then give
    // bit for bit the one-pass Hessian, which GPTQ's and SparseGPT's rounding decisions need (a
    // difference of one ulp in H flips some weights to the next grid point, and the next blocks'
    // inputs then diverge). Costs a second cols x cols array (and a per-thread scratch) and ~6 flops per entry per chunk
    // (about a tenth of a 64-token chunk's GEMM, less for longer samples).
    private final double[] sum;  // cols x cols, upper triangle: hi
    private double[] lo;         // the low parts (allocated on first flush)
    private double[] buf;        // CAP x cols, token rows (allocated on first add)
    /**
     * The current chunk's GEMM result (cols x cols, upper triangle), one array per thread shared by
     * all accumulators (one flush runs at a time per thread; a soft reference, so an idle thread's
     * 250 MB at 5632 columns can go): the four accumulators of a block then hold two arrays each
     * instead of three.
     */
    private static final ThreadLocal<java.lang.ref.SoftReference<double[]>> CHUNK = new ThreadLocal<>();

    private static double[] chunk(int size) {
        var ref = CHUNK.get();
        double[] c = ref == null ? null : ref.get();
        if (c == null || c.length < size) {
            c = new double[size];
            CHUNK.set(new java.lang.ref.SoftReference<>(c));
        }
        return c;
    }
    private int fill;
    private long tokens;

    public HessianAccumulator(int cols) {
        if (cols <= 0) throw new IllegalArgumentException("cols must be > 0");
        this.cols = cols;
        this.sum = new double[cols * cols];
    }

    public int cols() { return cols; }

    /** Adds n token rows, {@code x[t*cols + j]} for t < n (one chunk: see the class comment). */
    public void add(float[] x, int n) { add(x, 0, n); }

    /** Adds n token rows starting at {@code x[off]}, as one chunk. */
    public void add(float[] x, int off, int n) {
        if (n < 0 || off < 0 || (long) off + (long) n * cols > x.length)
            throw new IllegalArgumentException(n + " rows of " + cols + " from offset " + off + " exceed the array (" + x.length + ")");
        if (buf == null && n > 0) buf = new double[CAP * cols];
        int t = 0;
        while (t < n) {
            int take = Math.min(n - t, CAP - fill);
            int src = off + t * cols, dst = fill * cols, len = take * cols;
            for (int k = 0; k < len; k++) buf[dst + k] = x[src + k];
            fill += take;
            t += take;
            if (fill == CAP) flush();
        }
        flush();
        tokens += n;
    }

    public long tokens() { return tokens; }

    /**
     * Adds another accumulator's tokens (a disjoint part of the calibration set) to this one:
     * the sums add (in double-double), so the Hessian of the union is the one-pass Hessian.
     */
    public void merge(HessianAccumulator other) {
        if (other.cols != cols) throw new IllegalArgumentException("cannot merge " + other.cols + " columns into " + cols);
        flush();
        other.flush();
        if (other.lo == null && other.tokens == 0) return;
        if (lo == null) lo = new double[cols * cols];
        for (int i = 0; i < cols; i++)
            for (int j = i; j < cols; j++) {
                int k = i * cols + j;
                twoSum(k, other.sum[k]);
                if (other.lo != null) lo[k] += other.lo[k];
            }
        tokens += other.tokens;
    }

    /** sum[k] + lo[k] += v, keeping the rounding error of the high part in lo. */
    private void twoSum(int k, double v) {
        double a = sum[k], s = a + v, bb = s - a;
        sum[k] = s;
        lo[k] += (a - (s - bb)) + (v - bb);
    }

    private double value(int k) { return lo == null ? sum[k] : sum[k] + lo[k]; }

    /** {@code H = 2/N sum x x^T} as a full symmetric row-major cols x cols array (zeros if no tokens). */
    public double[] hessian() {
        flush();
        double[] h = new double[cols * cols];
        if (tokens == 0) return h;
        double f = 2.0 / tokens;
        for (int i = 0; i < cols; i++) {
            for (int j = i; j < cols; j++) {
                double v = f * value(i * cols + j);
                h[i * cols + j] = v;
                h[j * cols + i] = v;
            }
        }
        return h;
    }

    /** {@code sum_t x_tj^2} per input column j (Wanda's squared {@code ||X_j||_2}). */
    public double[] columnNormsSquared() {
        flush();
        double[] d = new double[cols];
        for (int j = 0; j < cols; j++) d[j] = value(j * cols + j);
        return d;
    }

    /** The upper triangles of the high and low parts of {@code sum x x^T}, row by row ({@code cols (cols + 1) / 2} values each): the partial sums a worker sends. */
    public double[][] packedSums() {
        flush();
        int n = cols * (cols + 1) / 2;
        double[] hi = new double[n], low = new double[n];
        int k = 0;
        for (int i = 0; i < cols; i++) {
            System.arraycopy(sum, i * cols + i, hi, k, cols - i);
            if (lo != null) System.arraycopy(lo, i * cols + i, low, k, cols - i);
            k += cols - i;
        }
        return new double[][]{hi, low};
    }

    /** An accumulator holding the sums of {@link #packedSums} over {@code tokens} token rows. */
    public static HessianAccumulator ofPackedSums(int cols, double[] hi, double[] low, long tokens) {
        int n = cols * (cols + 1) / 2;
        if (hi.length != n || low.length != n) throw new IllegalArgumentException(hi.length + " sums for " + cols + " columns");
        HessianAccumulator h = new HessianAccumulator(cols);
        h.lo = new double[cols * cols];
        int k = 0;
        for (int i = 0; i < cols; i++) {
            System.arraycopy(hi, k, h.sum, i * cols + i, cols - i);
            System.arraycopy(low, k, h.lo, i * cols + i, cols - i);
            k += cols - i;
        }
        h.tokens = tokens;
        return h;
    }

    /** Adds the buffered tokens (one chunk) to the sum now. */
    public void flush() {
        if (fill == 0) return;
        if (lo == null) lo = new double[cols * cols];
        double[] chunk = chunk(cols * cols);
        // Zeroing and the double-double add stream three cols x cols triangles (190 MB at 5632
        // columns) per chunk: split over the cores by rows (each entry on its own, so the result
        // does not depend on the split); one thread did them after every sample's GEMM.
        Parallel.forRange(cols, Parallel.rowGrain(cols), (i0, i1) -> {
            for (int i = i0; i < i1; i++) java.util.Arrays.fill(chunk, i * cols + i, (i + 1) * cols, 0.0);
        });
        Blas.gemm(true, false, cols, cols, fill, 1.0, buf, 0, cols, buf, 0, cols, chunk, 0, cols, Blas.Tri.UPPER, true);
        Parallel.forRange(cols, Parallel.rowGrain(cols), (i0, i1) -> {
            for (int i = i0; i < i1; i++)
                for (int j = i; j < cols; j++) twoSum(i * cols + j, chunk[i * cols + j]);
        });
        fill = 0;
    }
}
