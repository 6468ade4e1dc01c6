package dev.squish.train;

import dev.squish.model.Model;
import dev.squish.weights.DenseLinear;
import dev.squish.weights.Linear;
import dev.squish.weights.LowRankLinear;
import dev.squish.weights.NMSparseLinear;
import dev.squish.weights.SparseLinear;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;
import java.util.function.DoubleSupplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Every gradient against central finite differences in double precision: each op alone, each
 * trainable weight format, and whole models of both families. With h = 1e-5 the difference
 * quotient's truncation error is ~h^2 |f'''| ~ 1e-10 and its rounding ~1e-16 / h ~ 1e-11, so a
 * tolerance of 1e-7 (relative above 1) passes only correct gradients: a wrong term is off by O(1).
 */
class GradCheckTest {
    static final double H = 1e-5, TOL = 1e-7;
    final SplittableRandom rnd = new SplittableRandom(7);

    double[] rand(int n) {
        double[] a = new double[n];
        for (int i = 0; i < n; i++) a[i] = rnd.nextDouble() * 2 - 1;
        return a;
    }

    static double dotAll(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += a[i] * b[i];
        return s;
    }

    /** Compares grad with the central difference of f over (up to) {@code samples} entries of theta. */
    static void check(String what, double[] theta, double[] grad, DoubleSupplier f, int samples) {
        check(what, theta, grad, null, f, samples);
    }

    /** As above, skipping entries marked in {@code skip} (pruned weights, which must not move). */
    static void check(String what, double[] theta, double[] grad, boolean[] skip, DoubleSupplier f, int samples) {
        int stride = Math.max(1, theta.length / samples);
        for (int i = (int) (theta.length % stride) / 2; i < theta.length; i += stride) {
            if (skip != null && skip[i]) continue;
            double t = theta[i];
            theta[i] = t + H;
            double fp = f.getAsDouble();
            theta[i] = t - H;
            double fm = f.getAsDouble();
            theta[i] = t;
            double num = (fp - fm) / (2 * H);
            if (Math.abs(num - grad[i]) > TOL * Math.max(1, Math.abs(num)))
                fail(what + "[" + i + "]: analytic " + grad[i] + ", finite difference " + num);
        }
    }

    @Test void matmul() {
        int n = 3, out = 5, in = 7;
        double[] w = rand(out * in), x = rand(n * in), r = rand(n * out);
        double[] dx = new double[x.length], dw = new double[w.length];
        GradOps.matmulBackX(w, out, in, r, n, dx);
        GradOps.matmulBackW(r, x, n, out, in, dw);
        DoubleSupplier f = () -> dotAll(r, GradOps.matmul(w, out, in, x, n));
        check("matmul dx", x, dx, f, 100);
        check("matmul dW", w, dw, f, 100);
    }

    @Test void rmsNorm() {
        int n = 3, d = 6, meanDim = 8;   // meanDim > d: a sliced model's normalization
        double[] x = rand(n * d), w = rand(d), r = rand(n * d);
        double[] y = new double[n * d];
        double[] inv = GradOps.rmsNorm(x, y, w, n, d, meanDim, 1e-5);
        double[] dx = new double[x.length], dw = new double[d];
        GradOps.rmsNormBack(x, inv, w, r, n, d, meanDim, dx, dw);
        DoubleSupplier f = () -> { double[] z = new double[n * d]; GradOps.rmsNorm(x, z, w, n, d, meanDim, 1e-5); return dotAll(r, z); };
        check("rmsNorm dx", x, dx, f, 100);
        check("rmsNorm dw", w, dw, f, 100);
    }

    @Test void layerNorm() {
        int n = 3, d = 6;
        double[] x = rand(n * d), w = rand(d), b = rand(d), r = rand(n * d);
        double[] stats = GradOps.layerNorm(x, new double[n * d], w, b, n, d, 1e-5);
        double[] dx = new double[x.length], dw = new double[d], db = new double[d];
        GradOps.layerNormBack(x, stats, w, r, n, d, dx, dw, db);
        DoubleSupplier f = () -> { double[] z = new double[n * d]; GradOps.layerNorm(x, z, w, b, n, d, 1e-5); return dotAll(r, z); };
        check("layerNorm dx", x, dx, f, 100);
        check("layerNorm dw", w, dw, f, 100);
        check("layerNorm db", b, db, f, 100);
    }

    @Test void rope() {
        int seq = 4, n = 8, heads = 2, hd = 6, half = hd / 2;
        double[] cos = new double[seq * half], sin = new double[seq * half];
        for (int p = 0; p < seq; p++) for (int i = 0; i < half; i++) { cos[p * half + i] = Math.cos(p * (i + 1) * 0.7); sin[p * half + i] = Math.sin(p * (i + 1) * 0.7); }
        double[] v = rand(n * heads * hd), r = rand(v.length);
        double[] dv = r.clone();
        GradOps.rope(dv, n, heads, hd, seq, cos, sin, -1);
        check("rope", v, dv, () -> { double[] z = v.clone(); GradOps.rope(z, n, heads, hd, seq, cos, sin, 1); return dotAll(r, z); }, 100);
    }

