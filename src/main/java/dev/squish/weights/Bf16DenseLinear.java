package dev.squish.weights;

import dev.squish.util.Lanes;
import dev.squish.formats.DType;
import dev.squish.formats.SafeTensors;
import dev.squish.formats.SafeTensorsWriter;
import dev.squish.formats.TensorInfo;
import dev.squish.util.Parallel;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

import static dev.squish.weights.Kernels.L;
import static dev.squish.weights.Kernels.S;

/**
 * Dense bfloat16 weight (2 bytes per weight), row-major. The kernel widens each bf16 lane to
 * float32 in registers (sign-extend to int, shift left 16, reinterpret) and never keeps a float copy.
 * Stored as {@code PREFIX.weight} (BF16 [rows, cols]), format {@code dense-bf16}. The weights live in
 * a {@link MemorySegment}: read from a file, that is the mapped tensor itself (no copy on the heap or
 * off it, so a BF16 checkpoint costs page cache, not heap); built in memory, an off-heap copy.
 */
public final class Bf16DenseLinear implements Linear {
    public static final String FORMAT = "dense-bf16";
    private static final VectorSpecies<Short> SS = VectorSpecies.of(short.class, VectorShape.forBitSize(L * 16));
    private static final VectorSpecies<Integer> IS = S.withLanes(int.class);

    private final int rows, cols;
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private final MemorySegment w;  // rows*cols little-endian bf16

    private Bf16DenseLinear(int rows, int cols, MemorySegment w) {
        this.rows = rows; this.cols = cols; this.w = w;
    }

    private Bf16DenseLinear(int rows, int cols, short[] h) {
        this(rows, cols, offHeap(h));
    }

    private static MemorySegment offHeap(short[] h) {
        MemorySegment seg = Arena.ofAuto().allocate(Math.max(2, 2L * h.length), 64);
        MemorySegment.copy(h, 0, seg, I16, 0, h.length);
        return seg;
    }

    /** A BF16 [rows, cols] tensor served from its (mapped) bytes, not copied. */
    public static Bf16DenseLinear mapped(TensorInfo t) {
        if (t.dtype() != DType.BF16 || t.rank() != 2)
            throw new IllegalArgumentException(t.name() + " is " + t.dtype() + java.util.Arrays.toString(t.shape()) + ", not a BF16 matrix");
        return new Bf16DenseLinear(t.dim(0), t.dim(1), t.data());
    }

    /** Rounds each weight to the nearest bfloat16 (ties to even; NaN stays NaN). */
    public static Bf16DenseLinear fromDense(float[] w, int rows, int cols) {
        FormatIO.checkDense(w, rows, cols);
        short[] h = new short[w.length];
        for (int i = 0; i < w.length; i++) h[i] = toBf16(w[i]);
        return new Bf16DenseLinear(rows, cols, h);
    }

    /** Raw bf16 bits (row-major, rows*cols entries; copied off the heap). */
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

    private FloatVector load(int off) { return widen(w, off); }

    /** bf16 values off .. off + L of {@code w} as floats; shared with {@link TransposedDenseLinear}. */
    static FloatVector widen(MemorySegment w, long off) {
        IntVector i = (IntVector) ShortVector.fromMemorySegment(SS, w, 2L * off, ByteOrder.LITTLE_ENDIAN).convertShape(VectorOperators.S2I, IS, 0);
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
        float s = Lanes.sum(a0.add(a1).add(a2.add(a3)));
        for (; i < cols; i++) s += fromBf16(w.getAtIndex(I16, base + i)) * x[i];
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
        for (; i < cols; i++) dst[off + i] = fromBf16(w.getAtIndex(I16, base + i));
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
        for (int i = 0; i < out.length; i++) out[i] = fromBf16(w.getAtIndex(I16, i));
        return out;
    }

    @Override public String format() { return FORMAT; }

    @Override public void write(String prefix, SafeTensorsWriter out) {
        out.add(prefix + ".weight", DType.BF16, new long[]{rows, cols}, w.asSlice(0, 2L * rows * cols));
        out.metadata(WeightFormats.META_PREFIX + prefix, FORMAT);
    }

    static Bf16DenseLinear read(SafeTensors st, String prefix) {
        var t = FormatIO.need(st, prefix + ".weight", DType.BF16, -1, -1);
        return mapped(t);
    }
}
