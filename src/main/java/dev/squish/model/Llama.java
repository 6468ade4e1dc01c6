package dev.squish.model;

import dev.squish.formats.ModelConfig;
import dev.squish.weights.Linear;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The Llama family (llama, mistral, qwen2): RMSNorm, rotary positions (rotate-half layout),
 * grouped-query attention with optional q/k/v biases, SwiGLU MLP.
 *
 * <p>Widths are read from the weights rather than the config, so sliced models (SliceGPT) run
 * with the same code. A block may carry {@code attn_shortcut} / {@code mlp_shortcut} linears,
 * which SliceGPT inserts on the residual path when the hidden basis changes between blocks.
 * RMSNorm divides by config.json's hidden size even when a sliced residual is narrower (as
 * SliceGPT's {@code RMSN}); for unsliced models that is the row width.
 */
public final class Llama extends Architecture {
    private final float[] invFreq;

    Llama(ModelConfig c) {
        super(c);
        int hd = c.headDim();
        invFreq = new float[hd / 2];
        // Mirrors transformers: inv_freq = 1 / base ** (arange(0, dim, 2).float() / dim), in float32.
        for (int i = 0; i < hd / 2; i++) invFreq[i] = 1f / (float) Math.pow(c.ropeTheta(), (float) (2 * i) / (float) hd);
    }

    public static final String Q = "self_attn.q_proj", K = "self_attn.k_proj", V = "self_attn.v_proj", O = "self_attn.o_proj",
            GATE = "mlp.gate_proj", UP = "mlp.up_proj", DOWN = "mlp.down_proj";
    public static final String INPUT_NORM = "input_layernorm.weight", POST_ATTENTION_NORM = "post_attention_layernorm.weight";
    public static final String ATTN_SHORTCUT = "attn_shortcut", MLP_SHORTCUT = "mlp_shortcut";

    @Override public String blockPrefix(int i) { return "model.layers." + i + "."; }

    @Override public int[] expectedShape(String linear, LayerShape s) {
        int h = config.hidden(), q = s.heads() * config.headDim(), kv = s.kvHeads() * config.headDim(), f = s.intermediate();
        return switch (linear) {
            case Q -> new int[]{q, h};
            case K, V -> new int[]{kv, h};
            case O -> new int[]{h, q};
            case GATE, UP -> new int[]{f, h};
            case DOWN -> new int[]{h, f};
            default -> null;
        };
    }

    /**
     * The reference's {@code auto_scale_block}: input_layernorm -> q,k,v; v_proj -> o_proj only when
     * their shapes allow (no grouped-query attention); post_attention_layernorm -> gate,up (measured
     * at the MLP's output); up_proj -> down_proj. None for a sliced block (its widths differ).
     */
    @Override public List<ScalingGroup> scalingGroups(Block b) {
        List<ScalingGroup> g = new ArrayList<>();
        if (sliced(b)) return g;
        g.add(new ScalingGroup("input_layernorm->qkv", List.of(INPUT_NORM), null, null, List.of(Q, K, V), null));
        if (b.linear(V).rows() == b.linear(O).cols())
            g.add(new ScalingGroup("v->o", List.of(), V, V + ".bias", List.of(O), null));
        g.add(new ScalingGroup("post_attention_layernorm->gate,up", List.of(POST_ATTENTION_NORM), null, null, List.of(GATE, UP), DOWN));
        g.add(new ScalingGroup("up->down", List.of(), UP, UP + ".bias", List.of(DOWN), null));
        return g;
    }

    @Override public List<String> scoreLinears() { return List.of(Q, K); }

    @Override public List<ResidualBranch> rotatableBranches() {
        return List.of(new ResidualBranch(INPUT_NORM, List.of(Q, K, V), O, ATTN_SHORTCUT),
                new ResidualBranch(POST_ATTENTION_NORM, List.of(GATE, UP), DOWN, MLP_SHORTCUT));
    }


    @Override public List<String> linearNames() {
        return List.of(Q, K, V, O,
                GATE, UP, DOWN);
    }

