package dev.squish.train;

import dev.squish.util.Parallel;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The forward pass's operations and their reverse-mode gradients, in double precision. Training
 * keeps double master weights so central finite differences check every gradient to ~1e-8
 * (float would leave ~1e-3 of rounding noise in the check), and so Adam's small updates are not
 * lost to float rounding. Every output element is computed by one thread in a fixed order, so
 * results do not depend on thread scheduling: a resumed run repeats the same arithmetic exactly.
 *
 * <p>Layout as in the model: activations [n, width] row-major, weights [out, in].
 */
public final class GradOps {
    private GradOps() {}

    private static final VectorSpecies<Double> S = DoubleVector.SPECIES_PREFERRED;

    static double dot(double[] a, int ao, double[] b, int bo, int len) {
        int i = 0, bound = S.loopBound(len);
        DoubleVector acc = DoubleVector.zero(S);
        for (; i < bound; i += S.length()) acc = DoubleVector.fromArray(S, a, ao + i).fma(DoubleVector.fromArray(S, b, bo + i), acc);
        // Lanes summed in a fixed order: reduceLanes may add them in a different order in the
        // interpreter and in C2, which would make a resumed run differ from an uninterrupted one
        // in the last bits.
        double s = 0;
        for (int l = 0; l < S.length(); l++) s += acc.lane(l);
        for (; i < len; i++) s += a[ao + i] * b[bo + i];
        return s;
    }

    /** y[o..] += s * x[xo..] over len entries. */
    static void axpy(double s, double[] x, int xo, double[] y, int yo, int len) {
        int i = 0, bound = S.loopBound(len);
        DoubleVector sv = DoubleVector.broadcast(S, s);
        for (; i < bound; i += S.length())
            DoubleVector.fromArray(S, x, xo + i).fma(sv, DoubleVector.fromArray(S, y, yo + i)).intoArray(y, yo + i);
        for (; i < len; i++) y[yo + i] += s * x[xo + i];
    }

    private static int grain(int work) { return Math.max(1, 32768 / Math.max(1, work)); }

    /** y[n, out] = x[n, in] W^T. */
    public static double[] matmul(double[] w, int out, int in, double[] x, int n) {
        double[] y = new double[n * out];
        Parallel.forRange(n, grain(out * in), (lo, hi) -> {
            for (int t = lo; t < hi; t++)
                for (int o = 0; o < out; o++) y[t * out + o] = dot(x, t * in, w, o * in, in);
        });
        return y;
    }

    /** dx[n, in] += dy[n, out] W. */
    public static void matmulBackX(double[] w, int out, int in, double[] dy, int n, double[] dx) {
        Parallel.forRange(n, grain(out * in), (lo, hi) -> {
            for (int t = lo; t < hi; t++)
                for (int o = 0; o < out; o++) {
                    double g = dy[t * out + o];
                    if (g != 0) axpy(g, w, o * in, dx, t * in, in);
                }
        });
    }

    /** dW[out, in] += dy^T x. */
    public static void matmulBackW(double[] dy, double[] x, int n, int out, int in, double[] dw) {
        Parallel.forRange(out, grain(n * in), (lo, hi) -> {
            for (int o = lo; o < hi; o++)
                for (int t = 0; t < n; t++) {
                    double g = dy[t * out + o];
                    if (g != 0) axpy(g, x, t * in, dw, o * in, in);
                }
        });
    }

    public static void addBias(double[] y, double[] b, int n) {
        if (b == null) return;
        int d = b.length;
        for (int t = 0; t < n; t++) for (int i = 0; i < d; i++) y[t * d + i] += b[i];
    }

    /** db += column sums of dy. */
    public static void biasBack(double[] dy, int n, double[] db) {
        if (db == null) return;
        int d = db.length;
        for (int t = 0; t < n; t++) for (int i = 0; i < d; i++) db[i] += dy[t * d + i];
    }

