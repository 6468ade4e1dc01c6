package dev.squish.weights;

import dev.squish.formats.DType;
import dev.squish.formats.SafeTensorsWriter;
import dev.squish.formats.TensorInfo;
import dev.squish.util.Parallel;
import jdk.incubator.vector.FloatVector;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

import static dev.squish.weights.Kernels.L;
import static dev.squish.weights.Kernels.S;

/**
 * A dense weight kept in the [in, out] layout of GPT-2's Conv1D (a Hugging Face GPT-2 checkpoint
 * stores {@code c_attn}, {@code c_proj}, {@code c_fc} so), served from the mapped checkpoint in
 * float32, float16 or bfloat16. Loading used to transpose and widen each such matrix into a
 * float32 heap array: the whole model on the heap (GPT-2 small: 85 M block weights, 340 MB), so
 * the heap had to grow with the model. Now a GPT-2 checkpoint costs page cache, as the
 * [out, in] checkpoints of the other families do.
 *
 * <p>The layout is the column-major one of {@link ColumnMajorLinear} ({@code W[:, i]}, the weights
 * of input i, are contiguous), so float32 runs on that class's kernels over the mapped bytes. The
 * halves run x-stationary kernels of the same shape that widen the halves in registers
 * ({@link F16DenseLinear#widen}, {@link Bf16DenseLinear#widen}): decode splits the inputs over
 * threads, each with a full-length accumulator, summed in thread order (so the same machine gives
 * the same bits every run); prefill widens [256 inputs x 4 vectors of outputs] tiles into a
 * per-task buffer (64 KiB with AVX-512, in L2) that every group of 4 tokens then reads.
 *
 * <p>It is still a plain dense weight to everything else: {@link #format()} is that of the
 * [out, in] weight ({@code dense-f32}, {@code dense-f16}, {@code dense-bf16}), {@link #toDense()}
 * is row-major [out, in], and {@link #write} stores [out, in] (transposed into an off-heap buffer,
 * one matrix at a time), which reads back as {@link DenseLinear}, {@link F16DenseLinear} or
 * {@link Bf16DenseLinear}: Squish's own files store every linear as [out, in].
 */
public final class TransposedDenseLinear implements Linear {
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** Inputs per prefill chunk, as {@link ColumnMajorLinear#KC}. */
    static final int KC = 256;
    /** Outputs per prefill tile: 4 vectors (64 with AVX-512). */
    static final int RT = 4 * L;

    private final int rows, cols;
    private final DType dtype;
    private final boolean bf16;
    private final MemorySegment wt;            // [cols][rows], little-endian dtype
    private final ColumnMajorLinear f32;       // the float32 kernels over the same bytes, null for halves

    private TransposedDenseLinear(int rows, int cols, DType dtype, MemorySegment wt) {
        if (dtype != DType.F32 && dtype != DType.F16 && dtype != DType.BF16) throw new IllegalArgumentException("not a float32/16 weight: " + dtype);
        if (rows < 0 || cols < 0 || wt.byteSize() != (long) dtype.bytes * rows * cols)
            throw new IllegalArgumentException("expected " + cols + "x" + rows + " " + dtype + ", got " + wt.byteSize() + " bytes");
        this.rows = rows; this.cols = cols; this.dtype = dtype; this.wt = wt;
        this.bf16 = dtype == DType.BF16;
        this.f32 = dtype == DType.F32 ? new ColumnMajorLinear(rows, cols, wt) : null;
    }

    /** Whether {@link #mapped} takes a tensor of this type. */
    public static boolean handles(DType d) { return d == DType.F32 || d == DType.F16 || d == DType.BF16; }

    /** A [in, out] tensor served from its (mapped) bytes as the [out, in] weight, not copied. */
    public static TransposedDenseLinear mapped(TensorInfo t) {
        if (!handles(t.dtype()) || t.rank() != 2)
            throw new IllegalArgumentException(t.name() + " is " + t.dtype() + java.util.Arrays.toString(t.shape()) + ", not a float matrix");
        return new TransposedDenseLinear(t.dim(1), t.dim(0), t.dtype(), t.data());
    }

    /** Row-major [rows, cols] w rounded to dtype and stored [cols][rows] off the heap (for tests and benchmarks). */
    public static TransposedDenseLinear of(float[] w, int rows, int cols, DType dtype) {
        FormatIO.checkDense(w, rows, cols);
        MemorySegment seg = OffHeap.allocate(Math.max(4, (long) dtype.bytes * w.length)).asSlice(0, (long) dtype.bytes * w.length);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                long k = (long) c * rows + r;
                float v = w[r * cols + c];
                switch (dtype) {
                    case F32 -> seg.setAtIndex(OffHeap.F32, k, v);
                    case F16 -> seg.setAtIndex(I16, k, Float.floatToFloat16(v));
                    case BF16 -> seg.setAtIndex(I16, k, Bf16DenseLinear.toBf16(v));
                    default -> throw new IllegalArgumentException(dtype.toString());
                }
            }
        return new TransposedDenseLinear(rows, cols, dtype, seg);
    }