    @Test void attentionWithGroupedQueries() {
        int seq = 5, batch = 2, n = seq * batch, heads = 4, kvHeads = 2, hd = 3;
        double[] q = rand(n * heads * hd), k = rand(n * kvHeads * hd), v = rand(n * kvHeads * hd), r = rand(n * heads * hd);
        double[] probs = new double[batch * heads * seq * seq];
        GradOps.attention(q, k, v, n, seq, heads, kvHeads, hd, probs);
        double[] dq = new double[q.length], dk = new double[k.length], dv = new double[v.length];
        GradOps.attentionBack(q, k, v, probs, r, n, seq, heads, kvHeads, hd, dq, dk, dv);
        DoubleSupplier f = () -> dotAll(r, GradOps.attention(q, k, v, n, seq, heads, kvHeads, hd, new double[probs.length]));
        check("attention dq", q, dq, f, 200);
        check("attention dk", k, dk, f, 200);
        check("attention dv", v, dv, f, 200);
    }

    @Test void swiglu() {
        double[] g = rand(20), u = rand(20), r = rand(20);
        for (int i = 0; i < g.length; i++) g[i] *= 4;
        double[] dg = new double[20], du = new double[20];
        GradOps.swigluBack(g, u, r, dg, du);
        DoubleSupplier f = () -> dotAll(r, GradOps.swiglu(g, u));
        check("swiglu dg", g, dg, f, 20);
        check("swiglu du", u, du, f, 20);
    }

    @Test void gelus() {
        for (boolean tanh : new boolean[]{true, false}) {
            double[] x = rand(30), r = rand(30), dx = new double[30];
            for (int i = 0; i < x.length; i++) { x[i] *= 5; dx[i] = r[i] * GradOps.geluGrad(x[i], tanh); }
            check("gelu tanh=" + tanh, x, dx, () -> { double s = 0; for (int i = 0; i < x.length; i++) s += r[i] * GradOps.gelu(x[i], tanh); return s; }, 30);
        }
        // the erf behind exact gelu, against values from a reference table (scipy.special.erf)
        assertEquals(0.8427007929497149, GradOps.erf(1), 1e-15);
        assertEquals(0.9999779095030014, GradOps.erf(3), 1e-15);
        assertEquals(-0.5204998778130465, GradOps.erf(-0.5), 1e-15);
    }

    @Test void crossEntropy() {
        int n = 4, vocab = 7;
        double[] logits = rand(n * vocab);
        int[] tgt = {3, -1, 0, 6};   // the -1 is not counted
        double[] dl = new double[logits.length];
        double[] ce = GradOps.crossEntropy(logits, tgt, n, vocab, dl);
        assertEquals(3, ce[1]);
        check("cross-entropy", logits, dl, () -> { double[] c = GradOps.crossEntropy(logits, tgt, n, vocab, new double[logits.length]); return c[0] / c[1]; }, 100);
        for (int i = vocab; i < 2 * vocab; i++) assertEquals(0, dl[i]);
    }

    @Test void distillation() {
        int n = 3, vocab = 6;
        double[] logits = rand(n * vocab);
        double[] teacher = new double[n * vocab];
        for (int i = 0; i < teacher.length; i++) teacher[i] = (float) (Math.sin(i * 1.7) * 2);
        int[] tgt = {1, 4, 0};
        java.util.function.DoubleSupplier f = () -> {
            double[] d = new double[logits.length];
            double[] ce = GradOps.crossEntropy(logits, tgt, n, vocab, d);
            return 0.7 * ce[0] / ce[1] + 0.3 * GradOps.distill(logits, teacher, n, vocab, d, 0.3) / n;
        };
        double[] dl = new double[logits.length];
        GradOps.crossEntropy(logits, tgt, n, vocab, dl);
        GradOps.distill(logits, teacher, n, vocab, dl, 0.3);
        check("distillation", logits, dl, f, 100);
        // the KL of a distribution with itself is zero
        assertEquals(0, GradOps.distill(logits, logits.clone(), n, vocab, new double[logits.length], 1), 1e-6);
    }

    @Test void llamaDistilledEndToEnd() {
        Model m = TinyModels.llama(1, false);
        TrainModel tm = new TrainModel(m, 0, 0, 1);
        tm.distillFrom(TinyModels.llama(9, false), 0.6);
        int[][] batch = TinyModels.batch(3, 2, 6, m.vocab());
        tm.loss(batch, true);
        for (Param p : tm.allParams()) check("distilled " + p.name, p.w, p.g, () -> tm.loss(batch, false), 8);
        assertTrue(tm.loss(batch, false) != tm.lmLoss(batch), "the objective mixes in the KL term");
    }