    @Override public List<String> requiredVectors() {
        List<String> v = new ArrayList<>(List.of(INPUT_NORM, POST_ATTENTION_NORM));
        if (config.attentionBias()) v.addAll(List.of("self_attn.q_proj.bias", "self_attn.k_proj.bias", "self_attn.v_proj.bias"));
        if (config.mlpBias()) v.addAll(List.of("mlp.gate_proj.bias", "mlp.up_proj.bias", "mlp.down_proj.bias"));
        return v;
    }

    /**
     * Biases a block may carry beyond what config.json asks for: structured pruning (FLAP) adds an
     * o_proj / down_proj bias that compensates for removed heads and channels; Squish's folder
     * stores only the biases that exist, and a plain checkpoint written for transformers fills the
     * rest of the family with zeros ({@code attention_bias} / {@code mlp_bias} are all-or-nothing there).
     */
    @Override public List<String> optionalVectors() {
        List<String> v = new ArrayList<>(List.of("self_attn.q_proj.bias", "self_attn.k_proj.bias", "self_attn.v_proj.bias", "self_attn.o_proj.bias",
                "mlp.gate_proj.bias", "mlp.up_proj.bias", "mlp.down_proj.bias"));
        v.addAll(SparseMlp.VECTORS);   // CATS threshold, MoE-ification's expert map and router
        return v;
    }

    /** The biases that {@code attention_bias} (q, k, v, o) and {@code mlp_bias} (gate, up, down) switch on in transformers' Llama. */
    public static final List<String> ATTENTION_BIASES = List.of("self_attn.q_proj.bias", "self_attn.k_proj.bias", "self_attn.v_proj.bias", "self_attn.o_proj.bias");
    public static final List<String> MLP_BIASES = List.of("mlp.gate_proj.bias", "mlp.up_proj.bias", "mlp.down_proj.bias");

    @Override public String embedName() { return "model.embed_tokens.weight"; }
    @Override public String finalNormName() { return "model.norm.weight"; }
    @Override public String headName() { return "lm_head.weight"; }

    @Override public int kvDim(Block b) { return b.linear(K).rows(); }

    @Override public List<Coupling> couplings() {
        int hd = config.headDim(), group = config.heads() / config.kvHeads();
        // LinkedHashMap order (Map.of has none): the first row entry defines the unit count.
        Map<String, Integer> attnRows = new java.util.LinkedHashMap<>();
        attnRows.put(Q, group * hd);
        attnRows.put(K, hd);
        attnRows.put(V, hd);
        Map<String, Integer> mlpRows = new java.util.LinkedHashMap<>();
        mlpRows.put(GATE, 1);
        mlpRows.put(UP, 1);
        return List.of(new Coupling("attention", attnRows, Map.of(O, group * hd), O),
                new Coupling("mlp", mlpRows, Map.of(DOWN, 1), DOWN));
    }

    @Override public LayerShape shape(Block b) {
        int hd = config.headDim();
        return new LayerShape(b.linear(Q).rows() / hd, b.linear(K).rows() / hd, b.linear(GATE).rows());
    }