    @Override public int rows() { return rows; }
    @Override public int cols() { return cols; }
    public DType dtype() { return dtype; }

    /** The float32 weight as the column-major format over the same bytes (TEAL's layout), null for halves. */
    public ColumnMajorLinear columnMajor() { return f32; }

    private FloatVector load(long off) { return bf16 ? Bf16DenseLinear.widen(wt, off) : F16DenseLinear.widen(wt, off); }

    private float at(long k) {
        return switch (dtype) {
            case F32 -> wt.getAtIndex(OffHeap.F32, k);
            case F16 -> Float.float16ToFloat(wt.getAtIndex(I16, k));
            default -> Bf16DenseLinear.fromBf16(wt.getAtIndex(I16, k));
        };
    }

    @Override public void matvec(float[] x, float[] y) {
        Kernels.checkMatvec(this, x, y);
        if (f32 != null) { f32.matvec(x, y); return; }
        if (rows == 0) return;
        // One thread under 64 K multiply-adds (a task costs more than it saves); at most cols/8
        // inputs per thread, so every task streams whole inputs' rows in address order.
        int threads = (long) cols * rows < (1 << 16) ? 1 : Math.min(Parallel.threads(), Math.max(1, cols / 8));
        java.util.Arrays.fill(y, 0, rows, 0f);
        if (threads == 1) { accumulate(x, 0, cols, y); return; }
        float[][] part = new float[threads][];
        part[0] = y;
        Parallel.forRange(threads, 1, (t0, t1) -> {
            for (int t = t0; t < t1; t++) {
                float[] acc = t == 0 ? y : (part[t] = new float[rows]);
                accumulate(x, (int) ((long) cols * t / threads), (int) ((long) cols * (t + 1) / threads), acc);
            }
        });
        int vEnd = S.loopBound(rows);
        for (int t = 1; t < threads; t++) {   // fixed order: the same sums whichever task finished first
            float[] p = part[t];
            int r = 0;
            for (; r < vEnd; r += L) FloatVector.fromArray(S, y, r).add(FloatVector.fromArray(S, p, r)).intoArray(y, r);
            for (; r < rows; r++) y[r] += p[r];
        }
    }

    /** y[0..rows) += sum over inputs i in [i0, i1) of x[i] * W[:, i], four inputs per pass (one load and store of y per four FMAs). */
    private void accumulate(float[] x, int i0, int i1, float[] y) {
        int vEnd = S.loopBound(rows);
        int i = i0;
        for (; i + 4 <= i1; i += 4) {
            float x0 = x[i], x1 = x[i + 1], x2 = x[i + 2], x3 = x[i + 3];
            long c0 = (long) i * rows, c1 = c0 + rows, c2 = c1 + rows, c3 = c2 + rows;
            FloatVector v0 = FloatVector.broadcast(S, x0), v1 = FloatVector.broadcast(S, x1);
            FloatVector v2 = FloatVector.broadcast(S, x2), v3 = FloatVector.broadcast(S, x3);
            int r = 0;
            for (; r < vEnd; r += L) {
                FloatVector acc = FloatVector.fromArray(S, y, r);
                acc = load(c0 + r).fma(v0, acc);
                acc = load(c1 + r).fma(v1, acc);
                acc = load(c2 + r).fma(v2, acc);
                acc = load(c3 + r).fma(v3, acc);
                acc.intoArray(y, r);
            }
            for (; r < rows; r++) {
                float s = y[r];
                s += at(c0 + r) * x0; s += at(c1 + r) * x1; s += at(c2 + r) * x2; s += at(c3 + r) * x3;
                y[r] = s;
            }
        }
        for (; i < i1; i++) {
            float xi = x[i];
            long c = (long) i * rows;
            FloatVector v = FloatVector.broadcast(S, xi);
            int r = 0;
            for (; r < vEnd; r += L) load(c + r).fma(v, FloatVector.fromArray(S, y, r)).intoArray(y, r);
            for (; r < rows; r++) y[r] += at(c + r) * xi;
        }
    }

