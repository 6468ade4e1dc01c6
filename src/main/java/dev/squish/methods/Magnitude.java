package dev.squish.methods;

/**
 * Magnitude pruning (the baseline in locuslab/wanda {@code lib/prune.py prune_magnitude}): score
 * {@code |W_ij|}. Unstructured: one selection over the whole matrix, pruning exactly
 * {@code round(sparsity * rows * cols)} entries (the reference thresholds at the sorted value
 * {@code [int(numel * sparsity)]} with {@code <=}, which prunes one more plus ties). N:M: in each
 * row, in every group of m consecutive columns, the m-n smallest are pruned.
 */
public final class Magnitude extends Pruner {
    public static final class Descriptor extends Family {
        public Descriptor() { super("magnitude", "prunes the smallest |W| per matrix (data-free)", java.util.Set.of()); }

        @Override public CompressionMethod create(PruneOptions o) { return new Magnitude(o); }
    }

    static final Descriptor DESCRIPTOR = new Descriptor();

    public Magnitude(PruneOptions options) { super(options); }

    public Magnitude(double sparsity, String pattern) { this(options(sparsity, pattern)); }

    @Override public MethodDescriptor<?> descriptor() { return DESCRIPTOR; }

    @Override protected float[] prune(dev.squish.calibration.BlockContext ctx, String linear, float[] w, int rows, int cols) {
        return prune(w, rows, cols, sparsityOf(ctx, linear), nOf(ctx), m);
    }

    /** Returns a pruned copy of w (rows x cols, row-major); n = m = 0 for unstructured. */
    public static float[] prune(float[] w, int rows, int cols, double sparsity, int n, int m) {
        return Masks.apply(w, mask(w, rows, cols, sparsity, n, m));
    }

    /** The pruning mask (true = pruned). */
    public static boolean[] mask(float[] w, int rows, int cols, double sparsity, int n, int m) {
        checkShape(w, rows, cols);
        boolean nm = Masks.checkNm(n, m, cols);
        double[] score = new double[w.length];
        for (int i = 0; i < w.length; i++) score[i] = Math.abs(w[i]);
        boolean[] mask = new boolean[w.length];
        if (nm) {
            for (int g = 0; g < w.length; g += m) Masks.nmGroup(score, g, n, m, mask, g);
        } else {
            Masks.smallestK(score, 0, w.length, (int) Masks.prunedCount(w.length, sparsity), mask);
        }
        return mask;
    }

    static void checkShape(float[] w, int rows, int cols) {
        if (rows <= 0 || cols <= 0 || w.length != (long) rows * cols)
            throw new IllegalArgumentException("weight must be " + rows + "x" + cols + ", got " + w.length + " values");
    }
}
