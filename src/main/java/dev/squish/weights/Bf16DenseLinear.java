package dev.squish.weights;

import dev.squish.formats.DType;
import dev.squish.formats.SafeTensors;
import dev.squish.formats.SafeTensorsWriter;
import dev.squish.util.Parallel;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import static dev.squish.weights.Kernels.L;
import static dev.squish.weights.Kernels.S;

/**
 * Dense bfloat16 weight (2 bytes per weight), row-major. The kernel widens each bf16 lane to
 * float32 in registers (sign-extend to int, shift left 16, reinterpret) and never keeps a float copy.
 * Stored as {@code PREFIX.weight} (BF16 [rows, cols]), format {@code dense-bf16}.
 */
public final class Bf16DenseLinear implements Linear {
    public static final String FORMAT = "dense-bf16";
    private static final VectorSpecies<Short> SS = VectorSpecies.of(short.class, VectorShape.forBitSize(L * 16));
    private static final VectorSpecies<Integer> IS = S.withLanes(int.class);

    private final int rows, cols;
    private final short[] w;

    private Bf16DenseLinear(int rows, int cols, short[] w) {
        this.rows = rows; this.cols = cols; this.w = w;
    }

    /** Rounds each weight to the nearest bfloat16 (ties to even; NaN stays NaN). */
    public static Bf16DenseLinear fromDense(float[] w, int rows, int cols) {
        FormatIO.checkDense(w, rows, cols);
        short[] h = new short[w.length];
        for (int i = 0; i < w.length; i++) h[i] = toBf16(w[i]);
        return new Bf16DenseLinear(rows, cols, h);
    }

    /** Wraps raw bf16 bits (row-major, rows*cols entries; not copied). */
    public static Bf16DenseLinear fromBits(short[] bits, int rows, int cols) {
        if (rows < 0 || cols < 0 || bits.length != (long) rows * cols) throw new IllegalArgumentException("expected " + rows + "x" + cols + " values, got " + bits.length);
        return new Bf16DenseLinear(rows, cols, bits);
    }

    public static short toBf16(float f) {
        int b = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) return (short) ((b >>> 16) | 0x40);
        b += 0x7fff + ((b >>> 16) & 1);
        return (short) (b >>> 16);
    }

    public static float fromBf16(short h) { return Float.intBitsToFloat(h << 16); }

    @Override public int rows() { return rows; }
    @Override public int cols() { return cols; }

    private FloatVector load(int off) {
        IntVector i = (IntVector) ShortVector.fromArray(SS, w, off).convertShape(VectorOperators.S2I, IS, 0);
        return i.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    private float dot(int r, float[] x) {
        int base = r * cols;
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
        int i = 0;
        for (; i + 4 * L <= cols; i += 4 * L) {
            a0 = load(base + i).fma(FloatVector.fromArray(S, x, i), a0);
            a1 = load(base + i + L).fma(FloatVector.fromArray(S, x, i + L), a1);
            a2 = load(base + i + 2 * L).fma(FloatVector.fromArray(S, x, i + 2 * L), a2);
            a3 = load(base + i + 3 * L).fma(FloatVector.fromArray(S, x, i + 3 * L), a3);
        }
        for (; i + L <= cols; i += L) a0 = load(base + i).fma(FloatVector.fromArray(S, x, i), a0);
        float s = a0.add(a1).add(a2.add(a3)).reduceLanes(VectorOperators.ADD);
        for (; i < cols; i++) s += fromBf16(w[base + i]) * x[i];
        return s;
    }

    @Override public void matvec(float[] x, float[] y) {
        Kernels.checkMatvec(this, x, y);
        Parallel.forRange(rows, Parallel.rowGrain(cols), (r0, r1) -> {
            for (int r = r0; r < r1; r++) y[r] = dot(r, x);
        });
    }

    private void decodeRow(int r, float[] dst, int off) {
        int base = r * cols, i = 0;
        for (; i + L <= cols; i += L) load(base + i).intoArray(dst, off + i);
        for (; i < cols; i++) dst[off + i] = fromBf16(w[base + i]);
    }

    @Override public void matmul(float[] x, int n, float[] y) {
        Kernels.checkMatmul(this, x, n, y);
        if (n == 1) { matvec(x, y); return; }
        Kernels.matmulByRows(rows, cols, x, n, y, this::decodeRow);
    }

    @Override public long bytes() { return 2L * rows * cols; }
    @Override public long parameters() { return (long) rows * cols; }

    @Override public float[] toDense() {
        float[] out = new float[rows * cols];
        for (int i = 0; i < out.length; i++) out[i] = fromBf16(w[i]);
        return out;
    }

    @Override public String format() { return FORMAT; }

    @Override public void write(String prefix, SafeTensorsWriter out) {
        FormatIO.addShorts(out, prefix + ".weight", DType.BF16, new long[]{rows, cols}, w);
        out.metadata(WeightFormats.META_PREFIX + prefix, FORMAT);
    }

    static Bf16DenseLinear read(SafeTensors st, String prefix) {
        var t = FormatIO.need(st, prefix + ".weight", DType.BF16, -1, -1);
        return new Bf16DenseLinear(t.dim(0), t.dim(1), FormatIO.shorts(t));
    }
}
