package dev.squish.weights;

import dev.squish.formats.SafeTensors;
import dev.squish.formats.SafeTensorsWriter;

import java.nio.file.Path;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** Shared reference computations and checks for the weight-format tests. */
final class LinearChecks {
    private LinearChecks() {}

    /** Shapes with odd sizes and column counts that are not a multiple of any vector length. */
    static final int[][] SHAPES = {{1, 1}, {3, 5}, {17, 33}, {64, 130}, {257, 1000}, {5, 64}, {9, 300}};
    /** Token counts: under one vector, a whole 4-vector panel of the prefill kernel plus a narrower one (70). */
    static final int[] TOKENS = {1, 3, 4, 7, 70};

    /** Gaussian matrix where each entry is zero with probability {@code sparsity}; rows in {@code emptyRows} are all zero. */
    static float[] random(Random rnd, int rows, int cols, double sparsity, int... emptyRows) {
        float[] w = new float[rows * cols];
        for (int i = 0; i < w.length; i++) w[i] = rnd.nextDouble() < sparsity ? 0f : (float) rnd.nextGaussian();
        for (int r : emptyRows) if (r < rows) java.util.Arrays.fill(w, r * cols, (r + 1) * cols, 0f);
        return w;
    }

    static float[] vector(Random rnd, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) rnd.nextGaussian();
        return x;
    }

    /** Scalar reference y[t*rows + o] = sum_i w[o, i] x[t*cols + i] in double, and the magnitudes sum_i |w x|. */
    static double[][] reference(float[] w, int rows, int cols, float[] x, int n) {
        double[] y = new double[n * rows], mag = new double[n * rows];
        for (int t = 0; t < n; t++)
            for (int o = 0; o < rows; o++) {
                double s = 0, m = 0;
                for (int i = 0; i < cols; i++) {
                    double p = (double) w[o * cols + i] * x[t * cols + i];
                    s += p; m += Math.abs(p);
                }
                y[t * rows + o] = s; mag[t * rows + o] = m;
            }
        return new double[][]{y, mag};
    }

    /**
     * Checks matvec and matmul (n = 1, 3, 4, 7, 70) of l against the scalar reference of {@code w}.
     * Each output may differ by {@code tol} times its magnitude, where the magnitude is
     * sum_i |w x| plus {@code extraMag(row) * sum_i |x|} (for kernels that use an algebraic identity).
     */
    static void checkKernels(Linear l, float[] w, double tol, Random rnd, java.util.function.IntToDoubleFunction extraMag) {
        int rows = l.rows(), cols = l.cols();
        assertEquals(w.length, rows * cols);
        for (int n : TOKENS) {
            float[] x = vector(rnd, n * cols);
            double[][] ref = reference(w, rows, cols, x, n);
            float[] y = new float[n * rows];
            java.util.Arrays.fill(y, Float.NaN);
            l.matmul(x, n, y);
            compare(l, "matmul n=" + n, y, ref, x, n, tol, extraMag);
            float[] yAll = new float[n * rows], yv = new float[rows];
            for (int t = 0; t < n; t++) {
                float[] xt = java.util.Arrays.copyOfRange(x, t * cols, (t + 1) * cols);
                java.util.Arrays.fill(yv, Float.NaN);
                l.matvec(xt, yv);
                System.arraycopy(yv, 0, yAll, t * rows, rows);
            }
            compare(l, "matvec", yAll, ref, x, n, tol, extraMag);
        }
    }

    static void checkKernels(Linear l, float[] w, Random rnd) { checkKernels(l, w, 1e-5, rnd, null); }

    private static void compare(Linear l, String what, float[] y, double[][] ref, float[] x, int n, double tol, java.util.function.IntToDoubleFunction extraMag) {
        int rows = l.rows(), cols = l.cols();
        for (int t = 0; t < n; t++)
            for (int o = 0; o < rows; o++) {
                double sx = 0;
                for (int i = 0; i < cols; i++) sx += Math.abs(x[t * cols + i]);
                int k = t * rows + o;
                double bound = tol * (ref[1][k] + (extraMag == null ? 0 : extraMag.applyAsDouble(o)) * sx) + 1e-30;
                float got = y[k];
                assertTrue(Math.abs(got - ref[0][k]) <= bound,
                        () -> l.format() + " " + rows + "x" + cols + " " + what + " token " + (k / rows) + " row " + (k % rows) + ": " + got + " vs " + ref[0][k]);
            }
    }

    static void assertBitEqual(float[] expected, float[] actual, String what) {
        assertEquals(expected.length, actual.length, what + " length");
        for (int i = 0; i < expected.length; i++)
            if (Float.floatToRawIntBits(expected[i]) != Float.floatToRawIntBits(actual[i]))
                fail(what + " differs at " + i + ": " + expected[i] + " vs " + actual[i]);
    }

    /**
     * Writes l to a real safetensors file next to another tensor, reads it back through
     * {@link WeightFormats#read} and checks format, shape, bytes, toDense and outputs are identical.
     */
    static Linear roundTrip(Linear l, Path dir, Random rnd) {
        Path file = dir.resolve("w-" + Math.abs(rnd.nextLong()) + ".safetensors");
        try (SafeTensorsWriter out = new SafeTensorsWriter(file)) {
            out.addF32("other.weight", new long[]{2}, new float[]{1, 2});
            l.write("model.layers.0.mlp.up_proj", out);
            out.finish();
        }
        try (SafeTensors st = SafeTensors.open(file)) {
            String meta = st.metadata().get(WeightFormats.META_PREFIX + "model.layers.0.mlp.up_proj");
            if (!(meta == null && l instanceof DenseLinear)) assertEquals(l.format(), meta);   // plain dense needs no metadata
            Linear back = WeightFormats.read(st, "model.layers.0.mlp.up_proj", false);
            assertEquals(l.getClass(), back.getClass());
            assertEquals(l.format(), back.format());
            assertEquals(l.rows(), back.rows());
            assertEquals(l.cols(), back.cols());
            assertEquals(l.bytes(), back.bytes());
            assertEquals(l.parameters(), back.parameters());
            assertBitEqual(l.toDense(), back.toDense(), l.format() + " toDense after round trip");
            for (int n : new int[]{1, 3}) {
                float[] x = vector(rnd, n * l.cols());
                float[] y1 = new float[n * l.rows()], y2 = new float[n * l.rows()];
                l.matmul(x, n, y1);
                back.matmul(x, n, y2);
                // Same kernel on bit-identical weights, but not necessarily bit-identical outputs: the
                // Vector API's interpreter fallback and its C2 intrinsics sum a vector's lanes in
                // different orders, so a call made before and one made after JIT compilation can
                // differ in the last bits (seen once in a full suite run).
                double scale = 0;
                for (float v : y1) scale = Math.max(scale, Math.abs(v));
                for (int i = 0; i < y1.length; i++)
                    if (Math.abs(y1[i] - y2[i]) > 1e-6 * scale + 1e-30)
                        fail(l.format() + " outputs after round trip differ at " + i + ": " + y1[i] + " vs " + y2[i]);
            }
            return back;
        }
    }
}
