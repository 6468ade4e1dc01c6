package dev.squish.weights;

import dev.squish.methods.QuantResult;

/** Chooses the storage format for a compressed matrix. */
public final class Compact {
    private Compact() {}

    /**
     * Storage for a pruned matrix (zeros in pruned positions): N:M packed when a pattern was
     * used, else the unstructured sparse format when it is smaller than dense.
     */
    public static Linear pruned(float[] w, int rows, int cols, int n, int m) {
        if (m > 0) return NMSparseLinear.fromDense(w, rows, cols, n, m);
        SparseLinear s = SparseLinear.fromDense(w, rows, cols);
        return s.bytes() < 4L * rows * cols ? s : new DenseLinear(rows, cols, w);
    }

    /** Storage for a quantized matrix: packed codes with per-group scales and zero points. */
    public static Linear quantized(QuantResult q, Linear before) {
        int[] codes = new int[q.codes().length];
        for (int i = 0; i < codes.length; i++) codes[i] = q.codes()[i] & 0xFF;
        return QuantizedLinear.fromCodes(q.rows(), q.cols(), q.bits(), q.groupSize(), codes, q.scales(), q.zeros());
    }
}