    /**
     * RMSNorm y = w * x / sqrt(sum(x^2) / meanDim + eps) per row; returns the per-row inverse
     * root mean square (what the backward needs) and writes y.
     */
    public static double[] rmsNorm(double[] x, double[] y, double[] w, int n, int d, int meanDim, double eps) {
        double[] inv = new double[n];
        for (int t = 0; t < n; t++) {
            int o = t * d;
            double ss = dot(x, o, x, o, d);
            double r = 1.0 / Math.sqrt(ss / meanDim + eps);
            inv[t] = r;
            for (int i = 0; i < d; i++) y[o + i] = w[i] * x[o + i] * r;
        }
        return inv;
    }

    /** Backward of {@link #rmsNorm}: dx += ..., dw += ... */
    public static void rmsNormBack(double[] x, double[] inv, double[] w, double[] dy, int n, int d, int meanDim, double[] dx, double[] dw) {
        for (int t = 0; t < n; t++) {
            int o = t * d;
            double r = inv[t];
            // y_i = w_i x_i r, r = (s/m + eps)^-1/2, dr/dx_j = -r^3 x_j / m
            double sgx = 0;
            for (int i = 0; i < d; i++) {
                sgx += dy[o + i] * w[i] * x[o + i];
                if (dw != null) dw[i] += dy[o + i] * x[o + i] * r;
            }
            double c = -r * r * r * sgx / meanDim;
            for (int i = 0; i < d; i++) dx[o + i] += dy[o + i] * w[i] * r + c * x[o + i];
        }
    }

    /** LayerNorm y = (x - mean) / sqrt(var + eps) * w + b; returns [mean, inv] per row (2n entries). */
    public static double[] layerNorm(double[] x, double[] y, double[] w, double[] b, int n, int d, double eps) {
        double[] stats = new double[2 * n];
        for (int t = 0; t < n; t++) {
            int o = t * d;
            double mean = 0;
            for (int i = 0; i < d; i++) mean += x[o + i];
            mean /= d;
            double var = 0;
            for (int i = 0; i < d; i++) { double c = x[o + i] - mean; var += c * c; }
            var /= d;
            double inv = 1.0 / Math.sqrt(var + eps);
            stats[2 * t] = mean;
            stats[2 * t + 1] = inv;
            for (int i = 0; i < d; i++) y[o + i] = (x[o + i] - mean) * inv * w[i] + (b == null ? 0 : b[i]);
        }
        return stats;
    }

    public static void layerNormBack(double[] x, double[] stats, double[] w, double[] dy, int n, int d,
                                     double[] dx, double[] dw, double[] db) {
        for (int t = 0; t < n; t++) {
            int o = t * d;
            double mean = stats[2 * t], inv = stats[2 * t + 1];
            double sg = 0, sgx = 0;
            for (int i = 0; i < d; i++) {
                double xh = (x[o + i] - mean) * inv, g = dy[o + i] * w[i];
                sg += g;
                sgx += g * xh;
                if (dw != null) dw[i] += dy[o + i] * xh;
                if (db != null) db[i] += dy[o + i];
            }
            for (int i = 0; i < d; i++) {
                double xh = (x[o + i] - mean) * inv, g = dy[o + i] * w[i];
                dx[o + i] += inv * (g - sg / d - xh * sgx / d);
            }
        }
    }

    /**
     * Rotary embedding (rotate-half layout) in place over [n, heads * hd] with the token at row t
     * at position {@code t % seq}; {@code sign} -1 applies the inverse rotation, which is the
     * backward (a rotation's transpose is its inverse).
     */
    public static void rope(double[] v, int n, int heads, int hd, int seq, double[] cos, double[] sin, int sign) {
        int half = hd / 2;
        for (int t = 0; t < n; t++) {
            int p = t % seq;
            for (int i = 0; i < half; i++) {
                double c = cos[p * half + i], s = sign * sin[p * half + i];
                for (int h = 0; h < heads; h++) {
                    int o = t * heads * hd + h * hd;
                    double a = v[o + i], bb = v[o + i + half];
                    v[o + i] = a * c - bb * s;
                    v[o + i + half] = bb * c + a * s;
                }
            }
        }
    }