    // ---------------------------------------------------------------- formats

    void checkFormat(String what, TrainLinear l, int n) {
        double[] x = rand(n * l.cols()), r = rand(n * l.rows());
        for (Param p : l.params()) p.zeroGrad();
        double[] dx = l.backward(x, r, n);
        for (Param p : l.params()) p.maskGradient();
        DoubleSupplier f = () -> dotAll(r, l.forward(x, n));
        check(what + " dx", x, dx, f, 60);
        for (Param p : l.params()) {
            check(what + " " + p.name, p.w, p.g, p.frozen, f, 60);
            if (p.frozen != null) for (int i = 0; i < p.g.length; i++) if (p.frozen[i]) assertEquals(0.0, p.g[i], what + ": pruned entry " + i + " got a gradient");
        }
    }

    float[] randf(int n) {
        float[] f = new float[n];
        for (int i = 0; i < n; i++) f[i] = (float) (rnd.nextDouble() * 2 - 1);
        return f;
    }

    @Test void formats() {
        int rows = 6, cols = 8;
        float[] w = randf(rows * cols);
        checkFormat("dense", TrainModel.wrap("w", new DenseLinear(rows, cols, w), 0, 0, 1), 3);
        float[] sp = w.clone();
        for (int i = 0; i < sp.length; i += 3) sp[i] = 0;
        TrainLinear sparse = TrainModel.wrap("w", SparseLinear.fromDense(sp, rows, cols), 0, 0, 1);
        assertTrue(sparse instanceof DenseTrain d && d.kind == DenseTrain.Kind.SPARSE);
        checkFormat("sparse", sparse, 3);
        float[] nm = w.clone();
        for (int i = 0; i < nm.length; i += 4) { nm[i] = 0; nm[i + 2] = 0; }
        TrainLinear nmt = TrainModel.wrap("w", NMSparseLinear.fromDense(nm, rows, cols, 2, 4), 0, 0, 1);
        assertTrue(nmt instanceof DenseTrain d && d.kind == DenseTrain.Kind.NM);
        checkFormat("2:4", nmt, 3);
        checkFormat("low-rank", TrainModel.wrap("w", LowRankLinear.of(randf(rows * 3), randf(3 * cols), rows, 3, cols), 0, 0, 1), 3);
        for (Linear base : new Linear[]{new DenseLinear(rows, cols, w), NMSparseLinear.fromDense(nm, rows, cols, 2, 4)}) {
            LoraTrain lora = (LoraTrain) TrainModel.wrap("w", base, 2, 4, 1);
            for (int i = 0; i < lora.b.w.length; i++) lora.b.w[i] = rnd.nextDouble() - 0.5;   // B starts at 0: make A's gradient visible
            checkFormat("lora on " + base.format(), lora, 3);
        }
    }

    // ---------------------------------------------------------------- whole models

    void checkModel(String what, Model m) {
        TrainModel tm = new TrainModel(m, 0, 0, 1);
        int[][] batch = TinyModels.batch(3, 2, 6, m.vocab());
        tm.loss(batch, true);
        for (Param p : tm.allParams()) check(what + " " + p.name, p.w, p.g, () -> tm.loss(batch, false), 8);
    }

    @Test void llamaEndToEnd() { checkModel("llama", TinyModels.llama(1, false)); }

    @Test void llamaWithBiasesEndToEnd() { checkModel("qwen2", TinyModels.llama(2, true)); }

    @Test void gpt2EndToEnd() { checkModel("gpt2", TinyModels.gpt2(3, "gelu_new")); }

    @Test void gpt2ExactGeluEndToEnd() { checkModel("gpt2 gelu", TinyModels.gpt2(4, "gelu")); }

    /** The training forward is the model's forward: same loss as the float inference path, to float rounding. */
    @Test void trainingForwardMatchesInference() {
        for (Model m : new Model[]{TinyModels.llama(5, true), TinyModels.gpt2(6, "gelu_new")}) {
            int[][] batch = TinyModels.batch(9, 2, 9, m.vocab());
            double train = new TrainModel(m, 0, 0, 1).loss(batch, false);
            double ref = 0;
            int count = 0;
            for (int[] s : batch) {
                int[] in = java.util.Arrays.copyOf(s, s.length - 1);
                float[] logits = m.forward(in, 0, m.newCache(in.length));
                int v = m.vocab();
                for (int t = 0; t < in.length; t++) {
                    double max = Double.NEGATIVE_INFINITY, sum = 0;
                    for (int i = 0; i < v; i++) max = Math.max(max, logits[t * v + i]);
                    for (int i = 0; i < v; i++) sum += Math.exp(logits[t * v + i] - max);
                    ref += max + Math.log(sum) - logits[t * v + s[t + 1]];
                    count++;
                }
            }
            assertEquals(ref / count, train, 1e-4 * Math.abs(ref / count), m.config.modelType());
        }
    }
}
