package dev.squish.util;

import org.ejml.data.DMatrixRMaj;
import org.ejml.dense.row.SingularOps_DDRM;
import org.ejml.dense.row.factory.DecompositionFactory_DDRM;
import org.ejml.interfaces.decomposition.SingularValueDecomposition_F64;

import java.util.Arrays;

/**
 * The one EJML set-up for singular value decompositions (factorizing methods, the low-rank format,
 * report spectra): float64, thin, sorted by decreasing singular value.
 */
public final class Svds {
    private Svds() {}

    /**
     * A thin SVD {@code M = U diag(s) V^T} with s descending; u is m x r, v is n x r (r = min(m, n)),
     * both row-major EJML matrices.
     */
    public record Decomposition(int rows, int cols, DMatrixRMaj u, double[] s, DMatrixRMaj v) {
        public int fullRank() { return s.length; }
    }

    /** Row-major float matrix to an EJML double matrix. */
    public static DMatrixRMaj matrix(float[] w, int rows, int cols) {
        if (w.length != (long) rows * cols) throw new IllegalArgumentException("expected " + rows + "x" + cols + " floats, got " + w.length);
        DMatrixRMaj m = new DMatrixRMaj(rows, cols);
        for (int i = 0; i < w.length; i++) m.data[i] = w[i];
        return m;
    }

    /** The thin SVD of m (m is not modified). */
    public static Decomposition svd(DMatrixRMaj m) {
        int rows = m.numRows, cols = m.numCols;
        SingularValueDecomposition_F64<DMatrixRMaj> svd = DecompositionFactory_DDRM.svd(rows, cols, true, true, true);
        if (!svd.decompose(m.copy())) throw new IllegalStateException("SVD did not converge for a " + rows + "x" + cols + " matrix");
        DMatrixRMaj u = svd.getU(null, false), w = svd.getW(null), v = svd.getV(null, false);
        SingularOps_DDRM.descendingOrder(u, false, w, v, false);
        int r = Math.min(rows, cols);
        double[] s = new double[r];
        for (int i = 0; i < r; i++) s[i] = w.get(i, i);
        return new Decomposition(rows, cols, u, s, v);
    }

    /** Singular values only (descending), cheaper than {@link #svd}; m is not modified. */
    public static double[] singularValues(DMatrixRMaj m) {
        SingularValueDecomposition_F64<DMatrixRMaj> svd = DecompositionFactory_DDRM.svd(m.numRows, m.numCols, false, false, true);
        if (!svd.decompose(m.copy())) throw new IllegalStateException("SVD did not converge for a " + m.numRows + "x" + m.numCols + " matrix");
        double[] s = svd.getSingularValues().clone();
        Arrays.sort(s);
        for (int i = 0, j = s.length - 1; i < j; i++, j--) { double t = s[i]; s[i] = s[j]; s[j] = t; }
        return Arrays.copyOf(s, Math.min(m.numRows, m.numCols));
    }

    /** Singular values of a row-major float matrix, largest first. */
    public static double[] singularValues(float[] w, int rows, int cols) { return singularValues(matrix(w, rows, cols)); }
}
