package dev.squish.methods;

import java.util.Arrays;

/**
 * Mask selection shared by the pruning methods. Scores are non-negative ("importance"); the
 * entries with the smallest scores are pruned. Ties are broken by position (earlier first), so
 * the result is deterministic and the number of pruned entries is exact.
 */
public final class Masks {
    private Masks() {}

    /** Number of entries to prune out of {@code total}: {@code round(sparsity * total)}. */
    public static long prunedCount(long total, double sparsity) {
        checkSparsity(sparsity);
        return Math.round(sparsity * (double) total);
    }

    /**
     * How many of the entries in positions [from, to) of a sequence of {@code total} entries are
     * pruned when every prefix of it holds {@code round(sparsity * prefix)} pruned entries: this
     * spreads an exact matrix-wide count over rows or column blocks as evenly as possible (every
     * part gets floor or ceil of its share; exactly its share when that is an integer).
     */
    public static int share(long from, long to, double sparsity) {
        return (int) (prunedCount(to, sparsity) - prunedCount(from, sparsity));
    }

    public static void checkSparsity(double sparsity) {
        if (!(sparsity >= 0 && sparsity <= 1)) throw new IllegalArgumentException("sparsity must be in [0, 1], got " + sparsity);
    }

    /**
     * Checks an N:M pattern: {@code n == 0 && m == 0} means unstructured; otherwise keep n of every
     * m consecutive input columns in each row, {@code 0 < n < m}, and m must divide cols.
     * Returns true for N:M.
     */
    public static boolean checkNm(int n, int m, int cols) {
        if (n == 0 && m == 0) return false;
        if (n <= 0 || m <= 0 || n >= m) throw new IllegalArgumentException("N:M sparsity needs 0 < N < M, got " + n + ":" + m);
        if (cols % m != 0) throw new IllegalArgumentException("N:M sparsity " + n + ":" + m + " needs the input dimension (" + cols + ") to be a multiple of " + m);
        return true;
    }

    /**
     * Marks in {@code mask[off .. off+len)} exactly k entries with the smallest
     * {@code score[off .. off+len)} (ties: earlier positions first). Other entries are left as they are.
     */
    public static void smallestK(double[] score, int off, int len, int k, boolean[] mask) {
        if (k <= 0) return;
        if (k >= len) { Arrays.fill(mask, off, off + len, true); return; }
        double[] sorted = Arrays.copyOfRange(score, off, off + len);
        Arrays.sort(sorted);
        double t = sorted[k - 1];
        int below = 0;
        for (int i = off; i < off + len; i++) if (score[i] < t) { mask[i] = true; below++; }
        int ties = k - below;
        for (int i = off; i < off + len && ties > 0; i++) if (score[i] == t) { mask[i] = true; ties--; }
    }

    /** In one N:M group {@code score[off .. off+m)}: marks the m-n smallest (ties: earlier first). */
    public static void nmGroup(double[] score, int off, int n, int m, boolean[] mask, int maskOff) {
        for (int p = 0; p < m - n; p++) {
            int best = -1;
            for (int j = 0; j < m; j++) {
                if (mask[maskOff + j]) continue;
                if (best < 0 || score[off + j] < score[off + best]) best = j;
            }
            mask[maskOff + best] = true;
        }
    }

    /** Returns a copy of w with the masked entries set to 0. */
    public static float[] apply(float[] w, boolean[] mask) {
        float[] out = w.clone();
        for (int i = 0; i < out.length; i++) if (mask[i]) out[i] = 0;
        return out;
    }
}
