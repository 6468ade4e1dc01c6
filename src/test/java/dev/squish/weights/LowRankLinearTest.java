package dev.squish.weights;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class LowRankLinearTest {
    @TempDir Path dir;

    @Test void kernelsMatchProductOfFactors() {
        Random rnd = new Random(31);
        for (int[] s : LinearChecks.SHAPES)
            for (int k : new int[]{1, 3, 17}) {
                int rows = s[0], cols = s[1];
                float[] a = LinearChecks.random(rnd, rows, k, 0.1, 1), b = LinearChecks.random(rnd, k, cols, 0.1);
                LowRankLinear l = LowRankLinear.of(a, b, rows, k, cols);
                // independent reference: W = A B in double
                float[] w = new float[rows * cols];
                for (int r = 0; r < rows; r++)
                    for (int c = 0; c < cols; c++) {
                        double acc = 0;
                        for (int j = 0; j < k; j++) acc += (double) a[r * k + j] * b[j * cols + c];
                        w[r * cols + c] = (float) acc;
                    }
                LinearChecks.assertBitEqual(w, l.toDense(), "lowrank toDense");
                // the kernels round the k intermediate values to float: bound by sum |A||B x|
                double[] mag = new double[rows];
                for (int r = 0; r < rows; r++) for (int j = 0; j < k; j++) mag[r] += Math.abs(a[r * k + j]);
                double bmax = 0;
                for (float v : b) bmax = Math.max(bmax, Math.abs(v));
                final double bm = bmax;
                LinearChecks.checkKernels(l, w, 1e-5, rnd, o -> mag[o] * bm);
                assertEquals(4L * k * (rows + cols), l.bytes());
                assertEquals((long) k * (rows + cols), l.parameters());
                LinearChecks.roundTrip(l, dir, rnd);
            }
    }

    @Test void svdRecoversALowRankMatrix() {
        Random rnd = new Random(32);
        int rows = 40, cols = 30, k = 4;
        float[] a = LinearChecks.random(rnd, rows, k, 0), b = LinearChecks.random(rnd, k, cols, 0);
        float[] w = LowRankLinear.of(a, b, rows, k, cols).toDense();
        LowRankLinear l = LowRankLinear.fromDense(w, rows, cols, k);
        assertEquals(k, l.rank());
        float[] back = l.toDense();
        double err = 0, norm = 0;
        for (int i = 0; i < w.length; i++) { err += (back[i] - w[i]) * (double) (back[i] - w[i]); norm += w[i] * (double) w[i]; }
        assertTrue(Math.sqrt(err / norm) < 1e-5, "relative error " + Math.sqrt(err / norm));
        // a rank-1 approximation of a rank-4 matrix cannot be exact
        LowRankLinear l1 = LowRankLinear.fromDense(w, rows, cols, 1);
        float[] b1 = l1.toDense();
        double e1 = 0;
        for (int i = 0; i < w.length; i++) e1 += (b1[i] - w[i]) * (double) (b1[i] - w[i]);
        assertTrue(Math.sqrt(e1 / norm) > 1e-2);
        assertEquals(Math.min(rows, cols), LowRankLinear.fromDense(w, rows, cols, 1000).rank());
    }
}
