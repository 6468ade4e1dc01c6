package dev.squish.methods.prune;

import dev.squish.calibration.BlockContext;
import dev.squish.methods.*;
import dev.squish.weights.Compact;
import dev.squish.weights.Linear;

import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code dsnot}: a Wanda or SparseGPT mask refined by DSnoT's training-free prune-and-grow (see
 * {@link Dsnot}), block by block on the calibration inputs of the already-pruned blocks, as the
 * reference. As the reference's default ({@code --skip_layer mlp}), the MLP linears keep their
 * initial mask and only the attention linears are refined.
 */
public final class DsnotMethod implements CompressionMethod {
    public record Options(double sparsity, String base, int maxCycles, double updateThreshold) implements MethodOptions {
        static final List<OptionSpec> OPTIONS = List.of(
                OptionSpec.number("sparsity", "Fraction of weights pruned, in [0, 1) (implied by an N:M --pattern)."),
                OptionSpec.text("base", "dsnot: the mask it starts from, wanda (default) or sparsegpt."),
                OptionSpec.integer("max_cycles", "dsnot: at most this many swaps per row (default 50)."),
                OptionSpec.number("update_threshold", "dsnot: a row stops once |expected error| is at most this (default 0.1)."));

        public Options {
            PruneOptions.SPARSITY.check("sparsity", sparsity);
            if (base == null) base = "wanda";
            if (!base.equals("wanda") && !base.equals("sparsegpt")) throw new OptionException("{base} must be wanda or sparsegpt, got '" + base + "'");
            if (maxCycles < 0) throw new OptionException("{max_cycles} must be at least 0, got " + maxCycles);
            if (!(updateThreshold >= 0) || Double.isInfinite(updateThreshold)) throw new OptionException("{update_threshold} must be a number >= 0, got " + updateThreshold);
        }

        static Options read(OptionReader r) {
            Double s = r.number("sparsity", PruneOptions.SPARSITY);
            String base = r.string("base");
            Integer cycles = r.integer("max_cycles");
            Double t = r.number("update_threshold", Range.closed(0, Double.MAX_VALUE));
            return r.build(() -> {
                if (s == null) throw new OptionException("missing {sparsity}");
                return new Options(s, base, cycles != null ? cycles : Dsnot.DEFAULT_MAX_CYCLES, t != null ? t : Dsnot.DEFAULT_UPDATE_THRESHOLD);
            });
        }

        @Override public Map<String, Object> values() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("sparsity", sparsity);
            m.put("base", base);
            m.put("max_cycles", maxCycles);
            m.put("update_threshold", updateThreshold);
            return m;
        }
    }

    public static final class Descriptor extends AbstractDescriptor<Options> {
        public Descriptor() {
            super("dsnot", "DSnoT: a wanda or sparsegpt mask refined by training-free prune-and-grow",
                    Kind.PRUNE, Set.of(Need.CALIBRATION), Options.class, Options.OPTIONS, Options::read);
        }

        @Override public CompressionMethod create(Options o) { return new DsnotMethod(o); }
    }

    static final Descriptor DESCRIPTOR = new Descriptor();
    private final Options options;
    private long swaps, rowsChanged, rowsReverted;

    public DsnotMethod(Options options) { this.options = options; }

    @Override public MethodDescriptor<?> descriptor() { return DESCRIPTOR; }

    @Override public String describe() {
        return String.format(java.util.Locale.ROOT, "dsnot %.0f%% unstructured on %s", 100 * options.sparsity(), options.base());
    }

    /** Swaps made, rows changed and rows the error guard reverted, so far. */
    public long[] counts() { return new long[]{swaps, rowsChanged, rowsReverted}; }

    @Override public void compressBlock(BlockContext ctx) {
        // per-feature mean and variance of every linear's input (DSnoT's metric), one pass
        Map<String, Moments> mom = new HashMap<>();
        IdentityHashMap<float[], Moments> seen = new IdentityHashMap<>();
        ctx.forEachSample((name, in, n, cols) -> {
            Moments mm = seen.get(in);
            if (mm == null) {
                mm = mom.computeIfAbsent(name, k -> new Moments(cols));
                mm.add(in, n);
                seen.clear();
                seen.put(in, mm);
            }
            mom.putIfAbsent(name, mm);
        });
        Dsnot.Base base = options.base().equals("wanda") ? Dsnot.Base.WANDA : Dsnot.Base.SPARSEGPT;
        for (String name : ctx.selectedLinears()) {
            long t0 = System.nanoTime();
            Linear l = ctx.block().linear(name);
            int rows = l.rows(), cols = l.cols();
            float[] w = l.toDense();
            double[] h = ctx.stats(name).hessian.hessian();
            Moments mm = mom.get(name);
            boolean[] mask = Dsnot.initialMask(base, w, rows, cols, mm.normSq(), h, options.sparsity(),
                    ctx.model().arch.blockPrefix(ctx.block().index) + name);
            if (!name.startsWith("mlp.")) {
                Dsnot.Stats st = Dsnot.refine(w, rows, cols, mask, mm.mean(), mm.variance(), mm.normSq(), h, options.maxCycles(), options.updateThreshold());
                swaps += st.swaps();
                rowsChanged += st.rowsChanged();
                rowsReverted += st.rowsReverted();
            }
            ctx.replace(name(), name, Compact.pruned(Masks.apply(w, mask), rows, cols, 0, 0), w, (System.nanoTime() - t0) / 1e9);
        }
    }
}
