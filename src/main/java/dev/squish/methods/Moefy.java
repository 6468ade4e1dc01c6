package dev.squish.methods;

import dev.squish.SquishException;
import dev.squish.calibration.BlockContext;
import dev.squish.calibration.ModelContext;
import dev.squish.model.Block;
import dev.squish.model.Llama;
import dev.squish.model.Ops;
import dev.squish.model.SparseMlp;
import dev.squish.weights.Linear;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

/**
 * MoE-ification without training (MoEfication, Zhang et al. 2022; CMoE, Pei et al. 2025): each
 * gated MLP's intermediate channels are split into experts, and each token runs only its top-k.
 * <ol>
 *   <li>Activation markers (CMoE): on up to {@link #MAX_TOKENS} calibration tokens, channel i of
 *       token t is marked when its activation |SiLU(g_i) u_i| is among the token's top
 *       {@code top_k / routed} fraction, the share of channels a token will run.</li>
 *   <li>Shared experts: the {@code shared} experts' worth of channels marked most often; every token
 *       runs them.</li>
 *   <li>Routed experts: balanced k-means of the remaining channels' marker vectors (k-means++
 *       seeding, fixed seed; each assignment fills clusters to equal sizes, nearest pairs first;
 *       {@link #ITERATIONS} rounds), so that channels that fire together share an expert.</li>
 *   <li>Router (CMoE's, no training): each routed expert's {@link #ROUTER_NEURONS} channels nearest
 *       its centroid stand for it; its score is their summed |SiLU(g) u|, computed from copies of
 *       their gate and up rows.</li>
 * </ol>
 * Stored as block vectors ({@link SparseMlp}); the weights are unchanged, except that a dense
 * down_proj becomes column-major so that a token reads only its experts' columns.
 */
public final class Moefy implements CompressionMethod {
    public static final class Descriptor extends AbstractDescriptor<MoefyOptions> {
        public Descriptor() {
            super("moefy", "splits each MLP into experts by co-activation clustering, top-k routed per token (MoEfication/CMoE)",
                    Kind.MOE, Set.of(Need.CALIBRATION), MoefyOptions.class, MoefyOptions.OPTIONS, MoefyOptions::read);
        }

        @Override public CompressionMethod create(MoefyOptions o) { return new Moefy(o); }
    }

    static final Descriptor DESCRIPTOR = new Descriptor();
    static final int MAX_TOKENS = 2048, ITERATIONS = 12, ROUTER_NEURONS = 4;

    private final MoefyOptions o;

    public Moefy(MoefyOptions o) { this.o = o; }

    public Moefy(int experts, int topK, int shared) { this(new MoefyOptions(experts, topK, shared)); }

    @Override public MethodDescriptor<?> descriptor() { return DESCRIPTOR; }

    @Override public String describe() {
        return "moefy " + o.experts() + " experts top-" + o.topK() + (o.shared() > 0 ? " shared " + o.shared() : "");
    }

    @Override public void plan(ModelContext ctx) {
        Cats.requireGatedMlp(ctx, "moefy");
        for (Block b : ctx.model().blocks) {
            int inter = b.linear(Llama.GATE).rows();
            if (o.experts() > inter)
                throw new SquishException("--experts " + o.experts() + " is more than the " + inter + " MLP channels of block " + b.index);
        }
    }

    @Override public void compressBlock(BlockContext ctx) {
        if (!ctx.selected(Llama.DOWN)) return;
        long t0 = System.nanoTime();
        Block b = ctx.block();
        Linear gp = b.linear(Llama.GATE), up = b.linear(Llama.UP);
        int inter = gp.rows(), d = gp.cols();
        int routed = o.experts() - o.shared();
        float[][] act = activations(ctx, gp, up, inter);
        int[] expertOf = cluster(act, inter, o.experts(), o.shared(), (double) o.topK() / routed);
        // Router: the channels nearest each routed expert's centroid, their gate and up rows.
        int m = Integer.MAX_VALUE;
        int[] size = new int[o.experts()];
        for (int e : expertOf) size[e]++;
        for (int e = 0; e < routed; e++) m = Math.min(m, size[e]);
        m = Math.max(1, Math.min(ROUTER_NEURONS, m));
        boolean[][] marks = markers(act, (double) o.topK() / routed);
        float[] g = gp.toDense(), u = up.toDense();
        float[] router = new float[routed * m * 2 * d];
        for (int e = 0; e < routed; e++) {
            int[] reps = central(marks, expertOf, e, m);
            for (int r = 0; r < m; r++) {
                int base = ((e * m + r) * 2) * d;
                System.arraycopy(g, reps[r] * d, router, base, d);
                System.arraycopy(u, reps[r] * d, router, base + d, d);
            }
        }
        float[] map = new float[inter];
        for (int i = 0; i < inter; i++) map[i] = expertOf[i];
        ctx.putVector(SparseMlp.MOE, new float[]{o.topK(), routed, o.shared(), m});
        ctx.putVector(SparseMlp.EXPERT_OF, map);
        ctx.putVector(SparseMlp.ROUTER, router);
        ctx.replace(name(), Llama.DOWN, Teal.wrap(b.linear(Llama.DOWN), 0f), Double.NaN, (System.nanoTime() - t0) / 1e9);
    }

