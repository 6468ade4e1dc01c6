package dev.squish.methods;

import dev.squish.util.Parallel;

/**
 * Wanda (locuslab/wanda {@code lib/prune.py prune_wanda}): score {@code |W_ij| * ||X_j||_2}, where
 * {@code ||X_j||_2^2 = sum_t x_tj^2} over the calibration tokens
 * ({@link dev.squish.methods.obs.HessianAccumulator#columnNormsSquared()}; the reference's
 * {@code scaler_row} is the same up to a constant factor, which does not change any ranking).
 *
 * <p>Unstructured: entries are compared within each output row (the reference sorts each row and
 * prunes the first {@code int(cols * sparsity)} indices). Row r prunes exactly
 * {@code round(s*cols*(r+1)) - round(s*cols*r)} entries, so the matrix holds exactly
 * {@code round(s * rows * cols)} zeros; when {@code s * cols} is an integer (e.g. 0.5 of 256) every
 * row prunes exactly the reference's count, otherwise rows get floor or ceil of {@code s * cols}.
 * N:M: in each row, in every group of m consecutive columns, the m-n smallest scores are pruned
 * (the reference's {@code topk(..., prune_n, largest=False)} per group).
 */
public final class Wanda extends Pruner {
    public static final class Descriptor extends Family {
        public Descriptor() { super("wanda", "prunes by |W_ij| * ||X_j|| per output row (Wanda)", java.util.Set.of(Need.CALIBRATION)); }

        @Override public CompressionMethod create(PruneOptions o) { return new Wanda(o); }
    }

    static final Descriptor DESCRIPTOR = new Descriptor();

    public Wanda(PruneOptions options) { super(options); }

    public Wanda(double sparsity, String pattern) { this(options(sparsity, pattern)); }

    @Override public MethodDescriptor<?> descriptor() { return DESCRIPTOR; }

    @Override protected float[] prune(dev.squish.calibration.BlockContext ctx, String linear, float[] w, int rows, int cols) {
        return prune(w, rows, cols, ctx.stats(linear).hessian.columnNormsSquared(), sparsityOf(ctx, linear), nOf(ctx), m);
    }

    /** Returns a pruned copy of w (rows x cols); colNormSq has cols entries; n = m = 0 for unstructured. */
    public static float[] prune(float[] w, int rows, int cols, double[] colNormSq, double sparsity, int n, int m) {
        return Masks.apply(w, mask(w, rows, cols, colNormSq, sparsity, n, m));
    }

    /** The pruning mask (true = pruned). */
    public static boolean[] mask(float[] w, int rows, int cols, double[] colNormSq, double sparsity, int n, int m) {
        Magnitude.checkShape(w, rows, cols);
        if (colNormSq.length != cols) throw new IllegalArgumentException("need " + cols + " column norms, got " + colNormSq.length);
        boolean nm = Masks.checkNm(n, m, cols);
        if (!nm) Masks.checkSparsity(sparsity);
        double[] norm = new double[cols];
        for (int j = 0; j < cols; j++) norm[j] = Math.sqrt(colNormSq[j]);
        double[] score = new double[w.length];
        boolean[] mask = new boolean[w.length];
        Parallel.forRange(rows, 16, (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                int o = r * cols;
                for (int j = 0; j < cols; j++) score[o + j] = Math.abs(w[o + j]) * norm[j];
                if (nm) {
                    for (int g = 0; g < cols; g += m) Masks.nmGroup(score, o + g, n, m, mask, o + g);
                } else {
                    int k = Masks.share((long) r * cols, (long) (r + 1) * cols, sparsity);
                    Masks.smallestK(score, o, cols, k, mask);
                }
            }
        });
        return mask;
    }
}
