package dev.squish.calibration;

import dev.squish.SquishException;

import java.util.Random;

/** Cuts calibration windows out of a tokenized text, as the contract defines. */
public final class Sampler {
    private Sampler() {}

    /**
     * {@code sequential}: the first n non-overlapping windows of L tokens, in order.
     * {@code random}: n windows of L tokens starting at uniform random offsets (seeded), as the
     * reference implementations of SparseGPT and Wanda draw their calibration samples.
     */
    public static int[][] sample(int[] tokens, int n, int L, boolean random, long seed) {
        if (n < 1) throw new SquishException("--samples must be at least 1, got " + n);
        if (L < 2) throw new SquishException("--seq-len must be at least 2, got " + L);
        if (tokens.length < L)
            throw new SquishException("the calibration text has " + tokens.length + " tokens, shorter than one window of " + L + " (--seq-len)");
        int[][] out = new int[n][];
        if (random) {
            Random rnd = new Random(seed);
            for (int i = 0; i < n; i++) {
                int start = rnd.nextInt(tokens.length - L + 1);
                out[i] = java.util.Arrays.copyOfRange(tokens, start, start + L);
            }
        } else {
            int available = tokens.length / L;
            if (available < n)
                throw new SquishException("the calibration text holds only " + available + " windows of " + L + " tokens, fewer than --samples " + n);
            for (int i = 0; i < n; i++) out[i] = java.util.Arrays.copyOfRange(tokens, i * L, (i + 1) * L);
        }
        return out;
    }
}
