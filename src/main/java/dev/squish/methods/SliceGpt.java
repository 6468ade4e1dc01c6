package dev.squish.methods;
import dev.squish.calibration.LayerReport;

import dev.squish.SquishException;
import dev.squish.calibration.BlockContext;
import dev.squish.calibration.ModelContext;
import dev.squish.calibration.HessianAccumulator;
import dev.squish.model.Block;
import dev.squish.model.KVCache;
import dev.squish.model.LinearObserver;
import dev.squish.model.Architecture.ResidualBranch;
import dev.squish.model.Model;
import dev.squish.weights.DenseLinear;
import dev.squish.weights.Linear;
import org.ejml.data.DMatrixRMaj;
import org.ejml.dense.row.CommonOps_DDRM;
import org.ejml.dense.row.factory.DecompositionFactory_DDRM;
import org.ejml.interfaces.decomposition.EigenDecomposition_F64;

import java.util.Arrays;
import java.util.List;

/**
 * SliceGPT (Ashkboos et al. 2024; microsoft/TransformerCompression {@code layernorm_fusion.py},
 * {@code rotate.py rotate_and_slice}) for the Llama family.
 *
 * <ol>
 *   <li>{@link #plan}: every RMSNorm weight is folded into the linears that read the norm
 *       (q/k/v, gate/up, and the head for the final norm) and becomes ones; the model computes
 *       the same function and is now invariant to orthogonal rotations of the residual stream.</li>
 *   <li>Each hidden signal gets its own basis: the eigenvectors of {@code sum X^T X} (plus 1% of
 *       the mean diagonal, as {@code pca_calc}), by decreasing eigenvalue, from the calibration
 *       signal <em>before</em> the norm: the embeddings (Q_0), each block's residual after
 *       attention (the input of {@code post_attention_layernorm}, Q_mid) and each block's output
 *       (Q_out, which is the next block's Q_in).</li>
 *   <li>Per block, as the reference: q/k/v are multiplied by Q_in and sliced; the PCA of the
 *       attention residual is taken with the sliced inputs; o_proj's outputs are rotated by
 *       Q_mid^T and gate/up by Q_mid, all sliced; the block's outputs are then computed with that
 *       and down_proj's outputs rotated by Q_out^T. The residual path carries
 *       {@code attn_shortcut = Q_mid^T Q_in} and {@code mlp_shortcut = Q_out^T Q_mid} (sliced)
 *       since consecutive bases differ. The embeddings are multiplied by Q_0 and sliced, the head
 *       by the last Q_out (the head is not sliced: the last block outputs the full width, the
 *       reference's default {@code do_slice_head=False}).</li>
 * </ol>
 * The kept width is the reference's {@code int((1 - slice) * hidden)} rounded down to a multiple
 * of 8 ({@code round_interval}). Norms in the sliced model divide by the original hidden size
 * (the reference's {@code RMSN(mean_dim)}; see {@link Llama}). Calibration runs block by block in
 * the pipeline, each block on the outputs of its sliced predecessors, as {@code rotate_and_slice}.
 */
public final class SliceGpt implements CompressionMethod {
    static final int ROUND = 8;
    private final double slice;
    private int hidden, dim;
    private DMatrixRMaj basis; // Q of the current block's input signal, hidden x hidden
    private int inWidth;       // width of the current block's (sliced) input

    private ModelContext whole;  // from plan: the embedding changes with block 0

    public static final class Descriptor extends AbstractDescriptor<SliceOptions> {
        public Descriptor() {
            super("slicegpt", "SliceGPT: rotate, then cut the hidden dimension (Llama)",
                    Kind.SLICE, java.util.Set.of(Need.CALIBRATION, Need.WHOLE_MODEL), SliceOptions.class, SliceOptions.OPTIONS, SliceOptions::read);
        }

        @Override public CompressionMethod create(SliceOptions o) { return new SliceGpt(o); }
    }

    static final Descriptor DESCRIPTOR = new Descriptor();

    public SliceGpt(SliceOptions options) { this.slice = options.slice(); }

    public SliceGpt(double slice) { this(new SliceOptions(slice)); }

    @Override public MethodDescriptor<?> descriptor() { return DESCRIPTOR; }

    @Override public String describe() { return String.format("slicegpt slice %.3g", slice); }


    /** The kept hidden width for a slice fraction (the reference's rounding to multiples of 8). */
    public static int keptWidth(int hidden, double slice) {
        if (slice == 0) return hidden;
        int d = (int) ((1 - slice) * hidden);
        d -= d % ROUND;
        if (d < 1) throw new SquishException("--slice " + slice + " leaves no hidden dimension of " + hidden);
        return d;
    }

