package dev.squish.weights;

import dev.squish.weights.QuantResult;

/** Chooses the storage format for a compressed matrix. */
public final class Compact {
    private Compact() {}

    /**
     * Storage for a pruned matrix (zeros in pruned positions): N:M packed when a pattern with
     * M <= 16 was used, else the unstructured sparse format when it is smaller than dense.
     */
    public static Linear pruned(float[] w, int rows, int cols, int n, int m) {
        if (m > 0 && m <= 16) return NMSparseLinear.fromDense(w, rows, cols, n, m);
        SparseLinear s = SparseLinear.fromDense(w, rows, cols);
        return s.bytes() < 4L * rows * cols ? s : new DenseLinear(rows, cols, w);
    }

    /** Storage for a quantized matrix: packed codes with per-group scales and zero points. */
    public static Linear quantized(QuantResult q, Linear before) { return quantized(q, null, null); }

    /**
     * Storage for a quantized matrix with optional pruned positions and outliers.
     *
     * @param pruned   positions that are exactly 0 and must stay so (a prune-then-quantize recipe),
     *                 or null. When leaving them out is smaller, a {@link SparseQuantizedLinear}
     *                 stores only the other codes (plus a 1-bit mask); the quantized weight must be
     *                 0 there.
     * @param outliers full-precision values added on top (dense-and-sparse), non-zero only at the
     *                 outlier positions (where the quantized weight is 0), or null. The quantized
     *                 part of an {@link OutlierLinear} is always a dense {@link QuantizedLinear}.
     */
    public static Linear quantized(QuantResult q, boolean[] pruned, float[] outliers) {
        int rows = q.rows(), cols = q.cols();
        int[] codes = new int[q.codes().length];
        for (int i = 0; i < codes.length; i++) codes[i] = q.codes()[i] & 0xFF;
        QuantizedLinear dense = QuantizedLinear.fromCodes(rows, cols, q.bits(), q.groupSize(), codes, q.scales(), q.zeros());
        if (outliers != null) return new OutlierLinear(dense, SparseLinear.fromDense(outliers, rows, cols));
        if (pruned == null) return dense;
        boolean[] kept = new boolean[pruned.length];
        for (int i = 0; i < kept.length; i++) {
            kept[i] = !pruned[i];
            if (pruned[i] && q.weights()[i] != 0)
                throw new IllegalStateException("pruned position " + i + " was quantized to " + q.weights()[i] + ", not 0");
        }
        SparseQuantizedLinear sq = SparseQuantizedLinear.fromCodes(rows, cols, q.bits(), q.groupSize(), kept, codes, q.scales(), q.zeros());
        return sq.bytes() < dense.bytes() ? sq : dense;
    }
}
