package dev.squish.train;

/**
 * A trainable tensor: double master values, their gradient, AdamW's two moments, and an optional
 * mask of entries that must stay exactly zero (pruned weights of a sparse or N:M matrix). Masked
 * entries get no gradient and no update, so a pattern survives training bit for bit.
 */
public final class Param {
    public final String name;
    public final double[] w, g;
    public double[] m, v;            // AdamW moments, allocated by the optimizer
    public final boolean[] frozen;   // true where the entry is pruned (stays 0); null when all train
    public final boolean decay;      // weight decay applies (matrices yes, norms and biases no)

    public Param(String name, double[] w, boolean[] frozen, boolean decay) {
        this.name = name; this.w = w; this.g = new double[w.length]; this.frozen = frozen; this.decay = decay;
    }

    public static Param of(String name, float[] values, boolean decay) {
        double[] w = new double[values.length];
        for (int i = 0; i < w.length; i++) w[i] = values[i];
        return new Param(name, w, null, decay);
    }

    /** A sparse matrix's values: zeros are pruned positions and stay zero. */
    public static Param masked(String name, float[] values) {
        double[] w = new double[values.length];
        boolean[] frozen = new boolean[values.length];
        for (int i = 0; i < w.length; i++) { w[i] = values[i]; frozen[i] = values[i] == 0f; }
        return new Param(name, w, frozen, true);
    }

    public float[] toFloat() {
        float[] f = new float[w.length];
        for (int i = 0; i < f.length; i++) f[i] = (float) w[i];
        return f;
    }

    /** Zeroes the gradient of pruned entries (called after the backward pass). */
    void maskGradient() {
        if (frozen == null) return;
        for (int i = 0; i < g.length; i++) if (frozen[i]) g[i] = 0;
    }

    void zeroGrad() { java.util.Arrays.fill(g, 0); }
}
