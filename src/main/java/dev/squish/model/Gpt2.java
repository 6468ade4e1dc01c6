package dev.squish.model;

import dev.squish.formats.ModelConfig;
import dev.squish.weights.Linear;

import java.util.List;
import java.util.Map;

/**
 * GPT-2: learned positions, LayerNorm with bias, fused QKV projection ({@code attn.c_attn}),
 * gelu_new MLP, biases everywhere, tied head. Checkpoints store Conv1D weights as [in, out]; every
 * linear is [out, in] to the rest of Squish, served from the mapped [in, out] bytes
 * ({@code weights.TransposedDenseLinear}) rather than transposed onto the heap.
 */
public final class Gpt2 extends Architecture {
    private final String root;

    Gpt2(ModelConfig c) { this(c, "transformer."); }

    Gpt2(ModelConfig c, String root) { super(c); this.root = root; }

    public static final String C_ATTN = "attn.c_attn", ATTN_PROJ = "attn.c_proj", C_FC = "mlp.c_fc", MLP_PROJ = "mlp.c_proj";

    @Override public String blockPrefix(int i) { return root + "h." + i + "."; }

    @Override public int[] expectedShape(String linear, LayerShape s) {
        int h = config.hidden();
        return switch (linear) {
            case C_ATTN -> new int[]{3 * h, h};
            case ATTN_PROJ -> new int[]{h, h};
            case C_FC -> new int[]{s.intermediate(), h};
            case MLP_PROJ -> new int[]{h, s.intermediate()};
            default -> null;
        };
    }

    /**
     * The reference's {@code auto_scale_block}: ln_1 -> c_attn; c_attn's value rows -> attn.c_proj
     * (when c_attn is q, k, v of equal width); ln_2 -> c_fc. mlp.c_proj follows gelu and is not
     * scaled (the reference inserts a ScaledActivation module there, which this runtime does not have).
     */
    @Override public List<ScalingGroup> scalingGroups(Block b) {
        List<ScalingGroup> g = new java.util.ArrayList<>();
        g.add(new ScalingGroup("ln_1->c_attn", List.of("ln_1.weight", "ln_1.bias"), null, null, List.of(C_ATTN), null));
        if (b.linear(C_ATTN).rows() == 3 * b.linear(ATTN_PROJ).cols())
            g.add(new ScalingGroup("c_attn.v->c_proj", List.of(), C_ATTN, C_ATTN + ".bias", List.of(ATTN_PROJ), null));
        g.add(new ScalingGroup("ln_2->c_fc", List.of("ln_2.weight", "ln_2.bias"), null, null, List.of(C_FC), null));
        return g;
    }

    /** c_attn computes queries and keys (and values); the reference does not clip it. */
    @Override public List<String> scoreLinears() { return List.of(C_ATTN); }


    @Override public List<String> linearNames() { return List.of("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"); }

    @Override public List<String> requiredVectors() {
        return List.of("ln_1.weight", "ln_1.bias", "attn.c_attn.bias", "attn.c_proj.bias", "ln_2.weight", "ln_2.bias",
                "mlp.c_fc.bias", "mlp.c_proj.bias");
    }

    @Override public boolean transposedLinears() { return true; }

    @Override public String embedName() { return root + "wte.weight"; }
    @Override public String positionName() { return root + "wpe.weight"; }
    @Override public String finalNormName() { return root + "ln_f.weight"; }
    @Override public String finalNormBiasName() { return root + "ln_f.bias"; }
    @Override public String headName() { return "lm_head.weight"; }

    /**
     * Structured pruning's couplings: one MLP channel is a row of c_fc (and its bias entry) and a
     * column of mlp.c_proj, the output where FLAP puts its compensating bias. Attention heads are
     * left out on purpose: transformers' GPT-2 derives head_dim = n_embd / n_head and requires
     * n_head * head_dim = n_embd (c_attn is always [3 n_embd, n_embd]), and llama.cpp's gpt2 graph
     * takes Q as n_embd wide, so a GPT-2 with fewer heads has no plain checkpoint and no GGUF; its
     * attention counts in a removal's budget but stays whole ({@code Flap}).
     */
    @Override public List<Coupling> couplings() {
        Map<String, Integer> rows = new java.util.LinkedHashMap<>();
        rows.put(C_FC, 1);
        return List.of(new Coupling("mlp", rows, Map.of(MLP_PROJ, 1), MLP_PROJ));
    }

    /** Heads stay as config.json says (see {@link #couplings}); the MLP width comes from c_fc. */
    @Override public LayerShape shape(Block b) { return new LayerShape(config.heads(), config.heads(), b.linear(C_FC).rows()); }

    @Override public List<String> configKeys() { return List.of("n_layer", "n_head", "n_head", "n_inner"); }

    @Override public int kvDim(Block b) { return b.linear("attn.c_attn").rows() / 3; }

    @Override public float[] forwardBlock(Block b, float[] x, int n, int pos0, KVCache cache, LinearObserver obs) {
        int d = x.length / n;
        float eps = config.normEps();
        float[] h = new float[n * d];
        Ops.layerNorm(x, h, b.vector("ln_1.weight"), b.vector("ln_1.bias"), n, d, eps);
        Linear qkvP = b.linear("attn.c_attn");
        int three = qkvP.rows(), ad = three / 3, hd = ad / config.heads();
        float[] qkv = new float[n * three];
        obs.input("attn.c_attn", h, n, d);
        qkvP.matmul(h, n, qkv);
        Ops.addBias(qkv, b.vector("attn.c_attn.bias"), n);
        float[] q = new float[n * ad], kc = cache.k[b.index], vc = cache.v[b.index];
        for (int t = 0; t < n; t++) {
            System.arraycopy(qkv, t * three, q, t * ad, ad);
            System.arraycopy(qkv, t * three + ad, kc, (pos0 + t) * ad, ad);
            System.arraycopy(qkv, t * three + 2 * ad, vc, (pos0 + t) * ad, ad);
        }
        float[] att = new float[n * ad];
        Ops.attention(q, kc, vc, att, n, pos0, config.heads(), config.heads(), hd);
        Linear op = b.linear("attn.c_proj");
        float[] o = new float[n * op.rows()];
        obs.input("attn.c_proj", att, n, ad);
        op.matmul(att, n, o);
        Ops.addBias(o, b.vector("attn.c_proj.bias"), n);
        Ops.add(x, o, o.length);

        Ops.layerNorm(x, h, b.vector("ln_2.weight"), b.vector("ln_2.bias"), n, d, eps);
        Linear fc = b.linear("mlp.c_fc"), pr = b.linear("mlp.c_proj");
        float[] a = new float[n * fc.rows()];
        obs.input("mlp.c_fc", h, n, d);
        fc.matmul(h, n, a);
        Ops.addBias(a, b.vector("mlp.c_fc.bias"), n);
        boolean tanh = !config.activation().equals("gelu");
        if (tanh) Ops.geluTanh(a, a.length);
        else for (int i = 0; i < a.length; i++) a[i] = Ops.geluErf(a[i]);
        float[] m = new float[n * pr.rows()];
        obs.input("mlp.c_proj", a, n, fc.rows());
        pr.matmul(a, n, m);
        Ops.addBias(m, b.vector("mlp.c_proj.bias"), n);
        Ops.add(x, m, m.length);
        return x;
    }

    @Override public void finalNorm(Model m, float[] x, int n) {
        Ops.layerNorm(x, x, m.finalNorm, m.finalNormBias, n, x.length / n, config.normEps());
    }
}
