package dev.squish.methods;

import dev.squish.calibration.BlockContext;
import dev.squish.calibration.ModelContext;
import dev.squish.model.Block;
import dev.squish.model.Model;
import dev.squish.weights.Linear;
import dev.squish.weights.LowRankLinear;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Plain truncated SVD (data-free): each selected linear W (m x n) becomes {@code A B} with
 * {@code A = U_k sqrt(S_k)} (m x k) and {@code B = sqrt(S_k) V_k^T} (k x n), the best rank-k
 * approximation of W in the Frobenius norm, stored as a {@link LowRankLinear}.
 *
 * <p>With {@code --allocation spectrum} the ranks of all selected matrices of all blocks are
 * allocated together from one budget in {@link #plan}, before the first block is compressed: a
 * first pass computes the singular values of every selected (still dense) matrix.
 */
public final class Svd extends Factorizer {
    private Map<String, Integer> allocated; // "block/linear" -> rank, for the spectrum allocation

    public static final class Descriptor extends Family {
        public Descriptor() { super("svd", "truncated SVD, W = A B (data-free)", java.util.Set.of(Need.WHOLE_MODEL)); }

        @Override public CompressionMethod create(LowRankOptions o) { return new Svd(o); }
    }

    static final Descriptor DESCRIPTOR = new Descriptor();

    public Svd(LowRankOptions options) { super(options); }

    public Svd(Double keep, Integer rank, String allocation) { this(new LowRankOptions(keep, rank, allocation)); }

    @Override public MethodDescriptor<?> descriptor() { return DESCRIPTOR; }

    /** With the spectrum allocation: one budget over every selected matrix of the model, before the first block. */
    @Override public void plan(ModelContext ctx) {
        if (needsSpectra()) allocated = allocateAll(ctx);
    }

    @Override public void compressBlock(BlockContext ctx) {
        for (String name : ctx.selectedLinears()) {
            Linear l = ctx.block().linear(name);
            long t0 = System.nanoTime();
            float[] w = l.toDense();
            int k = allocated != null ? allocated.get(ctx.block().index + "/" + name)
                    : ranks(List.of(new RankAllocation.Item(l.rows(), l.cols(), null)))[0];
            LowRankLinear c = LowRank.truncate(LowRank.svd(LowRank.matrix(w, l.rows(), l.cols())), k, null);
            if (ctx.samples() > 0) ctx.stats(); // for the reconstruction error in the report
            ctx.replace(name(), name, c, w, (System.nanoTime() - t0) / 1e9);
        }
    }

    /** One budget over every selected matrix of the model (first pass over the dense weights). */
    private Map<String, Integer> allocateAll(ModelContext ctx) {
        Model m = ctx.model();
        List<String> keys = new ArrayList<>();
        List<RankAllocation.Item> items = new ArrayList<>();
        for (Block b : m.blocks) {
            for (String name : m.arch.linearNames()) {
                if (!ctx.selected(name)) continue;
                Linear l = b.linear(name);
                keys.add(b.index + "/" + name);
                items.add(new RankAllocation.Item(l.rows(), l.cols(), LowRank.singularValues(LowRank.matrix(l.toDense(), l.rows(), l.cols()))));
            }
        }
        int[] k = ranks(items);
        Map<String, Integer> out = new HashMap<>();
        for (int i = 0; i < k.length; i++) out.put(keys.get(i), k[i]);
        return out;
    }
}
