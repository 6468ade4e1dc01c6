package dev.squish.methods;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class PruningMasksTest {

    @Test
    void smallestKIsExactWithTiesInPositionOrder() {
        double[] s = {3, 1, 2, 1, 1, 5};
        boolean[] m = new boolean[6];
        Masks.smallestK(s, 0, 6, 2, m);
        assertArrayEquals(new boolean[]{false, true, false, true, false, false}, m);
        boolean[] all = new boolean[6];
        Masks.smallestK(s, 0, 6, 6, all);
        for (boolean b : all) assertTrue(b);
    }

    @Test
    void sharesAddUpToTheRoundedTotal() {
        double s = 0.37;
        long total = 0;
        for (int r = 0; r < 7; r++) {
            int k = Masks.share(r * 33L, (r + 1) * 33L, s);
            assertTrue(k == 12 || k == 13, "floor or ceil of 0.37*33 = 12.21: " + k);
            total += k;
        }
        assertEquals(Math.round(0.37 * 7 * 33), total);
    }

    @Test
    void magnitudeUnstructuredPrunesExactlyTheSmallest() {
        Random rnd = new Random(10);
        int rows = 37, cols = 64;
        float[] w = TestData.gaussian(rnd, rows * cols, 1);
        for (double s : new double[]{0, 0.1, 0.5, 0.613, 1}) {
            float[] p = Magnitude.prune(w, rows, cols, s, 0, 0);
            assertEquals(Math.round(s * rows * cols), TestData.zeros(p), "sparsity " + s);
            float maxPruned = 0, minKept = Float.MAX_VALUE;
            for (int i = 0; i < w.length; i++) {
                if (p[i] == 0) maxPruned = Math.max(maxPruned, Math.abs(w[i]));
                else { minKept = Math.min(minKept, Math.abs(w[i])); assertEquals(w[i], p[i]); }
            }
            if (s > 0 && s < 1) assertTrue(maxPruned <= minKept);
        }
    }

    @Test
    void nmPatternsHoldInEveryGroup() {
        Random rnd = new Random(11);
        int rows = 20, cols = 64;
        float[] w = TestData.gaussian(rnd, rows * cols, 1);
        double[] norms = new double[cols];
        for (int j = 0; j < cols; j++) norms[j] = Math.exp(rnd.nextGaussian());
        for (int[] nm : new int[][]{{2, 4}, {4, 8}, {1, 4}}) {
            int n = nm[0], m = nm[1];
            float[] a = Magnitude.prune(w, rows, cols, 0.5, n, m);
            float[] b = Wanda.prune(w, rows, cols, norms, 0.5, n, m);
            for (float[] p : new float[][]{a, b}) {
                for (int g = 0; g < rows * cols; g += m) {
                    int z = 0;
                    for (int j = 0; j < m; j++) if (p[g + j] == 0) z++;
                    assertEquals(m - n, z, n + ":" + m + " group at " + g);
                }
            }
            // magnitude keeps the n largest |w| of each group
            for (int g = 0; g < rows * cols; g += m) {
                float maxPruned = 0, minKept = Float.MAX_VALUE;
                for (int j = 0; j < m; j++) {
                    if (a[g + j] == 0) maxPruned = Math.max(maxPruned, Math.abs(w[g + j]));
                    else minKept = Math.min(minKept, Math.abs(w[g + j]));
                }
                assertTrue(maxPruned <= minKept);
            }
        }
        assertThrows(IllegalArgumentException.class, () -> Magnitude.prune(w, rows, cols, 0.5, 2, 6));
        assertThrows(IllegalArgumentException.class, () -> Magnitude.prune(w, rows, cols, 0.5, 4, 4));
    }

    @Test
    void wandaComparesWithinRowsWithExactCounts() {
        Random rnd = new Random(12);
        int rows = 30, cols = 50;
        float[] w = TestData.gaussian(rnd, rows * cols, 1);
        double[] normSq = new double[cols];
        for (int j = 0; j < cols; j++) normSq[j] = Math.exp(2 * rnd.nextGaussian());
        for (double s : new double[]{0.5, 0.3, 0.77}) {
            float[] p = Wanda.prune(w, rows, cols, normSq, s, 0, 0);
            assertEquals(Math.round(s * rows * cols), TestData.zeros(p));
            for (int r = 0; r < rows; r++) {
                int z = 0;
                double maxPruned = 0, minKept = Double.MAX_VALUE;
                for (int j = 0; j < cols; j++) {
                    double score = Math.abs(w[r * cols + j]) * Math.sqrt(normSq[j]);
                    if (p[r * cols + j] == 0) { z++; maxPruned = Math.max(maxPruned, score); }
                    else minKept = Math.min(minKept, score);
                }
                assertEquals(Masks.share((long) r * cols, (long) (r + 1) * cols, s), z);
                assertTrue(z == (int) Math.floor(s * cols) || z == (int) Math.ceil(s * cols));
                assertTrue(maxPruned <= minKept, "row " + r);
            }
        }
        // an integer share is the reference's int(cols * sparsity) in every row
        float[] p = Wanda.prune(w, rows, cols, normSq, 0.5, 0, 0);
        for (int r = 0; r < rows; r++) {
            int z = 0;
            for (int j = 0; j < cols; j++) if (p[r * cols + j] == 0) z++;
            assertEquals(25, z);
        }
    }

    @Test
    void wandaDiffersFromMagnitudeWhenInputsDiffer() {
        Random rnd = new Random(13);
        int rows = 8, cols = 16;
        float[] w = TestData.gaussian(rnd, rows * cols, 1);
        double[] normSq = new double[cols];
        for (int j = 0; j < cols; j++) normSq[j] = j < 8 ? 1e-6 : 1e6;
        float[] p = Wanda.prune(w, rows, cols, normSq, 0.5, 0, 0);
        for (int r = 0; r < rows; r++) for (int j = 0; j < cols; j++)
            assertEquals(j < 8, p[r * cols + j] == 0, "inputs with tiny norms go first");
    }
}
