package dev.squish.weights;

import dev.squish.SquishException;
import dev.squish.formats.DType;
import dev.squish.formats.SafeTensors;
import dev.squish.formats.SafeTensorsWriter;
import dev.squish.util.Parallel;

/**
 * A pruned-then-quantized weight: only the kept (non-pruned) entries are stored, as int4 or int8
 * codes on the {@link QuantGrid} convention; pruned entries are exactly 0 and cost one mask bit.
 * Per row: a bitmask of the kept columns (as {@link SparseLinear}), the kept entries' codes in
 * column order, and one scale and zero per group of G consecutive <em>original</em> columns (the
 * groups GPTQ/RTN quantized), so {@code w[r, c] = scale(r, c / G) * (q - zero(r, c / G))} for a
 * kept c and 0 otherwise. Works for unstructured sparsity and N:M (the mask keeps the pattern).
 *
 * <p>Cost per weight position at density d: {@code 1/8 + d * bits/8} bytes (+ the group
 * parameters): 2:4 int4 is 3 bits per position against 4 for dense int4.
 *
 * <p>Kernel: rows are decoded one at a time into a per-task scratch row (never the whole matrix)
 * and multiplied with the Vector API dot of {@link Kernels}; prefill reuses
 * {@link Kernels#matmulByRows}. The decode loop is scalar (walks the mask's set bits).
 *
 * <p>File: {@code PREFIX.mask} I64 [rows, ceil(cols / 64)], {@code PREFIX.qweight} U8
 * [ceil(nnz * bits / 8)] (codes of the kept entries in row-major order; int4: even index in the
 * low nibble), {@code PREFIX.scales} F32 [rows, groups], {@code PREFIX.zeros} U8 [rows, groups],
 * {@code PREFIX.shape} I32 [rows, cols]. Format {@code sparse-int4-g128} (or {@code -pc}).
 */
public final class SparseQuantizedLinear implements Linear {
    private final int rows, cols, bits, group, groups, wpr;
    private final long[] mask;       // [rows * wpr]
    private final byte[] codes;      // kept codes, row-major, packed
    private final float[] scales, zeros;
    private final int[] rowPtr;      // [rows + 1] kept index of each row's first entry

    private SparseQuantizedLinear(int rows, int cols, int bits, int group, long[] mask, byte[] codes, float[] scales, float[] zeros) {
        if (bits != 4 && bits != 8) throw new IllegalArgumentException("bits must be 4 or 8, got " + bits);
        this.rows = rows; this.cols = cols; this.bits = bits; this.group = group;
        this.groups = cols == 0 ? 0 : (cols + group - 1) / group;
        this.wpr = (cols + 63) >>> 6;
        this.mask = mask; this.codes = codes; this.scales = scales; this.zeros = zeros;
        for (float z : zeros)
            if (!(z >= 0 && z <= 255 && z == Math.rint(z))) throw new IllegalArgumentException("zero point " + z + " is not an integer in [0, 255]");
        rowPtr = new int[rows + 1];
        for (int r = 0; r < rows; r++) {
            int c = 0;
            for (int k = 0; k < wpr; k++) c += Long.bitCount(mask[r * wpr + k]);
            rowPtr[r + 1] = rowPtr[r] + c;
        }
    }

