package dev.squish.model;

import dev.squish.util.Lanes;
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

    // exp for the vector loops, from +, *, fma and bit operations only. VectorOperators.EXP (and
    // TANH) is not reproducible: C2's vector math stub and the Java fallback the interpreter and C1
    // run differ in the last bit, so one block's activations changed with how warm the JIT was
    // (the same calibration sample gave Hessians differing at 1e-9 between two passes in one run),
    // and GPTQ's rounding then flipped weights between runs. Cody-Waite reduction x = n ln2 + r,
    // |r| <= ln2/2, degree-7 Taylor polynomial (truncation below 5e-9 relative, under float's
    // ulp), times 2^n built in the exponent bits. Inputs are clamped to [-87, 88] (exp(-87) =
    // 1.6e-38; softmax and sigmoid need nothing smaller, and nothing overflows).
    private static final float LOG2E = 1.44269504088896341f, LN2_HI = 0.693359375f, LN2_LO = -2.12194440e-4f;
    private static final float ROUND = 12582912f; // 1.5 * 2^23: adding it rounds to an integer in the low mantissa bits

    /** e^x lane by lane, the same bits in every JIT tier (see above). */
    static FloatVector exp(FloatVector x) {
        x = x.max(-87f).min(88f);
        FloatVector t = x.fma(FloatVector.broadcast(x.species(), LOG2E), FloatVector.broadcast(x.species(), ROUND));
        FloatVector n = t.sub(ROUND);
        FloatVector r = n.fma(FloatVector.broadcast(x.species(), -LN2_HI), x);
        r = n.fma(FloatVector.broadcast(x.species(), -LN2_LO), r);
        FloatVector p = FloatVector.broadcast(x.species(), 1f / 5040f);
        p = p.fma(r, FloatVector.broadcast(x.species(), 1f / 720f));
        p = p.fma(r, FloatVector.broadcast(x.species(), 1f / 120f));
        p = p.fma(r, FloatVector.broadcast(x.species(), 1f / 24f));
        p = p.fma(r, FloatVector.broadcast(x.species(), 1f / 6f));
        p = p.fma(r, FloatVector.broadcast(x.species(), 0.5f));
        p = p.fma(r, FloatVector.broadcast(x.species(), 1f));
        p = p.fma(r, FloatVector.broadcast(x.species(), 1f));
        // n sits in the low mantissa bits of t (offset by the bits of ROUND): 2^n = (n + 127) << 23
        FloatVector pow2 = t.reinterpretAsInts().sub(0x4B400000 - 127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        return p.mul(pow2);
    }

    /** The scalar twin of {@link #exp(FloatVector)} (same operations, same bits), for loop tails. */
    static float exp(float x) {
        x = Math.min(Math.max(x, -87f), 88f);
        float t = Math.fma(x, LOG2E, ROUND);
        float n = t - ROUND;
        float r = Math.fma(n, -LN2_HI, x);
        r = Math.fma(n, -LN2_LO, r);
        float p = 1f / 5040f;
        p = Math.fma(p, r, 1f / 720f);
        p = Math.fma(p, r, 1f / 120f);
        p = Math.fma(p, r, 1f / 24f);
        p = Math.fma(p, r, 1f / 6f);
        p = Math.fma(p, r, 0.5f);
        p = Math.fma(p, r, 1f);
        p = Math.fma(p, r, 1f);
        return p * Float.intBitsToFloat((Float.floatToRawIntBits(t) - (0x4B400000 - 127)) << 23);
    }

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
            FloatVector e = exp(FloatVector.fromArray(S, v, i).sub(max));
            e.intoArray(v, i);
            acc = acc.add(e);
        }
        double sum = Lanes.sum(acc);
        for (; i < len; i++) { float e = exp(v[i] - max); v[i] = e; sum += e; }
        return (float) (1.0 / sum);
    }

    /** out[i] = silu(g[i]) * u[i] over [0, len) (SwiGLU), vectorized. */
    public static void swiglu(float[] g, float[] u, int len) {
        int bound = S.loopBound(len), i = 0;
        for (; i < bound; i += S.length()) {
            FloatVector x = FloatVector.fromArray(S, g, i);
            FloatVector sig = exp(x.neg()).add(1f);
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
            // tanh(y) = 1 - 2 / (e^(2y) + 1), through the reproducible exp
            FloatVector y2 = x.mul(x).mul(x).mul(0.044715f).add(x).mul(2 * c);
            FloatVector inner = FloatVector.broadcast(S, 1f).sub(FloatVector.broadcast(S, 2f).div(exp(y2).add(1f)));
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
