package dev.squish.methods.prune;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class DsnotTest {
    /** Inputs with non-zero means (so the expected error matters) and varied scales. */
    static float[] inputs(Random r, int tokens, int cols) {
        float[] x = new float[tokens * cols];
        double[] mean = new double[cols], scale = new double[cols];
        for (int j = 0; j < cols; j++) { mean[j] = r.nextGaussian(); scale[j] = Math.exp(r.nextGaussian() * 0.5); }
        for (int t = 0; t < tokens; t++) for (int j = 0; j < cols; j++) x[t * cols + j] = (float) ((mean[j] + r.nextGaussian()) * scale[j]);
        return x;
    }

    static double[] hessian(float[] x, int tokens, int cols) {
        double[] h = new double[cols * cols];
        for (int t = 0; t < tokens; t++) for (int i = 0; i < cols; i++) for (int j = 0; j < cols; j++) h[i * cols + j] += (double) x[t * cols + i] * x[t * cols + j];
        return h;
    }

    static double error(float[] w, int rows, int cols, boolean[] mask, double[] h) {
        double s = 0;
        for (int r = 0; r < rows; r++) s += Dsnot.rowError(w, r * cols, cols, mask, h);
        return s;
    }

    static double meanError(float[] w, int rows, int cols, boolean[] mask, double[] mean) {
        double s = 0;
        for (int r = 0; r < rows; r++) {
            double e = 0;
            for (int j = 0; j < cols; j++) if (mask[r * cols + j]) e += w[r * cols + j] * mean[j];
            s += Math.abs(e);
        }
        return s;
    }

    @Test void keepsEveryRowsSparsityAndNeverRaisesTheError() {
        Random r = new Random(5);
        for (Dsnot.Base base : Dsnot.Base.values())
            for (double sp : new double[]{0.5, 0.6, 0.7}) {
                int rows = 48, cols = 64, tokens = 400;
                float[] x = inputs(r, tokens, cols);
                Moments mm = new Moments(cols);
                mm.add(x, tokens);
                double[] h = hessian(x, tokens, cols);
                float[] w = new float[rows * cols];
                for (int i = 0; i < w.length; i++) w[i] = (float) r.nextGaussian();
                boolean[] mask = Dsnot.initialMask(base, w, rows, cols, mm.normSq(), h, sp, "test");
                boolean[] initial = mask.clone();
                double before = error(w, rows, cols, mask, h), meanBefore = meanError(w, rows, cols, mask, mm.mean());
                Dsnot.Stats st = Dsnot.refine(w, rows, cols, mask, mm.mean(), mm.variance(), mm.normSq(), h, 50, 0.1);
                for (int row = 0; row < rows; row++) {
                    int a = 0, b = 0;
                    for (int j = 0; j < cols; j++) { if (initial[row * cols + j]) a++; if (mask[row * cols + j]) b++; }
                    assertEquals(a, b, "row " + row + " keeps its count");
                }
                double after = error(w, rows, cols, mask, h);
                assertTrue(after <= before, base + " " + sp + ": error " + before + " -> " + after);
                assertTrue(st.rowsChanged() > 0, "some rows are changed: " + st);
                assertTrue(meanError(w, rows, cols, mask, mm.mean()) < meanBefore, "the expected error shrinks");
            }
    }

    @Test void aRowAlreadyWithinTheThresholdIsLeftAlone() {
        float[] w = {1, -1, 2, -2};
        boolean[] mask = {true, true, false, false}; // e = 1*1 - 1*1 = 0
        double[] mean = {1, 1, 1, 1}, var = {1, 1, 1, 1}, n = {1, 1, 1, 1};
        assertEquals(0, Dsnot.refineRow(w, 0, 4, mask, mean, var, n, 50, 0.1));
    }

    @Test void oneSwapAsTheReferenceChoosesIt() {
        // pruned {0: +3, 1: +1} -> e = 4 > 0: grow the largest metric/var among pruned (col 0);
        // prune the first of the reordered kept list: negatives by Wanda ascending -> col 3 (-0.5)
        float[] w = {3, 1, 2, -0.5f};
        boolean[] mask = {true, true, false, false};
        double[] mean = {1, 1, 1, 1}, var = {1, 1, 1, 1}, n = {1, 1, 1, 1};
        int swaps = Dsnot.refineRow(w, 0, 4, mask, mean, var, n, 1, 0.1);
        assertEquals(1, swaps);
        assertArrayEquals(new boolean[]{false, true, false, true}, mask);
    }
}