    /** |SiLU(g) u| per sampled token, [tokens][inter], on up to MAX_TOKENS tokens spread over the samples. */
    private static float[][] activations(BlockContext ctx, Linear gp, Linear up, int inter) {
        Block b = ctx.block();
        long total = (long) ctx.samples() * ctx.seqLen();
        int stride = (int) Math.max(1, (total + MAX_TOKENS - 1) / MAX_TOKENS);
        float[] gb = b.vector(Llama.GATE + ".bias"), ub = b.vector(Llama.UP + ".bias");
        List<float[]> rows = new ArrayList<>();
        long[] seen = {0};
        ctx.forEachSample((name, x, n, cols) -> {
            if (!name.equals(Llama.GATE)) return;
            float[] g = new float[n * inter], u = new float[n * inter];
            gp.matmul(x, n, g);
            up.matmul(x, n, u);
            Ops.addBias(g, gb, n);
            Ops.addBias(u, ub, n);
            for (int t = 0; t < n; t++, seen[0]++) {
                if (seen[0] % stride != 0) continue;
                float[] a = new float[inter];
                for (int i = 0; i < inter; i++) a[i] = Math.abs(Ops.silu(g[t * inter + i]) * u[t * inter + i]);
                rows.add(a);
            }
        });
        return rows.toArray(float[][]::new);
    }

    /** marks[i][t]: channel i is among token t's top {@code frac} of channels by activation. */
    static boolean[][] markers(float[][] act, double frac) {
        int tokens = act.length, inter = tokens == 0 ? 0 : act[0].length;
        boolean[][] marks = new boolean[inter][tokens];
        int k = Math.max(1, (int) Math.round(frac * inter));
        for (int t = 0; t < tokens; t++) {
            float[] s = act[t].clone();
            Arrays.sort(s);
            float cut = s[inter - Math.min(k, inter)];
            for (int i = 0; i < inter; i++) if (act[t][i] >= cut) marks[i][t] = true;
        }
        return marks;
    }

    /**
     * Each channel's expert: 0..routed-1 for the routed ones (balanced k-means), routed.. for the
     * shared ones (most often marked). Expert sizes differ by at most one channel.
     */
    static int[] cluster(float[][] act, int inter, int experts, int shared, double frac) {
        boolean[][] marks = markers(act, frac);
        int tokens = act.length;
        int[] size = new int[experts];
        for (int e = 0; e < experts; e++) size[e] = inter / experts + (e < inter % experts ? 1 : 0);
        int routed = experts - shared;
        int[] expertOf = new int[inter];
        Arrays.fill(expertOf, -1);
        // Shared experts take the channels marked most often (the last `shared` sizes, the smallest).
        Integer[] byRate = new Integer[inter];
        int[] rate = new int[inter];
        for (int i = 0; i < inter; i++) { byRate[i] = i; for (boolean m : marks[i]) if (m) rate[i]++; }
        Arrays.sort(byRate, (a, c) -> rate[c] != rate[a] ? Integer.compare(rate[c], rate[a]) : Integer.compare(a, c));
        int pos = 0;
        for (int e = routed; e < experts; e++) for (int k = 0; k < size[e]; k++) expertOf[byRate[pos++]] = e;
        int[] rest = new int[inter - pos];
        for (int i = 0, r = 0; i < inter; i++) if (expertOf[i] < 0) rest[r++] = i;
        int[] cap = Arrays.copyOf(size, routed);
        if (routed == 1) { for (int i : rest) expertOf[i] = 0; return expertOf; }
        // Balanced k-means on the marker vectors (as 0/1 floats).
        int n = rest.length;
        float[][] f = new float[n][tokens];
        for (int r = 0; r < n; r++) for (int t = 0; t < tokens; t++) f[r][t] = marks[rest[r]][t] ? 1f : 0f;
        float[][] c = seed(f, routed, new java.util.SplittableRandom(0));
        int[] assign = new int[n];
        for (int it = 0; it < ITERATIONS; it++) {
            assignBalanced(f, c, cap, assign);
            for (int e = 0; e < routed; e++) Arrays.fill(c[e], 0f);
            int[] cnt = new int[routed];
            for (int r = 0; r < n; r++) { cnt[assign[r]]++; float[] ce = c[assign[r]]; for (int t = 0; t < tokens; t++) ce[t] += f[r][t]; }
            for (int e = 0; e < routed; e++) if (cnt[e] > 0) for (int t = 0; t < tokens; t++) c[e][t] /= cnt[e];
        }
        for (int r = 0; r < n; r++) expertOf[rest[r]] = assign[r];
        return expertOf;
    }

