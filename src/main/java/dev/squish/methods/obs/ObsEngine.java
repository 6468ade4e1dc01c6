package dev.squish.methods.obs;

import dev.squish.SquishException;
import dev.squish.util.Blas;

import java.util.Arrays;

/**
 * The shared preparation of the Optimal-Brain-Surgeon solvers (SparseGPT, GPTQ), following
 * {@code IST-DASLab/sparsegpt sparsegpt.py} / {@code IST-DASLab/gptq gptq.py} {@code fasterprune} /
 * {@code fasterquant}:
 * <ol>
 *   <li>dead inputs: {@code H[j][j] == 0 -> H[j][j] = 1, W[:, j] = 0} ({@link #fixDeadColumns});</li>
 *   <li>dampening: {@code H += percdamp * mean(diag(H)) * I} ({@link #dampen});</li>
 *   <li>{@code Hinv = cholesky(cholesky_inverse(cholesky(H)), upper=True)}: the upper Cholesky
 *       factor U of {@code H^-1} ({@code U^T U = H^-1}) ({@link #inverseCholeskyUpper}).</li>
 * </ol>
 * plus the act-order permutation (columns by descending {@code diag(H)}). All matrices are
 * row-major {@code double[n*n]}; everything is computed in float64 (the reference uses float32).
 *
 * <p>If the Cholesky factorization fails (H not positive definite in floating point even after
 * dampening), {@link #prepare} retries with 10x and 100x the dampening fraction (the way
 * llm-compressor's docs advise raising {@code dampening_frac}) and then throws a
 * {@link SquishException} naming the layer.
 */
public final class ObsEngine {
    private ObsEngine() {}

    public static final double DEFAULT_PERCDAMP = 0.01;
    public static final int DEFAULT_BLOCK_SIZE = 128;

    /** Result of {@link #prepare}: U (upper, row-major n x n) with U^T U = (H + damp I)^-1, and the dead inputs. */
    public record Prepared(double[] hinvU, int n, boolean[] dead, double damp, double percdampUsed) {
        /** {@code U[j][j]}: the {@code d} of the reference's {@code err = (w - q) / d}. */
        public double diag(int j) { return hinvU[j * n + j]; }
    }

    /**
     * Runs steps 1-3 on a copy of {@code h} (h itself is not modified). {@code w} (rows x n,
     * row-major double, may be null) gets its dead columns zeroed in place.
     *
     * @param what names the layer in the error message
     */
    public static Prepared prepare(double[] h, int n, double[] w, int rows, double percdamp, String what) {
        checkSquare(h, n);
        for (double v : h) if (!Double.isFinite(v)) throw new SquishException("Hessian of " + what + " contains NaN or infinite values (check the calibration activations)");
        if (percdamp < 0) throw new IllegalArgumentException("percdamp must be >= 0, got " + percdamp);
        double[] base = h.clone();
        boolean[] dead = fixDeadColumns(base, n, w, rows);
        double pd = percdamp;
        for (int attempt = 0; attempt < 3; attempt++, pd = (pd == 0 ? 1e-4 : pd * 10)) {
            double[] hd = base.clone();
            double damp = dampen(hd, n, pd);
            double[] u = inverseCholeskyUpper(hd, n);
            if (u != null) return new Prepared(u, n, dead, damp, pd);
        }
        throw new SquishException("Hessian of " + what + " is not positive definite even with dampening " + pd / 10
                + " x mean(diag(H)); use more or more varied calibration samples, or a larger dampening fraction");
    }

    /** Step 1: for every j with {@code H[j][j] == 0} sets {@code H[j][j] = 1} and {@code w[:, j] = 0} (w may be null). */
    public static boolean[] fixDeadColumns(double[] h, int n, double[] w, int rows) {
        boolean[] dead = new boolean[n];
        for (int j = 0; j < n; j++) {
            if (h[j * n + j] == 0) {
                dead[j] = true;
                h[j * n + j] = 1;
                if (w != null) for (int r = 0; r < rows; r++) w[r * n + j] = 0;
            }
        }
        return dead;
    }

    /** Step 2: adds {@code percdamp * mean(diag(H))} to the diagonal; returns the amount added. */
    public static double dampen(double[] h, int n, double percdamp) {
        double s = 0;
        for (int j = 0; j < n; j++) s += h[j * n + j];
        double damp = percdamp * s / n;
        for (int j = 0; j < n; j++) h[j * n + j] += damp;
        return damp;
    }

