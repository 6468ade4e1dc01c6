package dev.squish.weights;

import dev.squish.util.Lanes;
import dev.squish.formats.DType;
import dev.squish.formats.SafeTensors;
import dev.squish.formats.SafeTensorsWriter;
import dev.squish.util.Parallel;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import static dev.squish.weights.Kernels.BS;
import static dev.squish.weights.Kernels.L;
import static dev.squish.weights.Kernels.S;

/**
 * Sparse and quantized at once: only the surviving weights are stored, as int8 or int4 codes,
 * with one scale and zero per (row, group of G consecutive input columns) following
 * {@link QuantGrid} ({@code w = scale (q - zero)}); pruned weights are exactly 0 and cost one mask
 * bit. Layout: the bitmask of {@link SparseLinear} (1 bit per position) plus the survivors' codes
 * in column order (int4: two per byte, a continuous nibble stream). At 50% sparsity int4 costs
 * 0.125 + 0.25 bytes per weight plus the group parameters, about a tenth of dense float32.
 *
 * <p>Kernel: per chunk of L columns, L mask bits become a vector mask, the next popcount codes
 * are widened to float lanes (int4: one in-register permute picks the nibbles), the zero is
 * subtracted, the lanes are {@code expand}ed to their columns (pruned lanes become 0) and FMAed
 * with x; each group's sum is scaled once. Codes are never dequantized into memory.
 *
 * <p>Where every zero point is itself a code (always so for {@link QuantGrid}'s grids) and the
 * group size suits {@link InterleavedCodes}, the kernels instead run on that dense layout built at
 * load, with each pruned weight stored as its group's zero point (so it is exactly 0): the mask
 * expansion and nibble permute per chunk cost more than the bytes they save: one thread, CPU
 * time, 2048 x 5632, 50% sparse int4-g128, a matvec took 1.80-1.86 ms packed against 0.56-0.62 ms
 * in the dense layout (plain int4-g128: 0.50-0.62 ms); memory holds 0.5 bytes per weight
 * instead of about 0.38. {@link #bytes()} stays the stored size. As in {@link QuantizedLinear}, that kernel uses
 * {@code sum s (q - z) x = s sum q x - s z sum x}, so a pruned weight adds 0 up to the rounding
 * of that identity (about 1e-7 of {@code s z sum |x|}) rather than exactly 0.
 *
 * <p>File: {@code PREFIX.mask} I64 [rows, ceil(cols / 64)], {@code PREFIX.qweight} U8
 * [ceil(nnz bits / 8)] (codes q in row-major column order, int4 low nibble first),
 * {@code PREFIX.scales} F32 [rows, groups], {@code PREFIX.zeros} U8 (integers 0..255) or F32
 * [rows, groups], {@code PREFIX.shape} I32 [rows, cols]. Format {@code sparse-int4-g128}, ...
 */
public final class SparseQuantizedLinear implements Linear {
    private static final VectorSpecies<Integer> IS = S.withLanes(int.class);
    private static final boolean VEC = 64 % L == 0;
    private static final long LANE_MASK = L >= 64 ? -1L : (1L << L) - 1;
    private static final int[] IOTA = new int[L];
    static { for (int i = 0; i < L; i++) IOTA[i] = i; }

    private final int rows, cols, bits, group, groups, wpr;
    private final long[] mask;
    private final byte[] codes;           // int8: q - 128; int4: nibble stream; padded
    private final float[] scales, zeros;  // [rows * groups]
    private final int[] codePtr;          // [rows + 1] survivors before each row
    private final boolean zerosU8;
    private final InterleavedCodes il;    // dense kernel layout with pruned weights at the zero point, or null

    private SparseQuantizedLinear(int rows, int cols, int bits, int group, long[] mask, byte[] codes, float[] scales, float[] zeros) {
        this.rows = rows; this.cols = cols; this.bits = bits; this.group = group;
        this.groups = QuantGrid.groups(cols, group);
        this.wpr = Bitmask.words(cols);
        this.mask = mask; this.codes = codes; this.scales = scales; this.zeros = zeros;
        this.codePtr = new int[rows + 1];
        for (int r = 0; r < rows; r++) {
            int c = 0;
            for (int k = 0; k < wpr; k++) c += Long.bitCount(mask[r * wpr + k]);
            codePtr[r + 1] = codePtr[r] + c;
        }
        this.zerosU8 = FormatIO.zerosFitU8(zeros);
        this.il = denseLayout();
    }

