package dev.squish.methods;

import dev.squish.weights.QuantResult;

import dev.squish.methods.obs.ObsEngine;
import dev.squish.util.Parallel;
import dev.squish.weights.QuantGrid;

/**
 * GPTQ ({@code fasterquant} in IST-DASLab/gptq {@code gptq.py}, with its {@code quant.py}
 * quantizer replaced by the shared {@link QuantGrid}): columns are quantized one at a time, each
 * column's error {@code err = (w - q) / d} ({@code d = U[j][j]}, U the upper Cholesky factor of
 * {@code H^-1}) is fed back into the block's remaining columns, and the block's errors into the
 * rest of the matrix in one lazy batch per block of {@code blockSize} columns.
 *
 * <p>Quantization parameters (per row, like {@code find_params(weight=True)}):
 * <ul>
 *   <li>per channel ({@code groupSize <= 0}): from the whole original row, before the sweep (as the
 *       reference, which calls {@code find_params(W)} before zeroing dead columns);</li>
 *   <li>dynamic groups (the reference default): when {@code (i1 + i) % groupSize == 0}, from
 *       {@code W[:, i1+i : i1+i+groupSize]} as the reference reads it: the weights with all
 *       error updates from earlier blocks, but not those made earlier inside the current block;</li>
 *   <li>static groups ({@code staticGroups}, and always with {@code actOrder} and groups): from the
 *       original weights (dead columns zeroed), before any permutation, as the reference's
 *       {@code static_groups=True} (= llm-compressor's {@code actorder="weight"}). With act-order
 *       the columns are processed in the permuted order but every column uses the parameters of
 *       its group of consecutive <em>original</em> columns, so the result stores exactly with
 *       consecutive groups and no g_idx.</li>
 * </ul>
 * The sweep runs in parallel over rows (rows are independent given U), in float64, and each
 * block's errors reach the later columns in one {@link dev.squish.util.Blas} GEMM; the grid
 * arithmetic is the float32 arithmetic of QuantGrid, so the returned codes, scales and zeros
 * reproduce {@link QuantResult#weights()} exactly.
 */
public final class Gptq extends Quantizer {
    private final boolean actOrder;

    public static final class Descriptor extends Family<GptqOptions> {
        public Descriptor() {
            super("gptq", "quantization with inverse-Hessian error feedback (GPTQ)", java.util.Set.of(Need.CALIBRATION),
                    GptqOptions.class, GptqOptions.OPTIONS, GptqOptions::read);
        }

        @Override public CompressionMethod create(GptqOptions o) { return new Gptq(o); }
    }

    static final Descriptor DESCRIPTOR = new Descriptor();

    public Gptq(GptqOptions options) {
        super(options.quant());
        this.actOrder = options.actOrder();
    }

    public Gptq(int bits, int groupSize, boolean sym, boolean actOrder) { this(bits, groupSize, sym, actOrder, 0); }

    public Gptq(int bits, int groupSize, boolean sym, boolean actOrder, double outliers) {
        this(new GptqOptions(new QuantOptions(bits, groupSize, sym, outliers), actOrder));
    }

    @Override public MethodDescriptor<?> descriptor() { return DESCRIPTOR; }

    @Override public String describe() { return super.describe() + (actOrder ? " act-order" : ""); }


    @Override protected QuantResult quantize(dev.squish.calibration.BlockContext ctx, String linear, float[] w, int rows, int cols, Constraints c) {
        return quantize(w, rows, cols, ctx.stats(linear).hessian.hessian(), bits, groupSize, sym, actOrder, false,
                ObsEngine.DEFAULT_BLOCK_SIZE, ObsEngine.DEFAULT_PERCDAMP, ctx.model().arch.blockPrefix(ctx.block().index) + linear, c);
    }

