package dev.squish.weights;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The column-blocked int4/int8 decode layout ({@link ColumnQuantCodes}) against a double-precision
 * reference on the dequantized weights: odd shapes (rows not a multiple of a row tile, columns not
 * of a group), group sizes that do and do not divide the columns, per-channel, integer and
 * fractional zero points, inputs with 0-100% zeros, empty and all-zero inputs, and the
 * thresholded weight over it. Also run at 128- and 256-bit vectors by {@link VectorWidthsTest}.
 */
class ColumnQuantCodesTest {
    @TempDir Path dir;

    /** Rows around the row tiles of every width (8L for int4, 4L for int8), columns around the groups. */
    static final int[][] SHAPES = {{1, 1}, {3, 5}, {17, 33}, {64, 130}, {129, 257}, {257, 1000}, {5, 64}, {300, 9}, {128, 384}};

    static QuantizedLinear random(Random rnd, int rows, int cols, int bits, int group, boolean fractionalZeros) {
        int g = QuantGrid.groupSize(group, cols), groups = QuantGrid.groups(cols, g), maxq = QuantGrid.maxq(bits);
        int[] codes = new int[rows * cols];
        for (int i = 0; i < codes.length; i++) codes[i] = rnd.nextInt(maxq + 1);
        float[] s = new float[rows * groups], z = new float[rows * groups];
        for (int i = 0; i < s.length; i++) {
            s[i] = (float) (0.01 + 0.1 * rnd.nextDouble());
            z[i] = fractionalZeros ? (float) (maxq * rnd.nextDouble()) : rnd.nextInt(maxq + 1);
        }
        return QuantizedLinear.fromCodes(rows, cols, bits, g, codes, s, z);
    }

    /**
     * Checks y against sum_i w x in double; the bound is relative to sum_i |w x| plus the
     * zero-point identity's terms (|s z| sum |x| per group), as for {@link QuantizedLinear}.
     */
    static void check(QuantizedLinear q, float[] w, float[] x, float[] y, String what) {
        int rows = q.rows(), cols = q.cols(), group = q.groupSize();
        for (int r = 0; r < rows; r++) {
            double ref = 0, mag = 0;
            for (int c = 0; c < cols; c++) {
                double p = (double) w[r * cols + c] * x[c];
                ref += p; mag += Math.abs(p) + Math.abs(q.scale(r, c / group) * q.zero(r, c / group) * x[c]) + Math.abs(q.scale(r, c / group) * x[c]);
            }
            double bound = 2e-6 * mag + 1e-30;
            assertTrue(Math.abs(y[r] - ref) <= bound, what + " row " + r + ": " + y[r] + " vs " + ref + " (bound " + bound + ")");
        }
    }

    @Test void kernelEqualsTheReferenceOnRandomSparseInputs() {
        Random rnd = new Random(11);
        for (int bits : new int[]{4, 8})
            for (int group : new int[]{128, 32, 7, -1})
                for (int[] s : SHAPES) {
                    int rows = s[0], cols = s[1];
                    QuantizedLinear q = random(rnd, rows, cols, bits, group, group == 7);
                    ColumnQuantCodes cq = new ColumnQuantCodes(q);
                    float[] w = q.toDense();
                    for (double zeros : new double[]{0, 0.4, 0.5, 0.9, 0.999, 1}) {
                        float[] x = LinearChecks.vector(rnd, cols);
                        int[] idx = new int[cols];
                        int n = 0;
                        for (int c = 0; c < cols; c++) if (rnd.nextDouble() >= zeros) idx[n++] = c;
                        // the kernel reads only the listed entries: the others hold garbage, the reference zero
                        float[] xr = new float[cols];
                        for (int k = 0; k < n; k++) xr[idx[k]] = x[idx[k]];
                        float[] y = new float[rows];
                        Arrays.fill(y, Float.NaN);
                        cq.matvecColumns(x, idx, n, y);
                        String what = "int" + bits + " g" + group + " " + rows + "x" + cols + " zeros " + zeros;
                        check(q, w, xr, y, what);
                        // through the thresholded weight: entries |x| <= t are dropped
                        float t = (float) (zeros * 1.5);
                        ActSparseLinear a = ActSparseLinear.columnBlocked(q, t);
                        assertTrue(a.skipsColumns());
                        float[] ym = new float[rows];
                        Arrays.fill(ym, Float.NaN);
                        a.matvec(x, ym);
                        check(q, w, ActSparseLinear.mask(x, cols, t), ym, what + " thresholded");
                    }
                }
    }

