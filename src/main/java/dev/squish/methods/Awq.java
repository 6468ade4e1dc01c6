package dev.squish.methods;
import dev.squish.weights.QuantResult;

import dev.squish.calibration.BlockContext;
import dev.squish.calibration.LinearStats;
import dev.squish.model.Block;
import dev.squish.model.Architecture;
import dev.squish.model.Architecture.ScalingGroup;
import dev.squish.model.Ops;
import dev.squish.weights.DenseLinear;
import dev.squish.weights.Linear;

import java.util.ArrayList;
import java.util.List;

/**
 * AWQ, activation-aware weight quantization (Lin et al. 2023; mit-han-lab/llm-awq
 * {@code auto_scale.py}, {@code auto_clip.py}, {@code pre_quant.py}). Per block:
 * <ol>
 *   <li>for each group of linears that read the same input, search per-input-channel scales
 *       {@code s = mean|x|^ratio} (normalized, ratio on a grid of 20) that minimize the output
 *       error of {@code Q(W diag(s)) diag(1/s)} against W ({@link AwqSearch});</li>
 *   <li>fold {@code 1/s} into the operation that produces the input (a norm's weight and bias, or
 *       the last rows of the previous linear) and {@code s} into the linears' columns: the block
 *       computes the same function, but the salient input channels now have larger weights and
 *       lose less to rounding;</li>
 *   <li>optionally clip each (row, group) of the scaled weights to the threshold that minimizes its
 *       quantized output error (not for q/k, as the reference), then round to nearest.</li>
 * </ol>
 * Groups: the architecture's {@link Architecture#scalingGroups} (the reference's
 * {@code auto_scale_block}, per family, as data).
 *
 * <p>What each search measures (see docs/quantization.md): single-linear groups measure that
 * linear's output (as the reference); Llama's gate/up group measures the whole MLP's output as the
 * reference (on at most {@code mlpTokens} calibration tokens); the q/k/v group and GPT-2's
 * c_attn/c_fc groups measure the concatenated outputs of their linears (as llm-compressor's AWQ
 * does when a mapping has no parent module), not the attention/MLP output.
 */
public final class Awq extends Quantizer {
    private final boolean clip;
    private final int mlpTokens;
    private final List<String> searchLog = new ArrayList<>();

    public static final class Descriptor extends Family<AwqOptions> {
        public Descriptor() {
            super("awq", "activation-aware scaling, then quantization (AWQ)", java.util.Set.of(Need.CALIBRATION),
                    AwqOptions.class, AwqOptions.OPTIONS, AwqOptions::read);
        }

        @Override public CompressionMethod create(AwqOptions o) { return new Awq(o); }
    }

    static final Descriptor DESCRIPTOR = new Descriptor();

    public Awq(AwqOptions options) { this(options, 1024); }

    public Awq(AwqOptions options, int mlpTokens) {
        super(options.quant());
        this.clip = options.clip();
        this.mlpTokens = mlpTokens;
    }

    public Awq(int bits, int groupSize, boolean sym, double outliers, boolean clip) { this(bits, groupSize, sym, outliers, clip, 1024); }

    public Awq(int bits, int groupSize, boolean sym, double outliers, boolean clip, int mlpTokens) {
        this(new AwqOptions(new QuantOptions(bits, groupSize, sym, outliers), clip), mlpTokens);
    }

    @Override public MethodDescriptor<?> descriptor() { return DESCRIPTOR; }

    @Override public String describe() { return super.describe() + (clip ? " clip" : ""); }


    /** One line per searched group: block, group, best ratio (for tests and the verbose log). */
    public List<String> searchLog() { return searchLog; }

