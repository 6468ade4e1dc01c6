package dev.squish.weights;

import dev.squish.methods.QuantResult;

/** Chooses the storage format for a compressed matrix: the smallest exact one. */
public final class Compact {
    private Compact() {}

    /**
     * Storage for a pruned matrix (zeros in pruned positions); n = m = 0 for unstructured. The
     * smallest of dense, {@link SparseLinear} and (N:M with M <= 16) {@link NMSparseLinear}.
     */
    public static Linear pruned(float[] w, int rows, int cols, int n, int m) {
        Linear best = new DenseLinear(rows, cols, w);
        if (n > 0 && n < m && m <= 16) {
            try {
                Linear nm = NMSparseLinear.fromDense(w, rows, cols, n, m);
                if (nm.bytes() < best.bytes()) best = nm;
            } catch (IllegalArgumentException notNm) { /* more than n non-zeros somewhere: not N:M */ }
        }
        Linear sp = SparseLinear.fromDense(w, rows, cols);
        if (sp.bytes() < best.bytes()) best = sp;
        return best;
    }

    /** Storage for a quantized matrix: packed codes, scales and zeros ({@link QuantizedLinear}). */
    public static Linear quantized(QuantResult q, Linear before) { return quantized(q, null, null); }

    /**
     * Storage for a quantized matrix with optional pruned positions and outliers.
     *
     * @param pruned   positions that are exactly 0 and must stay so (a prune-then-quantize recipe),
     *                 or null. When leaving them out is smaller, a {@link SparseQuantizedLinear}
     *                 stores only the other codes (plus a 1-bit mask); the quantized weight must be
     *                 0 there.
     * @param outliers full-precision values added on top (dense-and-sparse), non-zero only at the
     *                 outlier positions (where the quantized weight is 0), or null
     */
    public static Linear quantized(QuantResult q, boolean[] pruned, float[] outliers) {
        int rows = q.rows(), cols = q.cols();
        byte[] codes = q.codes();
        int[] ic = new int[codes.length];
        for (int i = 0; i < ic.length; i++) ic[i] = codes[i] & 0xff;
        Linear base = QuantizedLinear.fromCodes(rows, cols, q.bits(), q.groupSize(), ic, q.scales(), q.zeros());
        if (pruned != null) {
            boolean[] kept = new boolean[pruned.length];
            for (int i = 0; i < kept.length; i++) {
                kept[i] = !pruned[i];
                if (pruned[i] && q.weights()[i] != 0)
                    throw new IllegalStateException("pruned position " + i + " was quantized to " + q.weights()[i] + ", not 0");
            }
            Linear sq = SparseQuantizedLinear.of(rows, cols, q.bits(), q.groupSize(), kept, codes, q.scales(), q.zeros());
            if (sq.bytes() < base.bytes()) base = sq;
        }
        if (outliers == null) return base;
        return new OutlierLinear(base, SparseLinear.fromDense(outliers, rows, cols));
    }
}
