package dev.squish.methods;

import dev.squish.methods.obs.ObsEngine;
import dev.squish.util.Parallel;

/**
 * SparseGPT ({@code fasterprune} in IST-DASLab/sparsegpt {@code sparsegpt.py}): one-shot pruning
 * with OBS error compensation. Columns are processed left to right in lazy blocks of
 * {@code blockSize}; inside a block each column's pruning error {@code err = (w - q) / d}
 * ({@code d = U[j][j]}, U the upper Cholesky factor of {@code H^-1}) is fed back into the block's
 * remaining columns, and the whole block's errors into the columns after it in one batch.
 *
 * <p>Mask selection, score {@code w^2 / d^2} on the current (error-updated) weights:
 * <ul>
 *   <li>unstructured: per block, over the whole [rows x block] slice, at the start of the block.
 *       Exact mode (default): the block prunes exactly {@code round(s*rows*i2) - round(s*rows*i1)}
 *       smallest-score entries (ties: row-major order), so the matrix gets exactly
 *       {@code round(s * rows * cols)} pruned entries. Reference mode: the reference's threshold
 *       {@code sort(tmp)[int(numel * s)]} with {@code tmp <= thresh}, which prunes
 *       {@code int(numel * s) + 1} (plus ties) per block, i.e. slightly more than s.</li>
 *   <li>N:M (keep n of every m): when {@code i % m == 0}, per row, the m-n smallest scores of
 *       columns {@code i .. i+m} of the block are pruned.</li>
 * </ul>
 * Rows are independent given U and the mask, so the sweep runs in parallel over rows, in float64;
 * each block's errors reach the later columns in one {@link dev.squish.util.Blas} GEMM.
 */
public final class SparseGpt extends Pruner {
    public static final class Descriptor extends Family {
        public Descriptor() { super("sparsegpt", "pruning with inverse-Hessian error compensation (SparseGPT)", java.util.Set.of(Need.CALIBRATION)); }

        @Override public CompressionMethod create(PruneOptions o) { return new SparseGpt(o); }
    }

    static final Descriptor DESCRIPTOR = new Descriptor();

    public SparseGpt(PruneOptions options) { super(options); }

    public SparseGpt(double sparsity, String pattern) { this(options(sparsity, pattern)); }

    @Override public MethodDescriptor<?> descriptor() { return DESCRIPTOR; }

    @Override protected float[] prune(dev.squish.calibration.BlockContext ctx, String linear, float[] w, int rows, int cols) {
        return prune(w, rows, cols, ctx.stats(linear).hessian.hessian(), sparsityOf(ctx, linear), nOf(ctx), m,
                ObsEngine.DEFAULT_BLOCK_SIZE, ObsEngine.DEFAULT_PERCDAMP, false,
                ctx.model().arch.blockPrefix(ctx.block().index) + linear);
    }

    /** Defaults: block 128, dampening 0.01, exact count. n = m = 0 for unstructured. */
    public static float[] prune(float[] w, int rows, int cols, double[] h, double sparsity, int n, int m) {
        return prune(w, rows, cols, h, sparsity, n, m, ObsEngine.DEFAULT_BLOCK_SIZE, ObsEngine.DEFAULT_PERCDAMP);
    }

    public static float[] prune(float[] w, int rows, int cols, double[] h, double sparsity, int n, int m,
                                int blockSize, double percdamp) {
        return prune(w, rows, cols, h, sparsity, n, m, blockSize, percdamp, false, "layer");
    }

    /**
     * Returns the pruned (and compensated) copy of w (rows x cols, row-major); w and h are not modified.
     *
     * @param h              the layer Hessian, cols x cols row-major
     * @param sparsity       fraction to prune (unstructured; ignored for N:M, as in the reference)
     * @param n              N:M keeps n of every m; n = m = 0 for unstructured
     * @param referenceMask  use the reference's per-block threshold instead of the exact count
     * @param name           names the layer in error messages
     */
    public static float[] prune(float[] w, int rows, int cols, double[] h, double sparsity, int n, int m,
                                int blockSize, double percdamp, boolean referenceMask, String name) {
        Magnitude.checkShape(w, rows, cols);
        boolean nm = Masks.checkNm(n, m, cols);
        if (!nm) Masks.checkSparsity(sparsity);
        if (blockSize <= 0 || (nm && blockSize % m != 0))
            throw new IllegalArgumentException("block size must be > 0" + (nm ? " and a multiple of M=" + m : "") + ", got " + blockSize);
        double[] W = ObsEngine.toDouble(w);
        ObsEngine.Prepared p = ObsEngine.prepare(h, cols, W, rows, percdamp, name);
        double[] u = p.hinvU();
        double[] errs = new double[rows * Math.min(blockSize, cols)];
        for (int i1 = 0; i1 < cols; i1 += blockSize) {
            int b1 = i1, b2 = Math.min(i1 + blockSize, cols), count = b2 - b1;
            boolean[] mask1 = new boolean[rows * count];
            if (!nm) selectBlock(W, rows, cols, u, b1, count, sparsity, referenceMask, mask1);
            Parallel.forRange(rows, 8, (r0, r1) -> {
                double[] w1 = new double[count], sc = new double[Math.max(m, 1)];
                for (int r = r0; r < r1; r++) {
                    int off = r * cols, moff = r * count;
                    System.arraycopy(W, off + b1, w1, 0, count);
                    for (int i = 0; i < count; i++) {
                        if (nm && i % m == 0) {
                            for (int j = 0; j < m; j++) sc[j] = score(w1[i + j], p.diag(b1 + i + j));
                            Masks.nmGroup(sc, 0, n, m, mask1, moff + i);
                        }
                        double wi = w1[i];
                        double q = mask1[moff + i] ? 0 : wi;
                        double e = (wi - q) / p.diag(b1 + i);
                        if (e != 0) ObsEngine.propagateInBlock(w1, i, count, e, u, cols, b1);
                        W[off + b1 + i] = q;
                        errs[r * count + i] = e;
                    }
                }
            });
            ObsEngine.propagateLazy(W, rows, cols, errs, count, u, b1, b2);
        }
        float[] out = new float[W.length];
        for (int i = 0; i < out.length; i++) out[i] = (float) W[i];
        return out;
    }

    private static double score(double w, double d) { return w * w / (d * d); }

    private static void selectBlock(double[] W, int rows, int cols, double[] u, int i1, int count,
                                    double sparsity, boolean reference, boolean[] mask1) {
        int n = cols;
        double[] tmp = new double[rows * count];
        for (int r = 0; r < rows; r++)
            for (int i = 0; i < count; i++) tmp[r * count + i] = score(W[r * cols + i1 + i], u[(i1 + i) * n + i1 + i]);
        if (reference) {
            double[] sorted = tmp.clone();
            java.util.Arrays.sort(sorted);
            double thresh = sorted[Math.min((int) (tmp.length * sparsity), tmp.length - 1)];
            for (int k = 0; k < tmp.length; k++) mask1[k] = tmp[k] <= thresh;
        } else {
            int k = Masks.share((long) rows * i1, (long) rows * (i1 + count), sparsity);
            Masks.smallestK(tmp, 0, tmp.length, k, mask1);
        }
    }
}
