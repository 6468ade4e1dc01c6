package dev.squish.methods.prune;

import dev.squish.model.Block;
import dev.squish.model.Model;
import dev.squish.weights.Linear;

import java.util.List;
import java.util.Map;

/**
 * OWL, Outlier Weighed Layerwise sparsity (Yin et al. 2023; reference luuyin/OWL
 * {@code lib/prune_all.py}, {@code prune_wanda_outlier} / {@code prune_mag_outlier}): layers with
 * more outliers are pruned less.
 *
 * <ol>
 *   <li>Outlier ratio of block l: D_l = share of the Wanda scores |W_ij| * ||X_j|| of all the
 *       block's linears (concatenated) above M times their mean ({@code check_outlier_mean}),
 *       with X the block's inputs on the dense model.</li>
 *   <li>Density 1 - s_l = (D_l - min D) / (max D - min D) * 2 lambda, shifted so that the mean
 *       density is 1 - s. The reference takes the plain mean over layers; here it is the mean
 *       weighted by each block's parameters, which is the same for equal blocks and keeps the
 *       model's sparsity exactly s when blocks differ.</li>
 *   <li>Every matrix then prunes a whole number of weights: the block counts are rounded with the
 *       largest-remainder rule so that they add up to exactly round(s * N), and each block's count
 *       is spread over its matrices by cumulative rounding. So the pruned total, and hence the
 *       parameter-weighted mean sparsity, is exactly the target.</li>
 * </ol>
 */
public final class Owl {
    private Owl() {}

    /** The paper's defaults (M = 5, lambda = 0.08). */
    public static final double DEFAULT_M = 5, DEFAULT_LAMBDA = 0.08;

    /** D_l: share of the block's Wanda scores above {@code m} times their mean. */
    public static double outlierRatio(Block b, List<String> linears, Map<String, Moments> inputs, double m) {
        double sum = 0;
        long count = 0;
        for (String name : linears) {
            Linear l = b.linear(name);
            double[] norm = norms(inputs.get(name));
            float[] w = l.toDense();
            for (int r = 0, o = 0; r < l.rows(); r++) for (int j = 0; j < l.cols(); j++, o++) sum += Math.abs(w[o]) * norm[j];
            count += w.length;
        }
        double threshold = m * sum / count;
        long above = 0;
        for (String name : linears) {
            Linear l = b.linear(name);
            double[] norm = norms(inputs.get(name));
            float[] w = l.toDense();
            for (int r = 0, o = 0; r < l.rows(); r++) for (int j = 0; j < l.cols(); j++, o++) if (Math.abs(w[o]) * norm[j] > threshold) above++;
        }
        return (double) above / count;
    }

    private static double[] norms(Moments mm) {
        if (mm == null) throw new IllegalStateException("no input statistics");
        double[] n = mm.normSq();
        for (int j = 0; j < n.length; j++) n[j] = Math.sqrt(n[j]);
        return n;
    }

    /** D_l of every block of the model, on calibration samples run through the dense model. */
    public static double[] outlierRatios(Model model, int[][] samples, List<String> linears, double m) {
        double[] d = new double[model.blocks.size()];
        DensePass.run(model, samples, (b, inputs, in, out, L) -> d[b.index] = outlierRatio(b, linears, inputs, m));
        return d;
    }

    /**
     * Per-block sparsities from outlier ratios: s_l = s - (r_l - mean_w r) with
     * r_l = (D_l - min D) / (max D - min D) * 2 lambda, mean weighted by {@code params}.
     * Equal ratios give s everywhere.
     */
    public static double[] layerSparsities(double[] ratios, long[] params, double s, double lambda) {
        int n = ratios.length;
        double min = Double.POSITIVE_INFINITY, max = Double.NEGATIVE_INFINITY;
        for (double r : ratios) { min = Math.min(min, r); max = Math.max(max, r); }
        double[] r = new double[n];
        if (max > min) for (int i = 0; i < n; i++) r[i] = (ratios[i] - min) / (max - min) * 2 * lambda;
        double wsum = 0, total = 0;
        for (int i = 0; i < n; i++) { wsum += r[i] * params[i]; total += params[i]; }
        double mean = wsum / total;
        double[] out = new double[n];
        for (int i = 0; i < n; i++) out[i] = s - (r[i] - mean);
        return out;
    }

