package dev.squish.methods.prune;

import dev.squish.model.Architecture;
import dev.squish.model.Block;
import dev.squish.model.Model;
import dev.squish.weights.Linear;

import java.util.ArrayList;
import java.util.List;

/**
 * The plain structured baseline FLAP compares against (reference CASIA-IVA-Lab/FLAP
 * {@code lib/prune.py prune_magnitude_sp}): a unit's importance is the L2 norm of the columns it
 * feeds in o_proj / down_proj ({@code torch.norm(W, dim=0)}, summed over a head's columns), no
 * calibration data, the same number of units removed from every block ({@link Flap#uniformCounts})
 * and no bias compensation.
 */
public final class L2Structured {
    private L2Structured() {}

    /** Unit scores per block and coupling. */
    public static List<double[][]> scores(Model m) {
        List<Architecture.Coupling> cs = Flap.couplings(m);
        List<double[][]> out = new ArrayList<>();
        for (Block b : m.blocks) {
            double[][] s = new double[cs.size()][];
            for (int c = 0; c < cs.size(); c++) {
                Architecture.Coupling cp = cs.get(c);
                Linear l = b.linear(cp.output());
                float[] w = l.toDense();
                double[] colSq = new double[l.cols()];
                for (int r = 0, o = 0; r < l.rows(); r++) for (int j = 0; j < l.cols(); j++, o++) colSq[j] += (double) w[o] * w[o];
                int per = cp.outputColumns();
                s[c] = new double[l.cols() / per];
                for (int u = 0; u < s[c].length; u++) for (int j = u * per; j < (u + 1) * per; j++) s[c][u] += Math.sqrt(colSq[j]);
            }
            out.add(s);
        }
        return out;
    }

    /** Removes {@code remove} of every block's linear parameters by the L2 rule; returns the parameters removed. */
    public static long prune(Model m, double remove) {
        boolean[][][] keep = Flap.uniform(scores(m), Flap.uniformCounts(m, remove));
        return Flap.apply(m, keep, null, false);
    }
}
