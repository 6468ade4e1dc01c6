package dev.squish.weights;

import dev.squish.formats.DType;
import dev.squish.formats.SafeTensors;
import dev.squish.formats.SafeTensorsWriter;
import dev.squish.formats.TensorInfo;
import dev.squish.util.Lanes;
import dev.squish.util.Parallel;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

import static dev.squish.weights.Kernels.L;
import static dev.squish.weights.Kernels.S;

/**
 * Dense IEEE half-precision weight (2 bytes per weight), row-major, served from the mapped
 * checkpoint as {@link Bf16DenseLinear} is: an F16 Hugging Face checkpoint (many are) used to be
 * widened to float32 at load, 4 bytes per weight of memory for the whole model; now it costs page
 * cache only. Format {@code dense-f16}, stored as {@code PREFIX.weight} (F16 [rows, cols]).
 *
 * <p>Kernel: the Vector API has no half-to-float conversion, so each lane is widened with integer
 * operations, exactly: with {@code e} the 15 bits below the sign, {@code float(e << 13) * 2^112} is
 * the half's magnitude for normal and subnormal halves and zero (a power-of-two scaling, exact),
 * an infinity becomes {@code 0x7f800000} and a NaN {@code 0x7fc00000 | mantissa << 13} (quiet, as
 * the hardware conversion makes it); then the sign bit is put back. Checked against {@link Float#float16ToFloat} on every one of the 65,536 halves.
 */
public final class F16DenseLinear implements Linear {
    public static final String FORMAT = "dense-f16";
    private static final VectorSpecies<Short> SS = VectorSpecies.of(short.class, VectorShape.forBitSize(L * 16));
    private static final VectorSpecies<Integer> IS = S.withLanes(int.class);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final float TWO_112 = 0x1p112f;

    private final int rows, cols;
    private final MemorySegment w;  // rows*cols little-endian binary16

    private F16DenseLinear(int rows, int cols, MemorySegment w) {
        if (w.byteSize() != 2L * rows * cols) throw new IllegalArgumentException("expected " + rows + "x" + cols + " halves, got " + w.byteSize() + " bytes");
        this.rows = rows; this.cols = cols; this.w = w;
    }

    /** An F16 [rows, cols] tensor served from its (mapped) bytes, not copied. */
    public static F16DenseLinear mapped(TensorInfo t) {
        if (t.dtype() != DType.F16 || t.rank() != 2)
            throw new IllegalArgumentException(t.name() + " is " + t.dtype() + java.util.Arrays.toString(t.shape()) + ", not an F16 matrix");
        return new F16DenseLinear(t.dim(0), t.dim(1), t.data());
    }

    /** Rounds each weight to the nearest half ({@link Float#floatToFloat16}); copied off the heap. */
    public static F16DenseLinear fromDense(float[] w, int rows, int cols) {
        FormatIO.checkDense(w, rows, cols);
        MemorySegment seg = OffHeap.allocate(Math.max(2, 2L * w.length)).asSlice(0, 2L * w.length);
        for (int i = 0; i < w.length; i++) seg.setAtIndex(I16, i, Float.floatToFloat16(w[i]));
        return new F16DenseLinear(rows, cols, seg);
    }

    /** Raw binary16 bits (row-major, rows*cols entries; copied off the heap). */
    static F16DenseLinear fromBits(short[] bits, int rows, int cols) {
        if (rows < 0 || cols < 0 || bits.length != (long) rows * cols) throw new IllegalArgumentException("expected " + rows + "x" + cols + " values, got " + bits.length);
        MemorySegment seg = OffHeap.allocate(Math.max(2, 2L * bits.length)).asSlice(0, 2L * bits.length);
        MemorySegment.copy(bits, 0, seg, I16, 0, bits.length);
        return new F16DenseLinear(rows, cols, seg);
    }

    @Override public int rows() { return rows; }
    @Override public int cols() { return cols; }

    /** Lanes off .. off + L of the weights as floats (see the class comment). */
    private FloatVector load(long off) { return widen(w, off); }

    /** Halves off .. off + L of {@code w} (little-endian binary16) as floats; shared with {@link TransposedDenseLinear}. */
    static FloatVector widen(MemorySegment w, long off) {
        IntVector h = (IntVector) ShortVector.fromMemorySegment(SS, w, 2 * off, ByteOrder.LITTLE_ENDIAN).convertShape(VectorOperators.S2I, IS, 0);
        IntVector e = h.and(0x7fff);
        IntVector sign = h.and(0x8000).lanewise(VectorOperators.LSHL, 16);
        IntVector shifted = e.lanewise(VectorOperators.LSHL, 13);
        FloatVector mag = shifted.reinterpretAsFloats().mul(TWO_112);
        VectorMask<Integer> special = e.compare(VectorOperators.GE, 0x7c00), nan = e.compare(VectorOperators.GT, 0x7c00);
        IntVector bits = mag.reinterpretAsInts().blend(shifted.or(0x7f800000), special).blend(shifted.or(0x7fc00000), nan);
        return bits.or(sign).reinterpretAsFloats();
    }

    private float at(long i) { return Float.float16ToFloat(w.getAtIndex(I16, i)); }

    private float dot(int r, float[] x) {
        long base = (long) r * cols;
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
        for (; i < cols; i++) s += at(base + i) * x[i];
        return s;
    }

    @Override public void matvec(float[] x, float[] y) {
        Kernels.checkMatvec(this, x, y);
        Parallel.forRange(rows, Parallel.rowGrain(cols), (r0, r1) -> {
            for (int r = r0; r < r1; r++) y[r] = dot(r, x);
        });
    }

    private void decodeRow(int r, float[] dst, int off) {
        long base = (long) r * cols;
        int i = 0;
        for (; i + L <= cols; i += L) load(base + i).intoArray(dst, off + i);
        for (; i < cols; i++) dst[off + i] = at(base + i);
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
        for (int r = 0; r < rows; r++) decodeRow(r, out, r * cols);
        return out;
    }

    @Override public String format() { return FORMAT; }

    @Override public void write(String prefix, SafeTensorsWriter out) {
        out.add(prefix + ".weight", DType.F16, new long[]{rows, cols}, w);
        out.metadata(WeightFormats.META_PREFIX + prefix, FORMAT);
    }

    static F16DenseLinear read(SafeTensors st, String prefix) {
        return mapped(FormatIO.need(st, prefix + ".weight", DType.F16, -1, -1));
    }
}
