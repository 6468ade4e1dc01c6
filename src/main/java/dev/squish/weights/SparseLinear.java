package dev.squish.weights;

import dev.squish.util.Lanes;
import dev.squish.formats.DType;
import dev.squish.formats.SafeTensors;
import dev.squish.formats.SafeTensorsWriter;
import dev.squish.util.Parallel;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

import java.lang.foreign.MemorySegment;

import static dev.squish.weights.Kernels.L;
import static dev.squish.weights.Kernels.S;

/**
 * Unstructured sparse weight: per row a bitmask of the kept columns (1 bit per weight, 64 columns
 * per long) plus the kept values packed in column order (float32).
 *
 * <p>Why a bitmask and not CSR: decode is memory-bound, so the layout that moves the fewest bytes
 * wins as long as the kernel keeps up. Per weight position this costs {@code 1/8 + 4 d} bytes at
 * density d, against {@code 6 d} (CSR, short column indices) or {@code 8 d} (CSR, int indices):
 * at 50% density 2.13 vs 3 vs 4 bytes, at 30% density 1.33 vs 1.8 vs 2.4 bytes (dense: 4). The
 * kernel needs no gather: for each chunk of L columns it turns L mask bits into a vector mask,
 * loads the next popcount values contiguously and {@code expand}s them into their lanes
 * (one vexpandps on AVX-512), then FMAs with x. CSR only moves fewer bytes below about 5% density.
 * Measured numbers are in docs/weights.md (KernelBench compares this layout with CSR).
 *
 * <p>File: {@code PREFIX.mask} I64 [rows, ceil(cols / 64)] (bit j of word w = column 64 w + j),
 * {@code PREFIX.values} F32 [nnz], {@code PREFIX.shape} I32 [rows, cols]. Format {@code sparse}.
 *
 * <p>The values (97% of the bytes at 50% density) are held off the Java heap ({@link OffHeap}), so a
 * model several times the heap evaluates under {@code -Xmx512m}; the masks stay on the heap (1/64 of
 * the dense size).
 */
public final class SparseLinear implements Linear {
    public static final String FORMAT = "sparse";
    private static final boolean VEC = 64 % L == 0;
    private static final long LANE_MASK = L >= 64 ? -1L : (1L << L) - 1;

    private final int rows, cols, wpr;
    private final long[] mask;      // [rows * wpr]
    private final MemorySegment values; // float32 [nnz + PAD], little-endian, off-heap
    private final int[] rowPtr;     // [rows + 1], derived from the mask

    private SparseLinear(int rows, int cols, long[] mask, MemorySegment values) {
        this.rows = rows; this.cols = cols; this.wpr = Bitmask.words(cols);
        this.mask = mask; this.values = values;
        this.rowPtr = new int[rows + 1];
        for (int r = 0; r < rows; r++) {
            int c = 0;
            for (int k = 0; k < wpr; k++) c += Long.bitCount(mask[r * wpr + k]);
            rowPtr[r + 1] = rowPtr[r] + c;
        }
    }

    /** Keeps exactly the non-zero entries of w (row-major rows x cols). */
    public static SparseLinear fromDense(float[] w, int rows, int cols) {
        FormatIO.checkDense(w, rows, cols);
        int wpr = Bitmask.words(cols), nnz = 0;
        long[] mask = new long[rows * wpr];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                if (w[r * cols + c] != 0) { Bitmask.set(mask, wpr, r, c); nnz++; }
        MemorySegment v = OffHeap.allocate(4L * (nnz + Kernels.PAD));
        long p = 0;
        for (float f : w) if (f != 0) v.set(OffHeap.F32, 4 * p++, f);
        return new SparseLinear(rows, cols, mask, v);
    }

    @Override public int rows() { return rows; }
    @Override public int cols() { return cols; }
    public long nonZeros() { return rowPtr[rows]; }

    private long bits(int r, int i) { return (mask[r * wpr + (i >>> 6)] >>> (i & 63)) & LANE_MASK; }

