package dev.squish.train;

import dev.squish.SquishException;
import dev.squish.calibration.BlockContext;
import dev.squish.calibration.ModelContext;
import dev.squish.methods.CompressionMethod;
import dev.squish.methods.Factorizer;
import dev.squish.methods.LowRank;
import dev.squish.methods.LowRankOptions;
import dev.squish.methods.MethodDescriptor;
import dev.squish.methods.Need;
import dev.squish.methods.RankAllocation;
import dev.squish.model.Block;
import dev.squish.util.Progress;
import dev.squish.weights.Linear;
import dev.squish.weights.LowRankLinear;
import org.ejml.data.DMatrixRMaj;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Fisher-weighted SVD (Hsu et al. 2022, "Language model compression with weighted low-rank
 * factorization"), as the authors' row-sum variant: the empirical Fisher information of each
 * weight, {@code F_ij = sum over calibration windows of (dL/dW_ij)^2} for the next-token loss,
 * summed over the outputs gives one importance per input feature
 * {@code I_j = sum_i F_ij}, normalized by its maximum; then the truncated SVD of
 * {@code W diag(s)} with {@code s_j = sqrt(I_j + 1e-5)} is mapped back,
 * {@code A = U_k sqrt(S_k)}, {@code B = sqrt(S_k) V_k^T diag(1/s)}. This minimizes
 * {@code ||(W - A B) diag(s)||_F}: the error is spent on the inputs the loss is least sensitive to.
 *
 * <p>Orientation: the reference code decomposes the Hugging Face weight transposed ({@code [in, out]})
 * and sums the squared gradient over its second axis, so the importance belongs to the input
 * features; Squish stores {@code W} as {@code [out, in]}, hence the column sums here. The reference
 * accumulates the squared gradient of each backward pass; here each pass is one calibration window
 * (its empirical Fisher), and the 1e-5 is added after the max-normalization as there.
 *
 * <p>The gradients come from {@link TrainModel}'s reverse mode in double, over the whole (still
 * uncompressed) model once in {@link #plan}; this needs the model in double on the heap (16 bytes a
 * weight with its gradient), like fine-tuning. The factorization then runs block by block.
 * {@code --allocation spectrum} shares each block's budget by the weighted singular values.
 */
public final class Fwsvd extends Factorizer {
    public static final class Descriptor extends Family {
        public Descriptor() {
            super("fwsvd", "Fisher-weighted SVD: importance of each input from squared gradients on calibration text (Hsu et al.)",
                    Set.of(Need.CALIBRATION, Need.GRADIENTS, Need.WHOLE_MODEL));
        }

        @Override public CompressionMethod create(LowRankOptions o) { return new Fwsvd(o); }
    }

    static final Descriptor DESCRIPTOR = new Descriptor();

    /** "block/linear" -> importance per input column (max-normalized). */
    private Map<String, double[]> importance;

    public Fwsvd(LowRankOptions options) { super(options); }

    @Override public MethodDescriptor<?> descriptor() { return DESCRIPTOR; }

    @Override public void plan(ModelContext ctx) {
        if (ctx.samples() == null) throw new SquishException("fwsvd needs --calibration text (its gradients)");
        importance = fisher(ctx, ctx.samples());
    }