    /**
     * Prefill. Float32: {@link ColumnMajorLinear#matmul} on the mapped bytes. Halves: each task owns
     * tiles of RT outputs; for each chunk of KC inputs it widens the tile's [KC][RT] block once into
     * a float buffer, then every group of 4 tokens runs a 4 x 4-vector register tile over it
     * (16 accumulators), adding into the task's [n][RT] accumulator. Each output's sum runs over the
     * inputs in order whatever the thread count.
     */
    @Override public void matmul(float[] x, int n, float[] y) {
        Kernels.checkMatmul(this, x, n, y);
        if (n == 1) { matvec(x, y); return; }
        if (f32 != null) { f32.matmul(x, n, y); return; }
        if (rows == 0) return;
        int tiles = (rows + RT - 1) / RT;
        Parallel.forRange(tiles, 1, (t0, t1) -> {
            float[] wb = new float[KC * RT], acc = new float[n * RT];
            for (int tile = t0; tile < t1; tile++) {
                int rt = tile * RT, nr = Math.min(RT, rows - rt);
                java.util.Arrays.fill(acc, 0f);
                for (int k0 = 0; k0 < cols; k0 += KC) {
                    int kc = Math.min(KC, cols - k0);
                    widenBlock(k0, kc, rt, nr, wb);
                    int t = 0;
                    for (; t + 4 <= n; t += 4) tile4(wb, kc, x, t * cols + k0, cols, acc, t * RT);
                    for (; t < n; t++) tile1(wb, kc, x, t * cols + k0, acc, t * RT);
                }
                for (int t = 0; t < n; t++) System.arraycopy(acc, t * RT, y, t * rows + rt, nr);
            }
        });
    }

    /** wb[i * RT + r] = W[rt + r, k0 + i] for i < kc, r < nr; zero for r >= nr (a partial last tile). */
    private void widenBlock(int k0, int kc, int rt, int nr, float[] wb) {
        for (int i = 0; i < kc; i++) {
            long c = (long) (k0 + i) * rows + rt;
            int o = i * RT;
            if (nr == RT) {
                load(c).intoArray(wb, o); load(c + L).intoArray(wb, o + L);
                load(c + 2 * L).intoArray(wb, o + 2 * L); load(c + 3 * L).intoArray(wb, o + 3 * L);
            } else {
                for (int r = 0; r < nr; r++) wb[o + r] = at(c + r);
                java.util.Arrays.fill(wb, o + nr, o + RT, 0f);
            }
        }
    }

    /** acc[ao + k*RT + 0..RT) += sum_i x[xo + k*xs + i] * wb[i*RT + 0..RT) for tokens k = 0..3. */
    private static void tile4(float[] wb, int kc, float[] x, int xo, int xs, float[] acc, int ao) {
        int y1 = ao + RT, y2 = y1 + RT, y3 = y2 + RT;
        FloatVector a00 = FloatVector.fromArray(S, acc, ao), a01 = FloatVector.fromArray(S, acc, ao + L);
        FloatVector a02 = FloatVector.fromArray(S, acc, ao + 2 * L), a03 = FloatVector.fromArray(S, acc, ao + 3 * L);
        FloatVector a10 = FloatVector.fromArray(S, acc, y1), a11 = FloatVector.fromArray(S, acc, y1 + L);
        FloatVector a12 = FloatVector.fromArray(S, acc, y1 + 2 * L), a13 = FloatVector.fromArray(S, acc, y1 + 3 * L);
        FloatVector a20 = FloatVector.fromArray(S, acc, y2), a21 = FloatVector.fromArray(S, acc, y2 + L);
        FloatVector a22 = FloatVector.fromArray(S, acc, y2 + 2 * L), a23 = FloatVector.fromArray(S, acc, y2 + 3 * L);
        FloatVector a30 = FloatVector.fromArray(S, acc, y3), a31 = FloatVector.fromArray(S, acc, y3 + L);
        FloatVector a32 = FloatVector.fromArray(S, acc, y3 + 2 * L), a33 = FloatVector.fromArray(S, acc, y3 + 3 * L);
        int x0 = xo, x1 = xo + xs, x2 = x1 + xs, x3 = x2 + xs;
        for (int i = 0, b = 0; i < kc; i++, b += RT) {
            FloatVector w0 = FloatVector.fromArray(S, wb, b), w1 = FloatVector.fromArray(S, wb, b + L);
            FloatVector w2 = FloatVector.fromArray(S, wb, b + 2 * L), w3 = FloatVector.fromArray(S, wb, b + 3 * L);
            FloatVector v = FloatVector.broadcast(S, x[x0 + i]);
            a00 = w0.fma(v, a00); a01 = w1.fma(v, a01); a02 = w2.fma(v, a02); a03 = w3.fma(v, a03);
            v = FloatVector.broadcast(S, x[x1 + i]);
            a10 = w0.fma(v, a10); a11 = w1.fma(v, a11); a12 = w2.fma(v, a12); a13 = w3.fma(v, a13);
            v = FloatVector.broadcast(S, x[x2 + i]);
            a20 = w0.fma(v, a20); a21 = w1.fma(v, a21); a22 = w2.fma(v, a22); a23 = w3.fma(v, a23);
            v = FloatVector.broadcast(S, x[x3 + i]);
            a30 = w0.fma(v, a30); a31 = w1.fma(v, a31); a32 = w2.fma(v, a32); a33 = w3.fma(v, a33);
        }
        a00.intoArray(acc, ao); a01.intoArray(acc, ao + L); a02.intoArray(acc, ao + 2 * L); a03.intoArray(acc, ao + 3 * L);
        a10.intoArray(acc, y1); a11.intoArray(acc, y1 + L); a12.intoArray(acc, y1 + 2 * L); a13.intoArray(acc, y1 + 3 * L);
        a20.intoArray(acc, y2); a21.intoArray(acc, y2 + L); a22.intoArray(acc, y2 + 2 * L); a23.intoArray(acc, y2 + 3 * L);
        a30.intoArray(acc, y3); a31.intoArray(acc, y3 + L); a32.intoArray(acc, y3 + 2 * L); a33.intoArray(acc, y3 + 3 * L);
    }

