package dev.squish.weights;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class NMSparseLinearTest {
    @TempDir Path dir;

    /** Keeps n random entries of every group of m columns (the rest 0); some groups keep fewer. */
    static float[] nm(Random rnd, int rows, int cols, int n, int m, int... emptyRows) {
        float[] w = new float[rows * cols];
        for (int r = 0; r < rows; r++)
            for (int c0 = 0; c0 < cols; c0 += m) {
                int width = Math.min(m, cols - c0), keep = Math.min(width, rnd.nextInt(5) == 0 ? rnd.nextInt(n + 1) : n);
                int[] perm = rnd.ints(0, width).distinct().limit(keep).toArray();
                for (int i : perm) w[r * cols + c0 + i] = (float) rnd.nextGaussian();
            }
        for (int r : emptyRows) if (r < rows) java.util.Arrays.fill(w, r * cols, (r + 1) * cols, 0f);
        return w;
    }

    @Test void kernelsMatchReference() {
        Random rnd = new Random(21);
        for (int[] nm : new int[][]{{2, 4}, {1, 4}, {3, 4}, {4, 8}, {2, 8}, {3, 7}, {1, 2}, {8, 16}, {15, 16}, {4, 6}, {2, 3}, {8, 12}, {5, 9}})
            for (int[] s : LinearChecks.SHAPES) {
                int rows = s[0], cols = s[1], n = nm[0], m = nm[1];
                float[] w = nm(rnd, rows, cols, n, m, 1);
                NMSparseLinear l = NMSparseLinear.fromDense(w, rows, cols, n, m);
                LinearChecks.assertBitEqual(w, l.toDense(), n + ":" + m + " toDense");
                LinearChecks.checkKernels(l, w, rnd);
                int groups = (cols + m - 1) / m, ib = m <= 4 ? 2 : 4;
                assertEquals((long) rows * n * groups, l.parameters());
                assertEquals(4L * rows * n * groups + 4L * rows * ((n * groups * ib + 31) / 32), l.bytes());
                assertEquals(n + ":" + m, l.format());
            }
    }

    @Test void allZeroAndRoundTrip() {
        Random rnd = new Random(22);
        NMSparseLinear z = NMSparseLinear.fromDense(new float[17 * 33], 17, 33, 2, 4);
        LinearChecks.checkKernels(z, new float[17 * 33], rnd);
        for (int[] nm : new int[][]{{2, 4}, {4, 8}, {3, 7}})
            for (int[] s : new int[][]{{1, 1}, {3, 5}, {17, 33}, {64, 130}}) {
                float[] w = nm(rnd, s[0], s[1], nm[0], nm[1], 0);
                LinearChecks.roundTrip(NMSparseLinear.fromDense(w, s[0], s[1], nm[0], nm[1]), dir, rnd);
            }
    }

    @Test void rejectsTooManyNonZerosAndBadNM() {
        float[] w = {1, 2, 3, 0, 1, 0, 0, 0};
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> NMSparseLinear.fromDense(w, 1, 8, 2, 4));
        assertTrue(e.getMessage().contains("3 non-zeros"), e.getMessage());
        // last partial group: cols = 6, group 2 has columns 4..5
        assertThrows(IllegalArgumentException.class, () -> NMSparseLinear.fromDense(new float[]{1, 0, 0, 0, 1, 1}, 1, 6, 1, 4));
        assertThrows(IllegalArgumentException.class, () -> NMSparseLinear.fromDense(new float[4], 1, 4, 4, 4));
        assertThrows(IllegalArgumentException.class, () -> NMSparseLinear.fromDense(new float[4], 1, 4, 2, 17));
    }

    @Test void twoFourStoresAboutHalf() {
        float[] w = nm(new Random(23), 256, 256, 2, 4);
        NMSparseLinear l = NMSparseLinear.fromDense(w, 256, 256, 2, 4);
        assertEquals(256L * 128 * 4 + 256L * 8 * 4, l.bytes());
    }
}
