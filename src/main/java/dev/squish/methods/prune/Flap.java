package dev.squish.methods.prune;

import dev.squish.model.Architecture;
import dev.squish.model.Block;
import dev.squish.model.Model;
import dev.squish.model.Structure;
import dev.squish.weights.Linear;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * FLAP, FLuctuation-based Adaptive structured Pruning (An et al. 2024; reference
 * CASIA-IVA-Lab/FLAP {@code lib/prune.py prune_flap}, {@code lib/layerwrapper.py BiasGPT}).
 *
 * <ul>
 *   <li>Statistics on the dense model (the reference prunes only after the last layer): for each
 *       block, the mean and the fluctuation (variance over calibration tokens) of every input
 *       feature of o_proj and down_proj.</li>
 *   <li>Metric WIFV: fluctuation_j * ||W[:, j]||^2 (the column of o_proj / down_proj that feature j
 *       feeds). For attention the reference squares it ({@code W_metric ** 2}) and averages over a
 *       head's columns; under grouped-query attention the unit here is a key/value group (see
 *       {@link Architecture#couplings}), so the average runs over the group's columns.</li>
 *   <li>Adaptive structure (AL-AM, the paper's default): each block's attention and MLP metrics
 *       are standardized ((x - mean) / std, unbiased std over that block's features, before the
 *       head average as in the reference), all units of all blocks are sorted together, and the
 *       threshold is where the cumulated parameters kept come closest to (1 - F) of the total
 *       (the reference weights a head 512/3 times a channel, its parameter ratio in LLaMA-7B;
 *       here each unit weighs its actual parameter count). Units scoring above the threshold are
 *       kept. Deviation: each block keeps at least one unit of each kind, so no block loses its
 *       whole attention or MLP (a shape neither transformers nor llama.cpp can run).</li>
 *   <li>Uniform structure: every block removes the same units count (see {@link #uniformCounts}),
 *       by the same metric; the output has one shape and a plain config.</li>
 *   <li>Bias compensation ({@code compress(..., bias=True)}): the removed features' mean
 *       contribution, W[:, removed] * mean[removed], becomes a bias of o_proj / down_proj.</li>
 * </ul>
 */
public final class Flap {
    private Flap() {}

    /** Per-block statistics FLAP needs: for each coupling, the moments of its output linear's input. */
    public record Stats(List<Moments[]> perBlock) {}

    /** Collects the statistics on the dense model. */
    public static Stats collect(Model m, int[][] samples) {
        List<Architecture.Coupling> cs = couplings(m);
        List<Moments[]> out = new ArrayList<>();
        DensePass.run(m, samples, (b, inputs, in, o, L) -> {
            Moments[] mm = new Moments[cs.size()];
            for (int c = 0; c < cs.size(); c++) mm[c] = inputs.get(cs.get(c).output());
            out.add(mm);
        });
        return new Stats(out);
    }

    static List<Architecture.Coupling> couplings(Model m) {
        List<Architecture.Coupling> cs = m.arch.couplings();
        if (cs.isEmpty()) throw new dev.squish.SquishException("structured pruning needs the model family's couplings; " + m.config.modelType() + " declares none");
        return cs;
    }

    /**
     * Weights of block b's linears that no coupling covers (GPT-2's attention, see
     * {@link dev.squish.model.Gpt2#couplings}; none for Llama): they count in the budget that
     * {@code --remove} is a fraction of, but are never cut.
     */
    static long fixedParameters(Model m, Block b, List<Architecture.Coupling> cs) {
        java.util.Set<String> covered = new java.util.HashSet<>();
        for (Architecture.Coupling c : cs) { covered.addAll(c.rows().keySet()); covered.addAll(c.cols().keySet()); }
        long n = 0;
        for (String name : m.arch.linearNames())
            if (!covered.contains(name) && b.linears.containsKey(name)) n += (long) b.linear(name).rows() * b.linear(name).cols();
        return n;
    }

    /**
     * Refuses a removal the couplings cannot reach: every block keeps at least one unit of each
     * coupling and all of its fixed weights, so at most the rest can go.
     */
    static void checkReachable(Model m, List<Architecture.Coupling> cs, double remove) {
        long total = 0, removable = 0, fixed = 0;
        for (Block b : m.blocks) {
            fixed += fixedParameters(m, b, cs);
            total += fixedParameters(m, b, cs);
            for (Architecture.Coupling c : cs) {
                long p = c.unitParameters(b);
                total += c.units(b) * p;
                removable += (c.units(b) - 1) * p;
            }
        }
        if (remove * total > removable)
            throw new dev.squish.SquishException(String.format(java.util.Locale.ROOT,
                    "--remove %s: at most %.1f%% of the blocks' linear parameters can go (every block keeps one unit of each of %s%s)",
                    dev.squish.methods.OptionReader.fmt(remove), 100.0 * removable / total,
                    cs.stream().map(Architecture.Coupling::name).toList(),
                    fixed > 0 ? ", and the linears no coupling covers stay whole" : ""));
    }

    /** WIFV per input feature of the coupling's output linear; squared for attention as the reference. */
    static double[] fluctuation(Block b, Architecture.Coupling c, Moments mm, boolean square) {
        Linear l = b.linear(c.output());
        float[] w = l.toDense();
        double[] colSq = new double[l.cols()];
        for (int r = 0, o = 0; r < l.rows(); r++) for (int j = 0; j < l.cols(); j++, o++) colSq[j] += (double) w[o] * w[o];
        double[] var = mm.variance();
        double[] s = new double[l.cols()];
        for (int j = 0; j < s.length; j++) {
            s[j] = var[j] * colSq[j];
            if (square) s[j] *= s[j];
        }
        return s;
    }

    /** (x - mean) / std with the unbiased std (torch.std); constant x gives zeros. */
    static double[] standardize(double[] x) {
        double mean = 0;
        for (double v : x) mean += v;
        mean /= x.length;
        double ss = 0;
        for (double v : x) ss += (v - mean) * (v - mean);
        double sd = x.length > 1 ? Math.sqrt(ss / (x.length - 1)) : 0;
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) out[i] = sd > 0 ? (x[i] - mean) / sd : 0;
        return out;
    }

    /** Mean of consecutive groups of {@code per} values: one score per unit. */
    static double[] perUnit(double[] x, int per) {
        double[] u = new double[x.length / per];
        for (int i = 0; i < u.length; i++) {
            double s = 0;
            for (int j = 0; j < per; j++) s += x[i * per + j];
            u[i] = s / per;
        }
        return u;
    }

    /** Unit scores per block and coupling: standardized WIFV, averaged per unit. */
    public static List<double[][]> scores(Model m, Stats st) {
        List<Architecture.Coupling> cs = couplings(m);
        List<double[][]> out = new ArrayList<>();
        for (int l = 0; l < m.blocks.size(); l++) {
            Block b = m.blocks.get(l);
            double[][] s = new double[cs.size()][];
            for (int c = 0; c < cs.size(); c++) {
                Architecture.Coupling cp = cs.get(c);
                boolean attention = cp.outputColumns() > 1;
                s[c] = perUnit(standardize(fluctuation(b, cp, st.perBlock().get(l)[c], attention)), cp.outputColumns());
            }
            out.add(s);
        }
        return out;
    }

    /** AL-AM: one threshold over all units of all blocks, keeping (1 - remove) of the unit parameters. */
    public static boolean[][][] adaptive(Model m, List<double[][]> scores, double remove) {
        List<Architecture.Coupling> cs = couplings(m);
        record Unit(int block, int coupling, int index, double score, long params) {}
        checkReachable(m, cs, remove);
        List<Unit> all = new ArrayList<>();
        long total = 0, fixed = 0;
        for (int l = 0; l < scores.size(); l++) fixed += fixedParameters(m, m.blocks.get(l), cs);
        for (int l = 0; l < scores.size(); l++)
            for (int c = 0; c < cs.size(); c++) {
                long p = cs.get(c).unitParameters(m.blocks.get(l));
                for (int u = 0; u < scores.get(l)[c].length; u++) { all.add(new Unit(l, c, u, scores.get(l)[c][u], p)); total += p; }
            }
        all.sort((a, b) -> Double.compare(b.score(), a.score())); // descending, stable
        // the fixed weights are kept whatever happens: the units fill the rest of (1 - F) of everything
        double target = (total + fixed) * (1 - remove);
        long cum = fixed;
        int best = 0;
        double bestGap = Double.POSITIVE_INFINITY;
        for (int i = 0; i < all.size(); i++) {
            cum += all.get(i).params();
            double gap = Math.abs(cum - target);
            if (gap < bestGap) { bestGap = gap; best = i; }
        }
        boolean[][][] keep = new boolean[scores.size()][cs.size()][];
        for (int l = 0; l < scores.size(); l++) for (int c = 0; c < cs.size(); c++) keep[l][c] = new boolean[scores.get(l)[c].length];
        // keep = score > threshold, i.e. the units before the threshold's position (ties at the
        // threshold go, as the reference's strict '>' does); with remove = 0 everything stays.
        double threshold = all.get(best).score();
        for (int i = 0; i < all.size(); i++) {
            Unit u = all.get(i);
            keep[u.block()][u.coupling()][u.index()] = remove == 0 || u.score() > threshold;
        }
        // at least one unit of each kind per block: the best-scoring one
        for (int l = 0; l < scores.size(); l++)
            for (int c = 0; c < cs.size(); c++) {
                boolean any = false;
                for (boolean k : keep[l][c]) any |= k;
                if (!any) keep[l][c][argmax(scores.get(l)[c])] = true;
            }
        return keep;
    }

    static int argmax(double[] x) {
        int b = 0;
        for (int i = 1; i < x.length; i++) if (x[i] > x[b]) b = i;
        return b;
    }

    /**
     * Units every block removes for a uniform structure that removes {@code remove} of the block's
     * linear parameters: floor(remove * groups) attention units, and MLP channels for the rest of
     * the budget (rounded). The reference's uniform mode (UL-UM) removes the same fraction of heads
     * and of channels; with 4 key/value groups per block (the bundled model) that would remove no
     * attention at all below 25%, so the budget is filled with channels instead.
     */
    public static int[] uniformCounts(Model m, double remove) {
        List<Architecture.Coupling> cs = couplings(m);
        Block b = m.blocks.get(0);
        long total = fixedParameters(m, b, cs);
        for (Architecture.Coupling c : cs) total += c.units(b) * c.unitParameters(b);
        int[] n = new int[cs.size()];
        double budget = remove * total;
        for (int c = 0; c < cs.size(); c++) {
            Architecture.Coupling cp = cs.get(c);
            long per = cp.unitParameters(b);
            int units = cp.units(b);
            n[c] = c == cs.size() - 1 ? (int) Math.round(budget / per) : (int) Math.floor(remove * units);
            if (n[c] > units - 1)
                throw new dev.squish.SquishException("--remove " + dev.squish.methods.OptionReader.fmt(remove) + " would take " + n[c] + " of the "
                        + units + " " + (cp.name().equals("mlp") ? "MLP channels" : "key/value groups") + " of every block; a block keeps at least one");
            budget -= (double) n[c] * per;
        }
        return n;
    }

    /** Keeps all but the {@code counts[c]} lowest-scoring units of each coupling in every block. */
    public static boolean[][][] uniform(List<double[][]> scores, int[] counts) {
        boolean[][][] keep = new boolean[scores.size()][][];
        for (int l = 0; l < scores.size(); l++) {
            keep[l] = new boolean[counts.length][];
            for (int c = 0; c < counts.length; c++) {
                double[] s = scores.get(l)[c];
                keep[l][c] = new boolean[s.length];
                Arrays.fill(keep[l][c], true);
                Integer[] order = new Integer[s.length];
                for (int i = 0; i < s.length; i++) order[i] = i;
                Arrays.sort(order, (a, bb) -> Double.compare(s[a], s[bb]));
                for (int i = 0; i < counts[c]; i++) keep[l][c][order[i]] = false;
            }
        }
        return keep;
    }

    /**
     * Applies a keep plan: removes the units and, with {@code bias}, adds each removed feature's
     * mean contribution W[:, j] * mean_j to the output linear's bias. Returns the parameters removed.
     */
    public static long apply(Model m, boolean[][][] keep, Stats st, boolean bias) {
        List<Architecture.Coupling> cs = couplings(m);
        long before = m.parameters();
        for (int l = 0; l < m.blocks.size(); l++) {
            Block b = m.blocks.get(l);
            for (int c = 0; c < cs.size(); c++) {
                Architecture.Coupling cp = cs.get(c);
                boolean[] k = keep[l][c];
                boolean all = true;
                for (boolean x : k) all &= x;
                if (all) continue;
                if (bias) {
                    Linear out = b.linear(cp.output());
                    float[] w = out.toDense();
                    double[] mean = st.perBlock().get(l)[c].mean();
                    int per = cp.outputColumns(), cols = out.cols();
                    float[] delta = new float[out.rows()];
                    for (int r = 0; r < out.rows(); r++) {
                        double s = 0;
                        for (int u = 0; u < k.length; u++) {
                            if (k[u]) continue;
                            for (int j = u * per; j < (u + 1) * per; j++) s += w[r * cols + j] * mean[j];
                        }
                        delta[r] = (float) s;
                    }
                    Structure.addBias(b, cp.output(), delta);
                }
                Structure.keepUnits(b, cp, k);
            }
        }
        return before - m.parameters();
    }
}
