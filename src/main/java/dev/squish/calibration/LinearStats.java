package dev.squish.calibration;

import dev.squish.calibration.HessianAccumulator;

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
    }

    void add(float[] x, int n) {
        hessian.add(x, n);
        for (int t = 0; t < n; t++) for (int j = 0; j < cols; j++) absSum[j] += Math.abs(x[t * cols + j]);
    }

    public long tokens() { return hessian.tokens(); }

    /** Mean |x_j| per input channel. */
    public double[] meanAbs() {
        double[] m = new double[cols];
        long n = Math.max(1, tokens());
        for (int j = 0; j < cols; j++) m[j] = absSum[j] / n;
        return m;
    }

    /**
     * Relative reconstruction error ||(W - W') X||_F / ||W X||_F on the calibration inputs,
     * computed from H (proportional to X X^T) without keeping X.
     */
    public double relativeError(float[] w, float[] w2, int rows) {
        double[] h = hessian.hessian();
        double num = 0, den = 0;
        double[] d = new double[cols], a = new double[cols];
        for (int r = 0; r < rows; r++) {
            for (int j = 0; j < cols; j++) { a[j] = w[r * cols + j]; d[j] = a[j] - w2[r * cols + j]; }
            num += quad(h, d);
            den += quad(h, a);
        }
        return den <= 0 ? 0 : Math.sqrt(Math.max(0, num) / den);
    }

    private double quad(double[] h, double[] v) {
        double s = 0;
        for (int i = 0; i < cols; i++) {
            if (v[i] == 0) continue;
            double row = 0;
            int o = i * cols;
            for (int j = 0; j < cols; j++) row += h[o + j] * v[j];
            s += v[i] * row;
        }
        return s;
    }
}