    private float dot(int r, float[] x) {
        int p = rowPtr[r];
        if (p == rowPtr[r + 1]) return 0;
        int vecEnd = VEC ? S.loopBound(cols) : 0, i = 0, mb = r * wpr;
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
        if (L == 16) {
            // a whole mask word (64 columns) per iteration: the four chunk offsets come from prefix
            // popcounts of the same word, so they do not wait on each other
            for (; i + 64 <= vecEnd; i += 64) {
                long w = mask[mb + (i >>> 6)];
                int p1 = p + Long.bitCount(w & 0xffffL), p2 = p + Long.bitCount(w & 0xffffffffL), p3 = p + Long.bitCount(w & 0xffffffffffffL);
                a0 = Kernels.expand(FloatVector.fromMemorySegment(S, values, 4L * p, OffHeap.LE), w & 0xffff).fma(FloatVector.fromArray(S, x, i), a0);
                a1 = Kernels.expand(FloatVector.fromMemorySegment(S, values, 4L * p1, OffHeap.LE), (w >>> 16) & 0xffff).fma(FloatVector.fromArray(S, x, i + 16), a1);
                a2 = Kernels.expand(FloatVector.fromMemorySegment(S, values, 4L * p2, OffHeap.LE), (w >>> 32) & 0xffff).fma(FloatVector.fromArray(S, x, i + 32), a2);
                a3 = Kernels.expand(FloatVector.fromMemorySegment(S, values, 4L * p3, OffHeap.LE), w >>> 48).fma(FloatVector.fromArray(S, x, i + 48), a3);
                p += Long.bitCount(w);
            }
        }
        for (; i < vecEnd; i += L) {
            long b = bits(r, i);
            a0 = Kernels.expand(FloatVector.fromMemorySegment(S, values, 4L * p, OffHeap.LE), b).fma(FloatVector.fromArray(S, x, i), a0);
            p += Long.bitCount(b);
        }
        float s = Lanes.sum(a0.add(a1).add(a2.add(a3)));
        for (; i < cols; i++) if ((mask[mb + (i >>> 6)] >>> (i & 63) & 1) != 0) s += values.get(OffHeap.F32, 4L * p++) * x[i];
        return s;
    }

    @Override public void matvec(float[] x, float[] y) {
        Kernels.checkMatvec(this, x, y);
        Parallel.forRange(rows, Parallel.rowGrain(cols), (r0, r1) -> {
            for (int r = r0; r < r1; r++) y[r] = dot(r, x);
        });
    }

    private void decodeRow(int r, float[] dst, int off) {
        int p = rowPtr[r], vecEnd = VEC ? S.loopBound(cols) : 0, i = 0;
        for (; i < vecEnd; i += L) {
            long b = bits(r, i);
            Kernels.expand(FloatVector.fromMemorySegment(S, values, 4L * p, OffHeap.LE), b).intoArray(dst, off + i);
            p += Long.bitCount(b);
        }
        for (; i < cols; i++) dst[off + i] = (mask[r * wpr + (i >>> 6)] >>> (i & 63) & 1) != 0 ? values.get(OffHeap.F32, 4L * p++) : 0f;
    }

    @Override public void matmul(float[] x, int n, float[] y) {
        Kernels.checkMatmul(this, x, n, y);
        if (n == 1) { matvec(x, y); return; }
        Kernels.matmulByRows(rows, cols, x, n, y, this::decodeRow);
    }

    @Override public long bytes() { return 8L * mask.length + 4L * nonZeros(); }
    @Override public long parameters() { return nonZeros(); }

    @Override public float[] toDense() {
        float[] out = new float[rows * cols];
        for (int r = 0; r < rows; r++) decodeRow(r, out, r * cols);
        return out;
    }

    @Override public String format() { return FORMAT; }

    @Override public void write(String prefix, SafeTensorsWriter out) {
        FormatIO.addLongs(out, prefix + ".mask", new long[]{rows, wpr}, mask);
        out.add(prefix + ".values", DType.F32, new long[]{nonZeros()}, values.asSlice(0, 4L * nonZeros()));
        FormatIO.writeShape(out, prefix, rows, cols);
        out.metadata(WeightFormats.META_PREFIX + prefix, FORMAT);
    }

    static SparseLinear read(SafeTensors st, String prefix) {
        int[] shape = FormatIO.shape(st, prefix, 2);
        int rows = shape[0], cols = shape[1], wpr = Bitmask.words(cols);
        long[] mask = FormatIO.longs(FormatIO.need(st, prefix + ".mask", DType.I64, rows, wpr));
        if ((cols & 63) != 0)
            for (int r = 0; r < rows; r++)
                if ((mask[r * wpr + wpr - 1] >>> (cols & 63)) != 0)
                    throw FormatIO.bad(st, prefix + ".mask", "has bits set beyond column " + cols + " in row " + r);
        long nnz = 0;
        for (long m : mask) nnz += Long.bitCount(m);
        var vt = FormatIO.need(st, prefix + ".values", DType.F32, nnz);
        return new SparseLinear(rows, cols, mask, OffHeap.copy(vt.data(), 4L * Kernels.PAD));
    }
}
