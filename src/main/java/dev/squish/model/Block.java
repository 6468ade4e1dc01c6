package dev.squish.model;

import dev.squish.weights.Linear;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One decoder block's weights, by local name: linear layers (e.g. {@code self_attn.q_proj},
 * {@code mlp.down_proj}, GPT-2's {@code attn.c_attn}) and vectors (norm weights and biases, e.g.
 * {@code input_layernorm.weight}, {@code self_attn.q_proj.bias}). Compression methods replace
 * entries of {@link #linears} with compressed formats; the forward pass only sees {@link Linear}.
 */
public final class Block {
    public final int index;
    public final Map<String, Linear> linears = new LinkedHashMap<>();
    public final Map<String, float[]> vectors = new LinkedHashMap<>();

    public Block(int index) { this.index = index; }

    public Linear linear(String name) {
        Linear l = linears.get(name);
        if (l == null) throw new IllegalStateException("block " + index + " has no linear " + name);
        return l;
    }

    /** The vector, or null when absent (e.g. a bias the architecture does not have). */
    public float[] vector(String name) { return vectors.get(name); }

    public long parameters() {
        long n = 0;
        for (Linear l : linears.values()) n += l.parameters();
        for (float[] v : vectors.values()) n += v.length;
        return n;
    }

    public long bytes() {
        long n = 0;
        for (Linear l : linears.values()) n += l.bytes();
        for (float[] v : vectors.values()) n += 4L * v.length;
        return n;
    }
}