    /** The interleaved dense layout with pruned weights at their group's zero point, where every zero is a code. */
    private InterleavedCodes denseLayout() {
        if (!QuantizedLinear.interleave || rows == 0 || cols == 0 || !InterleavedCodes.fits(bits, group)) return null;
        int maxq = QuantGrid.maxq(bits);
        for (float z : zeros) if (!(z >= 0 && z <= maxq && z == Math.rint(z))) return null;
        InterleavedCodes d = new InterleavedCodes(rows, cols, bits, group, groups);
        for (int r = 0; r < rows; r++) {
            int p = codePtr[r];
            for (int g = 0; g < groups; g++) d.setGroup(r, g, scales[r * groups + g], zeros[r * groups + g]);
            for (int c = 0; c < cols; c++) d.set(r, c, kept(r, c) ? code(p++) : (int) zeros[r * groups + c / group]);
        }
        return d;
    }

    /** Whether the kernels run on the dense interleaved layout (for tests). */
    boolean interleaved() { return il != null; }

    /**
     * From a keep mask and codes given at every position (row-major [rows x cols]; codes where
     * keep is false are ignored), with scales and zeros [rows x ceil(cols / groupSize)]. Copied.
     */
    public static SparseQuantizedLinear fromCodes(int rows, int cols, int bits, int groupSize, boolean[] keep, int[] codes, float[] scales, float[] zeros) {
        if (bits != 4 && bits != 8) throw new IllegalArgumentException("bits must be 4 or 8, got " + bits);
        if (rows < 0 || cols < 0 || groupSize < 1) throw new IllegalArgumentException("bad shape " + rows + "x" + cols + " or group size " + groupSize);
        if (keep.length != (long) rows * cols || codes.length != (long) rows * cols)
            throw new IllegalArgumentException("expected " + rows * cols + " keep flags and codes, got " + keep.length + " and " + codes.length);
        int g = QuantGrid.groupSize(groupSize, cols), groups = QuantGrid.groups(cols, g), maxq = QuantGrid.maxq(bits);
        if (scales.length != rows * groups || zeros.length != rows * groups)
            throw new IllegalArgumentException("expected " + rows * groups + " scales and zeros, got " + scales.length + " and " + zeros.length);
        int wpr = Bitmask.words(cols), nnz = 0;
        long[] mask = new long[rows * wpr];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                if (keep[r * cols + c]) { Bitmask.set(mask, wpr, r, c); nnz++; }
        byte[] packed = new byte[(int) (((long) nnz * bits + 7) / 8) + Kernels.PAD];
        int p = 0;
        for (int i = 0; i < keep.length; i++) {
            if (!keep[i]) continue;
            int q = codes[i];
            if (q < 0 || q > maxq) throw new IllegalArgumentException("code " + q + " at (" + i / cols + ", " + i % cols + ") outside [0, " + maxq + "]");
            if (bits == 8) packed[p] = (byte) (q - 128);
            else packed[p >>> 1] |= (byte) ((p & 1) == 0 ? q : q << 4);
            p++;
        }
        return new SparseQuantizedLinear(rows, cols, bits, g, mask, packed, scales.clone(), zeros.clone());
    }

    /** Keeps the non-zeros of w and quantizes them round-to-nearest with {@link QuantGrid} per (row, group). */
    public static SparseQuantizedLinear quantizeRtn(float[] w, int rows, int cols, int bits, int groupSize, boolean sym) {
        FormatIO.checkDense(w, rows, cols);
        if (groupSize < 1) throw new IllegalArgumentException("group size must be >= 1, got " + groupSize);
        boolean[] keep = new boolean[rows * cols];
        for (int i = 0; i < keep.length; i++) keep[i] = w[i] != 0;
        if (cols == 0) return fromCodes(rows, cols, bits, 1, keep, new int[0], new float[0], new float[0]);
        // the grid comes from the whole group, zeros included, as before; only the kept codes are stored
        QuantResult q = QuantResult.roundToNearest(w, rows, cols, bits, Math.min(groupSize, cols), sym);
        return fromCodes(rows, cols, bits, q.groupSize(), keep, q.intCodes(), q.scales(), q.zeros());
    }

