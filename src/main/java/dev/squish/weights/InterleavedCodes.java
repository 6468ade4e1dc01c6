package dev.squish.weights;

import dev.squish.util.Lanes;
import dev.squish.util.Parallel;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

import static dev.squish.weights.Kernels.L;
import static dev.squish.weights.Kernels.S;

/**
 * Decode kernel layout of {@link QuantizedLinear}'s codes (int4 or int8), built at load; the file
 * layout does not change.
 *
 * <p>Rows are taken 4 at a time (a "quad"; the last one padded with zero codes) and columns in
 * blocks of {@code B = P * L}, where {@code P = 32 / bits} codes fit in one int lane. For each
 * (quad, block) there are 4 int vectors of L lanes, one per row; code k of lane j (bits
 * {@code k*bits ..}) holds column {@code block*B + k*L + j}. So one int vector load serves P float
 * vectors of codes, each extracted with one AND of the code's bits left in place
 * ({@code q * 2^(k*bits)}, exact in float) and one int-to-float conversion; the last code is
 * shifted down instead (its AND would set the sign bit). The power of two is folded into a copy of
 * x scaled by {@code 2^-(k*bits)} once per call, so the inner loop is AND, convert, FMA, and each x
 * load serves the 4 rows of a quad. The previous layout (row-major bytes, a byte-to-int widening
 * shuffle per 16 codes and one x load per row) ran the int4 kernel at 16% of the memory bandwidth
 * bound on the 1B model; this one was measured 1.7-1.8x faster per matvec (int8 1.5-1.7x).
 *
 * <p>A block never straddles a group (the layout is used only when the group size is a multiple
 * of B), so one scale per (row, group) multiplies the block sums in vector registers. Columns after
 * the last whole block ({@code cols % B}, none in real models) are kept as plain bytes and summed
 * per element. The zero point uses {@code sum_i s (q_i - z) x_i = s sum_i q_i x_i - s z sum_i x_i}
 * with the per-group sums of x computed once per call.
 *
 * <p>The packed codes live off the Java heap ({@link OffHeap}):
 * they are most of a quantized model's bytes (800 MB for the 1B-shaped model at int8), and on the
 * heap they made {@code eval} of that model fail under {@code -Xmx512m}. Always native, never a heap
 * segment, so the kernels see one segment kind (mixing kinds makes C2 fall back to scalar code).
 */
final class InterleavedCodes {
    /** Rows per quad: 4 accumulators + 4 group totals + codes stay well inside 32 (16 with AVX2) registers. */
    static final int RI = 4;
    private static final VectorSpecies<Integer> IS = S.withLanes(int.class);
    private static final VectorSpecies<Float> S4 = FloatVector.SPECIES_128;

    final int rows, cols, bits, group, groups;
    private final int per, block, nb, full, tailCols, quads, mask;
    private final MemorySegment packed; // int32 [quad][block][RI][L], native order, off-heap
    private final byte[] tail;    // [rows][tailCols], unsigned codes
    private final float[] ks, kz; // [quad][group][RI]: scale and scale * zero (0 for padding rows)
    private final float[] xscale; // per code position k: 2^-(k*bits), 1 for the last (shifted) one

    /** Whether the layout serves this shape: vectors of 4..16 floats and groups made of whole blocks. */
    static boolean fits(int bits, int group) {
        return L >= 4 && L <= 16 && group % (32 / bits * L) == 0;
    }

    InterleavedCodes(int rows, int cols, int bits, int group, int groups) {
        this.rows = rows; this.cols = cols; this.bits = bits; this.group = group; this.groups = groups;
        this.per = 32 / bits;
        this.block = per * L;
        this.nb = cols / block;
        this.full = nb * block;
        this.tailCols = cols - full;
        this.quads = (rows + RI - 1) / RI;
        this.mask = (1 << bits) - 1;
        this.packed = OffHeap.allocate(Math.multiplyExact(Math.multiplyExact((long) quads * nb, RI * L), 4L));
        this.tail = new byte[rows * tailCols];
        this.ks = new float[quads * groups * RI];
        this.kz = new float[quads * groups * RI];
        this.xscale = new float[per];
        for (int k = 0; k < per; k++) xscale[k] = k == per - 1 ? 1f : Math.scalb(1f, -k * bits);
    }

