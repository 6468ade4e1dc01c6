package dev.squish.methods.prune;

/**
 * First and second moments of one linear layer's input features over all calibration tokens:
 * per input column j the sum of x_j and of x_j^2. What OWL (Wanda's ||X_j||), DSnoT (the mean
 * and variance of each feature) and FLAP (the mean for its bias, the variance for its fluctuation
 * metric) need, in O(cols) memory instead of a cols x cols Hessian.
 */
public final class Moments {
    public final int cols;
    final double[] sum, sumSq;
    long tokens;

    public Moments(int cols) {
        this.cols = cols;
        sum = new double[cols];
        sumSq = new double[cols];
    }

    /** Adds n rows of cols values. */
    public void add(float[] x, int n) {
        if (x.length < (long) n * cols) throw new IllegalArgumentException("need " + n + "x" + cols + " values, got " + x.length);
        for (int t = 0; t < n; t++) {
            int o = t * cols;
            for (int j = 0; j < cols; j++) {
                double v = x[o + j];
                sum[j] += v;
                sumSq[j] += v * v;
            }
        }
        tokens += n;
    }

    public long tokens() { return tokens; }

    /** ||X_j||_2^2 = sum over tokens of x_j^2 (Wanda's score uses its root). */
    public double[] normSq() { return sumSq.clone(); }

    public double[] mean() {
        double[] m = new double[cols];
        for (int j = 0; j < cols; j++) m[j] = tokens == 0 ? 0 : sum[j] / tokens;
        return m;
    }

    /**
     * Population variance over tokens (the reference DSnoT's running {@code var} with
     * {@code unbiased=False}; FLAP's fluctuation is this up to a factor common to all features,
     * which its per-layer standardization removes).
     */
    public double[] variance() {
        double[] v = new double[cols];
        for (int j = 0; j < cols; j++) {
            if (tokens == 0) continue;
            double m = sum[j] / tokens;
            v[j] = Math.max(0, sumSq[j] / tokens - m * m);
        }
        return v;
    }
}
