package dev.squish.weights;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** The dense float32 kernels (including prefill through row tiles) against the scalar reference. */
class DenseLinearKernelTest {
    @TempDir Path dir;

    @Test void kernelsMatchReference() {
        Random rnd = new Random(61);
        for (int[] s : LinearChecks.SHAPES) {
            float[] w = LinearChecks.random(rnd, s[0], s[1], 0.2, 1);
            DenseLinear l = new DenseLinear(s[0], s[1], w);
            LinearChecks.assertBitEqual(w, l.toDense(), "dense toDense");
            LinearChecks.checkKernels(l, w, rnd);
            assertEquals(4L * s[0] * s[1], l.bytes());
            LinearChecks.roundTrip(l, dir, rnd);
        }
    }

    /**
     * Both prefill micro-kernel shapes (4 x 4 for 32 vector registers, 4 x 3 for 16) on any CPU,
     * token counts that leave 0, 1 and 2 tail vectors after the full panels, and odd row counts
     * (partial tiles), against the double reference.
     */
    @Test void bothMicroKernelShapes() {
        Random rnd = new Random(62);
        int l = Kernels.L;
        for (int[] s : new int[][]{{17, 33}, {37, 130}, {5, 257}})
            for (int n : new int[]{1, 3 * l, 3 * l + 1, 4 * l, 4 * l + l + 3, 12 * l + 5})
                for (boolean wide : new boolean[]{true, false}) {
                    int rows = s[0], cols = s[1];
                    float[] w = LinearChecks.random(rnd, rows, cols, 0.2, 1);
                    float[] x = new float[n * cols];
                    for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
                    float[] y = new float[n * rows];
                    java.util.Arrays.fill(y, Float.NaN);
                    Kernels.matmulByRows(rows, cols, x, n, y, (r, dst, off) -> System.arraycopy(w, r * cols, dst, off, cols), wide);
                    for (int t = 0; t < n; t++)
                        for (int o = 0; o < rows; o++) {
                            double ref = 0, mag = 0;
                            for (int i = 0; i < cols; i++) { double p = (double) w[o * cols + i] * x[t * cols + i]; ref += p; mag += Math.abs(p); }
                            float got = y[t * rows + o];
                            assertTrue(Math.abs(got - ref) <= 1e-5 * mag + 1e-30,
                                    (wide ? "4x4 " : "4x3 ") + rows + "x" + cols + " n=" + n + " token " + t + " row " + o + ": " + got + " vs " + ref);
                        }
                }
    }
}
