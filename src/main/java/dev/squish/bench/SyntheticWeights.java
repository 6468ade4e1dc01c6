package dev.squish.bench;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.squish.SquishException;
import dev.squish.formats.ModelConfig;
import dev.squish.util.Parallel;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Named model shapes for {@code squish bench --synthetic NAME} and fast random weights for them.
 * Random weights are fine for speed: every kernel does the same work whatever the values.
 */
public final class SyntheticWeights {
    private SyntheticWeights() {}

    /** Standard deviation of the random weights, about that of trained transformer weights. */
    public static final float STD = 0.02f;

    /** Shape of a synthetic Llama model. */
    public record Shape(int hidden, int layers, int intermediate, int heads, int kvHeads, int vocab) {}

    public static final Map<String, Shape> SHAPES = new LinkedHashMap<>();
    static {
        // TinyLlama-1.1B's shapes
        SHAPES.put("llama-1b", new Shape(2048, 16, 5632, 32, 4, 32000));
        // a ~300M-parameter Llama for quicker runs (widths multiples of 512 so every kernel takes its fast path)
        SHAPES.put("llama-300m", new Shape(1024, 20, 3072, 16, 4, 32000));
        // the shapes of fixtures/models/kjv-llama-tiny
        SHAPES.put("tiny", new Shape(256, 6, 768, 8, 4, 4096));
    }

    public static Shape shape(String name) {
        Shape s = SHAPES.get(name);
        if (s == null) throw new SquishException("unknown synthetic model '" + name + "' (known: " + String.join(", ", SHAPES.keySet()) + ")");
        return s;
    }

    /** A Llama config.json for the shape (untied head, rope theta 10000, context 2048). */
    public static ObjectNode configJson(Shape s) {
        ObjectNode j = com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode();
        j.putArray("architectures").add("LlamaForCausalLM");
        j.put("model_type", "llama");
        j.put("hidden_size", s.hidden());
        j.put("num_hidden_layers", s.layers());
        j.put("intermediate_size", s.intermediate());
        j.put("num_attention_heads", s.heads());
        j.put("num_key_value_heads", s.kvHeads());
        j.put("head_dim", s.hidden() / s.heads());
        j.put("vocab_size", s.vocab());
        j.put("max_position_embeddings", 2048);
        j.put("rms_norm_eps", 1e-5);
        j.put("rope_theta", 10000.0);
        j.put("hidden_act", "silu");
        j.put("tie_word_embeddings", false);
        j.put("attention_bias", false);
        j.put("mlp_bias", false);
        j.put("bos_token_id", 1);
        j.put("eos_token_id", 2);
        j.put("torch_dtype", "float32");
        return j;
    }

    public static ModelConfig config(String name) {
        return ModelConfig.parse(configJson(shape(name)), "synthetic " + name);
    }

    /**
     * Fills a with deterministic random values of standard deviation std: the sum of two uniforms
     * (a triangular, normal-ish distribution on [-std sqrt 6, std sqrt 6]), from xorshift64*
     * streams per chunk so that large matrices fill in parallel in a fraction of a second.
     */
    public static void fill(float[] a, float std, long seed) {
        final int chunk = 1 << 16;
        float amp = (float) (std * Math.sqrt(6)), unit = 1f / (1 << 24);
        int chunks = (int) ((a.length + (long) chunk - 1) / chunk);
        Parallel.forRange(chunks, 4, (c0, c1) -> {
            for (int c = c0; c < c1; c++) {
                long x = mix(seed + 0x9E3779B97F4A7C15L * (c + 1));
                int end = (int) Math.min(a.length, (long) (c + 1) * chunk);
                for (int i = c * chunk; i < end; i++) {
                    x ^= x >>> 12; x ^= x << 25; x ^= x >>> 27;
                    long r = x * 0x2545F4914F6CDD1DL;
                    float u1 = (r >>> 40) * unit, u2 = ((r >>> 16) & 0xFFFFFF) * unit;
                    a[i] = (u1 + u2 - 1f) * amp;
                }
            }
        });
    }

    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        z ^= z >>> 31;
        return z == 0 ? 1 : z;
    }
}
