package dev.squish.methods;

import dev.squish.weights.LowRankLinear;
import org.ejml.data.DMatrixRMaj;
import org.ejml.dense.row.CommonOps_DDRM;
import org.ejml.dense.row.SingularOps_DDRM;
import org.ejml.dense.row.factory.DecompositionFactory_DDRM;
import org.ejml.interfaces.decomposition.SingularValueDecomposition_F64;

/**
 * The linear algebra the factorizing methods share, in float64 on EJML: the thin SVD sorted by
 * decreasing singular value, the truncation to rank k as {@code A = U_k sqrt(S_k)},
 * {@code B = sqrt(S_k) V_k^T M} (M = identity for plain SVD, the inverse whitening for SVD-LLM),
 * and the rank that keeps a fraction of a matrix's parameters.
 */
public final class LowRank {
    private LowRank() {}

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

    /** Singular values only (descending), cheaper than {@link #svd} (for rank allocation). */
    public static double[] singularValues(DMatrixRMaj m) {
        SingularValueDecomposition_F64<DMatrixRMaj> svd = DecompositionFactory_DDRM.svd(m.numRows, m.numCols, false, false, true);
        if (!svd.decompose(m.copy())) throw new IllegalStateException("SVD did not converge for a " + m.numRows + "x" + m.numCols + " matrix");
        double[] s = svd.getSingularValues().clone();
        java.util.Arrays.sort(s);
        for (int i = 0, j = s.length - 1; i < j; i++, j--) { double t = s[i]; s[i] = s[j]; s[j] = t; }
        return java.util.Arrays.copyOf(s, Math.min(m.numRows, m.numCols));
    }

    /**
     * The rank-k truncation as a {@link LowRankLinear}: {@code A = U_k sqrt(S_k)} (rows x k) and
     * {@code B = sqrt(S_k) V_k^T right} (k x cols), where {@code right} is null for the identity
     * (the decomposition is then of W itself) or the inverse whitening {@code S^-1} (SVD-LLM).
     */
    public static LowRankLinear truncate(Decomposition d, int k, DMatrixRMaj right) {
        if (k < 1 || k > d.fullRank()) throw new IllegalArgumentException("rank " + k + " outside [1, " + d.fullRank() + "]");
        int rows = d.rows(), n = d.cols();
        DMatrixRMaj vt = new DMatrixRMaj(k, n);
        for (int j = 0; j < k; j++) for (int c = 0; c < n; c++) vt.set(j, c, d.v().get(c, j));
        DMatrixRMaj b = right == null ? vt : CommonOps_DDRM.mult(vt, right, null);
        int cols = b.numCols;
        float[] fa = new float[rows * k], fb = new float[k * cols];
        for (int j = 0; j < k; j++) {
            double sq = Math.sqrt(d.s()[j]);
            for (int r = 0; r < rows; r++) fa[r * k + j] = (float) (d.u().get(r, j) * sq);
            for (int c = 0; c < cols; c++) fb[j * cols + c] = (float) (b.get(j, c) * sq);
        }
        return LowRankLinear.of(fa, fb, rows, k, cols);
    }

    /**
     * The rank that holds {@code keep} of a rows x cols matrix's parameters:
     * {@code floor(keep * rows * cols / (rows + cols))} (SVD-LLM's {@code num_s_after_trunc}), at least 1.
     */
    public static int rankForKeep(double keep, int rows, int cols) {
        long k = (long) Math.floor(keep * (double) rows * cols / (rows + cols));
        return (int) Math.max(1, Math.min(k, Math.min(rows, cols)));
    }

    /** The largest rank whose factors hold no more parameters than the dense matrix. */
    public static int breakEvenRank(int rows, int cols) {
        return Math.max(1, (int) ((long) rows * cols / (rows + cols)));
    }
}
