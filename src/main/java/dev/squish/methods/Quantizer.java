package dev.squish.methods;

import dev.squish.weights.QuantResult;

import dev.squish.calibration.BlockContext;
import dev.squish.weights.Compact;
import dev.squish.weights.Linear;

/**
 * What the weight quantizers share: bits, group size, symmetric or not, the loop over a block's
 * selected linears, packed storage and the per-layer report, and two per-entry constraints:
 * <ul>
 *   <li>pruned zeros: exact zeros of the input (a prune-then-quantize recipe) stay exactly 0 (0 is
 *       always on the grid; GPTQ forces them and feeds the error forward, as SparseGPT's joint
 *       prune+quantize does), and {@link Compact} then stores only the kept codes;</li>
 *   <li>outliers ({@code outliers > 0}, dense-and-sparse as SqueezeLLM): the largest-|w| fraction
 *       of each matrix is taken out before quantization (zeroed, so it no longer widens the
 *       quantization range) and kept in full precision as a sparse matrix added on top.</li>
 * </ul>
 */
public abstract class Quantizer implements CompressionMethod {
    protected final int bits, groupSize;
    protected final boolean sym;
    protected final double outliers;
    /** llama.cpp's block type to quantize to ({@code gguf_type}), or null for Squish's own grid. */
    protected final dev.squish.formats.GgmlType gguf;

    /**
     * Per-entry constraints, row-major like the weights; any may be null.
     *
     * @param pruned        entries that must come out exactly 0
     * @param outlier       entries kept in full precision: the weights passed to the quantizer are 0
     *                      there and the quantized part must stay 0
     * @param outlierValues the full-precision values at the outlier positions; quantizers that
     *                      update weights as they go (GPTQ) add their updates here
     */
    public record Constraints(boolean[] pruned, boolean[] outlier, float[] outlierValues) {
        public static final Constraints NONE = new Constraints(null, null, null);
    }

    /** Checked by {@link QuantOptions} (the one place for the limits). */
    protected Quantizer(QuantOptions o) {
        this.bits = o.bits(); this.groupSize = o.groupSize(); this.sym = o.sym(); this.outliers = o.outliers(); this.gguf = o.ggufType();
    }

    /** A quantizer's descriptor: kind and options; each method adds its id, help, needs and constructor. */
    abstract static class Family<O extends MethodOptions> extends AbstractDescriptor<O> {
        Family(String id, String help, java.util.Set<Need> needs, Class<O> type, java.util.List<OptionSpec> options,
               java.util.function.Function<OptionReader, O> read) {
            super(id, help, Kind.QUANTIZE, needs, type, options, read);
        }
    }

    @Override public String describe() {
        if (gguf != null) return name() + " " + gguf + " (llama.cpp's grid)";
        return name() + " int" + bits + (groupSize > 0 ? " g" + groupSize : " per-channel") + (sym ? " sym" : " asym")
                + (outliers > 0 ? String.format(" outliers %.2f%%", 100 * outliers) : "");
    }

    /** Quantizes w (rows x cols) of the named linear under the constraints. */
    protected abstract QuantResult quantize(BlockContext ctx, String linear, float[] w, int rows, int cols, Constraints c);

    @Override public void compressBlock(BlockContext ctx) {
        for (String name : ctx.selectedLinears()) {
            Linear l = ctx.block().linear(name);
            long t0 = System.nanoTime();
            float[] w = l.toDense();
            Linear c = compress(ctx, name, w, l.rows(), l.cols());
            if (ctx.samples() > 0) ctx.stats();
            ctx.replace(name(), name, c, w, (System.nanoTime() - t0) / 1e9);
        }
    }

    /** Quantizes one matrix with this method's outlier setting, keeping its exact zeros, into packed storage. */
    protected Linear compress(BlockContext ctx, String name, float[] w, int rows, int cols) {
        if (gguf != null) {
            // the type llama-quantize would store this tensor in (k-quant fallbacks on rows not a multiple of 256)
            dev.squish.formats.GgmlType t = dev.squish.formats.GgufQuant.forRows(gguf, cols);
            String where = ctx.model().arch.blockPrefix(ctx.block().index) + name;
            if (t == null) throw new dev.squish.SquishException(where + ": rows of " + cols + " values, which " + gguf + " (blocks of "
                    + gguf.blockSize + ") cannot hold; llama-quantize refuses it too");
            if (t == dev.squish.formats.GgmlType.F16) return new dev.squish.weights.DenseLinear(rows, cols, w.clone());
            return new dev.squish.weights.GgmlLinear(t, rows, cols, quantizeGgml(ctx, name, w, rows, cols, t));
        }
        boolean[] pruned = zeros(w);
        boolean[] out = null;
        float[] values = null, wq = w;
        if (outliers > 0) {
            out = largest(w, (int) Math.round(outliers * w.length));
            values = new float[w.length];
            wq = w.clone();
            for (int i = 0; i < w.length; i++) if (out[i]) { values[i] = w[i]; wq[i] = 0; }
        }
        QuantResult q = quantize(ctx, name, wq, rows, cols, new Constraints(pruned, out, values));
        return Compact.quantized(q, pruned, values);
    }

    /**
     * Quantizes w to llama.cpp's blocks of {@code type}: with calibration data, ggml's
     * importance-weighted quantizer with the layer's importance matrix ({@link #importance}), as
     * llama-quantize {@code --imatrix}; without, ggml's reference quantizer (round to nearest with
     * its scale searches), as llama-quantize without one. GPTQ chooses the codes on the same grid.
     */
    protected byte[] quantizeGgml(BlockContext ctx, String linear, float[] w, int rows, int cols, dev.squish.formats.GgmlType type) {
        return dev.squish.formats.GgufWeightedQuant.encode(type, w, cols, importance(ctx, linear));
    }

    /**
     * llama-imatrix's importance of each input column of a linear: the mean of {@code x_j^2} over
     * the calibration tokens reaching it (its inputs in the block pipeline), or null without
     * calibration data.
     */
    protected static float[] importance(BlockContext ctx, String linear) {
        if (ctx.samples() == 0) return null;
        dev.squish.calibration.HessianAccumulator h = ctx.stats(linear).hessian;
        if (h.tokens() == 0) return null;
        double[] s = h.columnNormsSquared();
        float[] out = new float[s.length];
        for (int j = 0; j < s.length; j++) out[j] = (float) (s[j] / h.tokens());
        return out;
    }

    /** The exact zeros of w, or null when there are none. */
    static boolean[] zeros(float[] w) {
        boolean[] z = null;
        for (int i = 0; i < w.length; i++)
            if (w[i] == 0) { if (z == null) z = new boolean[w.length]; z[i] = true; }
        return z;
    }

    /** Marks exactly k entries of largest |w| (ties broken by position). */
    static boolean[] largest(float[] w, int k) {
        boolean[] m = new boolean[w.length];
        if (k <= 0) return m;
        float[] a = new float[w.length];
        for (int i = 0; i < a.length; i++) a[i] = Math.abs(w[i]);
        float[] s = a.clone();
        java.util.Arrays.sort(s);
        float t = s[s.length - Math.min(k, s.length)];
        int n = 0;
        for (int i = 0; i < a.length; i++) if (a[i] > t) { m[i] = true; n++; }
        for (int i = 0; i < a.length && n < k; i++) if (a[i] == t) { m[i] = true; n++; }
        return m;
    }
}
