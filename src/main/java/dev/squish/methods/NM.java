package dev.squish.methods;

/**
 * Semi-structured sparsity: in every group of {@code m} consecutive weights along the input
 * dimension, at most {@code n} stay non-zero (NVIDIA's convention; {@code 2:4} keeps 2 of 4).
 */
public record NM(int n, int m) {
    public NM {
        if (!(n > 0 && n < m && m <= 32)) throw new IllegalArgumentException("need 0 < N < M <= 32: " + n + ":" + m);
    }

    /** Weights set to zero in each group of {@code m}. */
    public int zerosPerGroup() { return m - n; }

    public double sparsity() { return (double) (m - n) / m; }

    @Override
    public String toString() { return n + ":" + m; }
}
