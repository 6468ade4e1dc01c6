package dev.squish.weights;

import dev.squish.util.Parallel;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector API building blocks shared by the compressed formats. Hand-written because these loops
 * are where decode and prefill spend their time and no JVM library offers SIMD kernels over
 * packed/sparse weights.
 */
final class Kernels {
    private Kernels() {}

    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    static final int L = S.length();
    /** Byte species whose part 0 converts to L float lanes (at least 64 bits, the smallest shape). */
    static final VectorSpecies<Byte> BS = VectorSpecies.of(byte.class, VectorShape.forBitSize(Math.max(64, L * 8)));
    /** Extra array entries every packed array carries, so vector loads near the end stay in bounds. */
    static final int PAD = 64;

    /** Decodes one row of a weight into dst[off .. off + cols) as float32. */
    @FunctionalInterface
    interface RowDecoder { void decode(int row, float[] dst, int off); }

    static float dot(float[] a, int ao, float[] b, int bo, int n) {
        FloatVector acc0 = FloatVector.zero(S), acc1 = acc0;
        int i = 0;
        for (; i + 2 * L <= n; i += 2 * L) {
            acc0 = FloatVector.fromArray(S, a, ao + i).fma(FloatVector.fromArray(S, b, bo + i), acc0);
            acc1 = FloatVector.fromArray(S, a, ao + i + L).fma(FloatVector.fromArray(S, b, bo + i + L), acc1);
        }
        for (; i + L <= n; i += L) acc0 = FloatVector.fromArray(S, a, ao + i).fma(FloatVector.fromArray(S, b, bo + i), acc0);
        float s = acc0.add(acc1).reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) s += a[ao + i] * b[bo + i];
        return s;
    }

    /**
     * Prefill for formats that are cheap to decode row by row: tiles of rows are decoded into a
     * small per-task scratch buffer (never the whole matrix), and each decoded row is multiplied
     * with all n tokens, 4 tokens per pass so every weight load feeds 4 FMAs.
     */
    static void matmulByRows(int rows, int cols, float[] x, int n, float[] y, RowDecoder dec) {
        int tile = Math.max(1, Math.min(32, (256 * 1024) / (4 * Math.max(1, cols))));
        Parallel.forRange(rows, tile, (r0, r1) -> {
            float[] buf = new float[Math.min(tile, r1 - r0) * cols];
            for (int rt = r0; rt < r1; rt += tile) {
                int nr = Math.min(tile, r1 - rt);
                for (int j = 0; j < nr; j++) dec.decode(rt + j, buf, j * cols);
                int t = 0;
                for (; t + 4 <= n; t += 4)
                    for (int j = 0; j < nr; j++) dot4(buf, j * cols, x, t * cols, cols, y, t * rows + rt + j, rows);
                for (; t < n; t++)
                    for (int j = 0; j < nr; j++) y[t * rows + rt + j] = dot(buf, j * cols, x, t * cols, cols);
            }
        });
    }

    /** y[yo + k*ys] = dot(w[wo..], x[xo + k*n ..]) for the 4 consecutive tokens k = 0..3. */
    static void dot4(float[] w, int wo, float[] x, int xo, int n, float[] y, int yo, int ys) {
        int x0 = xo, x1 = xo + n, x2 = x1 + n, x3 = x2 + n;
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
        int i = 0;
        for (; i + L <= n; i += L) {
            FloatVector wv = FloatVector.fromArray(S, w, wo + i);
            a0 = wv.fma(FloatVector.fromArray(S, x, x0 + i), a0);
            a1 = wv.fma(FloatVector.fromArray(S, x, x1 + i), a1);
            a2 = wv.fma(FloatVector.fromArray(S, x, x2 + i), a2);
            a3 = wv.fma(FloatVector.fromArray(S, x, x3 + i), a3);
        }
        float s0 = a0.reduceLanes(VectorOperators.ADD), s1 = a1.reduceLanes(VectorOperators.ADD);
        float s2 = a2.reduceLanes(VectorOperators.ADD), s3 = a3.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            float wi = w[wo + i];
            s0 += wi * x[x0 + i]; s1 += wi * x[x1 + i]; s2 += wi * x[x2 + i]; s3 += wi * x[x3 + i];
        }
        y[yo] = s0; y[yo + ys] = s1; y[yo + 2 * ys] = s2; y[yo + 3 * ys] = s3;
    }

    static void checkMatvec(Linear l, float[] x, float[] y) {
        if (x.length < l.cols() || y.length < l.rows())
            throw new IllegalArgumentException(l.format() + " " + l.rows() + "x" + l.cols() + ": x has " + x.length + ", y has " + y.length);
    }

    static void checkMatmul(Linear l, float[] x, int n, float[] y) {
        if (n < 0 || x.length < (long) n * l.cols() || y.length < (long) n * l.rows())
            throw new IllegalArgumentException(l.format() + " " + l.rows() + "x" + l.cols() + ", n=" + n + ": x has " + x.length + ", y has " + y.length);
    }
}