    @Override public float[] forwardBlock(Block b, float[] x, int n, int pos0, KVCache cache, LinearObserver obs) {
        int d = b.linear(Q).cols();
        int width = x.length / n;
        float eps = config.normEps();
        float[] h = buf(cache, obs, 0, n * d);
        if (width != d) throw new IllegalStateException("block " + b.index + ": residual width " + width + " but q_proj takes " + d);
        Ops.rmsNorm(x, h, b.vector(INPUT_NORM), n, width, config.hidden(), eps);
        Linear qp = b.linear(Q), kp = b.linear(K), vp = b.linear(V);
        int qDim = qp.rows(), kvDim = kp.rows(), hd = config.headDim();
        float[] q = buf(cache, obs, 1, n * qDim), k = buf(cache, obs, 2, n * kvDim), v = buf(cache, obs, 3, n * kvDim);
        obs.input("self_attn.q_proj", h, n, d);
        qp.matmul(h, n, q);
        obs.input(K, h, n, d);
        kp.matmul(h, n, k);
        obs.input(V, h, n, d);
        vp.matmul(h, n, v);
        Ops.addBias(q, b.vector("self_attn.q_proj.bias"), n);
        Ops.addBias(k, b.vector("self_attn.k_proj.bias"), n);
        Ops.addBias(v, b.vector("self_attn.v_proj.bias"), n);
        rope(q, n, qDim / hd, hd, pos0);
        rope(k, n, kvDim / hd, hd, pos0);
        float[] kc = cache.k[b.index], vc = cache.v[b.index];
        System.arraycopy(k, 0, kc, pos0 * kvDim, n * kvDim);
        System.arraycopy(v, 0, vc, pos0 * kvDim, n * kvDim);
        float[] att = buf(cache, obs, 4, n * qDim);
        Ops.attention(q, kc, vc, att, n, pos0, qDim / hd, kvDim / hd, hd);
        Linear op = b.linear("self_attn.o_proj");
        float[] o = buf(cache, obs, 5, n * op.rows());
        obs.input("self_attn.o_proj", att, n, qDim);
        op.matmul(att, n, o);
        Ops.addBias(o, b.vector("self_attn.o_proj.bias"), n);
        x = residual(b, ATTN_SHORTCUT, x, o, n, obs);

        int d2 = b.linear(GATE).cols();
        int w2 = x.length / n;
        float[] h2 = buf(cache, obs, 6, n * w2);
        Ops.rmsNorm(x, h2, b.vector("post_attention_layernorm.weight"), n, w2, config.hidden(), eps);
        if (SparseMlp.active(b)) {   // CATS or MoE-ified: only some channels per token
            float[] dn = SparseMlp.forward(b, h2, n, d2, obs);
            Ops.addBias(dn, b.vector("mlp.down_proj.bias"), n);
            return residual(b, MLP_SHORTCUT, x, dn, n, obs);
        }
        Linear gp = b.linear("mlp.gate_proj"), up = b.linear("mlp.up_proj"), dp = b.linear("mlp.down_proj");
        int inter = gp.rows();
        float[] g = buf(cache, obs, 7, n * inter), u = buf(cache, obs, 8, n * inter);
        obs.input("mlp.gate_proj", h2, n, d2);
        gp.matmul(h2, n, g);
        obs.input(UP, h2, n, d2);
        up.matmul(h2, n, u);
        Ops.addBias(g, b.vector("mlp.gate_proj.bias"), n);
        Ops.addBias(u, b.vector("mlp.up_proj.bias"), n);
        Ops.swiglu(g, u, g.length);
        float[] dn = buf(cache, obs, 9, n * dp.rows());
        obs.input("mlp.down_proj", g, n, inter);
        dp.matmul(g, n, dn);
        Ops.addBias(dn, b.vector("mlp.down_proj.bias"), n);
        return residual(b, MLP_SHORTCUT, x, dn, n, obs);
    }

    /**
     * The cache's reusable buffer, or a new array when an observer is watching (observers such as
     * calibration may keep the arrays they are shown).
     */
    private static float[] buf(KVCache cache, LinearObserver obs, int slot, int size) {
        return obs == LinearObserver.NONE ? cache.scratch(slot, size) : new float[size];
    }

    private float[] residual(Block b, String shortcut, float[] x, float[] delta, int n, LinearObserver obs) {
        Linear s = b.linears.get(shortcut);
        if (s == null) { Ops.add(x, delta, delta.length); return x; }
        float[] y = new float[n * s.rows()];
        obs.input(shortcut, x, n, s.cols());
        s.matmul(x, n, y);
        Ops.add(y, delta, y.length);
        return y;
    }

    /** Rotary embedding in the rotate-half layout (pairs i and i + hd/2), in place. */
    void rope(float[] v, int n, int heads, int hd, int pos0) {
        int half = hd / 2;
        for (int t = 0; t < n; t++) {
            float pos = pos0 + t;
            for (int i = 0; i < half; i++) {
                float ang = invFreq[i] * pos;
                float c = (float) Math.cos(ang), s = (float) Math.sin(ang);
                for (int h = 0; h < heads; h++) {
                    int o = t * heads * hd + h * hd;
                    float a = v[o + i], bb = v[o + i + half];
                    v[o + i] = a * c - bb * s;
                    v[o + i + half] = bb * c + a * s;
                }
            }
        }
    }

    @Override public void finalNorm(Model m, float[] x, int n) {
        Ops.rmsNorm(x, x, m.finalNorm, n, x.length / n, config.hidden(), config.normEps());
    }
}