    @Override public int rows() { return rows; }
    @Override public int cols() { return cols; }
    public int bits() { return bits; }
    public int groupSize() { return group; }
    public long nonZeros() { return codePtr[rows]; }
    public int groups() { return groups; }
    public float scale(int r, int g) { return scales[r * groups + g]; }
    public float zero(int r, int g) { return zeros[r * groups + g]; }

    private boolean kept(int r, int c) { return Bitmask.get(mask, wpr, r, c); }

    /** Code q of survivor number p (in the whole matrix). */
    private int code(int p) {
        return bits == 8 ? codes[p] + 128 : (codes[p >>> 1] >> ((p & 1) << 2)) & 0xf;
    }

    /** Float lanes of survivors p .. p+L-1: q - 128 for int8, q for int4. */
    private FloatVector codeLanes(int p) {
        if (bits == 8) return (FloatVector) ByteVector.fromArray(BS, codes, p).convertShape(VectorOperators.B2F, S, 0);
        IntVector b = (IntVector) ByteVector.fromArray(BS, codes, p >>> 1).convertShape(VectorOperators.B2I, IS, 0);
        IntVector nib = IntVector.fromArray(IS, IOTA, 0).add(p & 1);
        IntVector q = nib.lanewise(VectorOperators.LSHR, 1).selectFrom(b)
                .lanewise(VectorOperators.LSHR, nib.and(1).lanewise(VectorOperators.LSHL, 2)).and(0xf);
        return (FloatVector) q.convert(VectorOperators.I2F, 0);
    }

    private float dot(int r, float[] x) {
        int p = codePtr[r], sb = r * groups, mb = r * wpr;
        FloatVector total = FloatVector.zero(S);
        float extra = 0;
        float off = bits == 8 ? 128f : 0f;
        for (int g = 0; g < groups; g++) {
            int c0 = g * group, c1 = Math.min(cols, c0 + group), c = c0;
            float s = scales[sb + g], z = zeros[sb + g];
            if (VEC && c0 % L == 0 && c + L <= c1) {
                FloatVector acc = FloatVector.zero(S), zv = FloatVector.broadcast(S, z - off);
                for (; c + L <= c1; c += L) {
                    long b = (mask[mb + (c >>> 6)] >>> (c & 63)) & LANE_MASK;
                    acc = Kernels.expand(codeLanes(p).sub(zv), b).fma(FloatVector.fromArray(S, x, c), acc);
                    p += Long.bitCount(b);
                }
                total = acc.fma(FloatVector.broadcast(S, s), total);
            }
            if (c < c1) {
                float tail = 0;
                for (; c < c1; c++) if (kept(r, c)) tail += (code(p++) - z) * x[c];
                extra += s * tail;
            }
        }
        return Lanes.sum(total) + extra;
    }

    @Override public void matvec(float[] x, float[] y) {
        Kernels.checkMatvec(this, x, y);
        if (il != null) { il.matvec(x, y); return; }
        Parallel.forRange(rows, Parallel.rowGrain(cols), (r0, r1) -> {
            for (int r = r0; r < r1; r++) y[r] = dot(r, x);
        });
    }

    private void decodeRow(int r, float[] dst, int off) {
        if (il != null) { il.decodeRow(r, dst, off, zeros); return; }
        int p = codePtr[r], sb = r * groups, mb = r * wpr;
        float o = bits == 8 ? 128f : 0f;
        for (int g = 0; g < groups; g++) {
            int c0 = g * group, c1 = Math.min(cols, c0 + group), c = c0;
            float s = scales[sb + g], z = zeros[sb + g];
            if (VEC && c0 % L == 0) {
                FloatVector zv = FloatVector.broadcast(S, z - o), sv = FloatVector.broadcast(S, s);
                for (; c + L <= c1; c += L) {
                    long b = (mask[mb + (c >>> 6)] >>> (c & 63)) & LANE_MASK;
                    Kernels.expand(codeLanes(p).sub(zv).mul(sv), b).intoArray(dst, off + c);
                    p += Long.bitCount(b);
                }
            }
            for (; c < c1; c++) dst[off + c] = kept(r, c) ? QuantGrid.dequantize(code(p++), s, z) : 0f;
        }
    }

