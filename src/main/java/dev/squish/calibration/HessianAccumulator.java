package dev.squish.calibration;

import dev.squish.util.Blas;

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
    /** Buffered tokens per flush: the GEMM depth (two KC panels). */
    private static final int CAP = 2 * Blas.KC;

    private final int cols;
    private final double[] sum;  // cols x cols, upper triangle of sum_t x x^T
    private double[] buf;        // CAP x cols, token rows (allocated on first add)
    private int fill;
    private long tokens;

    public HessianAccumulator(int cols) {
        if (cols <= 0) throw new IllegalArgumentException("cols must be > 0");
        this.cols = cols;
        this.sum = new double[cols * cols];
    }

    public int cols() { return cols; }

    /** Adds n token rows, {@code x[t*cols + j]} for t < n. */
    public void add(float[] x, int n) { add(x, 0, n); }

    /** Adds n token rows starting at {@code x[off]}. */
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
        tokens += n;
    }

    public long tokens() { return tokens; }

    /**
     * Adds another accumulator's tokens (a disjoint part of the calibration set) to this one:
     * the sums add, so the Hessian of the union is exact up to the order of the additions.
     */
    public void merge(HessianAccumulator other) {
        if (other.cols != cols) throw new IllegalArgumentException("cannot merge " + other.cols + " columns into " + cols);
        flush();
        other.flush();
        for (int i = 0; i < cols; i++) for (int j = i; j < cols; j++) sum[i * cols + j] += other.sum[i * cols + j];
        tokens += other.tokens;
    }

    /** {@code H = 2/N sum x x^T} as a full symmetric row-major cols x cols array (zeros if no tokens). */
    public double[] hessian() {
        flush();
        double[] h = new double[cols * cols];
        if (tokens == 0) return h;
        double f = 2.0 / tokens;
        for (int i = 0; i < cols; i++) {
            for (int j = i; j < cols; j++) {
                double v = f * sum[i * cols + j];
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
        for (int j = 0; j < cols; j++) d[j] = sum[j * cols + j];
        return d;
    }

    /** Adds the buffered tokens to the sum now (reading does it anyway; the pipeline calls it to time statistics apart). */
    public void flush() {
        if (fill == 0) return;
        Blas.gemm(true, false, cols, cols, fill, 1.0, buf, 0, cols, buf, 0, cols, sum, 0, cols, Blas.Tri.UPPER, true);
        fill = 0;
    }
}