    @Override public void plan(ModelContext ctx) {
        whole = ctx;
        Model m = ctx.model();
        // Two residual branches with bias-free RMSNorms (the Llama family): see Architecture#rotatableBranches.
        if (m.arch.rotatableBranches().size() != 2) throw new SquishException("slicegpt supports the Llama family only, not " + m.config.family());
        if (m.width() != m.config.hidden() || hasShortcuts(m))
            throw new SquishException(m.dir + ": this model is already sliced; slicegpt runs on an unsliced model");
        hidden = m.width();
        dim = keptWidth(hidden, slice);
        for (Block b : m.blocks) for (ResidualBranch r : m.arch.rotatableBranches()) fold(ctx, b, r.norm(), r.readers());
        // The final norm goes into the head (which gets its own copy if it was tied to the embedding).
        ctx.replaceHead(new DenseLinear(m.head.rows(), m.head.cols(), scaleColumns(m.head.toDense(), m.head.rows(), m.head.cols(), m.finalNorm)));
        ctx.setFinalNorm(ones(m.finalNorm.length));
    }

    private static void fold(ModelContext ctx, Block b, String norm, List<String> readers) {
        float[] g = b.vector(norm);
        for (String name : readers) {
            Linear l = b.linear(name);
            ctx.replace(b, name, new DenseLinear(l.rows(), l.cols(), scaleColumns(l.toDense(), l.rows(), l.cols(), g)));
        }
        ctx.setVector(b, norm, ones(g.length));
    }

    private static float[] scaleColumns(float[] w, int rows, int cols, float[] g) {
        for (int r = 0; r < rows; r++) for (int c = 0; c < cols; c++) w[r * cols + c] = (float) ((double) w[r * cols + c] * g[c]);
        return w;
    }

    @Override public void compressBlock(BlockContext ctx) {
        Model m = ctx.model();
        Block b = ctx.block();
        int n = ctx.seqLen();
        if (ctx.selectedLinears().size() != m.arch.linearNames().size())
            throw new SquishException("slicegpt rotates whole blocks; it cannot be limited with --layers");
        ResidualBranch att = m.arch.rotatableBranches().get(0), mlp = m.arch.rotatableBranches().get(1);
        long t0 = System.nanoTime();
        if (b.index == 0) {
            HessianAccumulator acc = new HessianAccumulator(hidden);
            ctx.forEachInput(x -> acc.add(x, n));
            basis = pca(acc);
            DMatrixRMaj q0 = columns(basis, dim);
            whole.replaceEmbedding(dense(CommonOps_DDRM.mult(matrix(m.embed), q0, null)));
            ctx.transformInputs(x -> rotateRows(x, n, q0));
            inWidth = dim;
        }
        DMatrixRMaj qIn = columns(basis, inWidth);
        for (String name : att.readers())
            ctx.put(name, dense(CommonOps_DDRM.mult(matrix(b.linear(name)), qIn, null)));
        ctx.putVector(att.norm(), ones(inWidth));
        // Back to the original basis for now: the residual after attention is measured unrotated.
        ctx.put(att.shortcut(), dense(qIn));
        ctx.put(mlp.shortcut(), dense(CommonOps_DDRM.identity(hidden)));
        HessianAccumulator mid = new HessianAccumulator(hidden);
        ctx.forEachSample((name, x, rows, cols) -> { if (name.equals(mlp.shortcut())) mid.add(x, rows); });
        DMatrixRMaj qMid = columns(pca(mid), dim);
        ctx.put(att.shortcut(), dense(CommonOps_DDRM.multTransA(qMid, qIn, null)));
        rotateOutputs(ctx, att.writer(), qMid);
        for (String name : mlp.readers())
            ctx.put(name, dense(CommonOps_DDRM.mult(matrix(b.linear(name)), qMid, null)));
        ctx.putVector(mlp.norm(), ones(dim));
        ctx.put(mlp.shortcut(), dense(qMid));
        HessianAccumulator out = new HessianAccumulator(hidden);
        KVCache cache = m.newCache(n);
        ctx.forEachInput(x -> out.add(m.arch.forwardBlock(b, x.clone(), n, 0, cache, LinearObserver.NONE), n));
        DMatrixRMaj qOutFull = pca(out);
        boolean last = b.index == m.blocks.size() - 1;
        int outWidth = last ? hidden : dim; // the head is not sliced
        DMatrixRMaj qOut = columns(qOutFull, outWidth);
        rotateOutputs(ctx, mlp.writer(), qOut);
        ctx.put(mlp.shortcut(), dense(CommonOps_DDRM.multTransA(qOut, qMid, null)));
        basis = qOutFull;
        inWidth = outWidth;
        double seconds = (System.nanoTime() - t0) / 1e9;
        for (var e : b.linears.entrySet()) {
            Linear l = e.getValue();
            ctx.report(new LayerReport(name(), b.index, e.getKey(), l.format(), l.rows(), l.cols(), l.parameters(), l.bytes(), 0, Double.NaN,
                    e.getKey().equals(att.readers().get(0)) ? seconds : 0));
        }
    }