    void setGroup(int r, int g, float scale, float zero) {
        int i = ((r / RI) * groups + g) * RI + r % RI;
        ks[i] = scale;
        kz[i] = scale * zero;
    }

    float scale(int r, int g) { return ks[((r / RI) * groups + g) * RI + r % RI]; }

    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT;
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();

    /** Byte offset of the int that holds code (r, c). */
    private long word(int r, int c) {
        int b = c / block, w = c % block;
        return ((((long) (r / RI) * nb + b) * RI + r % RI) * L + w % L) * 4;
    }

    /** The int vector of row {@code 4q + i}, block b. */
    private IntVector load(int q, int b, int i) {
        return IntVector.fromMemorySegment(IS, packed, ((((long) q * nb + b) * RI + i) * L) * 4, NATIVE);
    }

    private int shift(int c) { return (c % block) / L * bits; }

    int code(int r, int c) {
        if (c >= full) return tail[r * tailCols + c - full] & 0xff;
        return (packed.get(INT, word(r, c)) >>> shift(c)) & mask;
    }

    void set(int r, int c, int q) {
        if (c >= full) { tail[r * tailCols + c - full] = (byte) q; return; }
        long i = word(r, c);
        int s = shift(c);
        packed.set(INT, i, (packed.get(INT, i) & ~(mask << s)) | (q << s));
    }

    // ---- decode ----

    /**
     * Code extraction for the decode kernels: with 32 vector registers (AVX-512) each code is one AND
     * with its own in-place mask (the 2^(k*bits) folded into x); with 16 (AVX2) the per-position masks
     * do not stay in registers, and shifting the word down by {@code bits} after each code and
     * ANDing with one fixed mask is faster: one Zen 3 core, int4 256 x 2048 in L2, CPU time, median
     * of 16 interleaved runs: 7.0 G weights/s in-place masks, 9.4 shifted (8.3 with the masks
     * hoisted into an array of vectors). The same products (the powers of two are exact) summed in the
     * same order, so the same results.
     */
    static final boolean SHIFT_CODES = !Kernels.REGS32;

    void matvec(float[] x, float[] y) {
        float[] xs = new float[full];
        if (SHIFT_CODES) System.arraycopy(x, 0, xs, 0, full);
        else for (int c = 0; c < full; c++) xs[c] = x[c] * xscale[(c % block) / L];
        float[] sums = new float[groups];
        for (int g = 0; g < groups; g++) sums[g] = Kernels.sum(x, g * group, Math.min(cols, (g + 1) * group));
        Parallel.forRange(quads, Math.max(1, Parallel.rowGrain(cols) / RI), (q0, q1) -> {
            float[] out = new float[RI];
            for (int q = q0; q < q1; q++) {
                if (SHIFT_CODES) { if (bits == 4) quad4s(q, xs, out); else quad8s(q, xs, out); }
                else if (bits == 4) quad4(q, xs, out); else quad8(q, xs, out);
                FloatVector z = FloatVector.zero(S4);
                for (int g = 0; g < groups; g++)
                    z = FloatVector.fromArray(S4, kz, (q * groups + g) * RI).fma(FloatVector.broadcast(S4, sums[g]), z);
                for (int i = 0; i < RI; i++) {
                    int r = q * RI + i;
                    if (r < rows) y[r] = out[i] + tailDot(r, x) - z.lane(i);
                }
            }
        });
    }

    /** sum over the tail columns of scale * q * x (per element; only odd shapes have a tail). */
    private float tailDot(int r, float[] x) {
        float s = 0;
        for (int c = full; c < cols; c++) s += scale(r, c / group) * (tail[r * tailCols + c - full] & 0xff) * x[c];
        return s;
    }

