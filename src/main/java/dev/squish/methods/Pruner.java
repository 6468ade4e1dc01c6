package dev.squish.methods;

import dev.squish.SquishException;
import dev.squish.calibration.BlockContext;
import dev.squish.weights.Compact;
import dev.squish.weights.Linear;

/**
 * What the pruning methods share: the sparsity pattern, the loop over a block's selected linears,
 * storage of the result in a compact sparse format, and the per-layer report.
 */
public abstract class Pruner implements CompressionMethod {
    protected final double sparsity;
    /** N:M keeps n of every m consecutive input weights; n = m = 0 for unstructured. */
    protected final int n, m;

    protected Pruner(double sparsity, String pattern) {
        int[] nm = parsePattern(pattern);
        this.n = nm[0];
        this.m = nm[1];
        if (m == 0 && !(sparsity >= 0 && sparsity < 1))
            throw new SquishException("--sparsity must be in [0, 1), got " + sparsity);
        this.sparsity = m == 0 ? sparsity : 1.0 - (double) n / m;
    }

    /** {@code unstructured} -> {0, 0}; {@code N:M} -> {N, M} with 0 < N < M <= 32. */
    public static int[] parsePattern(String pattern) {
        if (pattern == null || pattern.equals("unstructured")) return new int[]{0, 0};
        String[] p = pattern.split(":");
        try {
            if (p.length == 2) {
                int n = Integer.parseInt(p[0].trim()), m = Integer.parseInt(p[1].trim());
                if (n > 0 && n < m && m <= 32) return new int[]{n, m};
            }
        } catch (NumberFormatException ignored) { }
        throw new SquishException("--pattern must be 'unstructured' or N:M with 0 < N < M <= 32 (e.g. 2:4), got '" + pattern + "'");
    }

    public String patternName() { return m == 0 ? "unstructured" : n + ":" + m; }

    @Override public String describe() {
        return name() + " " + (m == 0 ? String.format("%.0f%% unstructured", 100 * sparsity) : patternName());
    }

    /** Returns the pruned copy of w (rows x cols) for the named linear of the context's block. */
    protected abstract float[] prune(BlockContext ctx, String linear, float[] w, int rows, int cols);

    @Override public void compressBlock(BlockContext ctx) {
        for (String name : ctx.selectedLinears()) {
            Linear l = ctx.block().linear(name);
            long t0 = System.nanoTime();
            float[] w = l.toDense();
            if (m > 0 && l.cols() % m != 0)
                throw new SquishException("--pattern " + patternName() + ": " + ctx.model().arch.blockPrefix(ctx.block().index) + name
                        + " has " + l.cols() + " input columns, not a multiple of " + m);
            float[] p = prune(ctx, name, w, l.rows(), l.cols());
            Linear c = Compact.pruned(p, l.rows(), l.cols(), n, m);
            if (ctx.samples() > 0) ctx.stats(); // for the reconstruction error in the report
            ctx.replace(name(), name, c, w, (System.nanoTime() - t0) / 1e9);
        }
    }
}
