package dev.squish.calibration;

import dev.squish.util.Blas;

/**
 * Statistics of one linear layer's inputs over all calibration tokens: the Hessian
 * H = 2/N sum x x^T (streamed as the reference implementations do), squared column norms, and
 * the mean absolute value per input channel (AWQ's activation scale).
 */
public final class LinearStats {
    public final HessianAccumulator hessian;
    public final double[] absSum;
    public final int cols;

    public LinearStats(int cols) {
        this.cols = cols;
        this.hessian = new HessianAccumulator(cols);
        this.absSum = new double[cols];
        this.absLow = new double[cols];
    }

    /** Low parts of absSum (see {@link HessianAccumulator}: chunk sums added in double-double, so partial statistics reduce exactly). */
    private final double[] absLow;

    void add(float[] x, int n) {
        hessian.add(x, n);
        double[] c = new double[cols];
        for (int t = 0; t < n; t++) for (int j = 0; j < cols; j++) c[j] += Math.abs(x[t * cols + j]);
        for (int j = 0; j < cols; j++) {
            double a = absSum[j], s = a + c[j], bb = s - a;
            absSum[j] = s;
            absLow[j] += (a - (s - bb)) + (c[j] - bb);
        }
    }

    public long tokens() { return hessian.tokens(); }

    /**
     * The sums behind these statistics, as a worker that saw part of the calibration set sends
     * them: the upper triangle of {@code sum x x^T}, {@code sum |x_j|} and the token count. Sums
     * over disjoint parts add to the sums over the whole, so partial statistics {@link #merge}
     * into the one-pass statistics (up to the order of floating-point additions).
     */
    public record Sums(int cols, long tokens, double[] hessianHigh, double[] hessianLow, double[] absHigh, double[] absLow) implements java.io.Serializable {}

    public Sums sums() {
        double[][] h = hessian.packedSums();
        return new Sums(cols, tokens(), h[0], h[1], absSum.clone(), absLow.clone());
    }

    /** Statistics holding the given sums. */
    public static LinearStats of(Sums s) {
        if (s.absHigh().length != s.cols() || s.absLow().length != s.cols())
            throw new IllegalArgumentException(s.absHigh().length + " column sums for " + s.cols() + " columns");
        return new LinearStats(s.cols(), HessianAccumulator.ofPackedSums(s.cols(), s.hessianHigh(), s.hessianLow(), s.tokens()),
                s.absHigh().clone(), s.absLow().clone());
    }

    private LinearStats(int cols, HessianAccumulator h, double[] absSum, double[] absLow) {
        this.cols = cols;
        this.hessian = h;
        this.absSum = absSum;
        this.absLow = absLow;
    }

    /** Adds the statistics of another, disjoint part of the calibration set (exactly: see {@link HessianAccumulator}). */
    public void merge(LinearStats other) {
        hessian.merge(other.hessian);
        for (int j = 0; j < cols; j++) {
            double a = absSum[j], v = other.absSum[j], s = a + v, bb = s - a;
            absSum[j] = s;
            absLow[j] += (a - (s - bb)) + (v - bb) + other.absLow[j];
        }
    }

    /** Completes the accumulation of buffered tokens. */
    void flush() { hessian.flush(); }

    /** Mean |x_j| per input channel. */
    public double[] meanAbs() {
        double[] m = new double[cols];
        long n = Math.max(1, tokens());
        for (int j = 0; j < cols; j++) m[j] = (absSum[j] + absLow[j]) / n;
        return m;
    }

    /**
     * Relative reconstruction error ||(W - W') X||_F / ||W X||_F on the calibration inputs,
     * computed from H (proportional to X X^T) without keeping X: {@code sum_r d_r H d_r^T} over
     * rows, by {@link Blas#quadFormsFloat}: two quadratic forms over H's upper triangle, about
     * {@code 2 * rows * cols^2} flops (130 GFLOP for a 2048 x 5632 down projection, against 260 for
     * the full products, which a scalar loop ran at about 1 GFLOP/s), with float32 products at twice
     * float64's lanes. It only goes into the report, never into a decision, so float32 products
     * (float64 sums) suffice: the fixture's reported errors moved by at most 1.7e-8 relative.
     */
    public double relativeError(float[] w, float[] w2, int rows) { return relativeError(w, w2, rows, cols, hessian.hessian()); }

    /** The same for inputs with second moment h (cols x cols, row-major), e.g. gathered by a method itself. */
    public static double relativeError(float[] w, float[] w2, int rows, int cols, double[] h) {
        double den = Blas.quadFormsFloat(h, cols, rows, (r, dst, off) -> {
            for (int j = 0; j < cols; j++) dst[off + j] = w[r * cols + j];
        });
        double num = Blas.quadFormsFloat(h, cols, rows, (r, dst, off) -> {
            for (int j = 0; j < cols; j++) dst[off + j] = (double) w[r * cols + j] - w2[r * cols + j];
        });
        return den <= 0 ? 0 : Math.sqrt(Math.max(0, num) / den);
    }
}
