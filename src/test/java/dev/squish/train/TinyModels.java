package dev.squish.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.squish.formats.ModelConfig;
import dev.squish.model.Architecture;
import dev.squish.model.Block;
import dev.squish.model.Model;
import dev.squish.weights.DenseLinear;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/** Small random models of both families for gradient checks and training tests. */
final class TinyModels {
    private TinyModels() {}

    static Model llama(long seed, boolean bias) {
        ObjectNode j = new ObjectMapper().createObjectNode();
        j.put("model_type", bias ? "qwen2" : "llama");
        j.put("hidden_size", 16).put("num_attention_heads", 4).put("num_key_value_heads", 2).put("head_dim", 4)
                .put("intermediate_size", 24).put("num_hidden_layers", 2).put("vocab_size", 23).put("max_position_embeddings", 64)
                .put("rms_norm_eps", 1e-5).put("tie_word_embeddings", false).put("attention_bias", bias);
        return build(ModelConfig.parse(j, "test"), seed);
    }

    static Model gpt2(long seed, String act) {
        ObjectNode j = new ObjectMapper().createObjectNode();
        j.put("model_type", "gpt2").put("n_embd", 16).put("n_head", 4).put("n_inner", 24).put("n_layer", 2).put("vocab_size", 23)
                .put("n_positions", 64).put("activation_function", act);
        return build(ModelConfig.parse(j, "test"), seed);
    }

    static Model build(ModelConfig c, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        Architecture arch = Architecture.of(c);
        int d = c.hidden();
        List<Block> blocks = new ArrayList<>();
        for (int i = 0; i < c.layers(); i++) {
            Block b = new Block(i);
            for (String l : arch.linearNames()) {
                int[] s = shape(l, c);
                b.linears.put(l, new DenseLinear(s[0], s[1], random(r, s[0] * s[1], 0.4)));
            }
            for (String v : arch.requiredVectors()) {
                var owner = v.endsWith(".bias") ? b.linears.get(v.substring(0, v.length() - 5)) : null;
                int len = owner != null ? owner.rows() : d;
                b.vectors.put(v, v.endsWith(".bias") ? random(r, len, 0.1) : around1(r, len));
            }
            blocks.add(b);
        }
        DenseLinear embed = new DenseLinear(c.vocab(), d, random(r, c.vocab() * d, 1.0));
        boolean gpt2 = c.family() == ModelConfig.Family.GPT2;
        DenseLinear head = gpt2 ? embed : new DenseLinear(c.vocab(), d, random(r, c.vocab() * d, 0.5));
        Model m = Model.assemble(c, arch, embed, blocks, around1(r, d), gpt2 ? random(r, d, 0.1) : null, head, null);
        if (gpt2) m.positions = new DenseLinear(c.maxPositions(), d, random(r, c.maxPositions() * d, 0.3));
        return m;
    }

    private static int[] shape(String l, ModelConfig c) {
        int d = c.hidden(), q = c.qDim(), kv = c.kvDim(), f = c.intermediate();
        return switch (l) {
            case "self_attn.q_proj" -> new int[]{q, d};
            case "self_attn.k_proj", "self_attn.v_proj" -> new int[]{kv, d};
            case "self_attn.o_proj" -> new int[]{d, q};
            case "mlp.gate_proj", "mlp.up_proj", "mlp.c_fc" -> new int[]{f, d};
            case "mlp.down_proj", "mlp.c_proj" -> new int[]{d, f};
            case "attn.c_attn" -> new int[]{3 * d, d};
            case "attn.c_proj" -> new int[]{d, d};
            default -> throw new IllegalArgumentException(l);
        };
    }

    static float[] random(SplittableRandom r, int n, double scale) {
        float[] f = new float[n];
        for (int i = 0; i < n; i++) f[i] = (float) ((r.nextDouble() * 2 - 1) * scale);
        return f;
    }

    static float[] around1(SplittableRandom r, int n) {
        float[] f = new float[n];
        for (int i = 0; i < n; i++) f[i] = (float) (0.8 + 0.4 * r.nextDouble());
        return f;
    }

    static int[][] batch(long seed, int bs, int len, int vocab) {
        SplittableRandom r = new SplittableRandom(seed);
        int[][] b = new int[bs][len];
        for (int[] s : b) for (int i = 0; i < len; i++) s[i] = r.nextInt(vocab);
        return b;
    }

}
