package dev.squish.model;

import dev.squish.weights.ColumnSkip;
import dev.squish.weights.Linear;

/**
 * A gated MLP (SwiGLU) that computes only some of its intermediate channels per token, as stored
 * in the block's vectors by the activation-sparsity methods:
 * <ul>
 *   <li>CATS (Lee et al. 2024): {@link #CATS_THRESHOLD} [1] = t; channel i is kept when
 *       {@code |SiLU(gate_i x)| > t}. gate_proj runs whole; up_proj computes only the kept rows
 *       and down_proj reads only the kept columns (its input is zero elsewhere).</li>
 *   <li>MoE-ification (MoEfication 2022, CMoE 2025): {@link #MOE} [4] = (top-k, routed experts R,
 *       shared experts, router neurons per expert m); {@link #EXPERT_OF} [intermediate] = each
 *       channel's expert (0..R-1 routed, R.. shared); {@link #ROUTER} [R * m * 2 * hidden] = for
 *       each routed expert, the gate and up rows of its m most central neurons. An expert's score
 *       is the summed |SiLU(g) * u| of those neurons; the top-k routed experts and every shared
 *       expert run, the others' channels are zero.</li>
 * </ul>
 * Decode (one token) reads only the kept rows of gate/up (dense row-major weights; other formats
 * compute all rows) and, through a column-skipping down_proj, only the kept columns. Prefill and
 * calibration compute whole products and zero the dropped channels: the same function.
 */
public final class SparseMlp {
    private SparseMlp() {}

    public static final String CATS_THRESHOLD = "mlp.cats_threshold", MOE = "mlp.moe", EXPERT_OF = "mlp.expert_of", ROUTER = "mlp.router";
    public static final java.util.List<String> VECTORS = java.util.List.of(CATS_THRESHOLD, MOE, EXPERT_OF, ROUTER);

    public static boolean active(Block b) { return b.vector(CATS_THRESHOLD) != null || b.vector(MOE) != null; }

    /**
     * The MLP's output before down_proj's bias, [n, down rows], for normed input h [n, d]. Shows
     * the observer gate/up's input and down's (sparse) input, as the dense path does.
     */
    static float[] forward(Block b, float[] h, int n, int d, LinearObserver obs) {
        Linear gp = b.linear(Llama.GATE), up = b.linear(Llama.UP), dp = b.linear(Llama.DOWN);
        int inter = gp.rows();
        float[] gb = b.vector(Llama.GATE + ".bias"), ub = b.vector(Llama.UP + ".bias");
        float[] cats = b.vector(CATS_THRESHOLD), moe = b.vector(MOE);
        if (cats == null && moe == null) throw new IllegalStateException("block " + b.index + " has no sparse MLP");
        obs.input(Llama.GATE, h, n, d);
        obs.input(Llama.UP, h, n, d);
        float[] act = new float[n * inter];
        if (n == 1 && obs == LinearObserver.NONE) {
            int[] keep = new int[inter];
            float[] g = new float[inter], u = new float[inter];
            int cnt;
            if (moe != null) {
                cnt = experts(b, moe, h, 0, d, keep);
                ColumnSkip.matvecRows(gp, h, keep, cnt, g);
                for (int k = 0; k < cnt; k++) { int i = keep[k]; g[i] = Ops.silu(g[i] + (gb == null ? 0 : gb[i])); }
                if (cats != null) cnt = catsFilter(g, keep, cnt, cats[0]);
            } else {
                gp.matvec(h, g);
                cnt = 0;
                for (int i = 0; i < inter; i++) {
                    float a = Ops.silu(g[i] + (gb == null ? 0 : gb[i]));
                    g[i] = a;
                    if (Math.abs(a) > cats[0]) keep[cnt++] = i;
                }
            }
            ColumnSkip.matvecRows(up, h, keep, cnt, u);
            for (int k = 0; k < cnt; k++) { int i = keep[k]; act[i] = g[i] * (u[i] + (ub == null ? 0 : ub[i])); }
        } else {
            float[] g = new float[n * inter], u = new float[n * inter];
            gp.matmul(h, n, g);
            up.matmul(h, n, u);
            Ops.addBias(g, gb, n);
            Ops.addBias(u, ub, n);
            int[] keep = new int[inter];
            for (int t = 0; t < n; t++) {
                int o = t * inter;
                int cnt;
                if (moe != null) cnt = experts(b, moe, h, t * d, d, keep);
                else { cnt = inter; for (int i = 0; i < inter; i++) keep[i] = i; }
                for (int k = 0; k < cnt; k++) { int i = keep[k]; g[o + i] = Ops.silu(g[o + i]); }
                if (cats != null) {
                    float[] gt = java.util.Arrays.copyOfRange(g, o, o + inter);
                    cnt = catsFilter(gt, keep, cnt, cats[0]);
                }
                for (int k = 0; k < cnt; k++) { int i = keep[k]; act[o + i] = g[o + i] * u[o + i]; }
            }
        }
        obs.input(Llama.DOWN, act, n, inter);
        float[] dn = new float[n * dp.rows()];
        dp.matmul(act, n, dn);
        return dn;
    }

    /** Keeps the listed channels whose activation a[i] has |a| > t; returns the new count. */
    private static int catsFilter(float[] a, int[] keep, int cnt, float t) {
        int c = 0;
        for (int k = 0; k < cnt; k++) if (Math.abs(a[keep[k]]) > t) keep[c++] = keep[k];
        return c;
    }

    /** Writes the channels of the chosen and shared experts for input x[xo..xo+d) into keep, in order; returns how many. */
    static int experts(Block b, float[] moe, float[] x, int xo, int d, int[] keep) {
        boolean[] chosen = route(b, moe, x, xo, d);
        int routed = (int) moe[1];
        float[] expertOf = b.vector(EXPERT_OF);
        int cnt = 0;
        for (int i = 0; i < expertOf.length; i++) {
            int e = (int) expertOf[i];
            if (e >= routed || chosen[e]) keep[cnt++] = i;
        }
        return cnt;
    }

    /** The top-k routed experts for one token (ties go to the lower index). */
    public static boolean[] route(Block b, float[] moe, float[] x, int xo, int d) {
        int topK = (int) moe[0], routed = (int) moe[1], m = (int) moe[3];
        float[] router = b.vector(ROUTER);
        double[] score = new double[routed];
        for (int e = 0; e < routed; e++) {
            double s = 0;
            for (int r = 0; r < m; r++) {
                int base = ((e * m + r) * 2) * d;
                double g = 0, u = 0;
                for (int j = 0; j < d; j++) { g += (double) router[base + j] * x[xo + j]; u += (double) router[base + d + j] * x[xo + j]; }
                s += Math.abs(Ops.silu((float) g) * u);
            }
            score[e] = s;
        }
        boolean[] chosen = new boolean[routed];
        for (int k = 0; k < Math.min(topK, routed); k++) {
            int best = -1;
            for (int e = 0; e < routed; e++) if (!chosen[e] && (best < 0 || score[e] > score[best])) best = e;
            chosen[best] = true;
        }
        return chosen;
    }
}
