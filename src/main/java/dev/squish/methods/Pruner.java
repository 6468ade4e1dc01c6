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
    protected final PruneOptions options;
    protected final double sparsity;
    /** N:M keeps n of every m consecutive input weights; n = m = 0 for unstructured. */
    protected final int n, m;

    protected Pruner(PruneOptions options) {
        this.options = options;
        this.n = options.pattern() == null ? 0 : options.pattern().n();
        this.m = options.pattern() == null ? 0 : options.pattern().m();
        this.sparsity = options.sparsity();
    }

    /** For direct use: an N:M pattern implies its sparsity and the given one is ignored. */
    protected static PruneOptions options(double sparsity, String pattern) {
        boolean nm = pattern != null && !pattern.equals("unstructured");
        return PruneOptions.of(nm ? null : sparsity, pattern);
    }

    /** The pruning methods' descriptor: kind, options and how to read them; each method adds its id, help, needs and constructor. */
    abstract static class Family extends AbstractDescriptor<PruneOptions> {
        Family(String id, String help, java.util.Set<Need> needs) {
            super(id, help, Kind.PRUNE, needs, PruneOptions.class, PruneOptions.OPTIONS, PruneOptions::read);
        }
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