    /**
     * Per-block N for an N:M pattern (keep N of every M), the reference's N:M variant
     * ({@code prune_wanda_outlier_structure}): M stays fixed and block l keeps
     * N_l = n + round(r_l - mean r), r_l = (D_l - min D) / (max D - min D) * Lamda, rounded half to
     * even as {@code np.round}. The reference's Lamda counts weights of a group (its README runs 5:8
     * with Lamda 2); here Lamda = 2 lambda M, so that lambda keeps the meaning it has for unstructured
     * sparsity (block densities spread over about n/M +- lambda): Lamda 2 at M = 8 is lambda 0.125.
     * The mean is weighted by {@code params} (the reference's plain mean for equal blocks). As in the
     * reference, nothing corrects the rounding: the offsets need not sum to zero, so the
     * parameter-weighted mean density can differ from n/M by a fraction of 1/M
     * ({@link #meanDensity}). N_l may fall outside 1..M-1; the caller refuses that. Equal ratios
     * give n everywhere (the reference would divide by zero).
     */
    public static int[] layerN(double[] ratios, long[] params, int n, int m, double lambda) {
        int len = ratios.length;
        double min = Double.POSITIVE_INFINITY, max = Double.NEGATIVE_INFINITY;
        for (double r : ratios) { min = Math.min(min, r); max = Math.max(max, r); }
        double spread = 2 * lambda * m;
        double[] r = new double[len];
        if (max > min) for (int i = 0; i < len; i++) r[i] = (ratios[i] - min) / (max - min) * spread;
        double wsum = 0, total = 0;
        for (int i = 0; i < len; i++) { wsum += r[i] * params[i]; total += params[i]; }
        double mean = wsum / total;
        int[] out = new int[len];
        for (int i = 0; i < len; i++) out[i] = n + (int) Math.rint(r[i] - mean);
        return out;
    }

    /** Parameter-weighted mean density of per-block N:M patterns: sum N_l / M * p_l / sum p_l. */
    public static double meanDensity(int[] layerN, long[] params, int m) {
        double w = 0, total = 0;
        for (int i = 0; i < layerN.length; i++) { w += (double) layerN[i] / m * params[i]; total += params[i]; }
        return w / total;
    }

    /**
     * Whole numbers of pruned weights per matrix: {@code sizes[l][k]} is the size of matrix k of
     * block l. The counts add up to exactly round(s * total); block l gets floor or ceil of
     * s_l * N_l (largest remainders first), and its matrices share it in proportion to their size.
     */
    public static long[][] counts(double[] layerSparsity, long[][] sizes, double s) {
        int n = sizes.length;
        long total = 0;
        long[] blockSize = new long[n];
        for (int l = 0; l < n; l++) { for (long x : sizes[l]) blockSize[l] += x; total += blockSize[l]; }
        long want = Math.round(s * total);
        long[] k = new long[n];
        double[] frac = new double[n];
        long have = 0;
        for (int l = 0; l < n; l++) {
            double t = Math.min(blockSize[l], Math.max(0, layerSparsity[l] * blockSize[l]));
            k[l] = (long) Math.floor(t);
            frac[l] = t - k[l];
            have += k[l];
        }
        // Largest remainder: hand out (or take back) single weights where rounding lost the most.
        while (have != want) {
            int best = -1;
            for (int l = 0; l < n; l++) {
                if (have < want && k[l] < blockSize[l] && (best < 0 || frac[l] > frac[best])) best = l;
                if (have > want && k[l] > 0 && (best < 0 || frac[l] < frac[best])) best = l;
            }
            if (best < 0) throw new IllegalStateException("cannot place " + want + " pruned weights");
            if (have < want) { k[best]++; frac[best] -= 1; have++; } else { k[best]--; frac[best] += 1; have--; }
        }
        long[][] out = new long[n][];
        for (int l = 0; l < n; l++) {
            out[l] = new long[sizes[l].length];
            long cum = 0, prev = 0;
            for (int i = 0; i < sizes[l].length; i++) {
                cum += sizes[l][i];
                long upTo = blockSize[l] == 0 ? 0 : Math.round((double) k[l] * cum / blockSize[l]);
                out[l][i] = upTo - prev;
                prev = upTo;
            }
        }
        return out;
    }
}
