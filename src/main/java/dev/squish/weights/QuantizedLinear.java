package dev.squish.weights;

import dev.squish.util.Lanes;
import dev.squish.SquishException;
import dev.squish.formats.DType;
import dev.squish.formats.SafeTensors;
import dev.squish.formats.SafeTensorsWriter;
import dev.squish.util.Parallel;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorSpecies;
import jdk.incubator.vector.VectorOperators;

import static dev.squish.weights.Kernels.BS;
import static dev.squish.weights.Kernels.L;
import static dev.squish.weights.Kernels.S;

/**
 * Group-quantized weight: int8 or int4 codes {@code q in [0, 2^bits - 1]}, one float scale and
 * zero per (row, group of G consecutive input columns), {@code w = scale * (q - zero)} exactly as
 * {@link QuantGrid}. Per-channel quantization is G = cols.
 *
 * <p>Kernel: codes are widened to float lanes in registers and never dequantized into memory. It
 * uses {@code sum_i s (q_i - z) x_i = s (sum_i q_i x_i - z sum_i x_i)}: the per-group sums of x are
 * computed once per call, so the inner loop is only convert + FMA. int8 codes are held in memory
 * as {@code q - 128} (signed bytes widen with one instruction; the -128 is folded into the zero).
 * int4 codes are held in 32-column blocks: byte j of a block holds column j (low nibble) and
 * column j + 16 (high nibble), so one 16-byte load widened once to int lanes yields two float
 * vectors with two ANDs (the high nibble is left in place, i.e. 16 q, and the group's sum is scaled
 * by 1/16); columns after the last whole block are packed two per byte in order.
 *
 * <p>File layout (independent of the kernel layout): {@code PREFIX.qweight} U8 [rows, ceil(cols *
 * bits / 8)] codes in column order (int4: even column in the low nibble), {@code PREFIX.scales}
 * F32 [rows, groups], {@code PREFIX.zeros} U8 [rows, groups] when every zero is an integer in
 * [0, 255] (always the case for {@link QuantGrid}), else F32, {@code PREFIX.shape} I32 [rows, cols].
 * Format name {@code int4-g128}, {@code int8-g64}, ... or {@code int8-pc} (per channel).
 */
public final class QuantizedLinear implements Linear {
    private static final boolean VEC4 = L <= 16 && 16 % L == 0;
    private static final VectorSpecies<Integer> IS = S.withLanes(int.class);

    private final int rows, cols, bits, group, groups, rowBytes, full32;
    private final byte[] codes;          // row-major kernel layout, padded by Kernels.PAD; null when il is used
    private final InterleavedCodes il;   // the faster 4-row interleaved layout, where the group size allows it
    private final float[] scales, zeros; // [rows * groups]
    private final boolean zerosU8;

    private QuantizedLinear(int rows, int cols, int bits, int group, float[] scales, float[] zeros) {
        this.rows = rows; this.cols = cols; this.bits = bits; this.group = group;
        this.groups = QuantGrid.groups(cols, group);
        this.rowBytes = bits == 8 ? cols : (cols + 1) / 2;
        this.full32 = cols & ~31;
        this.il = interleave && InterleavedCodes.fits(bits, group) ? new InterleavedCodes(rows, cols, bits, group, groups) : null;
        this.codes = il == null ? new byte[rows * rowBytes + Kernels.PAD] : null;
        this.scales = scales; this.zeros = zeros;
        this.zerosU8 = FormatIO.zerosFitU8(zeros);
        if (il != null) for (int r = 0; r < rows; r++) for (int g = 0; g < groups; g++) il.setGroup(r, g, scales[r * groups + g], zeros[r * groups + g]);
    }

    /**
     * Whether new instances use {@link InterleavedCodes} where it fits. Package-private so that
     * tests cover the row-major layout on shapes the interleaved one would take, and KernelBench
     * times both in one run.
     */
    static boolean interleave = true;

    /** Whether this instance uses the interleaved layout (for tests). */
    boolean interleaved() { return il != null; }