    /** int4, P = 8: out[i] = sum over the whole blocks of row 4q+i of scale * q * x. */
    private void quad4(int q, float[] xs, float[] out) {
        FloatVector t0 = FloatVector.zero(S), t1 = t0, t2 = t0, t3 = t0;
        int bpg = group / block;
        for (int b = 0, g = 0; b < nb; g++) {
            FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
            for (int end = Math.min(nb, b + bpg); b < end; b++) {
                int c = b * block;
                IntVector w0 = load(q, b, 0), w1 = load(q, b, 1), w2 = load(q, b, 2), w3 = load(q, b, 3);
                for (int k = 0; k < 7; k++) {
                    int m = 0xf << (4 * k);
                    FloatVector xv = FloatVector.fromArray(S, xs, c + k * L);
                    a0 = ((FloatVector) w0.and(m).convert(VectorOperators.I2F, 0)).fma(xv, a0);
                    a1 = ((FloatVector) w1.and(m).convert(VectorOperators.I2F, 0)).fma(xv, a1);
                    a2 = ((FloatVector) w2.and(m).convert(VectorOperators.I2F, 0)).fma(xv, a2);
                    a3 = ((FloatVector) w3.and(m).convert(VectorOperators.I2F, 0)).fma(xv, a3);
                }
                FloatVector xv = FloatVector.fromArray(S, xs, c + 7 * L);
                a0 = ((FloatVector) w0.lanewise(VectorOperators.LSHR, 28).convert(VectorOperators.I2F, 0)).fma(xv, a0);
                a1 = ((FloatVector) w1.lanewise(VectorOperators.LSHR, 28).convert(VectorOperators.I2F, 0)).fma(xv, a1);
                a2 = ((FloatVector) w2.lanewise(VectorOperators.LSHR, 28).convert(VectorOperators.I2F, 0)).fma(xv, a2);
                a3 = ((FloatVector) w3.lanewise(VectorOperators.LSHR, 28).convert(VectorOperators.I2F, 0)).fma(xv, a3);
            }
            int so = (q * groups + g) * RI;
            t0 = a0.fma(FloatVector.broadcast(S, ks[so]), t0);
            t1 = a1.fma(FloatVector.broadcast(S, ks[so + 1]), t1);
            t2 = a2.fma(FloatVector.broadcast(S, ks[so + 2]), t2);
            t3 = a3.fma(FloatVector.broadcast(S, ks[so + 3]), t3);
        }
        out[0] = Lanes.sum(t0); out[1] = Lanes.sum(t1);
        out[2] = Lanes.sum(t2); out[3] = Lanes.sum(t3);
    }