    @Test void emptyAndAllZeroInputs() {
        Random rnd = new Random(13);
        for (int bits : new int[]{4, 8}) {
            QuantizedLinear q = random(rnd, 70, 300, bits, 128, false);
            ColumnQuantCodes cq = new ColumnQuantCodes(q);
            float[] y = new float[70];
            Arrays.fill(y, Float.NaN);
            cq.matvecColumns(LinearChecks.vector(rnd, 300), new int[0], 0, y);
            assertArrayEquals(new float[70], y, "no kept column: a zero product");
            Arrays.fill(y, Float.NaN);
            ActSparseLinear.columnBlocked(q, 0f).matvec(new float[300], y);
            assertArrayEquals(new float[70], y, "all-zero input");
            // empty shapes
            QuantizedLinear noRows = QuantizedLinear.fromCodes(0, 5, bits, 128, new int[0], new float[0], new float[0]);
            ActSparseLinear.columnBlocked(noRows, 0f).matvec(new float[5], new float[0]);
            QuantizedLinear noCols = QuantizedLinear.fromCodes(4, 0, bits, 1, new int[0], new float[0], new float[0]);
            float[] y4 = {1, 2, 3, 4};
            ActSparseLinear.columnBlocked(noCols, 0f).matvec(new float[0], y4);
            assertArrayEquals(new float[4], y4);
        }
    }

    @Test void bigEnoughToSplitBetweenThreads() {
        Random rnd = new Random(17);
        for (int bits : new int[]{4, 8}) {
            QuantizedLinear q = random(rnd, 600, 2000, bits, 128, false);
            ColumnQuantCodes cq = new ColumnQuantCodes(q);
            float[] w = q.toDense();
            for (double zeros : new double[]{0, 0.5, 0.97}) {
                float[] x = LinearChecks.vector(rnd, 2000);
                for (int c = 0; c < x.length; c++) if (rnd.nextDouble() < zeros) x[c] = 0;
                int[] idx = new int[2000];
                int n = ColumnSkip.select(x, 0, 2000, 0f, idx);
                float[] y = new float[600];
                cq.matvecColumns(x, idx, n, y);
                check(q, w, x, y, "int" + bits + " 600x2000 zeros " + zeros);
            }
        }
    }

    @Test void theLayoutIsBuiltOnRequestAndNotForTrialMasks() {
        Random rnd = new Random(19);
        QuantizedLinear q = random(rnd, 40, 256, 4, 128, false);
        assertFalse(ActSparseLinear.masking(q, 0.5f).skipsColumns());
        assertEquals(ActSparseLinear.INT_COLUMNS, new ActSparseLinear(q, 0.5f).skipsColumns());
        ActSparseLinear cb = ActSparseLinear.columnBlocked(q, 0.5f);
        assertTrue(cb.skipsColumns());
        Linear back = LinearChecks.roundTrip(cb, dir, rnd);
        assertEquals("actsparse+int4-g128", back.format());
        // the function does not depend on the layout
        float[] x = LinearChecks.vector(rnd, 256), y1 = new float[40], y2 = new float[40];
        ActSparseLinear.masking(q, 0.5f).matvec(x, y1);
        cb.matvec(x, y2);
        check(q, q.toDense(), ActSparseLinear.mask(x, 256, 0.5f), y2, "column-blocked");
        for (int r = 0; r < 40; r++) assertEquals(y1[r], y2[r], 1e-4 * (1 + Math.abs(y1[r])));
    }
}
