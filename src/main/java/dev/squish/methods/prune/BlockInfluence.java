package dev.squish.methods.prune;

import dev.squish.model.Model;

import java.util.Arrays;
import java.util.Set;
import java.util.TreeSet;

/**
 * ShortGPT's Block Influence (Men et al. 2024, "ShortGPT: Layers in Large Language Models are More
 * Redundant Than You Expect"): BI_l = 1 - E_t[cos(x_in,t, x_out,t)], the mean over calibration
 * tokens of how little block l turns its input hidden state. Blocks with the lowest BI change the
 * residual stream least and are removed first; as in the paper, all scores come from one pass over
 * the unpruned model.
 */
public final class BlockInfluence {
    private BlockInfluence() {}

    public static double[] scores(Model m, int[][] samples) {
        double[] bi = new double[m.blocks.size()];
        DensePass.run(m, samples, (b, inputs, in, out, L) -> {
            double sum = 0;
            long n = 0;
            for (int i = 0; i < in.length; i++) {
                int d = in[i].length / L;
                if (out[i].length != in[i].length) throw new IllegalStateException("block " + b.index + " changes the hidden width");
                for (int t = 0; t < L; t++) {
                    double dot = 0, na = 0, nb = 0;
                    for (int j = t * d; j < (t + 1) * d; j++) {
                        dot += (double) in[i][j] * out[i][j];
                        na += (double) in[i][j] * in[i][j];
                        nb += (double) out[i][j] * out[i][j];
                    }
                    sum += na > 0 && nb > 0 ? dot / Math.sqrt(na * nb) : 1;
                    n++;
                }
            }
            bi[b.index] = 1 - sum / n;
        });
        return bi;
    }

    /** The n blocks with the lowest influence (ties: the later block first, as deeper blocks are the usual candidates). */
    public static Set<Integer> lowest(double[] bi, int n) {
        Integer[] order = new Integer[bi.length];
        for (int i = 0; i < bi.length; i++) order[i] = i;
        Arrays.sort(order, (a, b) -> bi[a] != bi[b] ? Double.compare(bi[a], bi[b]) : Integer.compare(b, a));
        Set<Integer> out = new TreeSet<>();
        for (int i = 0; i < n; i++) out.add(order[i]);
        return out;
    }
}