    /** One token of {@link #tile4}. */
    private static void tile1(float[] wb, int kc, float[] x, int xo, float[] acc, int ao) {
        FloatVector a0 = FloatVector.fromArray(S, acc, ao), a1 = FloatVector.fromArray(S, acc, ao + L);
        FloatVector a2 = FloatVector.fromArray(S, acc, ao + 2 * L), a3 = FloatVector.fromArray(S, acc, ao + 3 * L);
        for (int i = 0, b = 0; i < kc; i++, b += RT) {
            FloatVector v = FloatVector.broadcast(S, x[xo + i]);
            a0 = FloatVector.fromArray(S, wb, b).fma(v, a0); a1 = FloatVector.fromArray(S, wb, b + L).fma(v, a1);
            a2 = FloatVector.fromArray(S, wb, b + 2 * L).fma(v, a2); a3 = FloatVector.fromArray(S, wb, b + 3 * L).fma(v, a3);
        }
        a0.intoArray(acc, ao); a1.intoArray(acc, ao + L); a2.intoArray(acc, ao + 2 * L); a3.intoArray(acc, ao + 3 * L);
    }

    @Override public long bytes() { return (long) dtype.bytes * rows * cols; }
    @Override public long parameters() { return (long) rows * cols; }

    @Override public float[] toDense() {
        if (f32 != null) return f32.toDense();
        float[] out = new float[Math.multiplyExact(rows, cols)];
        for (int c = 0; c < cols; c++)
            for (int r = 0; r < rows; r++) out[r * cols + c] = at((long) c * rows + r);
        return out;
    }

    /** Row-major index (r * cols + c) of the first NaN or infinite weight, or -1; scanned in place, no dense copy. */
    public long firstNonFinite() {
        long first = -1;
        for (long k = 0, n = (long) rows * cols; k < n; k++) {
            boolean bad = switch (dtype) {
                case F32 -> !Float.isFinite(wt.getAtIndex(OffHeap.F32, k));
                case F16 -> (wt.getAtIndex(I16, k) & 0x7c00) == 0x7c00;
                default -> (wt.getAtIndex(I16, k) & 0x7f80) == 0x7f80;
            };
            if (!bad) continue;
            long at = (k % rows) * cols + k / rows;
            if (first < 0 || at < first) first = at;
        }
        return first;
    }

    @Override public String format() {
        return switch (dtype) {
            case F32 -> "dense-f32";
            case F16 -> F16DenseLinear.FORMAT;
            default -> Bf16DenseLinear.FORMAT;
        };
    }

    /**
     * Stores the weight [out, in] as the row-major format of its type would: the transpose goes into
     * an off-heap buffer (one matrix, freed with it), in 64 x 64 blocks so both sides stay in cache.
     */
    @Override public void write(String prefix, SafeTensorsWriter out) {
        long bytes = (long) dtype.bytes * rows * cols;
        MemorySegment t = OffHeap.allocate(Math.max(4, bytes)).asSlice(0, bytes);
        final int B = 64;
        for (int c0 = 0; c0 < cols; c0 += B)
            for (int r0 = 0; r0 < rows; r0 += B) {
                int c1 = Math.min(cols, c0 + B), r1 = Math.min(rows, r0 + B);
                for (int c = c0; c < c1; c++)
                    for (int r = r0; r < r1; r++) {
                        long src = (long) c * rows + r, dst = (long) r * cols + c;
                        if (dtype.bytes == 4) t.setAtIndex(I32, dst, wt.getAtIndex(I32, src));
                        else t.setAtIndex(I16, dst, wt.getAtIndex(I16, src));
                    }
            }
        out.add(prefix + ".weight", dtype, new long[]{rows, cols}, t);
        if (dtype != DType.F32) out.metadata(WeightFormats.META_PREFIX + prefix, format());
    }
}