    /**
     * Causal attention over independent sequences of {@code seq} tokens (n = batch * seq rows),
     * grouped-query heads. q [n, heads*hd], k/v [n, kvHeads*hd]; returns out [n, heads*hd] and
     * fills probs [batch, heads, seq, seq] (the softmax, zero above the diagonal).
     */
    public static double[] attention(double[] q, double[] k, double[] v, int n, int seq, int heads, int kvHeads, int hd, double[] probs) {
        int group = heads / kvHeads, qDim = heads * hd, kvDim = kvHeads * hd, batch = n / seq;
        double scale = 1.0 / Math.sqrt(hd);
        double[] out = new double[n * qDim];
        Parallel.forRange(batch * heads, 1, (lo, hi) -> {
            for (int job = lo; job < hi; job++) {
                int bi = job / heads, h = job % heads, kh = h / group;
                for (int i = 0; i < seq; i++) {
                    int row = bi * seq + i, po = ((bi * heads + h) * seq + i) * seq;
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j <= i; j++) {
                        double s = dot(q, row * qDim + h * hd, k, (bi * seq + j) * kvDim + kh * hd, hd) * scale;
                        probs[po + j] = s;
                        max = Math.max(max, s);
                    }
                    double sum = 0;
                    for (int j = 0; j <= i; j++) { double e = Math.exp(probs[po + j] - max); probs[po + j] = e; sum += e; }
                    for (int j = 0; j <= i; j++) {
                        probs[po + j] /= sum;
                        axpy(probs[po + j], v, (bi * seq + j) * kvDim + kh * hd, out, row * qDim + h * hd, hd);
                    }
                }
            }
        });
        return out;
    }

    /** Backward of {@link #attention}: dq, dk, dv (each accumulated). */
    public static void attentionBack(double[] q, double[] k, double[] v, double[] probs, double[] dout, int n, int seq, int heads, int kvHeads, int hd,
                                     double[] dq, double[] dk, double[] dv) {
        int group = heads / kvHeads, qDim = heads * hd, kvDim = kvHeads * hd, batch = n / seq;
        double scale = 1.0 / Math.sqrt(hd);
        // One job per (sequence, key/value head): the query heads of a group write the same dk/dv rows.
        Parallel.forRange(batch * kvHeads, 1, (lo, hi) -> {
            double[] dp = new double[seq];
            for (int job = lo; job < hi; job++) {
                int bi = job / kvHeads, kh = job % kvHeads;
                for (int h = kh * group; h < (kh + 1) * group; h++)
                    for (int i = 0; i < seq; i++) {
                        int row = bi * seq + i, po = ((bi * heads + h) * seq + i) * seq, qo = row * qDim + h * hd;
                        double sum = 0;
                        for (int j = 0; j <= i; j++) {
                            int vo = (bi * seq + j) * kvDim + kh * hd;
                            dp[j] = dot(dout, qo, v, vo, hd);
                            sum += dp[j] * probs[po + j];
                            axpy(probs[po + j], dout, qo, dv, vo, hd);
                        }
                        for (int j = 0; j <= i; j++) {
                            double ds = probs[po + j] * (dp[j] - sum) * scale;
                            if (ds == 0) continue;
                            int ko = (bi * seq + j) * kvDim + kh * hd;
                            axpy(ds, k, ko, dq, qo, hd);
                            axpy(ds, q, qo, dk, ko, hd);
                        }
                    }
            }
        });
    }

    public static double silu(double x) { return x / (1 + Math.exp(-x)); }

    /** a = silu(g) * u. */
    public static double[] swiglu(double[] g, double[] u) {
        double[] a = new double[g.length];
        for (int i = 0; i < a.length; i++) a[i] = silu(g[i]) * u[i];
        return a;
    }

    public static void swigluBack(double[] g, double[] u, double[] da, double[] dg, double[] du) {
        for (int i = 0; i < g.length; i++) {
            double sg = 1 / (1 + Math.exp(-g[i])), s = g[i] * sg;
            du[i] += da[i] * s;
            dg[i] += da[i] * u[i] * sg * (1 + g[i] * (1 - sg));
        }
    }

    private static final double C = Math.sqrt(2.0 / Math.PI);

    /** gelu_new (tanh) when {@code tanh}, else exact gelu. */
    public static double gelu(double x, boolean tanh) {
        if (tanh) return 0.5 * x * (1 + Math.tanh(C * (x + 0.044715 * x * x * x)));
        return 0.5 * x * (1 + erf(x / Math.sqrt(2)));
    }

    public static double geluGrad(double x, boolean tanh) {
        if (tanh) {
            double u = C * (x + 0.044715 * x * x * x), th = Math.tanh(u);
            return 0.5 * (1 + th) + 0.5 * x * (1 - th * th) * C * (1 + 3 * 0.044715 * x * x);
        }
        return 0.5 * (1 + erf(x / Math.sqrt(2))) + x * Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
    }

    /** erf to double precision (Abramowitz-Stegun 7.1.26 is only 1.5e-7; this series / continued fraction is ~1e-15). */
    static double erf(double x) {
        double z = Math.abs(x);
        double r;
        if (z < 2.5) { // Maclaurin series: terms shrink fast enough below 2.5
            double term = z, sum = z, z2 = z * z;
            for (int k = 1; k < 100; k++) {
                term *= -z2 / k;
                double add = term / (2 * k + 1);
                sum += add;
                if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
            }
            r = 2 / Math.sqrt(Math.PI) * sum;
        } else { // continued fraction for erfc
            double f = 0;
            for (int k = 60; k >= 1; k--) f = k / 2.0 / (z + f);
            r = 1 - Math.exp(-z * z) / Math.sqrt(Math.PI) / (z + f);
        }
        return x < 0 ? -r : r;
    }

    /**
     * Mean cross-entropy of logits [n, vocab] against targets (a negative target is ignored);
     * writes d(loss)/d(logits) into dlogits (already divided by the counted rows) and returns
     * {loss sum, counted rows}.
     */
    public static double[] crossEntropy(double[] logits, int[] targets, int n, int vocab, double[] dlogits) {
        int counted = 0;
        for (int t : targets) if (t >= 0) counted++;
        double total = 0;
        for (int t = 0; t < n; t++) {
            int o = t * vocab;
            if (targets[t] < 0) { java.util.Arrays.fill(dlogits, o, o + vocab, 0); continue; }
            double lse = logSumExp(logits, o, vocab);
            total += lse - logits[o + targets[t]];
            for (int i = 0; i < vocab; i++) dlogits[o + i] = Math.exp(logits[o + i] - lse) / counted;
            dlogits[o + targets[t]] -= 1.0 / counted;
        }
        return new double[]{total, counted};
    }

    /**
     * Knowledge distillation (Hinton et al. 2015, temperature 1): mixes the cross-entropy gradient
     * already in {@code dlogits} (from {@link #crossEntropy}) with the gradient of the mean
     * {@code KL(p_teacher || p_student)} over the n positions, as {@code (1 - weight) dCE + weight dKL};
     * {@code dKL/dlogits = (softmax(logits) - p_teacher) / n}. Returns the KL summed over positions.
     */
    public static double distill(double[] logits, double[] teacher, int n, int vocab, double[] dlogits, double weight) {
        double kl = 0;
        double[] ps = new double[vocab], pt = new double[vocab];
        for (int t = 0; t < n; t++) {
            int o = t * vocab;
            double lseS = logSumExp(logits, o, vocab), lseT = logSumExp(teacher, o, vocab);
            for (int i = 0; i < vocab; i++) {
                double logPt = teacher[o + i] - lseT, logPs = logits[o + i] - lseS;
                pt[i] = Math.exp(logPt);
                ps[i] = Math.exp(logPs);
                if (pt[i] > 0) kl += pt[i] * (logPt - logPs);
            }
            for (int i = 0; i < vocab; i++) dlogits[o + i] = (1 - weight) * dlogits[o + i] + weight * (ps[i] - pt[i]) / n;
        }
        return kl;
    }

    /** log(sum_i exp(a[o + i])) over len entries, shifted by their maximum (cross-entropy and distillation). */
    private static double logSumExp(double[] a, int o, int len) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < len; i++) max = Math.max(max, a[o + i]);
        double sum = 0;
        for (int i = 0; i < len; i++) sum += Math.exp(a[o + i] - max);
        return max + Math.log(sum);
    }
}
