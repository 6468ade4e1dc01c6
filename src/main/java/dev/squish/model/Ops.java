package dev.squish.model;

import dev.squish.util.Parallel;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

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

    /**
     * Scales v[0..len) by {@code scale} and replaces it with exp(v - max); returns 1 / sum, so
     * v[i] * result is the softmax. Vectorized: exp is where attention spends its time.
     */
    static float softmaxScaled(float[] v, int len, float scale) {
        int bound = S.loopBound(len), i = 0;
        FloatVector mx = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
        for (; i < bound; i += S.length()) {
            FloatVector x = FloatVector.fromArray(S, v, i).mul(scale);
            x.intoArray(v, i);
            mx = mx.max(x);
        }
        float max = mx.reduceLanes(VectorOperators.MAX);
        for (; i < len; i++) { v[i] *= scale; max = Math.max(max, v[i]); }
        FloatVector acc = FloatVector.zero(S);
        i = 0;
        for (; i < bound; i += S.length()) {
            FloatVector e = FloatVector.fromArray(S, v, i).sub(max).lanewise(VectorOperators.EXP);
            e.intoArray(v, i);
            acc = acc.add(e);
        }
        double sum = acc.reduceLanes(VectorOperators.ADD);
        for (; i < len; i++) { float e = (float) Math.exp(v[i] - max); v[i] = e; sum += e; }
        return (float) (1.0 / sum);
    }

    /** out[i] = silu(g[i]) * u[i] over [0, len) (SwiGLU), vectorized. */
    public static void swiglu(float[] g, float[] u, int len) {
        int bound = S.loopBound(len), i = 0;
        for (; i < bound; i += S.length()) {
            FloatVector x = FloatVector.fromArray(S, g, i);
            FloatVector sig = x.neg().lanewise(VectorOperators.EXP).add(1f);
            x.div(sig).mul(FloatVector.fromArray(S, u, i)).intoArray(g, i);
        }
        for (; i < len; i++) g[i] = silu(g[i]) * u[i];
    }

    /** In place gelu_new (tanh approximation) over [0, len), vectorized. */
    public static void geluTanh(float[] a, int len) {
        final float c = (float) Math.sqrt(2.0 / Math.PI);
        int bound = S.loopBound(len), i = 0;
        for (; i < bound; i += S.length()) {
            FloatVector x = FloatVector.fromArray(S, a, i);
            FloatVector inner = x.mul(x).mul(x).mul(0.044715f).add(x).mul(c).lanewise(VectorOperators.TANH);
            x.mul(0.5f).mul(inner.add(1f)).intoArray(a, i);
        }
        for (; i < len; i++) a[i] = geluTanh(a[i]);
    }

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

    private static final VectorSpecies<Float> S = dev.squish.util.VectorWidth.FLOAT;

    /**
     * Causal multi-head attention with grouped-query heads over a KV cache.
     * q: [n, heads*hd] for absolute positions pos0..pos0+n-1; keys/values of positions
     * [0, pos0+n) are in kc/vc ([pos, kvHeads*hd]). Output out: [n, heads*hd].
     *
     * <p>Hand-vectorized (it is half of a prefill's time at small widths): keys of each key/value
     * head are transposed once to [hd, positions] so a query's scores are computed with
     * broadcast-FMA over consecutive positions; values are accumulated over hd lanes.
     */
    public static void attention(float[] q, float[] kc, float[] vc, float[] out, int n, int pos0,
                                 int heads, int kvHeads, int hd) {
        int group = heads / kvHeads;
        int qDim = heads * hd, kvDim = kvHeads * hd;
        int total = pos0 + n;
        float scale = (float) (1.0 / Math.sqrt(hd));
        float[][] kt = new float[kvHeads][];
        Parallel.forRange(kvHeads, 1, (lo, hi) -> {
            for (int g = lo; g < hi; g++) {
                float[] t = new float[hd * total];
                for (int s = 0; s < total; s++) {
                    int kb = s * kvDim + g * hd;
                    for (int i = 0; i < hd; i++) t[i * total + s] = kc[kb + i];
                }
                kt[g] = t;
            }
        });
        Parallel.forRange(heads * n, 4, (lo, hi) -> {
            float[] scores = new float[total];
            for (int job = lo; job < hi; job++) {
                int h = job / n, t = job % n;
                int len = pos0 + t + 1;
                int qo = t * qDim + h * hd, ko = (h / group) * hd;
                float[] k = kt[h / group];
                // scores[s] = q . k_s: a vector of positions accumulates over the head dimension in a register
                int bound = S.loopBound(len), s = 0;
                for (; s < bound; s += S.length()) {
                    FloatVector acc = FloatVector.zero(S);
                    for (int i = 0; i < hd; i++)
                        acc = FloatVector.fromArray(S, k, i * total + s).fma(FloatVector.broadcast(S, q[qo + i]), acc);
                    acc.intoArray(scores, s);
                }
                for (; s < len; s++) {
                    float d = 0;
                    for (int i = 0; i < hd; i++) d += q[qo + i] * k[i * total + s];
                    scores[s] = d;
                }
                float inv = softmaxScaled(scores, len, scale);
                int oo = t * qDim + h * hd;
                if (hd == 2 * S.length()) { // the common head sizes: output kept in two registers
                    FloatVector o0 = FloatVector.zero(S), o1 = o0;
                    for (int p = 0; p < len; p++) {
                        FloatVector pv = FloatVector.broadcast(S, scores[p] * inv);
                        int vb = p * kvDim + ko;
                        o0 = FloatVector.fromArray(S, vc, vb).fma(pv, o0);
                        o1 = FloatVector.fromArray(S, vc, vb + S.length()).fma(pv, o1);
                    }
                    o0.intoArray(out, oo);
                    o1.intoArray(out, oo + S.length());
                    continue;
                }
                java.util.Arrays.fill(out, oo, oo + hd, 0f);
                int hb = S.loopBound(hd);
                for (int p = 0; p < len; p++) {
                    float pr = scores[p] * inv;
                    int vb = p * kvDim + ko, i = 0;
                    if (hb > 0) {
                        FloatVector pv = FloatVector.broadcast(S, pr);
                        for (; i < hb; i += S.length())
                            FloatVector.fromArray(S, vc, vb + i).fma(pv, FloatVector.fromArray(S, out, oo + i)).intoArray(out, oo + i);
                    }
                    for (; i < hd; i++) out[oo + i] += pr * vc[vb + i];
                }
            }
        });
    }
}
