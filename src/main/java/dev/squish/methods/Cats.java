package dev.squish.methods;

import dev.squish.SquishException;
import dev.squish.calibration.BlockContext;
import dev.squish.calibration.ModelContext;
import dev.squish.model.Block;
import dev.squish.model.Llama;
import dev.squish.model.Ops;
import dev.squish.model.SparseMlp;
import dev.squish.weights.Linear;

import java.util.Set;

/**
 * CATS (Lee et al. 2024, "Contextually-Aware Thresholding for Sparsity"): in each gated MLP, the
 * channels whose {@code |SiLU(gate x)|} is at most a threshold are dropped, so up_proj computes
 * only the kept rows and down_proj reads only the kept columns. The threshold is the quantile of
 * {@code |SiLU(gate x)|} over the calibration tokens that zeroes the target fraction (the paper's
 * calibration), computed per block on the outputs of the blocks before it, already sparsified.
 * Stored as the block vector {@link SparseMlp#CATS_THRESHOLD}; down_proj becomes column-major
 * (threshold 0: it skips the zeros CATS leaves).
 */
public final class Cats implements CompressionMethod {
    public static final class Descriptor extends AbstractDescriptor<CatsOptions> {
        public Descriptor() {
            super("cats", "drops MLP channels whose |SiLU(gate)| is under a calibrated threshold; up/down skip them (CATS)",
                    Kind.ACTIVATION, Set.of(Need.CALIBRATION), CatsOptions.class, CatsOptions.OPTIONS, CatsOptions::read);
        }

        @Override public CompressionMethod create(CatsOptions o) { return new Cats(o); }
    }

    static final Descriptor DESCRIPTOR = new Descriptor();

    private final CatsOptions o;

    public Cats(CatsOptions o) { this.o = o; }

    public Cats(double sparsity) { this(new CatsOptions(sparsity)); }

    @Override public MethodDescriptor<?> descriptor() { return DESCRIPTOR; }

    @Override public String describe() { return String.format("cats %.0f%%", 100 * o.activationSparsity()); }

    @Override public void plan(ModelContext ctx) { requireGatedMlp(ctx, "cats"); }

    static void requireGatedMlp(ModelContext ctx, String method) {
        if (!(ctx.model().arch instanceof Llama))
            throw new SquishException(method + " needs a gated (SwiGLU) MLP, as the Llama family has; this model is " + ctx.model().config.family());
    }

    @Override public void compressBlock(BlockContext ctx) {
        if (!ctx.selected(Llama.DOWN)) return;
        long t0 = System.nanoTime();
        Block b = ctx.block();
        Linear gp = b.linear(Llama.GATE);
        int inter = gp.rows();
        float[] gb = b.vector(Llama.GATE + ".bias");
        ActivationSample s = new ActivationSample((long) ctx.samples() * ctx.seqLen() * inter);
        ctx.forEachSample((name, x, n, cols) -> {
            if (!name.equals(Llama.GATE)) return;
            float[] g = new float[n * inter];
            gp.matmul(x, n, g);
            Ops.addBias(g, gb, n);
            for (int i = 0; i < g.length; i++) g[i] = Math.abs(Ops.silu(g[i]));
            s.add(g, n, inter);
        });
        float t = s.threshold(o.activationSparsity());
        ctx.putVector(SparseMlp.CATS_THRESHOLD, new float[]{t});
        ctx.replace(name(), Llama.DOWN, Teal.wrap(b.linear(Llama.DOWN), 0f), Double.NaN, (System.nanoTime() - t0) / 1e9);
    }
}
