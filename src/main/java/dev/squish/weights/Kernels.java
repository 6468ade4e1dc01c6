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

    static final VectorSpecies<Float> S = dev.squish.util.VectorWidth.FLOAT;
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

    /** sum of a[from .. to) (per-group sums of x for the zero-point term). */
    static float sum(float[] a, int from, int to) {
        FloatVector acc = FloatVector.zero(S);
        int i = from;
        for (; i + L <= to; i += L) acc = acc.add(FloatVector.fromArray(S, a, i));
        float s = acc.reduceLanes(VectorOperators.ADD);
        for (; i < to; i++) s += a[i];
        return s;
    }

    /** Rows per register tile of the prefill kernel: 4 vectors (64 rows with AVX-512). */
    static final int RT = 4 * L;
    /** Input columns per transposed chunk: RT x KC floats (64 KiB with AVX-512) stay in L2. */
    static final int KC = 256;

    /**
     * Prefill for formats that are cheap to decode row by row. Tiles of RT rows are decoded into a
     * per-task scratch buffer (never the whole matrix), transposed chunk by chunk to
     * [column][row], and multiplied with the tokens by an outer-product micro-kernel: 4 tokens x
     * 4 row vectors = 16 accumulators, so each step does 16 FMAs for 4 weight loads and 4
     * broadcasts, and results are stored as whole vectors with no horizontal reductions (the
     * dot-product form needed 5 loads per 4 FMAs plus 4 reductions per output quad).
     */
    static void matmulByRows(int rows, int cols, float[] x, int n, float[] y, RowDecoder dec) {
        int tiles = (rows + RT - 1) / RT;
        Parallel.forRange(tiles, 1, (t0, t1) -> {
            float[] buf = new float[RT * cols];
            float[] bt = new float[RT * Math.min(KC, cols)];
            for (int tile = t0; tile < t1; tile++) {
                int rt = tile * RT, nr = Math.min(RT, rows - rt);
                for (int j = 0; j < nr; j++) dec.decode(rt + j, buf, j * cols);
                if (nr < RT) { // last partial tile: dot products
                    int t = 0;
                    for (; t + 4 <= n; t += 4)
                        for (int j = 0; j < nr; j++) dot4(buf, j * cols, x, t * cols, cols, y, t * rows + rt + j, rows);
                    for (; t < n; t++)
                        for (int j = 0; j < nr; j++) y[t * rows + rt + j] = dot(buf, j * cols, x, t * cols, cols);
                    continue;
                }
                for (int k0 = 0; k0 < cols; k0 += KC) {
                    int kc = Math.min(KC, cols - k0);
                    for (int j = 0; j < RT; j++) {
                        int src = j * cols + k0;
                        for (int i = 0; i < kc; i++) bt[i * RT + j] = buf[src + i];
                    }
                    boolean first = k0 == 0;
                    int t = 0;
                    for (; t + 4 <= n; t += 4) tile4(bt, kc, x, t * cols + k0, cols, y, t * rows + rt, rows, first);
                    for (; t < n; t++) tile1(bt, kc, x, t * cols + k0, y, t * rows + rt, first);
                }
            }
        });
    }

    /** y[yo + k*ys + 0..RT) (+)= sum_i x[xo + k*xs + i] * bt[i*RT + 0..RT) for tokens k = 0..3. */
    private static void tile4(float[] bt, int kc, float[] x, int xo, int xs, float[] y, int yo, int ys, boolean first) {
        FloatVector a00, a01, a02, a03, a10, a11, a12, a13, a20, a21, a22, a23, a30, a31, a32, a33;
        if (first) {
            a00 = a01 = a02 = a03 = a10 = a11 = a12 = a13 = a20 = a21 = a22 = a23 = a30 = a31 = a32 = a33 = FloatVector.zero(S);
        } else {
            int y1 = yo + ys, y2 = y1 + ys, y3 = y2 + ys;
            a00 = FloatVector.fromArray(S, y, yo); a01 = FloatVector.fromArray(S, y, yo + L);
            a02 = FloatVector.fromArray(S, y, yo + 2 * L); a03 = FloatVector.fromArray(S, y, yo + 3 * L);
            a10 = FloatVector.fromArray(S, y, y1); a11 = FloatVector.fromArray(S, y, y1 + L);
            a12 = FloatVector.fromArray(S, y, y1 + 2 * L); a13 = FloatVector.fromArray(S, y, y1 + 3 * L);
            a20 = FloatVector.fromArray(S, y, y2); a21 = FloatVector.fromArray(S, y, y2 + L);
            a22 = FloatVector.fromArray(S, y, y2 + 2 * L); a23 = FloatVector.fromArray(S, y, y2 + 3 * L);
            a30 = FloatVector.fromArray(S, y, y3); a31 = FloatVector.fromArray(S, y, y3 + L);
            a32 = FloatVector.fromArray(S, y, y3 + 2 * L); a33 = FloatVector.fromArray(S, y, y3 + 3 * L);
        }
        int x0 = xo, x1 = xo + xs, x2 = x1 + xs, x3 = x2 + xs;
        for (int i = 0; i < kc; i++) {
            int b = i * RT;
            FloatVector w0 = FloatVector.fromArray(S, bt, b), w1 = FloatVector.fromArray(S, bt, b + L);
            FloatVector w2 = FloatVector.fromArray(S, bt, b + 2 * L), w3 = FloatVector.fromArray(S, bt, b + 3 * L);
            FloatVector v = FloatVector.broadcast(S, x[x0 + i]);
            a00 = w0.fma(v, a00); a01 = w1.fma(v, a01); a02 = w2.fma(v, a02); a03 = w3.fma(v, a03);
            v = FloatVector.broadcast(S, x[x1 + i]);
            a10 = w0.fma(v, a10); a11 = w1.fma(v, a11); a12 = w2.fma(v, a12); a13 = w3.fma(v, a13);
            v = FloatVector.broadcast(S, x[x2 + i]);
            a20 = w0.fma(v, a20); a21 = w1.fma(v, a21); a22 = w2.fma(v, a22); a23 = w3.fma(v, a23);
            v = FloatVector.broadcast(S, x[x3 + i]);
            a30 = w0.fma(v, a30); a31 = w1.fma(v, a31); a32 = w2.fma(v, a32); a33 = w3.fma(v, a33);
        }
        int y1 = yo + ys, y2 = y1 + ys, y3 = y2 + ys;
        a00.intoArray(y, yo); a01.intoArray(y, yo + L); a02.intoArray(y, yo + 2 * L); a03.intoArray(y, yo + 3 * L);
        a10.intoArray(y, y1); a11.intoArray(y, y1 + L); a12.intoArray(y, y1 + 2 * L); a13.intoArray(y, y1 + 3 * L);
        a20.intoArray(y, y2); a21.intoArray(y, y2 + L); a22.intoArray(y, y2 + 2 * L); a23.intoArray(y, y2 + 3 * L);
        a30.intoArray(y, y3); a31.intoArray(y, y3 + L); a32.intoArray(y, y3 + 2 * L); a33.intoArray(y, y3 + 3 * L);
    }

    /** One token of {@link #tile4}. */
    private static void tile1(float[] bt, int kc, float[] x, int xo, float[] y, int yo, boolean first) {
        FloatVector a0, a1, a2, a3;
        if (first) a0 = a1 = a2 = a3 = FloatVector.zero(S);
        else {
            a0 = FloatVector.fromArray(S, y, yo); a1 = FloatVector.fromArray(S, y, yo + L);
            a2 = FloatVector.fromArray(S, y, yo + 2 * L); a3 = FloatVector.fromArray(S, y, yo + 3 * L);
        }
        for (int i = 0; i < kc; i++) {
            int b = i * RT;
            FloatVector v = FloatVector.broadcast(S, x[xo + i]);
            a0 = FloatVector.fromArray(S, bt, b).fma(v, a0); a1 = FloatVector.fromArray(S, bt, b + L).fma(v, a1);
            a2 = FloatVector.fromArray(S, bt, b + 2 * L).fma(v, a2); a3 = FloatVector.fromArray(S, bt, b + 3 * L).fma(v, a3);
        }
        a0.intoArray(y, yo); a1.intoArray(y, yo + L); a2.intoArray(y, yo + 2 * L); a3.intoArray(y, yo + 3 * L);
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