    /** GPTQ on llama.cpp's grid ({@link GgufGptq}) with this block's Hessian (sequential: inputs from the compressed blocks before it). */
    @Override protected byte[] quantizeGgml(dev.squish.calibration.BlockContext ctx, String linear, float[] w, int rows, int cols, dev.squish.formats.GgmlType type) {
        if (!dev.squish.formats.GgufCodes.supports(type)) return super.quantizeGgml(ctx, linear, w, rows, cols, type); // IQ4_NL fallback: not affine
        double[] h = ctx.stats(linear).hessian.hessian();
        return GgufGptq.quantize(type, w, rows, cols, h, ctx.model().arch.blockPrefix(ctx.block().index) + linear,
                WEIGHTED_HEADERS.contains(type) ? hessianDiagonal(h, cols) : null);
    }

    /**
     * The types whose GPTQ block headers come from ggml's importance-weighted search; the others
     * keep the unweighted reference search. Chosen by llama.cpp's perplexity on kjv-llama-tiny
     * (docs/gguf.md): weighted headers lowered it at Q2_K (26.952 vs 27.364), Q3_K (24.904 vs
     * 24.925) and Q4_0 (24.527 vs 24.557) but raised it at Q4_K (24.492 vs 24.459); the types not
     * measured keep the unweighted search they had.
     */
    static final java.util.Set<dev.squish.formats.GgmlType> WEIGHTED_HEADERS =
            java.util.EnumSet.of(dev.squish.formats.GgmlType.Q2_K, dev.squish.formats.GgmlType.Q3_K, dev.squish.formats.GgmlType.Q4_0);

    /** The importance GPTQ's ggml blocks weight their header search with: H's diagonal, {@code 2/N sum_t x_tj^2} (twice llama-imatrix's value; the search is scale-free). */
    static float[] hessianDiagonal(double[] h, int cols) {
        float[] d = new float[cols];
        for (int j = 0; j < cols; j++) d[j] = (float) h[j * cols + j];
        return d;
    }

    /** Defaults: dynamic groups (static when actOrder), block 128, dampening 0.01. */
    public static QuantResult quantize(float[] w, int rows, int cols, double[] h, int bits, int groupSize,
                                       boolean sym, boolean actOrder) {
        return quantize(w, rows, cols, h, bits, groupSize, sym, actOrder, false,
                ObsEngine.DEFAULT_BLOCK_SIZE, ObsEngine.DEFAULT_PERCDAMP, "layer");
    }

    /**
     * @param w          rows x cols row-major (not modified)
     * @param h          layer Hessian cols x cols row-major (not modified)
     * @param groupSize  consecutive input columns per (scale, zero); <= 0 for per channel
     * @param name       names the layer in error messages
     */
    public static QuantResult quantize(float[] w, int rows, int cols, double[] h, int bits, int groupSize,
                                       boolean sym, boolean actOrder, boolean staticGroups,
                                       int blockSize, double percdamp, String name) {
        return quantize(w, rows, cols, h, bits, groupSize, sym, actOrder, staticGroups, blockSize, percdamp, name, Constraints.NONE);
    }

