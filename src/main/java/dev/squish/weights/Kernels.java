package dev.squish.weights;

import dev.squish.util.Lanes;
import dev.squish.util.Parallel;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
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
        float s = Lanes.sum(acc0.add(acc1));
        for (; i < n; i++) s += a[ao + i] * b[bo + i];
        return s;
    }

    /** sum of a[from .. to) (per-group sums of x for the zero-point term). */
    static float sum(float[] a, int from, int to) {
        FloatVector acc = FloatVector.zero(S);
        int i = from;
        for (; i + L <= to; i += L) acc = acc.add(FloatVector.fromArray(S, a, i));
        float s = Lanes.sum(acc);
        for (; i < to; i++) s += a[i];
        return s;
    }

    /**
     * Micro-kernel shape, 4 rows x NV token vectors of accumulators, by the register file: with 32
     * vector registers (AVX-512) 4 x 4 = 16 accumulators + 4 token loads + 1 broadcast fit; with 16
     * (AVX2) that shape spills, and 4 x 3 = 12 + 3 + 1 is used. One core of a Zen 3 (AVX2), micro-kernel
     * alone on data in L1, CPU time: 4 x 4 32-34 GFLOP/s, 6 x 2 37 (six broadcasts per 12 FMAs),
     * 4 x 3 42-47. Chosen by the CPU's widest vector, not by {@code squish.vectorBits}: a narrower
     * species on an AVX-512 CPU still has 32 registers. {@code -Dsquish.microKernel=4x4|4x3} forces
     * one (tests run both; benchmarks compare them).
     */
    static final boolean REGS32 = switch (System.getProperty("squish.microKernel", "")) {
        case "4x4" -> true;
        case "4x3" -> false;
        default -> jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.vectorBitSize() >= 512;
    };
    /** Rows decoded per prefill tile: 16 rows of 5632 floats (360 KiB) stay in L2 while every token passes over them. */
    static final int RT = 16;

    /**
     * Whether {@link #expand} uses a permutation table: on AVX-512 {@code FloatVector.expand} is one
     * vexpandps; AVX2 has no such instruction, and there a table of lane permutations (vpermps) and
     * keep-masks (vpand), 2^L entries of L ints, was faster: one Zen 3 core, 50%-random masks, 512 x
     * 5632, CPU time, 2.4-4.2 G positions/s against 1.8-3.1 for expand (and 0.4 with shuffles and
     * masks loaded by VectorShuffle/VectorMask.fromArray). Up to 8 lanes (a 2048-int table).
     */
    static final boolean TABLE_EXPAND = !REGS32 && L <= 8;
    private static final VectorSpecies<Integer> IS = S.withLanes(int.class);
    private static final int[] EXPAND_PERM = TABLE_EXPAND ? new int[L << L] : null, EXPAND_KEEP = TABLE_EXPAND ? new int[L << L] : null;
    static {
        if (TABLE_EXPAND)
            for (int b = 0; b < 1 << L; b++)
                for (int j = 0, k = 0; j < L; j++)
                    if ((b >>> j & 1) != 0) { EXPAND_PERM[b * L + j] = k++; EXPAND_KEEP[b * L + j] = -1; }
    }

    /**
     * {@code v.expand(mask of bits)}: lane j of the result is the next unused lane of v (in order)
     * where bit j of {@code bits} is set, else 0. {@code bits < 2^L}.
     */
    static FloatVector expand(FloatVector v, long bits) {
        if (!TABLE_EXPAND) return v.expand(VectorMask.fromLong(S, bits));
        int o = (int) bits * L;
        return v.rearrange(IntVector.fromArray(IS, EXPAND_PERM, o).toShuffle().cast(S))
                .reinterpretAsInts().and(IntVector.fromArray(IS, EXPAND_KEEP, o)).reinterpretAsFloats();
    }
    /** Input columns per pass: a KC x 4L block of transposed tokens (32 KiB with AVX-512) stays in L1 across the tile's rows. */
    static final int KC = 128;

    /**
     * Prefill for every format that can decode a row to floats. The tokens are transposed once per
     * call to [column][token] (n x cols moves, 16x fewer than the rows x cols of a weight transpose
     * at n = 128 and 2048 rows), then tiles of RT rows are decoded row-major into a per-task
     * buffer (never the whole matrix) and multiplied with every token by an outer-product
     * micro-kernel whose lanes are tokens: 4 rows x 4 token vectors = 16 accumulators, so each step
     * does 16 FMAs for 4 token-vector loads and 4 weight broadcasts, and no horizontal reductions.
     * The previous form transposed every weight tile to [column][row] with a scalar loop and
     * broadcast the tokens; one thread, CPU time, int8-g128 2048 x 5632: n = 8 took 11.6 ms per
     * matmul before, 6.9 ms now; at n = 128 both took 27-31 ms (about 105 GFLOP/s against
     * 185-190 for this micro-kernel alone on data in L1 and a measured peak of about 190 for
     * 512-bit FMAs per core, so the larger prompts wait on the caches, not on the FMAs).
     * Tokens are padded to whole vectors and rows to whole tiles with zeros; only real ones are
     * written to y.
     */
    static void matmulByRows(int rows, int cols, float[] x, int n, float[] y, RowDecoder dec) {
        matmulByRows(rows, cols, x, n, y, dec, REGS32);
    }

    /** With the micro-kernel shape given: 4 x 4 when {@code wide}, else 4 x 3 (tests run both on any CPU). */
    static void matmulByRows(int rows, int cols, float[] x, int n, float[] y, RowDecoder dec, boolean wide) {
        if (rows == 0 || n == 0) return;
        int np = (n + L - 1) / L * L;
        // panels of PW = NV * L tokens (NV = 4 or 3) (the last one narrower), each [column][token]: a KC x PW block
        // is contiguous (a [column][all tokens] layout strides 512 bytes per column at n = 128 and
        // conflicts in the L1 sets: measured 20% slower than the old kernel)
        final int PW = (wide ? 4 : 3) * L;
        float[] xt = new float[Math.multiplyExact(cols, np)];
        Parallel.forRange(cols, Math.max(16, (1 << 14) / np), (c0, c1) -> {
            for (int t = 0; t < n; t++) {
                int tb = t / PW * PW, pw = Math.min(PW, np - tb), po = tb * cols + t - tb, xo = t * cols;
                for (int c = c0; c < c1; c++) xt[po + c * pw] = x[xo + c];
            }
        });
        int tiles = (rows + RT - 1) / RT;
        Parallel.forRange(tiles, 1, (t0, t1) -> {
            float[] buf = new float[RT * cols];
            float[] acc = new float[RT * np];
            for (int tile = t0; tile < t1; tile++) {
                int rt = tile * RT, nr = Math.min(RT, rows - rt);
                for (int j = 0; j < nr; j++) dec.decode(rt + j, buf, j * cols);
                if (nr < RT) java.util.Arrays.fill(buf, nr * cols, RT * cols, 0f);
                java.util.Arrays.fill(acc, 0f);
                for (int k0 = 0; k0 < cols; k0 += KC) {
                    int kc = Math.min(KC, cols - k0);
                    int tb = 0;
                    for (; tb + PW <= np; tb += PW)
                        for (int j = 0; j < RT; j += 4)
                            if (wide) micro44(buf, j * cols + k0, cols, xt, tb * cols + k0 * PW, PW, acc, j * np + tb, np, kc);
                            else micro43(buf, j * cols + k0, cols, xt, tb * cols + k0 * PW, PW, acc, j * np + tb, np, kc);
                    for (int pw = np - tb, v = 0; v < pw; v += L)
                        for (int j = 0; j < RT; j += 4)
                            micro41(buf, j * cols + k0, cols, xt, tb * cols + k0 * pw + v, pw, acc, j * np + tb + v, np, kc);
                }
                for (int j = 0; j < nr; j++) {
                    int ao = j * np, r = rt + j;
                    for (int t = 0; t < n; t++) y[t * rows + r] = acc[ao + t];
                }
            }
        });
    }

    /**
     * acc[ao + j*np + v*L + 0..L) += sum_i w[wo + j*ws + i] * xt[xo + i*xs + v*L + 0..L) for rows
     * j = 0..3 and token vectors v = 0..3.
     */
    private static void micro44(float[] w, int wo, int ws, float[] xt, int xo, int xs, float[] acc, int ao, int np, int kc) {
        int o1 = ao + np, o2 = o1 + np, o3 = o2 + np;
        FloatVector a00 = FloatVector.fromArray(S, acc, ao), a01 = FloatVector.fromArray(S, acc, ao + L);
        FloatVector a02 = FloatVector.fromArray(S, acc, ao + 2 * L), a03 = FloatVector.fromArray(S, acc, ao + 3 * L);
        FloatVector a10 = FloatVector.fromArray(S, acc, o1), a11 = FloatVector.fromArray(S, acc, o1 + L);
        FloatVector a12 = FloatVector.fromArray(S, acc, o1 + 2 * L), a13 = FloatVector.fromArray(S, acc, o1 + 3 * L);
        FloatVector a20 = FloatVector.fromArray(S, acc, o2), a21 = FloatVector.fromArray(S, acc, o2 + L);
        FloatVector a22 = FloatVector.fromArray(S, acc, o2 + 2 * L), a23 = FloatVector.fromArray(S, acc, o2 + 3 * L);
        FloatVector a30 = FloatVector.fromArray(S, acc, o3), a31 = FloatVector.fromArray(S, acc, o3 + L);
        FloatVector a32 = FloatVector.fromArray(S, acc, o3 + 2 * L), a33 = FloatVector.fromArray(S, acc, o3 + 3 * L);
        int w0 = wo, w1 = wo + ws, w2 = w1 + ws, w3 = w2 + ws;
        for (int i = 0; i < kc; i++) {
            int xi = xo + i * xs;
            FloatVector x0 = FloatVector.fromArray(S, xt, xi), x1 = FloatVector.fromArray(S, xt, xi + L);
            FloatVector x2 = FloatVector.fromArray(S, xt, xi + 2 * L), x3 = FloatVector.fromArray(S, xt, xi + 3 * L);
            FloatVector v = FloatVector.broadcast(S, w[w0 + i]);
            a00 = x0.fma(v, a00); a01 = x1.fma(v, a01); a02 = x2.fma(v, a02); a03 = x3.fma(v, a03);
            v = FloatVector.broadcast(S, w[w1 + i]);
            a10 = x0.fma(v, a10); a11 = x1.fma(v, a11); a12 = x2.fma(v, a12); a13 = x3.fma(v, a13);
            v = FloatVector.broadcast(S, w[w2 + i]);
            a20 = x0.fma(v, a20); a21 = x1.fma(v, a21); a22 = x2.fma(v, a22); a23 = x3.fma(v, a23);
            v = FloatVector.broadcast(S, w[w3 + i]);
            a30 = x0.fma(v, a30); a31 = x1.fma(v, a31); a32 = x2.fma(v, a32); a33 = x3.fma(v, a33);
        }
        a00.intoArray(acc, ao); a01.intoArray(acc, ao + L); a02.intoArray(acc, ao + 2 * L); a03.intoArray(acc, ao + 3 * L);
        a10.intoArray(acc, o1); a11.intoArray(acc, o1 + L); a12.intoArray(acc, o1 + 2 * L); a13.intoArray(acc, o1 + 3 * L);
        a20.intoArray(acc, o2); a21.intoArray(acc, o2 + L); a22.intoArray(acc, o2 + 2 * L); a23.intoArray(acc, o2 + 3 * L);
        a30.intoArray(acc, o3); a31.intoArray(acc, o3 + L); a32.intoArray(acc, o3 + 2 * L); a33.intoArray(acc, o3 + 3 * L);
    }

    /** {@link #micro44} for 16 vector registers: rows j = 0..3, token vectors v = 0..2. */
    private static void micro43(float[] w, int wo, int ws, float[] xt, int xo, int xs, float[] acc, int ao, int np, int kc) {
        int o1 = ao + np, o2 = o1 + np, o3 = o2 + np;
        FloatVector a00 = FloatVector.fromArray(S, acc, ao), a01 = FloatVector.fromArray(S, acc, ao + L), a02 = FloatVector.fromArray(S, acc, ao + 2 * L);
        FloatVector a10 = FloatVector.fromArray(S, acc, o1), a11 = FloatVector.fromArray(S, acc, o1 + L), a12 = FloatVector.fromArray(S, acc, o1 + 2 * L);
        FloatVector a20 = FloatVector.fromArray(S, acc, o2), a21 = FloatVector.fromArray(S, acc, o2 + L), a22 = FloatVector.fromArray(S, acc, o2 + 2 * L);
        FloatVector a30 = FloatVector.fromArray(S, acc, o3), a31 = FloatVector.fromArray(S, acc, o3 + L), a32 = FloatVector.fromArray(S, acc, o3 + 2 * L);
        int w0 = wo, w1 = wo + ws, w2 = w1 + ws, w3 = w2 + ws;
        for (int i = 0; i < kc; i++) {
            int xi = xo + i * xs;
            FloatVector x0 = FloatVector.fromArray(S, xt, xi), x1 = FloatVector.fromArray(S, xt, xi + L), x2 = FloatVector.fromArray(S, xt, xi + 2 * L);
            FloatVector v = FloatVector.broadcast(S, w[w0 + i]);
            a00 = x0.fma(v, a00); a01 = x1.fma(v, a01); a02 = x2.fma(v, a02);
            v = FloatVector.broadcast(S, w[w1 + i]);
            a10 = x0.fma(v, a10); a11 = x1.fma(v, a11); a12 = x2.fma(v, a12);
            v = FloatVector.broadcast(S, w[w2 + i]);
            a20 = x0.fma(v, a20); a21 = x1.fma(v, a21); a22 = x2.fma(v, a22);
            v = FloatVector.broadcast(S, w[w3 + i]);
            a30 = x0.fma(v, a30); a31 = x1.fma(v, a31); a32 = x2.fma(v, a32);
        }
        a00.intoArray(acc, ao); a01.intoArray(acc, ao + L); a02.intoArray(acc, ao + 2 * L);
        a10.intoArray(acc, o1); a11.intoArray(acc, o1 + L); a12.intoArray(acc, o1 + 2 * L);
        a20.intoArray(acc, o2); a21.intoArray(acc, o2 + L); a22.intoArray(acc, o2 + 2 * L);
        a30.intoArray(acc, o3); a31.intoArray(acc, o3 + L); a32.intoArray(acc, o3 + 2 * L);
    }

    /** One token vector of {@link #micro44} (the last 1-3 vectors of tokens). */
    private static void micro41(float[] w, int wo, int ws, float[] xt, int xo, int xs, float[] acc, int ao, int np, int kc) {
        int o1 = ao + np, o2 = o1 + np, o3 = o2 + np;
        FloatVector a0 = FloatVector.fromArray(S, acc, ao), a1 = FloatVector.fromArray(S, acc, o1);
        FloatVector a2 = FloatVector.fromArray(S, acc, o2), a3 = FloatVector.fromArray(S, acc, o3);
        int w0 = wo, w1 = wo + ws, w2 = w1 + ws, w3 = w2 + ws;
        for (int i = 0; i < kc; i++) {
            FloatVector xv = FloatVector.fromArray(S, xt, xo + i * xs);
            a0 = xv.fma(FloatVector.broadcast(S, w[w0 + i]), a0);
            a1 = xv.fma(FloatVector.broadcast(S, w[w1 + i]), a1);
            a2 = xv.fma(FloatVector.broadcast(S, w[w2 + i]), a2);
            a3 = xv.fma(FloatVector.broadcast(S, w[w3 + i]), a3);
        }
        a0.intoArray(acc, ao); a1.intoArray(acc, o1); a2.intoArray(acc, o2); a3.intoArray(acc, o3);
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
