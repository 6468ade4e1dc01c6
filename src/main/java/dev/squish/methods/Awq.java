package dev.squish.methods;
import dev.squish.weights.QuantResult;

import dev.squish.calibration.BlockContext;
import dev.squish.calibration.LinearStats;
import dev.squish.model.Block;
import dev.squish.model.Gpt2;
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
 * Groups (the reference's {@code auto_scale_block}): Llama {@code input_layernorm -> q,k,v};
 * {@code v_proj -> o_proj} only when their shapes allow (no grouped-query attention, the
 * reference's condition); {@code post_attention_layernorm -> gate,up}; {@code up_proj -> down_proj}.
 * GPT-2 {@code ln_1 -> c_attn}; {@code c_attn}'s value rows {@code -> attn.c_proj};
 * {@code ln_2 -> c_fc}; {@code mlp.c_proj} follows gelu and is not scaled (the reference inserts a
 * ScaledActivation module there, which this runtime does not have).
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

    /**
     * Inputs of {@code linears} come from {@code prevVectors} (a norm's weight and optional bias, whose
     * entries are divided by s) or from the last {@code s.length} rows of {@code prevLinear} (and of
     * its bias vector {@code prevBias}).
     */
    record Group(String name, List<String> prevVectors, String prevLinear, String prevBias, List<String> linears, boolean mlpOutput) {}

    List<Group> groups(Block b, boolean gpt2) {
        List<Group> g = new ArrayList<>();
        if (gpt2) {
            g.add(new Group("ln_1->c_attn", List.of("ln_1.weight", "ln_1.bias"), null, null, List.of("attn.c_attn"), false));
            if (b.linear("attn.c_attn").rows() == 3 * b.linear("attn.c_proj").cols())
                g.add(new Group("c_attn.v->c_proj", List.of(), "attn.c_attn", "attn.c_attn.bias", List.of("attn.c_proj"), false));
            g.add(new Group("ln_2->c_fc", List.of("ln_2.weight", "ln_2.bias"), null, null, List.of("mlp.c_fc"), false));
        } else {
            if (b.linears.containsKey("attn_shortcut") || b.linears.containsKey("mlp_shortcut")) return g; // sliced model: widths differ
            g.add(new Group("input_layernorm->qkv", List.of("input_layernorm.weight"), null, null,
                    List.of("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"), false));
            if (b.linear("self_attn.v_proj").rows() == b.linear("self_attn.o_proj").cols())
                g.add(new Group("v->o", List.of(), "self_attn.v_proj", "self_attn.v_proj.bias", List.of("self_attn.o_proj"), false));
            g.add(new Group("post_attention_layernorm->gate,up", List.of("post_attention_layernorm.weight"), null, null,
                    List.of("mlp.gate_proj", "mlp.up_proj"), true));
            g.add(new Group("up->down", List.of(), "mlp.up_proj", "mlp.up_proj.bias", List.of("mlp.down_proj"), false));
        }
        return g;
    }

    @Override public void compressBlock(BlockContext ctx) {
        Block b = ctx.block();
        boolean gpt2 = ctx.model().arch instanceof Gpt2;
        List<Group> todo = new ArrayList<>();
        for (Group g : groups(b, gpt2))
            if (g.linears().stream().allMatch(ctx::selected) && (g.prevLinear() == null || ctx.selected(g.prevLinear()))) todo.add(g);
        // 1. search every group's scales on the block as it is (folds do not change any group's input statistics)
        List<float[]> found = new ArrayList<>();
        for (Group g : todo) {
            LinearStats st = ctx.stats(g.linears().get(0));
            long t0 = System.nanoTime();
            AwqSearch.Result r = g.mlpOutput() ? searchMlp(ctx, st) : searchLinears(b, g, st);
            searchLog.add(String.format("block %d %s: ratio %.2f, loss %.4g -> %.4g, %.2f s", b.index, g.name(), r.ratio(),
                    r.losses()[0], r.losses()[(int) Math.round(r.ratio() * AwqSearch.N_GRID)], (System.nanoTime() - t0) / 1e9));
            if (System.getenv("SQUISH_AWQ_LOG") != null) System.err.println(searchLog.getLast());
            found.add(r.ratio() == 0 ? null : r.scales());
        }
        // 2. fold them
        for (int i = 0; i < todo.size(); i++) if (found.get(i) != null) fold(b, todo.get(i), found.get(i));
        ctx.invalidate();
        // 3. clip and quantize every selected linear (statistics recomputed on the scaled block)
        super.compressBlock(ctx);
    }

    private AwqSearch.Result searchLinears(Block b, Group g, LinearStats st) {
        List<float[]> ws = new ArrayList<>();
        List<Integer> rows = new ArrayList<>();
        for (String n : g.linears()) { ws.add(b.linear(n).toDense()); rows.add(b.linear(n).rows()); }
        double[] h = st.hessian.hessian();
        int cols = st.cols;
        return AwqSearch.search(st.meanAbs(), s -> AwqSearch.linearsLoss(ws, rows, cols, h, s, bits, groupSize, sym));
    }

    /** Llama gate/up: the loss is the MLP's output error, on at most mlpTokens evenly spaced calibration tokens. */
    private AwqSearch.Result searchMlp(BlockContext ctx, LinearStats st) {
        Block b = ctx.block();
        Linear gp = b.linear("mlp.gate_proj"), up = b.linear("mlp.up_proj"), dp = b.linear("mlp.down_proj");
        int d = gp.cols(), inter = gp.rows();
        long total = (long) ctx.samples() * ctx.seqLen();
        int step = (int) Math.max(1, (total + mlpTokens - 1) / mlpTokens);
        int T = (int) ((total + step - 1) / step);
        float[] x = new float[T * d];
        int[] seen = {0, 0};  // tokens seen, tokens kept
        ctx.forEachSample((name, in, n, cols) -> {
            if (!name.equals("mlp.gate_proj")) return;
            for (int t = 0; t < n; t++, seen[0]++)
                if (seen[0] % step == 0 && seen[1] < T) System.arraycopy(in, t * cols, x, d * seen[1]++, d);
        });
        float[] wg = gp.toDense(), wu = up.toDense();
        float[] gb = b.vector("mlp.gate_proj.bias"), ub = b.vector("mlp.up_proj.bias");
        float[] ref = mlp(x, T, new DenseLinear(inter, d, wg), new DenseLinear(inter, d, wu), dp, gb, ub);
        return AwqSearch.search(st.meanAbs(), s -> {
            float[] out = mlp(x, T, new DenseLinear(inter, d, AwqSearch.scaledFake(wg, inter, d, s, bits, groupSize, sym)),
                    new DenseLinear(inter, d, AwqSearch.scaledFake(wu, inter, d, s, bits, groupSize, sym)), dp, gb, ub);
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

    /** Divides the producing op's output channels by s and multiplies the linears' input columns by s. */
    static void fold(Block b, Group g, float[] s) {
        int n = s.length;
        for (String v : g.prevVectors()) {
            float[] a = b.vector(v);
            if (a == null) continue;
            float[] c = a.clone();
            for (int j = 0; j < n; j++) c[j] /= s[j];
            b.vectors.put(v, c);
        }
        if (g.prevLinear() != null) {
            Linear p = b.linear(g.prevLinear());
            float[] w = p.toDense();
            int r0 = p.rows() - n, cols = p.cols();
            for (int j = 0; j < n; j++) for (int c = 0; c < cols; c++) w[(r0 + j) * cols + c] /= s[j];
            b.linears.put(g.prevLinear(), new DenseLinear(p.rows(), cols, w));
            float[] bias = b.vector(g.prevBias());
            if (bias != null) {
                float[] c = bias.clone();
                for (int j = 0; j < n; j++) c[r0 + j] /= s[j];
                b.vectors.put(g.prevBias(), c);
            }
        }
        for (String name : g.linears()) {
            Linear l = b.linear(name);
            float[] w = l.toDense();
            int cols = l.cols();
            for (int r = 0; r < l.rows(); r++) for (int j = 0; j < cols; j++) w[r * cols + j] *= s[j];
            b.linears.put(name, new DenseLinear(l.rows(), cols, w));
        }
    }

    /** Clip search (on the scaled weights and their inputs' Hessian) then round to nearest. */
    @Override protected QuantResult quantize(BlockContext ctx, String linear, float[] w, int rows, int cols, Constraints c) {
        boolean qk = linear.equals("self_attn.q_proj") || linear.equals("self_attn.k_proj") || linear.equals("attn.c_attn");
        if (clip && !qk) w = AwqSearch.clip(w, rows, cols, ctx.stats(linear).hessian.hessian(), bits, groupSize, sym);
        return Rtn.quantize(w, rows, cols, bits, groupSize, sym);
    }
}
