package dev.squish.model;

import dev.squish.util.Parallel;

/** The small non-matrix operations of the forward pass (norms, activations, attention). */
public final class Ops {
    private Ops() {}

    /** RMSNorm of each of n rows of width d, in place into out: x / sqrt(mean(x^2) + eps) * w. */
    public static void rmsNorm(float[] x, float[] out, float[] w, int n, int d, float eps) {
        rmsNorm(x, out, w, n, d, d, eps);
    }

    /**
     * RMSNorm whose mean of squares divides by {@code meanDim} instead of the row width d: a
     * SliceGPT-sliced model normalizes its d-wide rows as if they were still the original
     * {@code meanDim} wide (the reference's {@code RMSN(mean_dim)}), since the deleted components
     * are (nearly) zero.
     */
    public static void rmsNorm(float[] x, float[] out, float[] w, int n, int d, int meanDim, float eps) {
        for (int t = 0; t < n; t++) {
            int o = t * d;
            double ss = 0;
            for (int i = 0; i < d; i++) ss += (double) x[o + i] * x[o + i];
            float inv = (float) (1.0 / Math.sqrt(ss / meanDim + eps));
            if (w == null) for (int i = 0; i < d; i++) out[o + i] = x[o + i] * inv;
            else for (int i = 0; i < d; i++) out[o + i] = w[i] * (x[o + i] * inv);
        }
    }

    /** LayerNorm of each of n rows: (x - mean) / sqrt(var + eps) * w + b. */
    public static void layerNorm(float[] x, float[] out, float[] w, float[] b, int n, int d, float eps) {
        for (int t = 0; t < n; t++) {
            int o = t * d;
            double mean = 0;
            for (int i = 0; i < d; i++) mean += x[o + i];
            mean /= d;
            double var = 0;
            for (int i = 0; i < d; i++) { double c = x[o + i] - mean; var += c * c; }
            var /= d;
            float inv = (float) (1.0 / Math.sqrt(var + eps));
            for (int i = 0; i < d; i++) {
                float v = (float) (x[o + i] - mean) * inv;
                out[o + i] = (w == null ? v : v * w[i]) + (b == null ? 0 : b[i]);
            }
        }
    }

    /** Adds a bias vector of width d to each of n rows (no-op for a null bias). */
    public static void addBias(float[] y, float[] b, int n) {
        if (b == null) return;
        int d = b.length;
        for (int t = 0; t < n; t++) for (int i = 0; i < d; i++) y[t * d + i] += b[i];
    }

    public static void add(float[] x, float[] y, int len) {
        for (int i = 0; i < len; i++) x[i] += y[i];
    }

    public static float silu(float x) { return (float) (x / (1.0 + Math.exp(-x))); }

    /** GPT-2's gelu_new (tanh approximation). */
    public static float geluTanh(float x) {
        return (float) (0.5 * x * (1.0 + Math.tanh(Math.sqrt(2.0 / Math.PI) * (x + 0.044715 * x * x * x))));
    }

    /** Exact gelu, x * Phi(x). */
    public static float geluErf(float x) { return (float) (0.5 * x * (1.0 + erf(x / Math.sqrt(2.0)))); }

    /** erf with |error| < 1.2e-7 (Numerical Recipes erfc, Chebyshev). */
    static double erf(double x) {
        double z = Math.abs(x), t = 1.0 / (1.0 + 0.5 * z);
        double r = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
                + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
        return x >= 0 ? 1 - r : r - 1;
    }

    /**
     * Causal multi-head attention with grouped-query heads over a KV cache.
     * q: [n, heads*hd] for absolute positions pos0..pos0+n-1; keys/values of positions
     * [0, pos0+n) are in kc/vc ([pos, kvHeads*hd]). Output out: [n, heads*hd].
     */
    public static void attention(float[] q, float[] kc, float[] vc, float[] out, int n, int pos0,
                                 int heads, int kvHeads, int hd) {
        int group = heads / kvHeads;
        int qDim = heads * hd, kvDim = kvHeads * hd;
        float scale = (float) (1.0 / Math.sqrt(hd));
        Parallel.forRange(heads * n, 4, (lo, hi) -> {
            float[] scores = new float[pos0 + n];
            for (int job = lo; job < hi; job++) {
                int h = job / n, t = job % n;
                int len = pos0 + t + 1;
                int qo = t * qDim + h * hd, ko = (h / group) * hd;
                float max = Float.NEGATIVE_INFINITY;
                for (int s = 0; s < len; s++) {
                    int kb = s * kvDim + ko;
                    float dot = 0;
                    for (int i = 0; i < hd; i++) dot += q[qo + i] * kc[kb + i];
                    dot *= scale;
                    scores[s] = dot;
                    if (dot > max) max = dot;
                }
                double sum = 0;
                for (int s = 0; s < len; s++) { float e = (float) Math.exp(scores[s] - max); scores[s] = e; sum += e; }
                float inv = (float) (1.0 / sum);
                int oo = t * qDim + h * hd;
                for (int i = 0; i < hd; i++) out[oo + i] = 0;
                for (int s = 0; s < len; s++) {
                    float p = scores[s] * inv;
                    int vb = s * kvDim + ko;
                    for (int i = 0; i < hd; i++) out[oo + i] += p * vc[vb + i];
                }
            }
        });
    }
}
