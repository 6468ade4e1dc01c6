package dev.squish.methods.obs;

import dev.squish.util.Lanes;
import dev.squish.util.Blas;
import dev.squish.util.Parallel;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The upper Cholesky factor U of {@code H^-1} ({@code U^T U = H^-1}, positive diagonal) from one
 * Cholesky factorization and one triangular inverse, instead of the reference's three steps
 * ({@code cholesky}, {@code cholesky_inverse}, {@code cholesky(upper=True)}):
 * with P the exchange (index-reversal) matrix and {@code P H P = L L^T},
 * {@code H^-1 = (P L^-T P)(P L^-1 P)}, and {@code P L^-1 P} is upper triangular with a positive
 * diagonal, so by uniqueness of the Cholesky factor it is exactly the reference's U. It costs
 * n^3/3 multiply-adds instead of about n^3 and never forms {@code H^-1} explicitly (no extra
 * rounding from the explicit inverse).
 *
 * <p>Both steps are blocked in panels of {@link #NB} columns so that almost all of the
 * {@code 2 n^3 / 3} multiply-adds run in {@link Blas} GEMMs: the right-looking Cholesky updates
 * the trailing matrix with one lower-triangle GEMM per panel, and the triangular inverse computes
 * each block column of {@code L^-1} from GEMMs against the block rows already solved, block
 * columns in parallel. The unblocked version (one dot product per entry) read the whole factor
 * from memory once per column: minutes at n = 5632 instead of seconds.
 */
final class InverseCholesky {
    private InverseCholesky() {}

    private static final VectorSpecies<Double> S = DoubleVector.SPECIES_PREFERRED;
    /** Panel width: the GEMM depth of the trailing updates; the unblocked work grows with it (n * NB^2 / 2). */
    static final int NB = 128;

    /** Returns U (row-major n x n) or null if H is not positive definite in floating point. */
    static double[] upperOfInverse(double[] h, int n) {
        // A = P H P, factored in place (lower triangle) into L, row-major.
        double[] l = new double[n * n];
        for (int i = 0; i < n; i++) for (int j = 0; j <= i; j++) l[i * n + j] = h[(n - 1 - i) * n + (n - 1 - j)];
        if (!cholesky(l, n)) return null;
        double[] x = lowerInverse(l, n);
        // U[i][j] = X[n-1-i][n-1-j], upper triangular.
        double[] u = new double[n * n];
        for (int i = 0; i < n; i++) {
            int xr = (n - 1 - i) * n + (n - 1);
            for (int j = i; j < n; j++) u[i * n + j] = x[xr - j];
        }
        for (double v : u) if (!Double.isFinite(v)) return null;
        return u;
    }

    /** In-place lower Cholesky of the lower triangle of a (blocked, right-looking); false if not positive definite. */
    static boolean cholesky(double[] a, int n) {
        for (int j0 = 0; j0 < n; j0 += NB) {
            int jb = Math.min(NB, n - j0), j1 = j0 + jb;
            // diagonal block (already holds A11 - L10 L10^T): unblocked, left-looking within the panel
            for (int j = j0; j < j1; j++) {
                int rj = j * n;
                double d = a[rj + j] - dot(a, rj + j0, a, rj + j0, j - j0);
                if (!(d > 0) || !Double.isFinite(d)) return false;
                double ljj = Math.sqrt(d);
                a[rj + j] = ljj;
                for (int i = j + 1; i < j1; i++) a[i * n + j] = (a[i * n + j] - dot(a, i * n + j0, a, rj + j0, j - j0)) / ljj;
            }
            if (j1 == n) break;
            // panel below: L21 = A21 L11^-T, rows independent
            int rowsBelow = n - j1, p0 = j0;
            Parallel.forRange(rowsBelow, Math.max(1, 8192 / (jb * jb / 2 + 1)), (k0, k1) -> {
                for (int i = j1 + k0; i < j1 + k1; i++) {
                    int ri = i * n;
                    for (int j = p0; j < j1; j++) a[ri + j] = (a[ri + j] - dot(a, ri + p0, a, j * n + p0, j - p0)) / a[j * n + j];
                }
            });
            // trailing update: A22 -= L21 L21^T (lower triangle); reads columns j0..j1, writes columns >= j1
            Blas.gemm(false, true, rowsBelow, rowsBelow, jb, -1.0, a, j1 * n + j0, n, a, j1 * n + j0, n,
                    a, j1 * n + j1, n, Blas.Tri.LOWER, true);
        }
        Blas.count((long) n * NB * NB);  // the unblocked panel work, roughly
        return true;
    }

    /** X = L^-1 (lower triangular, row-major) of a lower Cholesky factor. */
    static double[] lowerInverse(double[] l, int n) {
        double[] x = new double[n * n];
        int blocks = (n + NB - 1) / NB;
        // diagonal blocks: X_II = L_II^-1 by forward substitution, column by column
        Parallel.forRange(blocks, 1, (b0, b1) -> {
            for (int b = b0; b < b1; b++) {
                int i0 = b * NB, i1 = Math.min(n, i0 + NB);
                for (int c = i0; c < i1; c++) {
                    x[c * n + c] = 1 / l[c * n + c];
                    for (int i = c + 1; i < i1; i++) {
                        double s = 0;
                        for (int k = c; k < i; k++) s += l[i * n + k] * x[k * n + c];
                        x[i * n + c] = -s / l[i * n + i];
                    }
                }
            }
        });
        // block column J: X_IJ = -X_II (L[I, J..I) X[J..I), J]) for I > J, in order of I; block columns are independent
        Parallel.forRange(blocks, 1, (b0, b1) -> {
            double[] t = new double[NB * NB];
            for (int bj = b0; bj < b1; bj++) {
                int j0 = bj * NB, jb = Math.min(NB, n - j0);
                for (int bi = bj + 1; bi < blocks; bi++) {
                    int i0 = bi * NB, ib = Math.min(NB, n - i0);
                    java.util.Arrays.fill(t, 0, ib * jb, 0);
                    Blas.gemm(false, false, ib, jb, i0 - j0, 1.0, l, i0 * n + j0, n, x, j0 * n + j0, n, t, 0, jb, Blas.Tri.FULL, false);
                    Blas.gemm(false, false, ib, jb, ib, -1.0, x, i0 * n + i0, n, t, 0, jb, x, i0 * n + j0, n, Blas.Tri.FULL, false);
                }
            }
        });
        return x;
    }

    static double dot(double[] a, int ao, double[] b, int bo, int len) {
        int i = 0;
        double s = 0;
        if (len >= 2 * S.length()) {
            DoubleVector acc0 = DoubleVector.zero(S), acc1 = acc0;
            int bound = len - 2 * S.length();
            for (; i <= bound; i += 2 * S.length()) {
                acc0 = DoubleVector.fromArray(S, a, ao + i).fma(DoubleVector.fromArray(S, b, bo + i), acc0);
                acc1 = DoubleVector.fromArray(S, a, ao + i + S.length()).fma(DoubleVector.fromArray(S, b, bo + i + S.length()), acc1);
            }
            s = Lanes.sum(acc0.add(acc1));
        }
        for (; i < len; i++) s += a[ao + i] * b[bo + i];
        return s;
    }
}