    /**
     * Column sums of the squared gradient of every selected linear, one backward pass per window
     * (inputs are the window's first L-1 tokens, targets its last L-1), max-normalized per matrix.
     */
    static Map<String, double[]> fisher(ModelContext ctx, int[][] windows) {
        var m = ctx.model();
        TrainModel tm = new TrainModel(m, 0, 0, 0);
        List<String> selected = ctx.selectedLinears();
        Map<String, double[]> acc = new HashMap<>();
        Map<String, DenseTrain> layers = new HashMap<>();
        for (Block b : m.blocks) {
            for (String name : selected) {
                TrainLinear t = tm.linears.get(b.index).get(name);
                if (!(t instanceof DenseTrain d) || d.kind != DenseTrain.Kind.DENSE)
                    throw new SquishException("fwsvd factorizes dense weights; " + m.arch.blockPrefix(b.index) + name + " is "
                            + b.linear(name).format());
                layers.put(b.index + "/" + name, d);
                acc.put(b.index + "/" + name, new double[d.cols]);
            }
        }
        List<Param> all = tm.allParams();
        try (Progress p = Progress.start("fwsvd gradients", windows.length)) {
            for (int[] w : windows) {
                for (Param q : all) q.zeroGrad();
                tm.loss(new int[][]{w}, true);
                for (var e : layers.entrySet()) {
                    DenseTrain d = e.getValue();
                    double[] g = d.w.g, col = acc.get(e.getKey());
                    for (int r = 0; r < d.rows; r++) {
                        int o = r * d.cols;
                        for (int c = 0; c < d.cols; c++) col[c] += g[o + c] * g[o + c];
                    }
                }
                p.step();
            }
        }
        for (double[] col : acc.values()) {
            double max = 0;
            for (double v : col) max = Math.max(max, v);
            if (max > 0) for (int c = 0; c < col.length; c++) col[c] /= max;
        }
        return acc;
    }

    @Override public void compressBlock(BlockContext ctx) {
        List<String> names = ctx.selectedLinears();
        int[] k;
        List<RankAllocation.Item> items = new ArrayList<>();
        for (String name : names) {
            Linear l = ctx.block().linear(name);
            double[] s = needsSpectra() ? LowRank.singularValues(weighted(l.toDense(), l.rows(), l.cols(), scales(imp(ctx, name)))) : null;
            items.add(new RankAllocation.Item(l.rows(), l.cols(), s));
        }
        k = ranks(items);
        if (ctx.samples() > 0) ctx.stats();   // for the reconstruction error in the report
        for (int i = 0; i < names.size(); i++) {
            String name = names.get(i);
            long t0 = System.nanoTime();
            Linear l = ctx.block().linear(name);
            float[] w = l.toDense();
            LowRankLinear c = factorize(w, l.rows(), l.cols(), imp(ctx, name), k[i]);
            ctx.replace(name(), name, c, w, (System.nanoTime() - t0) / 1e9);
        }
    }

    private double[] imp(BlockContext ctx, String name) {
        double[] v = importance.get(ctx.block().index + "/" + name);
        if (v == null) throw new IllegalStateException("no Fisher importance for block " + ctx.block().index + " " + name);
        return v;
    }

    /** {@code s_j = sqrt(I_j + 1e-5)}, the reference's weighting of a max-normalized importance. */
    static double[] scales(double[] importance) {
        double[] s = new double[importance.length];
        for (int j = 0; j < s.length; j++) s[j] = Math.sqrt(importance[j] + 1e-5);
        return s;
    }

    private static DMatrixRMaj weighted(float[] w, int rows, int cols, double[] s) {
        DMatrixRMaj m = LowRank.matrix(w, rows, cols);
        for (int r = 0; r < rows; r++) for (int c = 0; c < cols; c++) m.unsafe_set(r, c, m.unsafe_get(r, c) * s[c]);
        return m;
    }

    /**
     * The rank-k Fisher-weighted factorization of w (rows x cols) for per-input importance
     * {@code importance} (max-normalized; all equal gives plain truncated SVD).
     */
    public static LowRankLinear factorize(float[] w, int rows, int cols, double[] importance, int k) {
        double[] s = scales(importance);
        LowRankLinear t = LowRank.truncate(LowRank.svd(weighted(w, rows, cols, s)), Math.min(k, Math.min(rows, cols)), null);
        int rank = t.rank();
        float[] a = t.a().toDense(), b = t.b().toDense();
        for (int j = 0; j < rank; j++) for (int c = 0; c < cols; c++) b[j * cols + c] = (float) (b[j * cols + c] / s[c]);
        return LowRankLinear.of(a, b, rows, rank, cols);
    }
}
