package dev.squish.methods.prune;

import dev.squish.util.Parallel;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * DSnoT, Dynamic Sparse No Training (Zhang et al. 2023; reference zyxxmu/DSnoT {@code lib/prune.py
 * prune_DSnoT}, unstructured branch): starting from a pruning mask, each output row swaps pruned
 * and kept weights one pair per cycle to drive the row's expected reconstruction error
 * e = sum over pruned j of W_rj * mean(x_j) toward zero, without changing any weight value and
 * keeping every row's count of pruned weights.
 *
 * <p>Per row, as the reference:
 * <ul>
 *   <li>grow: among pruned weights, ordered by W_rj * mean(x_j) / var(x_j) ({@code
 *       pow_of_var_regrowing = 1}), take the largest when e > 0 and the smallest when e <= 0,
 *       walking inwards from the two ends;</li>
 *   <li>prune: among kept weights, ordered by the Wanda score |W_rj| * ||X_j|| ascending and then
 *       re-ordered as the reference's {@code return_reorder_indice} (negative contributions first in
 *       Wanda order, then positive ones in reverse Wanda order), take the last when e < 0 and the
 *       first otherwise, again walking inwards;</li>
 *   <li>a swap happens while |e| > the update threshold (0.1) and the swap does not flip the sign
 *       of e relative to its initial sign; the first refused swap stops the row; at most
 *       {@code maxCycles} (50) cycles.</li>
 * </ul>
 *
 * <p>Deviations: the grow list holds only pruned weights (the reference's sort also walks into
 * kept weights, whose metric it zeroed, after many cycles); and a final guard that the reference
 * does not have: DSnoT balances the <em>mean</em> error, which can raise the squared error
 * ||(W - W_masked) X||^2, so each row keeps its new mask only if that error, measured with the
 * layer's calibration Hessian, does not grow; otherwise the row keeps its initial mask. A layer's
 * measured reconstruction error therefore never rises.
 */
public final class Dsnot {
    private Dsnot() {}

    public static final int DEFAULT_MAX_CYCLES = 50;
    public static final double DEFAULT_UPDATE_THRESHOLD = 0.1;

    /** What one call did: rows whose mask changed, swaps made, rows reverted by the guard. */
    public record Stats(int rowsChanged, long swaps, int rowsReverted) {}

    /**
     * Refines {@code mask} (true = pruned; [rows x cols]) in place.
     *
     * @param mean    mean of each input feature over the calibration tokens
     * @param var     variance of each input feature
     * @param normSq  sum over tokens of x_j^2 (Wanda's ||X_j||^2)
     * @param hessian X^T X up to a positive factor, cols x cols row-major (the guard); null skips the guard
     */
    public static Stats refine(float[] w, int rows, int cols, boolean[] mask, double[] mean, double[] var, double[] normSq,
                               double[] hessian, int maxCycles, double threshold) {
        if (w.length != (long) rows * cols || mask.length != w.length) throw new IllegalArgumentException("shape mismatch");
        int[] changed = new int[1], reverted = new int[1];
        long[] swaps = new long[1];
        Object lock = new Object();
        Parallel.forRange(rows, 8, (r0, r1) -> {
            int ch = 0, rv = 0;
            long sw = 0;
            for (int r = r0; r < r1; r++) {
                boolean[] before = Arrays.copyOfRange(mask, r * cols, (r + 1) * cols);
                int n = refineRow(w, r * cols, cols, mask, mean, var, normSq, maxCycles, threshold);
                if (n == 0) continue;
                if (hessian != null && rowError(w, r * cols, cols, mask, hessian) > rowError(w, r * cols, cols, before, 0, hessian)) {
                    System.arraycopy(before, 0, mask, r * cols, cols);
                    rv++;
                    continue;
                }
                ch++;
                sw += n;
            }
            synchronized (lock) { changed[0] += ch; reverted[0] += rv; swaps[0] += sw; }
        });
        return new Stats(changed[0], swaps[0], reverted[0]);
    }

    /** The mask DSnoT starts from. */
    public enum Base { WANDA, SPARSEGPT }