    /**
     * As above, under per-entry constraints (see {@link Quantizer.Constraints}):
     * <ul>
     *   <li>a pruned entry is set to exactly 0 instead of being rounded, and its error
     *       {@code (w - 0) / d} is fed forward like any other (SparseGPT's joint prune + quantize
     *       step: {@code q[mask] = 0} before the error), so the other weights compensate for it
     *       and pruned weights never come back;</li>
     *   <li>an outlier entry is kept exactly at its current (error-updated) value: it adds that
     *       value (w is 0 there on input) to {@code c.outlierValues()}, its quantized part is 0 and
     *       it feeds no error forward.</li>
     * </ul>
     */
    public static QuantResult quantize(float[] w, int rows, int cols, double[] h, int bits, int groupSize,
                                       boolean sym, boolean actOrder, boolean staticGroups,
                                       int blockSize, double percdamp, String name, Constraints cons) {
        Magnitude.checkShape(w, rows, cols);
        boolean[] pruned = cons.pruned(), outlier = cons.outlier();
        float[] outlierValues = cons.outlierValues();
        if (outlier != null && outlierValues == null) throw new IllegalArgumentException("outlier positions without values");
        if (blockSize <= 0) throw new IllegalArgumentException("block size must be > 0, got " + blockSize);
        QuantResult res = QuantResult.allocate(rows, cols, bits, groupSize, sym);
        int g = res.groupSize(), groups = res.groups(), maxq = QuantGrid.maxq(bits);
        boolean perChannel = groups == 1;
        boolean dynamic = !perChannel && !(staticGroups || actOrder);
        float[] scales = res.scales(), zeros = res.zeros();

        double[] W = ObsEngine.toDouble(w);
        if (perChannel) rowParams(W, rows, cols, 0, cols, bits, sym, scales, zeros, 1, 0);
        double[] hh = h.clone();
        ObsEngine.fixDeadColumns(hh, cols, W, rows);
        if (!perChannel && !dynamic)
            for (int gi = 0; gi < groups; gi++) rowParams(W, rows, cols, gi * g, Math.min(cols, gi * g + g), bits, sym, scales, zeros, groups, gi);
        int[] perm = null;
        if (actOrder) {
            perm = ObsEngine.actOrder(hh, cols);
            W = ObsEngine.permuteColumns(W, rows, cols, perm);
            hh = ObsEngine.permuteSymmetric(hh, cols, perm);
        }
        ObsEngine.Prepared p = ObsEngine.prepare(hh, cols, null, 0, percdamp, name);
        double[] u = p.hinvU();
        double[] Wf = W;
        int[] pm = perm;
        float[] out = res.weights();
        byte[] codes = res.codes();
        double[] errs = new double[rows * Math.min(blockSize, cols)];
        for (int i1 = 0; i1 < cols; i1 += blockSize) {
            int b1 = i1, b2 = Math.min(i1 + blockSize, cols), count = b2 - b1;
            Parallel.forRange(rows, 8, (r0, r1) -> {
                double[] w1 = new double[count];
                for (int r = r0; r < r1; r++) {
                    int off = r * cols;
                    System.arraycopy(Wf, off + b1, w1, 0, count);
                    for (int i = 0; i < count; i++) {
                        int col = b1 + i, orig = pm == null ? col : pm[col];
                        if (dynamic && col % g == 0) {
                            // the reference reads W (not W1) here: the block-start state
                            float[] sz = params(Wf, off + col, Math.min(g, cols - col), bits, sym);
                            scales[r * groups + col / g] = sz[0];
                            zeros[r * groups + col / g] = sz[1];
                        }
                        int gi = perChannel ? 0 : orig / g;
                        float s = scales[r * groups + gi], z = zeros[r * groups + gi];
                        boolean isOutlier = outlier != null && outlier[off + orig];
                        boolean fixedZero = isOutlier || (pruned != null && pruned[off + orig]);
                        int q = QuantGrid.quantize(fixedZero ? 0f : (float) w1[i], s, z, maxq);
                        float qv = QuantGrid.dequantize(q, s, z);
                        codes[off + orig] = (byte) q;
                        out[off + orig] = qv;
                        if (isOutlier) { outlierValues[off + orig] += (float) w1[i]; w1[i] = 0; }
                        double e = (w1[i] - qv) / p.diag(col);
                        if (e != 0) ObsEngine.propagateInBlock(w1, i, count, e, u, cols, b1);
                        errs[r * count + i] = e;
                    }
                }
            });
            ObsEngine.propagateLazy(Wf, rows, cols, errs, count, u, b1, b2);
        }
        return res;
    }

    private static void rowParams(double[] W, int rows, int cols, int c0, int c1, int bits, boolean sym,
                                  float[] scales, float[] zeros, int groups, int gi) {
        for (int r = 0; r < rows; r++) {
            float[] sz = params(W, r * cols + c0, c1 - c0, bits, sym);
            scales[r * groups + gi] = sz[0];
            zeros[r * groups + gi] = sz[1];
        }
    }

    /** QuantGrid parameters of W[off .. off+n) (values rounded to float32 first, as the reference's float32 weights). */
    private static float[] params(double[] W, int off, int n, int bits, boolean sym) {
        float min = 0, max = 0;
        for (int k = 0; k < n; k++) {
            float v = (float) W[off + k];
            if (v < min) min = v;
            if (v > max) max = v;
        }
        return QuantGrid.params(min, max, bits, sym);
    }
}
