package dev.squish.methods;

import java.util.Arrays;

/**
 * Magnitudes of one input's entries over the calibration tokens, kept whole up to a budget and
 * thinned by a fixed token stride beyond it (128 x 256 tokens of a 5,632-wide input are 185M
 * values; 4M give the quantile to within about 0.05% of the fraction, as the binomial error
 * sqrt(p (1 - p) / N) says, far inside the 1% the thresholds are held to).
 */
final class ActivationSample {
    static final int BUDGET = 1 << 22;

    private final int stride;
    private float[] v = new float[1024];
    private int n;
    private long tokens;
    private float[] sorted;   // cached by threshold(), dropped by add()

    /** For about {@code expectedValues} entries in all (tokens times width). */
    ActivationSample(long expectedValues) {
        this.stride = (int) Math.max(1, (expectedValues + BUDGET - 1) / BUDGET);
    }

    /** Adds the magnitudes of rows of x ([rows, cols]), one row in every {@code stride}. */
    void add(float[] x, int rows, int cols) {
        sorted = null;
        for (int t = 0; t < rows; t++, tokens++) {
            if (tokens % stride != 0) continue;
            if (n + cols > v.length) v = Arrays.copyOf(v, Math.max(v.length * 2, n + cols));
            for (int j = 0; j < cols; j++) v[n++] = Math.abs(x[t * cols + j]);
        }
    }

    int size() { return n; }

    /**
     * The threshold t such that a fraction {@code f} of the sampled magnitudes is at most t (the
     * entries {@code |x| <= t} are zeroed at run time): the k-th smallest for k = round(f * N), and
     * 0 for k = 0 (then only exact zeros are skipped, which changes nothing).
     */
    float threshold(double f) {
        if (n == 0) return 0f;
        int k = (int) Math.round(f * n);
        if (k <= 0) return 0f;
        if (sorted == null) { sorted = Arrays.copyOf(v, n); Arrays.sort(sorted); }
        return sorted[Math.min(k, n) - 1];
    }

    /** Fraction of sampled magnitudes at most t. */
    double fractionAtMost(float t) {
        long c = 0;
        for (int i = 0; i < n; i++) if (v[i] <= t) c++;
        return n == 0 ? 0 : (double) c / n;
    }
}