    @Override public void finish(ModelContext ctx) {
        Model m = ctx.model();
        ctx.replaceHead(dense(CommonOps_DDRM.mult(matrix(m.head), columns(basis, inWidth), null)));
    }

    /** W (and its bias) -> Q^T W: the linear's outputs expressed in the basis q (hidden x width). */
    private static void rotateOutputs(BlockContext ctx, String name, DMatrixRMaj q) {
        Block b = ctx.block();
        ctx.put(name, dense(CommonOps_DDRM.multTransA(q, matrix(b.linear(name)), null)));
        float[] bias = b.vector(name + ".bias");
        if (bias != null) {
            DMatrixRMaj v = new DMatrixRMaj(bias.length, 1);
            for (int i = 0; i < bias.length; i++) v.data[i] = bias[i];
            DMatrixRMaj r = CommonOps_DDRM.multTransA(q, v, null);
            float[] nb = new float[r.numRows];
            for (int i = 0; i < nb.length; i++) nb[i] = (float) r.data[i];
            ctx.putVector(name + ".bias", nb);
        }
    }

    /**
     * Principal directions of a signal from its second moment: eigenvectors (columns) by decreasing
     * eigenvalue, after adding 1% of the mean diagonal (the reference's {@code pca_calc} damping).
     */
    static DMatrixRMaj pca(HessianAccumulator acc) {
        int n = acc.cols();
        double[] h = acc.hessian();
        double mean = 0;
        for (int i = 0; i < n; i++) mean += h[i * n + i];
        mean /= n;
        for (int i = 0; i < n; i++) h[i * n + i] += 0.01 * mean;
        EigenDecomposition_F64<DMatrixRMaj> eig = DecompositionFactory_DDRM.eig(n, true, true);
        if (!eig.decompose(DMatrixRMaj.wrap(n, n, h))) throw new IllegalStateException("PCA eigen-decomposition did not converge");
        Integer[] order = new Integer[n];
        double[] val = new double[n];
        for (int i = 0; i < n; i++) { order[i] = i; val[i] = eig.getEigenvalue(i).real; }
        Arrays.sort(order, (a, c) -> Double.compare(val[c], val[a]));
        DMatrixRMaj q = new DMatrixRMaj(n, n);
        for (int j = 0; j < n; j++) {
            DMatrixRMaj v = eig.getEigenVector(order[j]);
            double norm = 0;
            for (int i = 0; i < n; i++) norm += v.get(i, 0) * v.get(i, 0);
            norm = Math.sqrt(norm);
            for (int i = 0; i < n; i++) q.set(i, j, v.get(i, 0) / norm);
        }
        return q;
    }

    /** The first k columns of q. */
    static DMatrixRMaj columns(DMatrixRMaj q, int k) {
        return CommonOps_DDRM.extract(q, 0, q.numRows, 0, k);
    }

    /** Rows of x (n x q.rows) times q: n x q.cols. */
    static float[] rotateRows(float[] x, int n, DMatrixRMaj q) {
        int d = q.numRows, k = q.numCols;
        if (x.length != n * d) throw new IllegalStateException("expected " + n + " rows of " + d + ", got " + x.length + " values");
        float[] y = new float[n * k];
        double[] acc = new double[k];
        for (int t = 0; t < n; t++) {
            Arrays.fill(acc, 0);
            for (int i = 0; i < d; i++) {
                double xi = x[t * d + i];
                int o = i * k;
                for (int j = 0; j < k; j++) acc[j] += xi * q.data[o + j];
            }
            for (int j = 0; j < k; j++) y[t * k + j] = (float) acc[j];
        }
        return y;
    }

    static DMatrixRMaj matrix(Linear l) { return LowRank.matrix(l.toDense(), l.rows(), l.cols()); }

    static DenseLinear dense(DMatrixRMaj m) {
        float[] w = new float[m.numRows * m.numCols];
        for (int i = 0; i < w.length; i++) w[i] = (float) m.data[i];
        return new DenseLinear(m.numRows, m.numCols, w);
    }

    static float[] ones(int n) {
        float[] v = new float[n];
        Arrays.fill(v, 1f);
        return v;
    }

    static boolean hasShortcuts(Model m) {
        return m.blocks.stream().anyMatch(m.arch::sliced);
    }
}
