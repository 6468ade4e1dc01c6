package dev.squish.methods;

import dev.squish.calibration.HessianAccumulator;

import java.util.Random;

/** Random problems for the method tests: weights and calibration inputs with correlated columns. */
final class TestData {
    private TestData() {}

    static float[] gaussian(Random rnd, int n, double std) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (rnd.nextGaussian() * std);
        return a;
    }

    /** tokens x cols inputs X = Z A + noise, Z tokens x k (k < cols), so the columns are strongly correlated; column scales vary. */
    static float[] correlatedInputs(Random rnd, int tokens, int cols, int k) {
        double[] a = new double[k * cols];
        for (int i = 0; i < a.length; i++) a[i] = rnd.nextGaussian();
        double[] colScale = new double[cols];
        for (int j = 0; j < cols; j++) colScale[j] = Math.exp(rnd.nextGaussian());
        float[] x = new float[tokens * cols];
        double[] z = new double[k];
        for (int t = 0; t < tokens; t++) {
            for (int i = 0; i < k; i++) z[i] = rnd.nextGaussian();
            for (int j = 0; j < cols; j++) {
                double s = 0.1 * rnd.nextGaussian();
                for (int i = 0; i < k; i++) s += z[i] * a[i * cols + j];
                x[t * cols + j] = (float) (s * colScale[j]);
            }
        }
        return x;
    }

    static HessianAccumulator accumulate(float[] x, int tokens, int cols, int batch) {
        HessianAccumulator acc = new HessianAccumulator(cols);
        float[] b = new float[batch * cols];
        for (int t = 0; t < tokens; t += batch) {
            int n = Math.min(batch, tokens - t);
            System.arraycopy(x, t * cols, b, 0, n * cols);
            acc.add(b, n);
        }
        return acc;
    }

    /** Output reconstruction error sum_r (W_r - V_r)^T H (W_r - V_r) (proportional to ||WX^T - VX^T||_F^2). */
    static double outputError(float[] w, float[] v, int rows, int cols, double[] h) {
        double total = 0;
        double[] d = new double[cols];
        for (int r = 0; r < rows; r++) {
            for (int j = 0; j < cols; j++) d[j] = (double) w[r * cols + j] - v[r * cols + j];
            for (int i = 0; i < cols; i++) {
                if (d[i] == 0) continue;
                double s = 0;
                for (int j = 0; j < cols; j++) s += h[i * cols + j] * d[j];
                total += d[i] * s;
            }
        }
        return total;
    }

    static int zeros(float[] w) {
        int z = 0;
        for (float v : w) if (v == 0) z++;
        return z;
    }

    static double[] identity(int n) {
        double[] h = new double[n * n];
        for (int i = 0; i < n; i++) h[i * n + i] = 1;
        return h;
    }
}