    private static void checkShape(int rows, int cols, int bits, int group) {
        if (bits != 4 && bits != 8) throw new IllegalArgumentException("bits must be 4 or 8, got " + bits);
        if (rows < 0 || cols < 0) throw new IllegalArgumentException("bad shape " + rows + "x" + cols);
        if (group < 1) throw new IllegalArgumentException("group size must be >= 1, got " + group);
    }

    /**
     * From unpacked codes (row-major [rows x cols], each in [0, 2^bits - 1]) and per-(row, group)
     * scales and zeros ([rows x ceil(cols / groupSize)]). Arrays are copied.
     */
    public static QuantizedLinear fromCodes(int rows, int cols, int bits, int groupSize, int[] codes, float[] scales, float[] zeros) {
        checkShape(rows, cols, bits, groupSize);
        int g = QuantGrid.groupSize(groupSize, cols), groups = QuantGrid.groups(cols, g);
        if (codes.length != (long) rows * cols) throw new IllegalArgumentException("expected " + rows * cols + " codes, got " + codes.length);
        if (scales.length != rows * groups || zeros.length != rows * groups)
            throw new IllegalArgumentException("expected " + rows * groups + " scales and zeros, got " + scales.length + " and " + zeros.length);
        QuantizedLinear q = new QuantizedLinear(rows, cols, bits, g, scales.clone(), zeros.clone());
        int maxq = QuantGrid.maxq(bits);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                int v = codes[r * cols + c];
                if (v < 0 || v > maxq) throw new IllegalArgumentException("code " + v + " at (" + r + ", " + c + ") outside [0, " + maxq + "]");
                q.set(r, c, v);
            }
        return q;
    }

    /** Round-to-nearest quantization of a dense row-major matrix with {@link QuantGrid}. */
    public static QuantizedLinear quantizeRtn(float[] w, int rows, int cols, int bits, int groupSize, boolean sym) {
        FormatIO.checkDense(w, rows, cols);
        checkShape(rows, cols, bits, groupSize);
        if (cols == 0) return fromCodes(rows, cols, bits, 1, new int[0], new float[0], new float[0]);
        QuantResult q = QuantResult.roundToNearest(w, rows, cols, bits, Math.min(groupSize, cols), sym);
        return fromCodes(rows, cols, bits, q.groupSize(), q.intCodes(), q.scales(), q.zeros());
    }

    // ---- code access (kernel layout) ----

    private int byteIndex(int r, int c) {
        if (bits == 8) return r * rowBytes + c;
        if (c < full32) return r * rowBytes + (c >> 5) * 16 + (c & 15);
        return r * rowBytes + full32 / 2 + ((c - full32) >> 1);
    }

    private boolean high(int c) { return c < full32 ? (c & 31) >= 16 : ((c - full32) & 1) == 1; }

    /** The code q in [0, 2^bits - 1] of weight (r, c). */
    public int code(int r, int c) {
        if (il != null) return il.code(r, c);
        int b = codes[byteIndex(r, c)];
        if (bits == 8) return (b + 128) & 0xff;
        return high(c) ? (b >> 4) & 0xf : b & 0xf;
    }

    private void set(int r, int c, int q) {
        if (il != null) { il.set(r, c, q); return; }
        int i = byteIndex(r, c);
        if (bits == 8) codes[i] = (byte) (q - 128);
        else if (high(c)) codes[i] = (byte) ((codes[i] & 0x0f) | (q << 4));
        else codes[i] = (byte) ((codes[i] & 0xf0) | q);
    }

    public int bits() { return bits; }
    public int groupSize() { return group; }
    public float scale(int r, int g) { return scales[r * groups + g]; }
    public float zero(int r, int g) { return zeros[r * groups + g]; }

    @Override public int rows() { return rows; }
    @Override public int cols() { return cols; }

    // ---- kernels ----

    private float[] groupSums(float[] x, int xo) {
        float[] xs = new float[groups];
        for (int g = 0; g < groups; g++) {
            int c0 = g * group, c1 = Math.min(cols, c0 + group), c = c0;
            FloatVector a = FloatVector.zero(S);
            for (; c + L <= c1; c += L) a = a.add(FloatVector.fromArray(S, x, xo + c));
            float s = Lanes.sum(a);
            for (; c < c1; c++) s += x[xo + c];
            xs[g] = s;
        }
        return xs;
    }

    @Override public void matvec(float[] x, float[] y) {
        Kernels.checkMatvec(this, x, y);
        if (il != null) { il.matvec(x, y); return; }
        float[] xs = groupSums(x, 0);
        Parallel.forRange(rows, Parallel.rowGrain(cols), (r0, r1) -> {
            for (int r = r0; r < r1; r++) y[r] = bits == 8 ? row8(r, x, xs) : row4(r, x, xs);
        });
    }

    /** sum_g scale_g (zero_g - offset) xs_g over the groups of row r (the zero-point term, vectorized over groups). */
    private float zeroTerm(int sb, float[] xs, float offset) {
        FloatVector acc = FloatVector.zero(S), off = FloatVector.broadcast(S, offset);
        int g = 0;
        for (; g + L <= groups; g += L)
            acc = FloatVector.fromArray(S, scales, sb + g).mul(FloatVector.fromArray(S, zeros, sb + g).sub(off))
                    .fma(FloatVector.fromArray(S, xs, g), acc);
        float z = Lanes.sum(acc);
        for (; g < groups; g++) z += scales[sb + g] * (zeros[sb + g] - offset) * xs[g];
        return z;
    }

    /** int8: per group sum_i (q_i - 128) x_i with two FMA chains, scaled into one of two totals. */
    private float row8(int r, float[] x, float[] xs) {
        int base = r * rowBytes, sb = r * groups;
        FloatVector t0 = FloatVector.zero(S), t1 = t0;
        float extra = 0;
        for (int g = 0; g < groups; g++) {
            int c0 = g * group, c1 = Math.min(cols, c0 + group), c = c0;
            FloatVector a0 = FloatVector.zero(S), a1 = a0;
            for (; c + 2 * L <= c1; c += 2 * L) {
                FloatVector q0 = (FloatVector) ByteVector.fromArray(BS, codes, base + c).convertShape(VectorOperators.B2F, S, 0);
                FloatVector q1 = (FloatVector) ByteVector.fromArray(BS, codes, base + c + L).convertShape(VectorOperators.B2F, S, 0);
                a0 = q0.fma(FloatVector.fromArray(S, x, c), a0);
                a1 = q1.fma(FloatVector.fromArray(S, x, c + L), a1);
            }
            for (; c + L <= c1; c += L) {
                FloatVector q0 = (FloatVector) ByteVector.fromArray(BS, codes, base + c).convertShape(VectorOperators.B2F, S, 0);
                a0 = q0.fma(FloatVector.fromArray(S, x, c), a0);
            }
            float s = scales[sb + g];
            if (c < c1) {
                float tail = 0;
                for (; c < c1; c++) tail += codes[base + c] * x[c];
                extra += s * tail;
            }
            if ((g & 1) == 0) t0 = a0.add(a1).fma(FloatVector.broadcast(S, s), t0);
            else t1 = a0.add(a1).fma(FloatVector.broadcast(S, s), t1);
        }
        return Lanes.sum(t0.add(t1)) + extra - zeroTerm(sb, xs, 128f);
    }

    /** int4, groups made of whole 32-column blocks: sum over the blocks, scaled into one of two totals. */
    private float row4(int r, float[] x, float[] xs) {
        int base = r * rowBytes, sb = r * groups;
        FloatVector t0 = FloatVector.zero(S), t1 = t0;
        FloatVector sixteenth = FloatVector.broadcast(S, 0.0625f);
        int g = 0;
        if (VEC4 && (group & 31) == 0) {
            int whole = Math.min(groups, full32 / group), nb = group >> 5;
            for (; g < whole; g++) {
                // hi accumulates 16 q (the high nibble masked in place, no shift); scaled by 1/16 once per group
                FloatVector lo = FloatVector.zero(S), hi = lo;
                for (int blk = g * nb, end = blk + nb; blk < end; blk++) {
                    int bo = base + blk * 16, c = blk * 32;
                    for (int h = 0; h < 16; h += L) {
                        IntVector b = (IntVector) ByteVector.fromArray(BS, codes, bo + h).convertShape(VectorOperators.B2I, IS, 0);
                        lo = ((FloatVector) b.and(0x0f).convert(VectorOperators.I2F, 0)).fma(FloatVector.fromArray(S, x, c + h), lo);
                        hi = ((FloatVector) b.and(0xf0).convert(VectorOperators.I2F, 0)).fma(FloatVector.fromArray(S, x, c + 16 + h), hi);
                    }
                }
                FloatVector sv = FloatVector.broadcast(S, scales[sb + g]);
                if ((g & 1) == 0) t0 = hi.fma(sixteenth, lo).fma(sv, t0);
                else t1 = hi.fma(sixteenth, lo).fma(sv, t1);
            }
        }
        float sum = Lanes.sum(t0.add(t1));
        for (; g < groups; g++) sum += scales[sb + g] * groupDot4(r, g, x);
        return sum - zeroTerm(sb, xs, 0f);
    }

    /** sum_{c in group g} q_c x_c for any group size (whole blocks vectorized, the rest per element). */
    private float groupDot4(int r, int g, float[] x) {
        int base = r * rowBytes, c0 = g * group, c1 = Math.min(cols, c0 + group);
        int b0 = (c0 + 31) >> 5, b1 = Math.min(c1, full32) >> 5;
        float tail = 0;
        if (!VEC4 || b0 >= b1) {
            for (int c = c0; c < c1; c++) tail += code(r, c) * x[c];
            return tail;
        }
        FloatVector lo = FloatVector.zero(S), hi = lo;
        for (int blk = b0; blk < b1; blk++) {
            int bo = base + blk * 16, c = blk * 32;
            for (int h = 0; h < 16; h += L) {
                IntVector b = (IntVector) ByteVector.fromArray(BS, codes, bo + h).convertShape(VectorOperators.B2I, IS, 0);
                lo = ((FloatVector) b.and(0x0f).convert(VectorOperators.I2F, 0)).fma(FloatVector.fromArray(S, x, c + h), lo);
                hi = ((FloatVector) b.and(0xf0).convert(VectorOperators.I2F, 0)).fma(FloatVector.fromArray(S, x, c + 16 + h), hi);
            }
        }
        for (int c = c0; c < b0 * 32; c++) tail += code(r, c) * x[c];
        for (int c = b1 * 32; c < c1; c++) tail += code(r, c) * x[c];
        return Lanes.sum(hi.fma(FloatVector.broadcast(S, 0.0625f), lo)) + tail;
    }

    /** Dequantizes row r into dst (for prefill tiles; vectorized for int8, per element for int4 edges). */
    private void decodeRow(int r, float[] dst, int off) {
        if (il != null) { il.decodeRow(r, dst, off, zeros); return; }
        int base = r * rowBytes, sb = r * groups;
        for (int g = 0; g < groups; g++) {
            int c0 = g * group, c1 = Math.min(cols, c0 + group), c = c0;
            float s = scales[sb + g], z = zeros[sb + g];
            if (bits == 8) {
                FloatVector zv = FloatVector.broadcast(S, z - 128f), sv = FloatVector.broadcast(S, s);
                for (; c + L <= c1; c += L)
                    ((FloatVector) ByteVector.fromArray(BS, codes, base + c).convertShape(VectorOperators.B2F, S, 0))
                            .sub(zv).mul(sv).intoArray(dst, off + c);
            } else if (VEC4) {
                FloatVector zv = FloatVector.broadcast(S, z), sv = FloatVector.broadcast(S, s);
                int b0 = (c0 + 31) >> 5, b1 = Math.min(c1, full32) >> 5;
                for (; c < Math.min(c1, b0 * 32); c++) dst[off + c] = QuantGrid.dequantize(code(r, c), s, z);
                for (int blk = b0; blk < b1; blk++, c += 32) {
                    int bo = base + blk * 16;
                    for (int h = 0; h < 16; h += L) {
                        IntVector b = (IntVector) ByteVector.fromArray(BS, codes, bo + h).convertShape(VectorOperators.B2I, IS, 0);
                        ((FloatVector) b.and(0x0f).convert(VectorOperators.I2F, 0)).sub(zv).mul(sv).intoArray(dst, off + c + h);
                        ((FloatVector) b.lanewise(VectorOperators.LSHR, 4).and(0x0f).convert(VectorOperators.I2F, 0)).sub(zv).mul(sv).intoArray(dst, off + c + 16 + h);
                    }
                }
            }
            for (; c < c1; c++) dst[off + c] = QuantGrid.dequantize(code(r, c), s, z);
        }
    }

    @Override public void matmul(float[] x, int n, float[] y) {
        Kernels.checkMatmul(this, x, n, y);
        if (n == 1) { matvec(x, y); return; }
        Kernels.matmulByRows(rows, cols, x, n, y, this::decodeRow);
    }

    @Override public long bytes() {
        return (long) rows * rowBytes + (long) rows * groups * (4 + (zerosU8 ? 1 : 4));
    }

    @Override public long parameters() { return (long) rows * cols; }

    /** Dequantized matrix, element by element through {@link QuantGrid#dequantize}. */
    @Override public float[] toDense() {
        float[] out = new float[rows * cols];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                int g = c / group;
                out[r * cols + c] = QuantGrid.dequantize(code(r, c), scales[r * groups + g], zeros[r * groups + g]);
            }
        return out;
    }

    @Override public String format() { return "int" + bits + (group >= cols && cols > 0 ? "-pc" : "-g" + group); }

    @Override public void write(String prefix, SafeTensorsWriter out) {
        byte[] file = new byte[rows * rowBytes];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                int q = code(r, c);
                if (bits == 8) file[r * rowBytes + c] = (byte) q;
                else file[r * rowBytes + (c >> 1)] |= (byte) ((c & 1) == 0 ? q : q << 4);
            }
        out.addBytes(prefix + ".qweight", DType.U8, new long[]{rows, rowBytes}, file);
        out.addF32(prefix + ".scales", new long[]{rows, groups}, scales);
        FormatIO.writeZeros(out, prefix, rows, groups, zeros, zerosU8);
        FormatIO.writeShape(out, prefix, rows, cols);
        out.metadata(WeightFormats.META_PREFIX + prefix, format());
    }

    /** Parses {@code int4-g128} / {@code int8-pc} into {bits, group (0 = per channel)}, or null. */
    static int[] parseFormat(String fmt) {
        var m = java.util.regex.Pattern.compile("int([48])-(?:g(\\d+)|pc)").matcher(fmt);
        if (!m.matches()) return null;
        return new int[]{Integer.parseInt(m.group(1)), m.group(2) == null ? 0 : Integer.parseInt(m.group(2))};
    }

    static QuantizedLinear read(SafeTensors st, String prefix, String fmt) {
        int[] p = parseFormat(fmt);
        if (p == null || (p[1] == 0 && !fmt.endsWith("-pc")))
            throw FormatIO.bad(st, prefix + ".qweight", "has unknown quantized format '" + fmt + "'");
        int[] shape = FormatIO.shape(st, prefix, 2);
        int rows = shape[0], cols = shape[1], bits = p[0];
        int group = QuantGrid.groupSize(p[1], cols), groups = QuantGrid.groups(cols, group);
        int rowBytes = bits == 8 ? cols : (cols + 1) / 2;
        byte[] file = FormatIO.bytes(FormatIO.need(st, prefix + ".qweight", DType.U8, rows, rowBytes), 0);
        float[] scales = FormatIO.floats(FormatIO.need(st, prefix + ".scales", DType.F32, rows, groups), 0);
        float[] zeros = FormatIO.readZeros(st, prefix, rows, groups);
        QuantizedLinear q = new QuantizedLinear(rows, cols, bits, group, scales, zeros);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                int b = file[r * rowBytes + (bits == 8 ? c : c >> 1)] & 0xff;
                q.set(r, c, bits == 8 ? b : (c & 1) == 0 ? b & 0xf : b >> 4);
            }
        if (bits == 4) for (int r = 0; r < rows && (cols & 1) == 1; r++)
            if ((file[r * rowBytes + rowBytes - 1] & 0xf0) != 0)
                throw new SquishException(st.get(prefix + ".qweight").file() + ": tensor " + prefix + ".qweight has a non-zero padding nibble in row " + r);
        return q;
    }
}