    /** int8, P = 4: as {@link #quad4}. */
    private void quad8(int q, float[] xs, float[] out) {
        FloatVector t0 = FloatVector.zero(S), t1 = t0, t2 = t0, t3 = t0;
        int bpg = group / block;
        for (int b = 0, g = 0; b < nb; g++) {
            FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
            for (int end = Math.min(nb, b + bpg); b < end; b++) {
                int c = b * block;
                IntVector w0 = load(q, b, 0), w1 = load(q, b, 1), w2 = load(q, b, 2), w3 = load(q, b, 3);
                for (int k = 0; k < 3; k++) {
                    int m = 0xff << (8 * k);
                    FloatVector xv = FloatVector.fromArray(S, xs, c + k * L);
                    a0 = ((FloatVector) w0.and(m).convert(VectorOperators.I2F, 0)).fma(xv, a0);
                    a1 = ((FloatVector) w1.and(m).convert(VectorOperators.I2F, 0)).fma(xv, a1);
                    a2 = ((FloatVector) w2.and(m).convert(VectorOperators.I2F, 0)).fma(xv, a2);
                    a3 = ((FloatVector) w3.and(m).convert(VectorOperators.I2F, 0)).fma(xv, a3);
                }
                FloatVector xv = FloatVector.fromArray(S, xs, c + 3 * L);
                a0 = ((FloatVector) w0.lanewise(VectorOperators.LSHR, 24).convert(VectorOperators.I2F, 0)).fma(xv, a0);
                a1 = ((FloatVector) w1.lanewise(VectorOperators.LSHR, 24).convert(VectorOperators.I2F, 0)).fma(xv, a1);
                a2 = ((FloatVector) w2.lanewise(VectorOperators.LSHR, 24).convert(VectorOperators.I2F, 0)).fma(xv, a2);
                a3 = ((FloatVector) w3.lanewise(VectorOperators.LSHR, 24).convert(VectorOperators.I2F, 0)).fma(xv, a3);
            }
            int so = (q * groups + g) * RI;
            t0 = a0.fma(FloatVector.broadcast(S, ks[so]), t0);
            t1 = a1.fma(FloatVector.broadcast(S, ks[so + 1]), t1);
            t2 = a2.fma(FloatVector.broadcast(S, ks[so + 2]), t2);
            t3 = a3.fma(FloatVector.broadcast(S, ks[so + 3]), t3);
        }
        out[0] = Lanes.sum(t0); out[1] = Lanes.sum(t1);
        out[2] = Lanes.sum(t2); out[3] = Lanes.sum(t3);
    }

    /** {@link #quad4} with the codes shifted down after each use ({@link #SHIFT_CODES}). */
    private void quad4s(int q, float[] xs, float[] out) {
        FloatVector t0 = FloatVector.zero(S), t1 = t0, t2 = t0, t3 = t0;
        int bpg = group / block;
        IntVector m = IntVector.broadcast(IS, mask);
        for (int b = 0, g = 0; b < nb; g++) {
            FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
            for (int end = Math.min(nb, b + bpg); b < end; b++) {
                int c = b * block;
                IntVector w0 = load(q, b, 0), w1 = load(q, b, 1), w2 = load(q, b, 2), w3 = load(q, b, 3);
                for (int k = 0; k < 7; k++) {
                    FloatVector xv = FloatVector.fromArray(S, xs, c + k * L);
                    a0 = ((FloatVector) w0.and(m).convert(VectorOperators.I2F, 0)).fma(xv, a0);
                    a1 = ((FloatVector) w1.and(m).convert(VectorOperators.I2F, 0)).fma(xv, a1);
                    a2 = ((FloatVector) w2.and(m).convert(VectorOperators.I2F, 0)).fma(xv, a2);
                    a3 = ((FloatVector) w3.and(m).convert(VectorOperators.I2F, 0)).fma(xv, a3);
                    w0 = w0.lanewise(VectorOperators.LSHR, 4); w1 = w1.lanewise(VectorOperators.LSHR, 4);
                    w2 = w2.lanewise(VectorOperators.LSHR, 4); w3 = w3.lanewise(VectorOperators.LSHR, 4);
                }
                FloatVector xv = FloatVector.fromArray(S, xs, c + 7 * L);
                a0 = ((FloatVector) w0.convert(VectorOperators.I2F, 0)).fma(xv, a0);
                a1 = ((FloatVector) w1.convert(VectorOperators.I2F, 0)).fma(xv, a1);
                a2 = ((FloatVector) w2.convert(VectorOperators.I2F, 0)).fma(xv, a2);
                a3 = ((FloatVector) w3.convert(VectorOperators.I2F, 0)).fma(xv, a3);
            }
            int so = (q * groups + g) * RI;
            t0 = a0.fma(FloatVector.broadcast(S, ks[so]), t0);
            t1 = a1.fma(FloatVector.broadcast(S, ks[so + 1]), t1);
            t2 = a2.fma(FloatVector.broadcast(S, ks[so + 2]), t2);
            t3 = a3.fma(FloatVector.broadcast(S, ks[so + 3]), t3);
        }
        out[0] = Lanes.sum(t0); out[1] = Lanes.sum(t1);
        out[2] = Lanes.sum(t2); out[3] = Lanes.sum(t3);
    }