    @Override public void matmul(float[] x, int n, float[] y) {
        Kernels.checkMatmul(this, x, n, y);
        if (n == 1) { matvec(x, y); return; }
        Kernels.matmulByRows(rows, cols, x, n, y, this::decodeRow);
    }

    private long codeBytes() { return (nonZeros() * bits + 7) / 8; }

    @Override public long bytes() { return 8L * mask.length + codeBytes() + (long) rows * groups * (4 + (zerosU8 ? 1 : 4)); }
    @Override public long parameters() { return nonZeros(); }

    /** Dequantized survivors through {@link QuantGrid#dequantize}, exact zeros elsewhere. */
    @Override public float[] toDense() {
        float[] out = new float[rows * cols];
        for (int r = 0; r < rows; r++) {
            int p = codePtr[r];
            for (int c = 0; c < cols; c++)
                if (kept(r, c)) {
                    int g = c / group;
                    out[r * cols + c] = QuantGrid.dequantize(code(p++), scales[r * groups + g], zeros[r * groups + g]);
                }
        }
        return out;
    }

    @Override public String format() { return "sparse-int" + bits + (group >= cols && cols > 0 ? "-pc" : "-g" + group); }

    @Override public void write(String prefix, SafeTensorsWriter out) {
        FormatIO.addLongs(out, prefix + ".mask", new long[]{rows, wpr}, mask);
        int n = (int) codeBytes();
        byte[] file = java.util.Arrays.copyOf(codes, n);
        if (bits == 8) for (int i = 0; i < n; i++) file[i] = (byte) (file[i] + 128);
        out.addBytes(prefix + ".qweight", DType.U8, new long[]{n}, file);
        out.addF32(prefix + ".scales", new long[]{rows, groups}, scales);
        FormatIO.writeZeros(out, prefix, rows, groups, zeros, zerosU8);
        FormatIO.writeShape(out, prefix, rows, cols);
        out.metadata(WeightFormats.META_PREFIX + prefix, format());
    }

    static SparseQuantizedLinear read(SafeTensors st, String prefix, String fmt) {
        int[] p = QuantizedLinear.parseFormat(fmt.substring("sparse-".length()));
        if (p == null || (p[1] == 0 && !fmt.endsWith("-pc"))) throw FormatIO.bad(st, prefix + ".qweight", "has unknown format '" + fmt + "'");
        int[] shape = FormatIO.shape(st, prefix, 2);
        int rows = shape[0], cols = shape[1], bits = p[0], wpr = Bitmask.words(cols);
        int group = QuantGrid.groupSize(p[1], cols), groups = QuantGrid.groups(cols, group);
        long[] mask = FormatIO.longs(FormatIO.need(st, prefix + ".mask", DType.I64, rows, wpr));
        long nnz = 0;
        for (int r = 0; r < rows; r++)
            for (int k = 0; k < wpr; k++) {
                long m = mask[r * wpr + k];
                if (k == wpr - 1 && (cols & 63) != 0 && (m >>> (cols & 63)) != 0)
                    throw FormatIO.bad(st, prefix + ".mask", "has bits set beyond column " + cols + " in row " + r);
                nnz += Long.bitCount(m);
            }
        long n = (nnz * bits + 7) / 8;
        byte[] codes = FormatIO.bytes(FormatIO.need(st, prefix + ".qweight", DType.U8, n), Kernels.PAD);
        if (bits == 8) for (int i = 0; i < n; i++) codes[i] = (byte) (codes[i] - 128);
        float[] scales = FormatIO.floats(FormatIO.need(st, prefix + ".scales", DType.F32, rows, groups), 0);
        float[] zeros = FormatIO.readZeros(st, prefix, rows, groups);
        return new SparseQuantizedLinear(rows, cols, bits, group, mask, codes, scales, zeros);
    }
}
