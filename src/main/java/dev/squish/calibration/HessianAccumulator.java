package dev.squish.calibration;

import dev.squish.util.Parallel;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

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
 * <p>The symmetric rank-k update is a hand-written Vector API kernel (a hot loop: tokens x cols^2/2
 * FMAs per layer; EJML has no SIMD kernels): rows are buffered transposed in float64, and the upper
 * triangle of {@code X^T X} is computed in 4x4 register tiles, in parallel over tile rows.
 * Not thread-safe: call {@code add} from one thread.
 */
public final class HessianAccumulator {
    private static final VectorSpecies<Double> S = DoubleVector.SPECIES_PREFERRED;
    private static final int CAP = 512; // buffered tokens per flush (multiple of the vector length)

    private final int cols, pad; // pad = cols rounded up to a multiple of 4
    private final double[] sum;  // pad x pad, upper triangle of sum_t x x^T
    private final double[] buf;  // pad x CAP, transposed token rows
    private int fill;
    private long tokens;

    public HessianAccumulator(int cols) {
        if (cols <= 0) throw new IllegalArgumentException("cols must be > 0");
        this.cols = cols;
        this.pad = (cols + 3) & ~3;
        this.sum = new double[pad * pad];
        this.buf = new double[pad * CAP];
    }

    public int cols() { return cols; }

    /** Adds n token rows, {@code x[t*cols + j]} for t < n. */
    public void add(float[] x, int n) { add(x, 0, n); }

    /** Adds n token rows starting at {@code x[off]}. */
    public void add(float[] x, int off, int n) {
        if (n < 0 || off < 0 || (long) off + (long) n * cols > x.length)
            throw new IllegalArgumentException(n + " rows of " + cols + " from offset " + off + " exceed the array (" + x.length + ")");
        int t = 0;
        while (t < n) {
            int take = Math.min(n - t, CAP - fill);
            for (int k = 0; k < take; k++) {
                int src = off + (t + k) * cols, dst = fill + k;
                for (int j = 0; j < cols; j++) buf[j * CAP + dst] = x[src + j];
            }
            fill += take;
            t += take;
            if (fill == CAP) flush();
        }
        tokens += n;
    }

    public long tokens() { return tokens; }

    /** {@code H = 2/N sum x x^T} as a full symmetric row-major cols x cols array (zeros if no tokens). */
    public double[] hessian() {
        flush();
        double[] h = new double[cols * cols];
        if (tokens == 0) return h;
        double f = 2.0 / tokens;
        for (int i = 0; i < cols; i++) {
            for (int j = i; j < cols; j++) {
                double v = f * sum[i * pad + j];
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
        for (int j = 0; j < cols; j++) d[j] = sum[j * pad + j];
        return d;
    }

    private void flush() {
        if (fill == 0) return;
        int len = (fill + S.length() - 1) / S.length() * S.length();
        for (int j = 0; j < cols; j++) for (int t = fill; t < len; t++) buf[j * CAP + t] = 0;
        int tiles = pad / 4;
        int pairs = (tiles + 1) / 2;
        // tile row ti costs (tiles - ti) tiles: pair ti with tiles-1-ti so that every task is equal
        Parallel.forRange(pairs, 1, (p0, p1) -> {
            for (int p = p0; p < p1; p++) {
                tileRow(p * 4, len);
                int q = tiles - 1 - p;
                if (q != p) tileRow(q * 4, len);
            }
        });
        fill = 0;
    }

    private void tileRow(int i, int len) {
        for (int j = i; j < pad; j += 4) tile(i, j, len);
    }

    private void tile(int i, int j, int len) {
        double[] b = buf;
        int a0 = i * CAP, a1 = a0 + CAP, a2 = a1 + CAP, a3 = a2 + CAP;
        int b0 = j * CAP, b1 = b0 + CAP, b2 = b1 + CAP, b3 = b2 + CAP;
        DoubleVector c00 = DoubleVector.zero(S), c01 = c00, c02 = c00, c03 = c00;
        DoubleVector c10 = c00, c11 = c00, c12 = c00, c13 = c00;
        DoubleVector c20 = c00, c21 = c00, c22 = c00, c23 = c00;
        DoubleVector c30 = c00, c31 = c00, c32 = c00, c33 = c00;
        for (int t = 0; t < len; t += S.length()) {
            DoubleVector y0 = DoubleVector.fromArray(S, b, b0 + t), y1 = DoubleVector.fromArray(S, b, b1 + t);
            DoubleVector y2 = DoubleVector.fromArray(S, b, b2 + t), y3 = DoubleVector.fromArray(S, b, b3 + t);
            DoubleVector x = DoubleVector.fromArray(S, b, a0 + t);
            c00 = x.fma(y0, c00); c01 = x.fma(y1, c01); c02 = x.fma(y2, c02); c03 = x.fma(y3, c03);
            x = DoubleVector.fromArray(S, b, a1 + t);
            c10 = x.fma(y0, c10); c11 = x.fma(y1, c11); c12 = x.fma(y2, c12); c13 = x.fma(y3, c13);
            x = DoubleVector.fromArray(S, b, a2 + t);
            c20 = x.fma(y0, c20); c21 = x.fma(y1, c21); c22 = x.fma(y2, c22); c23 = x.fma(y3, c23);
            x = DoubleVector.fromArray(S, b, a3 + t);
            c30 = x.fma(y0, c30); c31 = x.fma(y1, c31); c32 = x.fma(y2, c32); c33 = x.fma(y3, c33);
        }
        double[] s = sum;
        int r0 = i * pad + j, r1 = r0 + pad, r2 = r1 + pad, r3 = r2 + pad;
        s[r0] += c00.reduceLanes(VectorOperators.ADD); s[r0 + 1] += c01.reduceLanes(VectorOperators.ADD);
        s[r0 + 2] += c02.reduceLanes(VectorOperators.ADD); s[r0 + 3] += c03.reduceLanes(VectorOperators.ADD);
        s[r1] += c10.reduceLanes(VectorOperators.ADD); s[r1 + 1] += c11.reduceLanes(VectorOperators.ADD);
        s[r1 + 2] += c12.reduceLanes(VectorOperators.ADD); s[r1 + 3] += c13.reduceLanes(VectorOperators.ADD);
        s[r2] += c20.reduceLanes(VectorOperators.ADD); s[r2 + 1] += c21.reduceLanes(VectorOperators.ADD);
        s[r2 + 2] += c22.reduceLanes(VectorOperators.ADD); s[r2 + 3] += c23.reduceLanes(VectorOperators.ADD);
        s[r3] += c30.reduceLanes(VectorOperators.ADD); s[r3 + 1] += c31.reduceLanes(VectorOperators.ADD);
        s[r3 + 2] += c32.reduceLanes(VectorOperators.ADD); s[r3 + 3] += c33.reduceLanes(VectorOperators.ADD);
    }
}
