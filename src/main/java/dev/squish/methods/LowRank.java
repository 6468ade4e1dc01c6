package dev.squish.methods;

import dev.squish.weights.LowRankLinear;
import org.ejml.data.DMatrixRMaj;
import org.ejml.dense.row.CommonOps_DDRM;
import dev.squish.util.Svds;

/**
 * The linear algebra the factorizing methods share, in float64 on EJML: the thin SVD sorted by
 * decreasing singular value, the truncation to rank k as {@code A = U_k sqrt(S_k)},
 * {@code B = sqrt(S_k) V_k^T M} (M = identity for plain SVD, the inverse whitening for SVD-LLM),
 * and the rank that keeps a fraction of a matrix's parameters.
 */
public final class LowRank {
    private LowRank() {}

    /** Row-major float matrix to an EJML double matrix. */
    public static DMatrixRMaj matrix(float[] w, int rows, int cols) { return Svds.matrix(w, rows, cols); }

    /** The thin SVD, s descending ({@link Svds#svd}). */
    public static Svds.Decomposition svd(DMatrixRMaj m) { return Svds.svd(m); }

    /** Singular values only (descending), cheaper than {@link #svd} (for rank allocation). */
    public static double[] singularValues(DMatrixRMaj m) { return Svds.singularValues(m); }

    /**
     * The rank-k truncation as a {@link LowRankLinear}: {@code A = U_k sqrt(S_k)} (rows x k) and
     * {@code B = sqrt(S_k) V_k^T right} (k x cols), where {@code right} is null for the identity
     * (the decomposition is then of W itself) or the inverse whitening {@code S^-1} (SVD-LLM).
     */
    public static LowRankLinear truncate(Svds.Decomposition d, int k, DMatrixRMaj right) {
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
