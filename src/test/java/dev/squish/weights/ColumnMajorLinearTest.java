package dev.squish.weights;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The column-major format and the thresholded input over it: kernels against the scalar reference
 * on odd shapes, on inputs with zeros (the skipped columns) and all-zero inputs, and the
 * thresholded product against the dense product of the masked input, over column-major and
 * row-major (int4, int8) bases.
 */
class ColumnMajorLinearTest {
    @TempDir Path dir;

    @Test void kernelsMatchTheReferenceOnOddShapes() {
        Random rnd = new Random(3);
        for (int[] s : LinearChecks.SHAPES) {
            float[] w = LinearChecks.random(rnd, s[0], s[1], 0.1);
            ColumnMajorLinear l = ColumnMajorLinear.of(w, s[0], s[1]);
            assertArrayEquals(w, l.toDense());
            LinearChecks.checkKernels(l, w, rnd);
            LinearChecks.roundTrip(l, dir, rnd);
        }
        // more rows than one prefill tile, and a partial last tile
        float[] w = LinearChecks.random(rnd, 3 * ColumnMajorLinear.RT + 5, 300, 0);
        LinearChecks.checkKernels(ColumnMajorLinear.of(w, 3 * ColumnMajorLinear.RT + 5, 300), w, rnd);
    }

    @Test void zeroInputsSkipTheirColumnsAndStillMatch() {
        Random rnd = new Random(5);
        for (int[] s : new int[][]{{257, 1000}, {33, 17}, {1, 1}, {130, 64}}) {
            int rows = s[0], cols = s[1];
            float[] w = LinearChecks.random(rnd, rows, cols, 0);
            ColumnMajorLinear l = ColumnMajorLinear.of(w, rows, cols);
            for (double zeroFrac : new double[]{0, 0.5, 0.9, 1.0}) {
                for (int n : new int[]{1, 3, 5}) {
                    float[] x = LinearChecks.vector(rnd, n * cols);
                    for (int i = 0; i < x.length; i++) if (rnd.nextDouble() < zeroFrac) x[i] = 0;
                    double[] ref = LinearChecks.reference(w, rows, cols, x, n)[0];
                    float[] y = new float[n * rows];
                    Arrays.fill(y, Float.NaN);
                    l.matmul(x, n, y);
                    for (int i = 0; i < y.length; i++) assertEquals(ref[i], y[i], 1e-4 * (1 + Math.abs(ref[i])), "zeros " + zeroFrac + " n " + n + " at " + i);
                }
            }
        }
    }

    @Test void emptyShapes() {
        ColumnMajorLinear l = ColumnMajorLinear.of(new float[0], 0, 5);
        l.matvec(new float[5], new float[0]);
        ColumnMajorLinear c = ColumnMajorLinear.of(new float[0], 4, 0);
        float[] y = {1, 2, 3, 4};
        c.matvec(new float[0], y);
        assertArrayEquals(new float[4], y);
        float[] y2 = new float[8];
        Arrays.fill(y2, 7);
        c.matmul(new float[0], 2, y2);
        assertArrayEquals(new float[8], y2);
    }

    /** Reference: the dense product of x with entries |x| <= t set to zero. */
    private static double[] masked(float[] w, int rows, int cols, float[] x, int n, float t) {
        float[] xm = x.clone();
        for (int i = 0; i < xm.length; i++) if (Math.abs(xm[i]) <= t) xm[i] = 0;
        return LinearChecks.reference(w, rows, cols, xm, n)[0];
    }

    @Test void thresholdedInputEqualsDenseOnMaskedInput() {
        Random rnd = new Random(7);
        for (int[] s : new int[][]{{257, 1000}, {17, 33}, {64, 130}, {5, 1}}) {
            int rows = s[0], cols = s[1];
            float[] w = LinearChecks.random(rnd, rows, cols, 0);
            Linear[] bases = {ColumnMajorLinear.of(w, rows, cols), new DenseLinear(rows, cols, w),
                    QuantizedLinear.quantizeRtn(w, rows, cols, 8, 128, false), QuantizedLinear.quantizeRtn(w, rows, cols, 4, 128, false)};
            for (Linear base : bases) {
                float[] wd = base.toDense();
                for (float t : new float[]{0f, 0.3f, 0.7f, 100f}) {
                    ActSparseLinear l = new ActSparseLinear(base, t);
                    assertEquals("actsparse+" + base.format(), l.format());
                    for (int n : new int[]{1, 4, 7}) {
                        float[] x = LinearChecks.vector(rnd, n * cols);
                        double[] ref = masked(wd, rows, cols, x, n, t);
                        float[] y = new float[n * rows], yv = new float[rows];
                        Arrays.fill(y, Float.NaN);
                        l.matmul(x, n, y);
                        for (int i = 0; i < y.length; i++)
                            assertEquals(ref[i], y[i], 1e-4 * (1 + Math.abs(ref[i])), base.format() + " t=" + t + " n=" + n + " at " + i);
                        Arrays.fill(yv, Float.NaN);
                        l.matvec(Arrays.copyOf(x, cols), yv);
                        for (int i = 0; i < rows; i++)
                            assertEquals(ref[i], yv[i], 1e-4 * (1 + Math.abs(ref[i])), base.format() + " matvec t=" + t + " at " + i);
                    }
                }
                LinearChecks.roundTrip(new ActSparseLinear(base, 0.25f), dir, rnd);
            }
        }
    }

    @Test void rowGatherComputesOnlyTheListedRows() {
        Random rnd = new Random(9);
        int rows = 37, cols = 70;
        float[] w = LinearChecks.random(rnd, rows, cols, 0);
        float[] x = LinearChecks.vector(rnd, cols);
        double[] ref = LinearChecks.reference(w, rows, cols, x, 1)[0];
        int[] keep = {0, 3, 4, 20, 36};
        for (Linear l : new Linear[]{new DenseLinear(rows, cols, w), ColumnMajorLinear.of(w, rows, cols)}) {
            float[] y = new float[rows];
            Arrays.fill(y, -99f);
            ColumnSkip.matvecRows(l, x, keep, keep.length, y);
            for (int r = 0; r < rows; r++) {
                final int rr = r;
                if (Arrays.stream(keep).anyMatch(k -> k == rr)) assertEquals(ref[r], y[r], 1e-4 * (1 + Math.abs(ref[r])));
                else assertEquals(-99f, y[r]);
            }
        }
    }

    @Test void badThresholdsAreRefused() {
        DenseLinear d = new DenseLinear(2, 2, new float[4]);
        assertThrows(IllegalArgumentException.class, () -> new ActSparseLinear(d, -1f));
        assertThrows(IllegalArgumentException.class, () -> new ActSparseLinear(d, Float.NaN));
        assertThrows(IllegalArgumentException.class, () -> new ActSparseLinear(new ActSparseLinear(d, 0f), 0f));
    }
}