    /** k-means++ seeding: the first centroid at random, each next one with probability proportional to squared distance. */
    private static float[][] seed(float[][] f, int k, java.util.SplittableRandom rnd) {
        int n = f.length;
        float[][] c = new float[k][];
        c[0] = f[rnd.nextInt(n)].clone();
        double[] dmin = new double[n];
        Arrays.fill(dmin, Double.POSITIVE_INFINITY);
        for (int e = 1; e < k; e++) {
            double sum = 0;
            for (int r = 0; r < n; r++) { dmin[r] = Math.min(dmin[r], dist(f[r], c[e - 1])); sum += dmin[r]; }
            double pick = rnd.nextDouble() * sum;
            int chosen = n - 1;
            for (int r = 0; r < n; r++) { pick -= dmin[r]; if (pick <= 0) { chosen = r; break; } }
            c[e] = f[chosen].clone();
        }
        return c;
    }

    /** Assigns every row to a centroid with capacity left, taking (row, centroid) pairs nearest first. */
    private static void assignBalanced(float[][] f, float[][] c, int[] cap, int[] assign) {
        int n = f.length, k = c.length;
        double[] d = new double[n * k];
        for (int r = 0; r < n; r++) for (int e = 0; e < k; e++) d[r * k + e] = dist(f[r], c[e]);
        Integer[] order = new Integer[n * k];
        for (int i = 0; i < order.length; i++) order[i] = i;
        Arrays.sort(order, (a, b) -> d[a] != d[b] ? Double.compare(d[a], d[b]) : Integer.compare(a, b));
        int[] left = cap.clone();
        Arrays.fill(assign, -1);
        int placed = 0;
        for (int p : order) {
            int r = p / k, e = p % k;
            if (assign[r] >= 0 || left[e] == 0) continue;
            assign[r] = e; left[e]--;
            if (++placed == n) break;
        }
    }

    private static double dist(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) { double t = a[i] - b[i]; s += t * t; }
        return s;
    }

    /** The m channels of expert e nearest the mean of its members' marker vectors. */
    private static int[] central(boolean[][] marks, int[] expertOf, int e, int m) {
        int tokens = marks.length == 0 ? 0 : marks[0].length;
        double[] c = new double[tokens];
        List<Integer> members = new ArrayList<>();
        for (int i = 0; i < expertOf.length; i++) if (expertOf[i] == e) { members.add(i); for (int t = 0; t < tokens; t++) if (marks[i][t]) c[t]++; }
        for (int t = 0; t < tokens; t++) c[t] /= members.size();
        double[] dd = new double[expertOf.length];
        for (int i : members) { double s = 0; for (int t = 0; t < tokens; t++) { double v = (marks[i][t] ? 1 : 0) - c[t]; s += v * v; } dd[i] = s; }
        members.sort((a, b) -> dd[a] != dd[b] ? Double.compare(dd[a], dd[b]) : Integer.compare(a, b));
        int[] out = new int[m];
        for (int r = 0; r < m; r++) out[r] = members.get(r);
        return out;
    }
}
