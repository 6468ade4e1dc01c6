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
        return name() + " " + (m == 0 ? String.format("%.0f%% unstructured", 100 * sparsity)
                : blockN != null ? "N:" + m + " per block (N " + blockN.values() + ", mean density " + String.format(java.util.Locale.ROOT, "%.4f", meanDensity()) + ")"
                : patternName())
                + (options.owl() == null ? "" : String.format(java.util.Locale.ROOT, ", OWL allocation (M %s, lambda %s)",
                OptionReader.fmt(options.owl().m()), OptionReader.fmt(options.owl().lambda())));
    }

    /** With OWL: the sparsity of each selected linear, by block index then name (exact counts / sizes). */
    private java.util.Map<Integer, java.util.Map<String, Double>> allocated;
    /** With OWL: each block's outlier ratio D_l and sparsity s_l, for reports and docs. */
    private double[] outlierRatios, layerSparsities;

    public double[] outlierRatios() { return outlierRatios; }

    /** With OWL on N:M: the parameter-weighted mean density of the per-block patterns. */
    private double meanDensity;

    public double meanDensity() { return meanDensity; }

    public double[] layerSparsities() { return layerSparsities; }

    /**
     * OWL allocation (see {@link dev.squish.methods.prune.Owl}): outlier ratios from Wanda scores on
     * the dense model's calibration activations, then per-layer sparsities averaging exactly to
     * the target over the selected linears' parameters.
     */
    @Override public void plan(dev.squish.calibration.ModelContext ctx) {
        if (options.owl() == null) return;
        if (ctx.samples() == null)
            throw new SquishException("--allocation owl needs --calibration TEXT_FILE: OWL's outlier ratios are Wanda scores on calibration activations");
        var model = ctx.model();
        java.util.List<String> names = ctx.selectedLinears();
        int blocks = model.blocks.size();
        outlierRatios = dev.squish.methods.prune.Owl.outlierRatios(model, ctx.samples(), names, options.owl().m());
        long[] params = new long[blocks];
        long[][] sizes = new long[blocks][names.size()];
        for (int l = 0; l < blocks; l++)
            for (int k = 0; k < names.size(); k++) {
                Linear li = model.blocks.get(l).linear(names.get(k));
                sizes[l][k] = (long) li.rows() * li.cols();
                params[l] += sizes[l][k];
            }
        if (m > 0) { planNm(model, params); return; }
        layerSparsities = dev.squish.methods.prune.Owl.layerSparsities(outlierRatios, params, sparsity, options.owl().lambda());
        long[][] counts = dev.squish.methods.prune.Owl.counts(layerSparsities, sizes, sparsity);
        allocated = new java.util.HashMap<>();
        for (int l = 0; l < blocks; l++) {
            var m = new java.util.HashMap<String, Double>();
            for (int k = 0; k < names.size(); k++) m.put(names.get(k), (double) counts[l][k] / sizes[l][k]);
            allocated.put(model.blocks.get(l).index, m);
        }
    }

    /** With OWL on an N:M pattern: each block's N (keep N of every m), by block index. */
    private java.util.Map<Integer, Integer> blockN;

    /** Each block's N with OWL on an N:M pattern, in block order; null otherwise. */
    public int[] layerN() {
        if (blockN == null) return null;
        return blockN.values().stream().mapToInt(Integer::intValue).toArray();
    }

    /**
     * OWL's N:M variant ({@link dev.squish.methods.prune.Owl#layerN}): every block keeps M and gets its
     * own N. A block whose N rounds to 0 (would prune everything) or to M (would prune nothing, and
     * the reference's topk fails) is refused: it is the spread, not the data, that is too wide.
     */
    private void planNm(dev.squish.model.Model model, long[] params) {
        double lambda = options.owl().lambda();
        int[] ns = dev.squish.methods.prune.Owl.layerN(outlierRatios, params, n, m, lambda);
        blockN = new java.util.LinkedHashMap<>();
        layerSparsities = new double[ns.length];
        for (int l = 0; l < ns.length; l++) {
            if (ns[l] < 1 || ns[l] >= m)
                throw new SquishException("--owl-lambda " + OptionReader.fmt(lambda) + " with --pattern " + n + ":" + m
                        + " gives block " + model.blocks.get(l).index + " N = " + ns[l] + " (outlier ratio "
                        + String.format(java.util.Locale.ROOT, "%.4f%%", 100 * outlierRatios[l]) + "), outside 1.." + (m - 1)
                        + "; per-layer N:M needs every block to keep between 1 and " + (m - 1) + " of every " + m
                        + ": lower --owl-lambda or choose an N further from 0 and " + m);
            blockN.put(model.blocks.get(l).index, ns[l]);
            layerSparsities[l] = 1 - (double) ns[l] / m;
        }
        meanDensity = dev.squish.methods.prune.Owl.meanDensity(ns, params, m);
    }

    /** N of the N:M pattern for the context's block: its OWL N, else the pattern's; 0 for unstructured. */
    protected int nOf(BlockContext ctx) {
        if (blockN == null) return n;
        Integer v = blockN.get(ctx.block().index);
        return v == null ? n : v;
    }

    /** The sparsity this linear of the context's block is pruned to (the target, or its OWL share). */
    protected double sparsityOf(BlockContext ctx, String linear) {
        if (blockN != null) return 1 - (double) nOf(ctx) / m;
        if (allocated == null) return sparsity;
        Double s = allocated.getOrDefault(ctx.block().index, java.util.Map.of()).get(linear);
        return s == null ? sparsity : s;
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
            Linear c = Compact.pruned(p, l.rows(), l.cols(), nOf(ctx), m);
            if (ctx.samples() > 0) ctx.stats(); // for the reconstruction error in the report
            ctx.replace(name(), name, c, w, (System.nanoTime() - t0) / 1e9);
        }
    }
}
