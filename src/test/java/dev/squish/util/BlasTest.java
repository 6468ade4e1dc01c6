package dev.squish.util;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class BlasTest {
    private static double[] random(Random rnd, int n) {
        double[] x = new double[n];
        for (int i = 0; i < n; i++) x[i] = rnd.nextGaussian();
        return x;
    }

    /** Naive triple loop over the same strided operands. */
    private static void naive(boolean ta, boolean tb, int m, int n, int k, double alpha, double[] a, int aOff, int lda,
                              double[] b, int bOff, int ldb, double[] c, int cOff, int ldc, Blas.Tri tri) {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                if (tri == Blas.Tri.UPPER && j < i || tri == Blas.Tri.LOWER && j > i) continue;
                double s = 0;
                for (int p = 0; p < k; p++)
                    s += (ta ? a[aOff + p * lda + i] : a[aOff + i * lda + p]) * (tb ? b[bOff + j * ldb + p] : b[bOff + p * ldb + j]);
                c[cOff + i * ldc + j] += alpha * s;
            }
    }

    @Test
    void matchesNaiveOnOddShapesTransposesOffsetsAndTriangles() {
        Random rnd = new Random(7);
        // shapes straddle the tile (4 x 3 vectors), block (96 x 256) and panel boundaries
        int[][] shapes = {{1, 1, 1}, {3, 5, 2}, {4, 24, 256}, {5, 25, 257}, {97, 13, 3}, {13, 97, 300}, {101, 1600, 7}, {200, 50, 520}, {33, 33, 33}};
        for (int[] sh : shapes) {
            int m = sh[0], n = sh[1], k = sh[2];
            for (boolean ta : new boolean[]{false, true})
                for (boolean tb : new boolean[]{false, true})
                    for (Blas.Tri tri : Blas.Tri.values())
                        for (boolean par : new boolean[]{false, true}) {
                            double alpha = tri == Blas.Tri.LOWER ? -1 : 0.5;
                            int lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 1, ldc = n + 2;
                            int aOff = 5, bOff = 2, cOff = 3;
                            double[] a = random(rnd, aOff + (ta ? k : m) * lda), b = random(rnd, bOff + (tb ? n : k) * ldb);
                            double[] c = random(rnd, cOff + m * ldc), ref = c.clone();
                            Blas.gemm(ta, tb, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, c, cOff, ldc, tri, par);
                            naive(ta, tb, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, ref, cOff, ldc, tri);
                            String what = m + "x" + n + "x" + k + " ta=" + ta + " tb=" + tb + " " + tri + " par=" + par;
                            for (int i = 0; i < c.length; i++)
                                assertEquals(ref[i], c[i], 1e-12 * Math.sqrt(k) * (1 + Math.abs(ref[i])), what + " at " + i);
                        }
        }
    }

    @Test
    void quadFormsMatchRowByRowProductsAcrossBlockColumnsAndRowChunks() {
        Random rnd = new Random(11);
        // n straddles one and two block-columns (only the blocks on and above H's diagonal are multiplied), rows one GEMM
        // chunk, and the float32 form's panels of KCF inputs
        int[][] shapes = {{1, 1}, {3, 5}, {2, Blas.QUAD_COLS}, {7, Blas.QUAD_COLS + 1}, {Blas.QUAD_ROWS + 5, 2 * Blas.QUAD_COLS + 7},
                {5, Blas.KCF + 3}, {9, 3 * Blas.KCF + 1}};
        for (int[] sh : shapes) {
            int rows = sh[0], n = sh[1];
            double[] h = new double[n * n];
            for (int i = 0; i < n; i++)
                for (int j = 0; j <= i; j++) h[i * n + j] = h[j * n + i] = rnd.nextGaussian() + (i == j ? n : 0);
            double[] d = random(rnd, rows * n);
            double ref = 0;
            for (int r = 0; r < rows; r++)
                for (int i = 0; i < n; i++) {
                    double s = 0;
                    for (int j = 0; j < n; j++) s += h[i * n + j] * d[r * n + j];
                    ref += d[r * n + i] * s;
                }
            Blas.RowSource src = (r, dst, off) -> System.arraycopy(d, r * n, dst, off, n);
            assertEquals(ref, Blas.quadForms(h, n, rows, src), 1e-12 * Math.abs(ref), rows + "x" + n);
            // float32 products, float64 sums beyond a panel: H and d rounded to float32 (6e-8 relative each)
            assertEquals(ref, Blas.quadFormsFloat(h, n, rows, src), 1e-6 * Math.abs(ref), "float " + rows + "x" + n);
        }
    }

    @Test
    void countsUsefulFlops() {
        double[] a = new double[6 * 10], c = new double[36];
        long before = Blas.flops();
        Blas.gemm(false, true, 6, 6, 10, 1, a.clone(), 0, 10, a, 0, 10, c, 0, 6, Blas.Tri.UPPER, false);
        // flops() is global; other tests may run concurrently, so only a lower bound is exact
        assertTrue(Blas.flops() - before >= 2L * 10 * 21);
        assertEquals(21, Blas.triangleEntries(6, 6, Blas.Tri.UPPER));
        assertEquals(21, Blas.triangleEntries(6, 6, Blas.Tri.LOWER));
        assertEquals(3 + 2 + 1, Blas.triangleEntries(4, 3, Blas.Tri.UPPER));
    }

    @Test
    void rejectsOperandsOutOfRange() {
        assertThrows(IllegalArgumentException.class, () -> Blas.gemm(2, 2, 2, new double[3], new double[4], new double[4]));
        assertThrows(IllegalArgumentException.class, () -> Blas.gemm(false, false, 2, 2, 2, 1, new double[4], 0, 1, new double[4], 0, 2, new double[4], 0, 2, Blas.Tri.FULL, false));
    }
}
