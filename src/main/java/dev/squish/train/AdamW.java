package dev.squish.train;

import java.util.List;

/**
 * AdamW (Loshchilov and Hutter 2019): Adam with bias correction and decoupled weight decay,
 * applied to matrices only (norms and biases are not decayed, as in most LM recipes). Pruned
 * entries get neither update nor decay: they stay exactly zero.
 */
public final class AdamW {
    public static final double BETA1 = 0.9, BETA2 = 0.999, EPS = 1e-8;
    final double weightDecay;

    public AdamW(double weightDecay) { this.weightDecay = weightDecay; }

    static void allocate(List<Param> ps) {
        for (Param p : ps) if (p.m == null) { p.m = new double[p.w.length]; p.v = new double[p.w.length]; }
    }

    /** Global L2 norm of the gradients. */
    static double gradNorm(List<Param> ps) {
        double s = 0;
        for (Param p : ps) for (double g : p.g) s += g * g;
        return Math.sqrt(s);
    }

    /** One update at (1-based) step t with learning rate lr, gradients first multiplied by gradScale (clipping). */
    void step(List<Param> ps, int t, double lr, double gradScale) {
        allocate(ps);
        double c1 = 1 - Math.pow(BETA1, t), c2 = 1 - Math.pow(BETA2, t);
        for (Param p : ps) {
            double[] w = p.w, g = p.g, m = p.m, v = p.v;
            boolean[] frozen = p.frozen;
            double decay = p.decay ? lr * weightDecay : 0;
            for (int i = 0; i < w.length; i++) {
                if (frozen != null && frozen[i]) continue;
                double gi = g[i] * gradScale;
                m[i] = BETA1 * m[i] + (1 - BETA1) * gi;
                v[i] = BETA2 * v[i] + (1 - BETA2) * gi * gi;
                w[i] -= lr * (m[i] / c1) / (Math.sqrt(v[i] / c2) + EPS) + decay * w[i];
            }
        }
    }
}