    @Override public void compressBlock(BlockContext ctx) {
        Block b = ctx.block();
        List<ScalingGroup> todo = new ArrayList<>();
        for (ScalingGroup g : ctx.model().arch.scalingGroups(b))
            if (g.linears().stream().allMatch(ctx::selected) && (g.producerLinear() == null || ctx.selected(g.producerLinear()))) todo.add(g);
        // 1. search every group's scales on the block as it is (folds do not change any group's input statistics)
        List<float[]> found = new ArrayList<>();
        for (ScalingGroup g : todo) {
            LinearStats st = ctx.stats(g.linears().get(0));
            long t0 = System.nanoTime();
            AwqSearch.Result r = g.mlpDown() != null ? searchMlp(ctx, g, st) : searchLinears(b, g, st);
            searchLog.add(String.format("block %d %s: ratio %.2f, loss %.4g -> %.4g, %.2f s", b.index, g.name(), r.ratio(),
                    r.losses()[0], r.losses()[(int) Math.round(r.ratio() * AwqSearch.N_GRID)], (System.nanoTime() - t0) / 1e9));
            if (System.getenv("SQUISH_AWQ_LOG") != null) System.err.println(searchLog.getLast());
            found.add(r.ratio() == 0 ? null : r.scales());
        }
        // 2. fold them
        for (int i = 0; i < todo.size(); i++) if (found.get(i) != null) fold(ctx, todo.get(i), found.get(i));
        // 3. clip and quantize every selected linear (statistics recomputed on the scaled block)
        super.compressBlock(ctx);
    }

    private AwqSearch.Result searchLinears(Block b, ScalingGroup g, LinearStats st) {
        List<float[]> ws = new ArrayList<>();
        List<Integer> rows = new ArrayList<>();
        for (String n : g.linears()) { ws.add(b.linear(n).toDense()); rows.add(b.linear(n).rows()); }
        double[] h = st.hessian.hessian();
        int cols = st.cols;
        AwqSearch.Fake fake = fake(cols, st);
        return AwqSearch.search(st.meanAbs(), s -> AwqSearch.linearsLoss(ws, rows, cols, h, s, fake));
    }

    /** An MLP's gate/up: the loss is the MLP's output error, on at most mlpTokens evenly spaced calibration tokens. */
    private AwqSearch.Result searchMlp(BlockContext ctx, ScalingGroup grp, LinearStats st) {
        Block b = ctx.block();
        String gateName = grp.linears().get(0), upName = grp.linears().get(1);
        Linear gp = b.linear(gateName), up = b.linear(upName), dp = b.linear(grp.mlpDown());
        int d = gp.cols(), inter = gp.rows();
        long total = (long) ctx.samples() * ctx.seqLen();
        int step = (int) Math.max(1, (total + mlpTokens - 1) / mlpTokens);
        int T = (int) ((total + step - 1) / step);
        float[] x = new float[T * d];
        int[] seen = {0, 0};  // tokens seen, tokens kept
        ctx.forEachSample((name, in, n, cols) -> {
            if (!name.equals(gateName)) return;
            for (int t = 0; t < n; t++, seen[0]++)
                if (seen[0] % step == 0 && seen[1] < T) System.arraycopy(in, t * cols, x, d * seen[1]++, d);
        });
        float[] wg = gp.toDense(), wu = up.toDense();
        float[] gb = b.vector(gateName + ".bias"), ub = b.vector(upName + ".bias");
        float[] ref = mlp(x, T, new DenseLinear(inter, d, wg), new DenseLinear(inter, d, wu), dp, gb, ub);
        AwqSearch.Fake fake = fake(d, st);
        return AwqSearch.search(st.meanAbs(), s -> {
            float[] out = mlp(x, T, new DenseLinear(inter, d, AwqSearch.scaledFake(wg, inter, d, s, fake)),
                    new DenseLinear(inter, d, AwqSearch.scaledFake(wu, inter, d, s, fake)), dp, gb, ub);
            double e = 0;
            for (int i = 0; i < out.length; i++) { double v = out[i] - ref[i]; e += v * v; }
            return e / out.length;
        });
    }