    /**
     * Step 3: the upper Cholesky factor U of {@code H^-1} ({@code U^T U = H^-1}), the reference's
     * {@code cholesky(cholesky_inverse(cholesky(H)), upper=True)}, computed by {@link InverseCholesky}
     * from one factorization of the index-reversed H (the same matrix by uniqueness of Cholesky
     * factors). Returns null if H is not positive definite in floating point.
     */
    public static double[] inverseCholeskyUpper(double[] h, int n) {
        checkSquare(h, n);
        return InverseCholesky.upperOfInverse(h, n);
    }

    /**
     * The act-order permutation: column indices sorted by descending {@code diag(H)}; ties keep
     * the original order (stable; torch.argsort is not, so the reference's order of exact ties is
     * unspecified). {@code perm[k]} = the original column at position k.
     */
    public static int[] actOrder(double[] h, int n) {
        Integer[] idx = new Integer[n];
        for (int j = 0; j < n; j++) idx[j] = j;
        Arrays.sort(idx, (a, b) -> Double.compare(h[b * n + b], h[a * n + a]));
        int[] perm = new int[n];
        for (int j = 0; j < n; j++) perm[j] = idx[j];
        return perm;
    }

    public static int[] invert(int[] perm) {
        int[] inv = new int[perm.length];
        for (int k = 0; k < perm.length; k++) inv[perm[k]] = k;
        return inv;
    }

    /** {@code H[perm][:, perm]}. */
    public static double[] permuteSymmetric(double[] h, int n, int[] perm) {
        double[] out = new double[n * n];
        for (int i = 0; i < n; i++) {
            int pi = perm[i] * n;
            for (int j = 0; j < n; j++) out[i * n + j] = h[pi + perm[j]];
        }
        return out;
    }

    /** {@code W[:, perm]} (new array). */
    public static double[] permuteColumns(double[] w, int rows, int cols, int[] perm) {
        double[] out = new double[w.length];
        for (int r = 0; r < rows; r++) {
            int o = r * cols;
            for (int j = 0; j < cols; j++) out[o + j] = w[o + perm[j]];
        }
        return out;
    }

    /** {@code W[:, perm]} (new array). */
    public static float[] permuteColumns(float[] w, int rows, int cols, int[] perm) {
        float[] out = new float[w.length];
        for (int r = 0; r < rows; r++) {
            int o = r * cols;
            for (int j = 0; j < cols; j++) out[o + j] = w[o + perm[j]];
        }
        return out;
    }

    // ---- the column sweep kernels shared by SparseGPT and GPTQ (one weight row at a time) ----

    /**
     * In-block error feedback of column i: {@code w1[j] -= err * U[i1+i][i1+j]} for {@code i < j < count}
     * (the reference also updates j == i, which is overwritten right after and so is skipped).
     */
    public static void propagateInBlock(double[] w1, int i, int count, double err, double[] u, int n, int i1) {
        int base = (i1 + i) * n + i1;
        for (int j = i + 1; j < count; j++) w1[j] -= err * u[base + j];
    }

    /**
     * The lazy batch update of one block: {@code W[:, i2:] -= E * U[i1:i2, i2:]}, where E
     * (rows x count, row-major) holds each row's errors of columns {@code i1 .. i2}: one
     * {@link Blas} GEMM ({@code 2 * rows * count * (n - i2)} flops) instead of a rank-count update
     * per row, which streamed the whole {@code count x n} slice of U (5.8 MB at n = 5632) from
     * memory once per row. Also counts the block's in-block sweep ({@code rows * count^2} flops).
     */
    public static void propagateLazy(double[] w, int rows, int n, double[] errs, int count, double[] u, int i1, int i2) {
        Blas.count((long) rows * count * count);
        if (i2 >= n) return;
        Blas.gemm(false, false, rows, n - i2, count, -1.0, errs, 0, count, u, i1 * n + i2, n, w, i2, n, Blas.Tri.FULL, true);
    }

    static void checkSquare(double[] h, int n) {
        if (n <= 0 || h.length != (long) n * n) throw new IllegalArgumentException("H must be " + n + "x" + n + ", got " + h.length + " values");
    }

    public static double[] toDouble(float[] w) {
        double[] d = new double[w.length];
        for (int i = 0; i < w.length; i++) d[i] = w[i];
        return d;
    }
}
