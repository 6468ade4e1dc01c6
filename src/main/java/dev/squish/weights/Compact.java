package dev.squish.weights;

import dev.squish.methods.QuantResult;

/** Chooses the storage format for a compressed matrix. */
public final class Compact {
    private Compact() {}

    /** Storage for a pruned matrix (zeros in pruned positions); n = m = 0 for unstructured. */
    public static Linear pruned(float[] w, int rows, int cols, int n, int m) {
        return new DenseLinear(rows, cols, w);
    }

    /** Storage for a quantized matrix. */
    public static Linear quantized(QuantResult q, Linear before) {
        return new DenseLinear(q.rows(), q.cols(), q.weights());
    }
}