    /** down(silu(gate x + gb) * (up x + ub)) without the down bias (it cancels in the error). */
    private static float[] mlp(float[] x, int T, Linear gate, Linear up, Linear down, float[] gb, float[] ub) {
        int inter = gate.rows();
        float[] g = new float[T * inter], u = new float[T * inter], out = new float[T * down.rows()];
        gate.matmul(x, T, g);
        up.matmul(x, T, u);
        Ops.addBias(g, gb, T);
        Ops.addBias(u, ub, T);
        for (int i = 0; i < g.length; i++) g[i] = Ops.silu(g[i]) * u[i];
        down.matmul(g, T, out);
        return out;
    }

    /**
     * Divides the producing op's output channels by s and multiplies the linears' input columns by
     * s, through the block's context (which drops its cached statistics).
     */
    static void fold(BlockContext ctx, ScalingGroup g, float[] s) {
        Block b = ctx.block();
        int n = s.length;
        for (String v : g.producerVectors()) {
            float[] a = b.vector(v);
            if (a == null) continue;
            float[] c = a.clone();
            for (int j = 0; j < n; j++) c[j] /= s[j];
            ctx.putVector(v, c);
        }
        if (g.producerLinear() != null) {
            Linear p = b.linear(g.producerLinear());
            float[] w = p.toDense();
            int r0 = p.rows() - n, cols = p.cols();
            for (int j = 0; j < n; j++) for (int c = 0; c < cols; c++) w[(r0 + j) * cols + c] /= s[j];
            ctx.put(g.producerLinear(), new DenseLinear(p.rows(), cols, w));
            float[] bias = b.vector(g.producerBias());
            if (bias != null) {
                float[] c = bias.clone();
                for (int j = 0; j < n; j++) c[r0 + j] /= s[j];
                ctx.putVector(g.producerBias(), c);
            }
        }
        for (String name : g.linears()) {
            Linear l = b.linear(name);
            float[] w = l.toDense();
            int cols = l.cols();
            for (int r = 0; r < l.rows(); r++) for (int j = 0; j < cols; j++) w[r * cols + j] *= s[j];
            ctx.put(name, new DenseLinear(l.rows(), cols, w));
        }
    }

    /**
     * The grid the scale search measures: Squish's, or with {@code gguf_type} ggml's quantizer of
     * the type llama-quantize would use for rows of {@code cols}, importance-weighted by the
     * group's inputs (mean {@code x_j^2}, divided by {@code s_j^2} for each candidate's scaled
     * inputs), as the layer will be quantized (Squish's 4-bit grid stands in for the IQ4_NL / F16
     * fallbacks).
     */
    private AwqSearch.Fake fake(int cols, LinearStats st) {
        dev.squish.formats.GgmlType t = gguf == null ? null : dev.squish.formats.GgufQuant.forRows(gguf, cols);
        if (t != null && t.isBlockQuantized()) {
            if (st.tokens() == 0) return AwqSearch.ggml(t);
            double[] sq = st.hessian.columnNormsSquared();
            float[] imp = new float[cols];
            for (int j = 0; j < cols; j++) imp[j] = (float) (sq[j] / st.tokens());
            return AwqSearch.ggml(t, imp);
        }
        return AwqSearch.grid(bits, groupSize, sym);
    }

    /**
     * On llama.cpp's grid: ggml's quantizer on the scaled weights, importance-weighted by the
     * scaled inputs' mean {@code x_j^2} (the statistics are recomputed after the folds). The clip
     * search is skipped: it shrinks each group's min/max range, while ggml's quantizers search
     * their own scales.
     */
    @Override protected byte[] quantizeGgml(BlockContext ctx, String linear, float[] w, int rows, int cols, dev.squish.formats.GgmlType type) {
        return super.quantizeGgml(ctx, linear, w, rows, cols, type);
    }

    /** Clip search (on the scaled weights and their inputs' Hessian) then round to nearest. */
    @Override protected QuantResult quantize(BlockContext ctx, String linear, float[] w, int rows, int cols, Constraints c) {
        boolean qk = ctx.model().arch.scoreLinears().contains(linear);
        if (clip && !qk) w = AwqSearch.clip(w, rows, cols, ctx.stats(linear).hessian.hessian(), bits, groupSize, sym);
        return Rtn.quantize(w, rows, cols, bits, groupSize, sym);
    }
}