    /**
     * The initial mask, per row as the reference: the {@code round}-shared count of each row (see
     * {@link dev.squish.methods.Masks#share}) of smallest scores, where the score is Wanda's
     * |W_rj| * ||X_j|| or SparseGPT's OBS saliency W_rj^2 / [U]_jj^2 (U the upper Cholesky factor of
     * the dampened H^-1; the reference's {@code initial_method == "sparsegpt"} branch, which takes
     * SparseGPT's mask only, without its weight updates).
     */
    public static boolean[] initialMask(Base base, float[] w, int rows, int cols, double[] normSq, double[] hessian, double sparsity, String what) {
        double[] score = new double[w.length];
        if (base == Base.WANDA) {
            for (int r = 0, o = 0; r < rows; r++) for (int j = 0; j < cols; j++, o++) score[o] = Math.abs(w[o]) * Math.sqrt(normSq[j]);
        } else {
            var prep = dev.squish.methods.obs.ObsEngine.prepare(hessian, cols, null, rows, dev.squish.methods.obs.ObsEngine.DEFAULT_PERCDAMP, what);
            for (int r = 0, o = 0; r < rows; r++)
                for (int j = 0; j < cols; j++, o++) {
                    double d = prep.diag(j), v = prep.dead()[j] ? 0 : w[o];
                    score[o] = v * v / (d * d);
                }
        }
        boolean[] mask = new boolean[w.length];
        for (int r = 0; r < rows; r++)
            dev.squish.methods.Masks.smallestK(score, r * cols, cols, dev.squish.methods.Masks.share((long) r * cols, (long) (r + 1) * cols, sparsity), mask);
        return mask;
    }

    /** One row; returns the number of swaps made. */
    static int refineRow(float[] w, int o, int cols, boolean[] mask, double[] mean, double[] var, double[] normSq,
                         int maxCycles, double threshold) {
        double[] metric = new double[cols];
        double e = 0;
        List<Integer> pruned = new ArrayList<>(), kept = new ArrayList<>();
        for (int j = 0; j < cols; j++) {
            metric[j] = w[o + j] * mean[j];
            if (mask[o + j]) { pruned.add(j); e += metric[j]; } else kept.add(j);
        }
        if (pruned.isEmpty() || kept.isEmpty()) return 0;
        // grow candidates: pruned weights by metric / var ascending (stable)
        Integer[] grow = pruned.toArray(new Integer[0]);
        Arrays.sort(grow, Comparator.comparingDouble(j -> var[j] > 0 ? metric[j] / var[j] : metric[j]));
        // prune candidates: kept weights by Wanda score ascending (stable), then negatives in that
        // order followed by positives in reverse order (return_reorder_indice)
        Integer[] byWanda = kept.toArray(new Integer[0]);
        Arrays.sort(byWanda, Comparator.comparingDouble(j -> Math.abs(w[o + j]) * Math.sqrt(normSq[j])));
        int[] cut = new int[byWanda.length];
        int c = 0;
        for (int j : byWanda) if (metric[j] < 0) cut[c++] = j;
        for (int i = byWanda.length - 1; i >= 0; i--) if (!(metric[byWanda[i]] < 0)) cut[c++] = byWanda[i];
        int gLo = 0, gHi = grow.length - 1, pLo = 0, pHi = cut.length - 1;
        double sign0 = Math.signum(e);
        int swaps = 0;
        for (int cycle = 0; cycle < maxCycles; cycle++) {
            if (gLo > gHi || pLo > pHi) break;
            int g = e > 0 ? grow[gHi--] : grow[gLo++];
            int p = e < 0 ? cut[pHi--] : cut[pLo++];
            double after = e + metric[p] - metric[g];
            if (!(Math.abs(e) > threshold) || Math.signum(after) != sign0) break;
            mask[o + p] = true;
            mask[o + g] = false;
            e = after;
            swaps++;
        }
        return swaps;
    }

    /** ||(w_r masked to its pruned entries) X||^2 via the Hessian: d^T H d with d_j = w_rj where pruned. */
    static double rowError(float[] w, int o, int cols, boolean[] mask, double[] h) { return rowError(w, o, cols, mask, o, h); }

    static double rowError(float[] w, int o, int cols, boolean[] mask, int mo, double[] h) {
        double[] d = new double[cols];
        int nz = 0;
        int[] idx = new int[cols];
        for (int j = 0; j < cols; j++) if (mask[mo + j]) { d[j] = w[o + j]; idx[nz++] = j; }
        double s = 0;
        for (int a = 0; a < nz; a++) {
            int i = idx[a];
            double row = 0;
            for (int b = 0; b < nz; b++) row += h[i * cols + idx[b]] * d[idx[b]];
            s += d[i] * row;
        }
        return s;
    }
}