    /**
     * Keeps the entries where {@code kept[r*cols + c]} is true, with their codes
     * ({@code codes[r*cols + c]}, unsigned) and the per-(row, group) scales and zeros
     * ({@code [rows * ceil(cols / groupSize)]}). Arrays are copied.
     */
    public static SparseQuantizedLinear of(int rows, int cols, int bits, int groupSize, boolean[] kept, byte[] codes,
                                           float[] scales, float[] zeros) {
        if (kept.length != (long) rows * cols || codes.length != (long) rows * cols)
            throw new IllegalArgumentException("expected " + rows * cols + " mask entries and codes");
        int g = Math.min(Math.max(groupSize, 1), Math.max(cols, 1)), groups = cols == 0 ? 0 : (cols + g - 1) / g;
        if (scales.length != rows * groups || zeros.length != rows * groups)
            throw new IllegalArgumentException("expected " + rows * groups + " scales and zeros");
        int wpr = (cols + 63) >>> 6, maxq = QuantGrid.maxq(bits);
        long[] mask = new long[rows * wpr];
        int nnz = 0;
        for (int i = 0; i < kept.length; i++) if (kept[i]) nnz++;
        byte[] packed = new byte[bits == 8 ? nnz : (nnz + 1) / 2];
        int p = 0;
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                if (!kept[r * cols + c]) continue;
                int q = codes[r * cols + c] & 0xff;
                if (q > maxq) throw new IllegalArgumentException("code " + q + " at (" + r + ", " + c + ") outside [0, " + maxq + "]");
                mask[r * wpr + (c >>> 6)] |= 1L << (c & 63);
                if (bits == 8) packed[p] = (byte) q;
                else packed[p >> 1] |= (byte) ((p & 1) == 0 ? q : q << 4);
                p++;
            }
        return new SparseQuantizedLinear(rows, cols, bits, g, mask, packed, scales.clone(), zeros.clone());
    }

    @Override public int rows() { return rows; }
    @Override public int cols() { return cols; }
    public int bits() { return bits; }
    public int groupSize() { return group; }
    public long nonZeros() { return rowPtr[rows]; }

    private int code(int k) {
        if (bits == 8) return codes[k] & 0xff;
        int b = codes[k >> 1];
        return (k & 1) == 0 ? b & 0xf : (b >> 4) & 0xf;
    }

    /** Dequantizes row r into dst[off .. off + cols) (zeros at pruned positions). */
    private void decodeRow(int r, float[] dst, int off) {
        java.util.Arrays.fill(dst, off, off + cols, 0f);
        int p = rowPtr[r];
        for (int k = 0; k < wpr; k++) {
            long bitsLeft = mask[r * wpr + k];
            while (bitsLeft != 0) {
                int c = (k << 6) + Long.numberOfTrailingZeros(bitsLeft);
                bitsLeft &= bitsLeft - 1;
                int g = r * groups + c / group;
                dst[off + c] = QuantGrid.dequantize(code(p++), scales[g], zeros[g]);
            }
        }
    }

    @Override public void matvec(float[] x, float[] y) {
        Kernels.checkMatvec(this, x, y);
        Parallel.forRange(rows, 16, (r0, r1) -> {
            float[] buf = new float[cols + Kernels.PAD];
            for (int r = r0; r < r1; r++) {
                decodeRow(r, buf, 0);
                y[r] = Kernels.dot(buf, 0, x, 0, cols);
            }
        });
    }

    @Override public void matmul(float[] x, int n, float[] y) {
        Kernels.checkMatmul(this, x, n, y);
        if (n == 1) { matvec(x, y); return; }
        Kernels.matmulByRows(rows, cols, x, n, y, this::decodeRow);
    }

    @Override public long bytes() { return 8L * mask.length + codes.length + (long) rows * groups * 5; }

    @Override public long parameters() { return nonZeros(); }

    @Override public float[] toDense() {
        float[] out = new float[rows * cols];
        for (int r = 0; r < rows; r++) decodeRow(r, out, r * cols);
        return out;
    }

    @Override public String format() { return "sparse-int" + bits + (group >= cols && cols > 0 ? "-pc" : "-g" + group); }

    @Override public void write(String prefix, SafeTensorsWriter out) {
        FormatIO.addLongs(out, prefix + ".mask", new long[]{rows, wpr}, mask);
        out.addBytes(prefix + ".qweight", DType.U8, new long[]{codes.length}, codes);
        out.addF32(prefix + ".scales", new long[]{rows, groups}, scales);
        byte[] z = new byte[zeros.length];
        for (int i = 0; i < z.length; i++) z[i] = (byte) (int) zeros[i];
        out.addBytes(prefix + ".zeros", DType.U8, new long[]{rows, groups}, z);
        FormatIO.writeShape(out, prefix, rows, cols);
        out.metadata(WeightFormats.META_PREFIX + prefix, format());
    }

    /** Parses {@code sparse-int4-g128} / {@code sparse-int8-pc} into {bits, group (0 = per channel)}, or null. */
    static int[] parseFormat(String fmt) {
        if (!fmt.startsWith("sparse-")) return null;
        return QuantizedLinear.parseFormat(fmt.substring(7));
    }

    static SparseQuantizedLinear read(SafeTensors st, String prefix, String fmt) {
        int[] p = parseFormat(fmt);
        if (p == null || (p[1] == 0 && !fmt.endsWith("-pc"))) throw FormatIO.bad(st, prefix + ".qweight", "has unknown format '" + fmt + "'");
        int[] shape = FormatIO.shape(st, prefix, 2);
        int rows = shape[0], cols = shape[1], bits = p[0], wpr = (cols + 63) >>> 6;
        int group = p[1] == 0 ? Math.max(cols, 1) : Math.min(p[1], Math.max(cols, 1));
        int groups = cols == 0 ? 0 : (cols + group - 1) / group;
        long[] mask = FormatIO.longs(FormatIO.need(st, prefix + ".mask", DType.I64, rows, wpr));
        long nnz = 0;
        for (int r = 0; r < rows; r++)
            for (int k = 0; k < wpr; k++) {
                long m = mask[r * wpr + k];
                if (k == wpr - 1 && (cols & 63) != 0 && (m >>> (cols & 63)) != 0)
                    throw FormatIO.bad(st, prefix + ".mask", "has bits set beyond column " + cols + " in row " + r);
                nnz += Long.bitCount(m);
            }
        long nb = bits == 8 ? nnz : (nnz + 1) / 2;
        byte[] codes = FormatIO.bytes(FormatIO.need(st, prefix + ".qweight", DType.U8, nb), 0);
        codes = java.util.Arrays.copyOf(codes, (int) nb);
        float[] scales = FormatIO.floats(FormatIO.need(st, prefix + ".scales", DType.F32, rows, groups), 0);
        byte[] z = FormatIO.bytes(FormatIO.need(st, prefix + ".zeros", DType.U8, rows, groups), 0);
        float[] zeros = new float[rows * groups];
        for (int i = 0; i < zeros.length; i++) zeros[i] = z[i] & 0xff;
        try {
            return new SparseQuantizedLinear(rows, cols, bits, group, mask, codes, scales, zeros);
        } catch (IllegalArgumentException e) {
            throw new SquishException(st.get(prefix + ".qweight").file() + ": weight " + prefix + ": " + e.getMessage());
        }
    }
}