    /** {@link #quad8} with the codes shifted down after each use ({@link #SHIFT_CODES}). */
    private void quad8s(int q, float[] xs, float[] out) {
        FloatVector t0 = FloatVector.zero(S), t1 = t0, t2 = t0, t3 = t0;
        int bpg = group / block;
        IntVector m = IntVector.broadcast(IS, mask);
        for (int b = 0, g = 0; b < nb; g++) {
            FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
            for (int end = Math.min(nb, b + bpg); b < end; b++) {
                int c = b * block;
                IntVector w0 = load(q, b, 0), w1 = load(q, b, 1), w2 = load(q, b, 2), w3 = load(q, b, 3);
                for (int k = 0; k < 3; k++) {
                    FloatVector xv = FloatVector.fromArray(S, xs, c + k * L);
                    a0 = ((FloatVector) w0.and(m).convert(VectorOperators.I2F, 0)).fma(xv, a0);
                    a1 = ((FloatVector) w1.and(m).convert(VectorOperators.I2F, 0)).fma(xv, a1);
                    a2 = ((FloatVector) w2.and(m).convert(VectorOperators.I2F, 0)).fma(xv, a2);
                    a3 = ((FloatVector) w3.and(m).convert(VectorOperators.I2F, 0)).fma(xv, a3);
                    w0 = w0.lanewise(VectorOperators.LSHR, 8); w1 = w1.lanewise(VectorOperators.LSHR, 8);
                    w2 = w2.lanewise(VectorOperators.LSHR, 8); w3 = w3.lanewise(VectorOperators.LSHR, 8);
                }
                FloatVector xv = FloatVector.fromArray(S, xs, c + 3 * L);
                a0 = ((FloatVector) w0.convert(VectorOperators.I2F, 0)).fma(xv, a0);
                a1 = ((FloatVector) w1.convert(VectorOperators.I2F, 0)).fma(xv, a1);
                a2 = ((FloatVector) w2.convert(VectorOperators.I2F, 0)).fma(xv, a2);
                a3 = ((FloatVector) w3.convert(VectorOperators.I2F, 0)).fma(xv, a3);
            }
            int so = (q * groups + g) * RI;
            t0 = a0.fma(FloatVector.broadcast(S, ks[so]), t0);
            t1 = a1.fma(FloatVector.broadcast(S, ks[so + 1]), t1);
            t2 = a2.fma(FloatVector.broadcast(S, ks[so + 2]), t2);
            t3 = a3.fma(FloatVector.broadcast(S, ks[so + 3]), t3);
        }
        out[0] = Lanes.sum(t0); out[1] = Lanes.sum(t1);
        out[2] = Lanes.sum(t2); out[3] = Lanes.sum(t3);
    }

    /** Dequantizes row r into dst[off ..] as (q - zero) * scale (prefill tiles). */
    void decodeRow(int r, float[] dst, int off, float[] zeros) {
        int qd = r / RI, ri = r % RI;
        for (int b = 0; b < nb; b++) {
            int g = b * block / group, c = b * block;
            float s = ks[(qd * groups + g) * RI + ri], z = zeros[r * groups + g];
            FloatVector sv = FloatVector.broadcast(S, s), zv = FloatVector.broadcast(S, z);
            IntVector w = load(qd, b, ri);
            for (int k = 0; k < per; k++) {
                IntVector v = k == per - 1 ? w.lanewise(VectorOperators.LSHR, k * bits) : w.and(mask << (k * bits));
                ((FloatVector) v.convert(VectorOperators.I2F, 0)).mul(xscale[k]).sub(zv).mul(sv).intoArray(dst, off + c + k * L);
            }
        }
        for (int c = full; c < cols; c++) {
            int g = c / group;
            dst[off + c] = QuantGrid.dequantize(tail[r * tailCols + c - full] & 0xff, scale(r, g), zeros[r * groups + g]);
        }
    }
}
