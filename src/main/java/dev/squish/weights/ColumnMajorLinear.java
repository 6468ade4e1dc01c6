package dev.squish.weights;

import dev.squish.formats.DType;
import dev.squish.formats.SafeTensors;
import dev.squish.formats.SafeTensorsWriter;
import dev.squish.util.Parallel;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Dense float32 weight stored column-major: {@code PREFIX.weight_t} is W transposed, [cols][rows],
 * so input column j's weights {@code W[:, j]} are contiguous. The product is x-stationary,
 * {@code y += x_j * W[:, j]} over the non-zero x_j only: a zero input entry costs nothing, not even
 * the read of its weights. With activation sparsity (TEAL, CATS, MoE-ification) that skips a
 * {@code s} fraction of the weight traffic, which is what decode time is made of.
 *
 * <p>Kernels are hand-written with the Vector API (as {@link DenseLinear}'s): no JVM library has
 * a gather-free column-sparse GEMV over mapped memory. Each task owns a band of output rows and
 * keeps it in a heap accumulator (one band, 4 KiB for 1024 rows, stays in L1) while it streams the
 * band's slice of every kept column, four columns per pass so that one load and one store of the
 * accumulator serve four FMAs.
 */
public final class ColumnMajorLinear implements Linear {
    public static final String FORMAT = "dense-f32-cm";
    static final VectorSpecies<Float> S = dev.squish.util.VectorWidth.FLOAT;
    static final int L = S.length();
    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    /** Input columns per chunk of the prefill kernel: RT rows x 256 columns (64 KiB with AVX-512) stay in L2 across the tokens. */
    static final int KC = 256;

    private final int rows, cols;
    private final MemorySegment wt;   // [cols][rows]

    public ColumnMajorLinear(int rows, int cols, MemorySegment wt) {
        if (wt.byteSize() != 4L * rows * cols) throw new IllegalArgumentException("expected " + cols + "x" + rows + " floats, got " + wt.byteSize() + " bytes");
        this.rows = rows; this.cols = cols; this.wt = wt;
    }

    /** Transposes a row-major [rows x cols] matrix into an off-heap column-major one. */
    public static ColumnMajorLinear of(float[] w, int rows, int cols) {
        FormatIO.checkDense(w, rows, cols);
        float[] t = new float[w.length];
        for (int r = 0; r < rows; r++) for (int c = 0; c < cols; c++) t[c * rows + r] = w[r * cols + c];
        MemorySegment seg = java.lang.foreign.Arena.ofAuto().allocate(Math.max(4, 4L * t.length), 64).asSlice(0, 4L * t.length);
        MemorySegment.copy(t, 0, seg, F32, 0, t.length);
        return new ColumnMajorLinear(rows, cols, seg);
    }

    /** The same weight copied into {@code arena} (anonymous memory, as the benchmark builds its other formats). */
    public ColumnMajorLinear copyTo(java.lang.foreign.Arena arena) {
        MemorySegment seg = arena.allocate(Math.max(4, wt.byteSize()), 64).asSlice(0, wt.byteSize());
        seg.copyFrom(wt);
        return new ColumnMajorLinear(rows, cols, seg);
    }

    @Override public int rows() { return rows; }
    @Override public int cols() { return cols; }

    /** The non-zero entries of x, as indices (what {@link #matvecColumns} takes). */
    @Override public void matvec(float[] x, float[] y) {
        Kernels.checkMatvec(this, x, y);
        int[] idx = ColumnSkip.scratch(cols);
        int nnz = ColumnSkip.select(x, 0, cols, 0f, idx);
        matvecColumns(x, idx, nnz, y);
    }

    /**
     * y = sum over k < count of x[idx[k]] * W[:, idx[k]]: only the listed columns are read (the
     * rest of x is taken as zero, whatever it holds). idx must be increasing.
     *
     * <p>Threads split the kept columns, not the rows: each reads whole columns in increasing
     * address order into its own full-length accumulator (22 KiB for 5,632 rows, in L1/L2), and
     * the accumulators are summed at the end. Splitting rows instead gave each thread 4 KiB pieces
     * of every column, 4 KiB apart, which the hardware prefetcher (stopping at 4 KiB page
     * boundaries) could not stream: measured 2048x5632 at 50% kept on a 1B-shaped model, no
     * faster than the dense row-major product, where whole columns in order run near bandwidth.
     */
    public void matvecColumns(float[] x, int[] idx, int count, float[] y) {
        if (rows == 0) return;
        int threads = (long) count * rows < (1 << 16) ? 1 : Math.min(Parallel.threads(), Math.max(1, count / 8));
        if (threads == 1) {
            java.util.Arrays.fill(y, 0, rows, 0f);
            accumulate(x, 0, idx, 0, count, y, 0, rows);
            return;
        }
        float[][] part = new float[threads][];
        part[0] = y;
        Parallel.forRange(threads, 1, (t0, t1) -> {
            for (int t = t0; t < t1; t++) {
                float[] acc = t == 0 ? y : (part[t] = new float[rows]);
                if (t == 0) java.util.Arrays.fill(y, 0, rows, 0f);
                int k0 = (int) ((long) count * t / threads), k1 = (int) ((long) count * (t + 1) / threads);
                accumulate(x, 0, idx, k0, k1, acc, 0, rows);
            }
        });
        int vEnd = S.loopBound(rows);
        for (int t = 1; t < threads; t++) {
            float[] p = part[t];
            int r = 0;
            for (; r < vEnd; r += L) FloatVector.fromArray(S, y, r).add(FloatVector.fromArray(S, p, r)).intoArray(y, r);
            for (; r < rows; r++) y[r] += p[r];
        }
    }

    /** y[r0..r1) += sum over k in [k0, k1) of x[xo + idx[k]] * W[r0..r1, idx[k]]. */
    private void accumulate(float[] x, int xo, int[] idx, int k0, int count, float[] y, int r0, int r1) {
        int vEnd = r0 + S.loopBound(r1 - r0);
        long rowBytes = 4L * rows;
        int k = k0;
        for (; k + 4 <= count; k += 4) {
            int j0 = idx[k], j1 = idx[k + 1], j2 = idx[k + 2], j3 = idx[k + 3];
            float x0 = x[xo + j0], x1 = x[xo + j1], x2 = x[xo + j2], x3 = x[xo + j3];
            long c0 = j0 * rowBytes, c1 = j1 * rowBytes, c2 = j2 * rowBytes, c3 = j3 * rowBytes;
            FloatVector v0 = FloatVector.broadcast(S, x0), v1 = FloatVector.broadcast(S, x1);
            FloatVector v2 = FloatVector.broadcast(S, x2), v3 = FloatVector.broadcast(S, x3);
            int r = r0;
            for (; r < vEnd; r += L) {
                long o = 4L * r;
                FloatVector acc = FloatVector.fromArray(S, y, r);
                acc = FloatVector.fromMemorySegment(S, wt, c0 + o, LE).fma(v0, acc);
                acc = FloatVector.fromMemorySegment(S, wt, c1 + o, LE).fma(v1, acc);
                acc = FloatVector.fromMemorySegment(S, wt, c2 + o, LE).fma(v2, acc);
                acc = FloatVector.fromMemorySegment(S, wt, c3 + o, LE).fma(v3, acc);
                acc.intoArray(y, r);
            }
            for (; r < r1; r++) {
                long o = 4L * r;
                float s = y[r];
                s += wt.get(F32, c0 + o) * x0; s += wt.get(F32, c1 + o) * x1;
                s += wt.get(F32, c2 + o) * x2; s += wt.get(F32, c3 + o) * x3;
                y[r] = s;
            }
        }
        for (; k < count; k++) {
            int j = idx[k];
            float xj = x[xo + j];
            long c = j * rowBytes;
            FloatVector v = FloatVector.broadcast(S, xj);
            int r = r0;
            for (; r < vEnd; r += L)
                FloatVector.fromMemorySegment(S, wt, c + 4L * r, LE).fma(v, FloatVector.fromArray(S, y, r)).intoArray(y, r);
            for (; r < r1; r++) y[r] += wt.get(F32, c + 4L * r) * xj;
        }
    }

    private static int roundUp(int v, int m) { return (v + m - 1) / m * m; }

    /** Rows per register tile of the prefill kernel: 4 vectors (64 rows with AVX-512). */
    static final int RT = 4 * L;

    /**
     * Prefill: the layout is already [column][row], the form an outer-product micro-kernel with
     * row vectors and broadcast tokens needs, so it runs on the mapped weights
     * directly: tiles of RT rows, chunks of {@link #KC} columns (64 KiB with AVX-512, in L2 while
     * every token group passes), 4 tokens x 4 row vectors = 16 accumulators. Zeros are not skipped
     * here (four tokens rarely share one); TEAL's gain is in decode. Rows past the last whole tile
     * go through the x-stationary kernel, per token.
     */
    @Override public void matmul(float[] x, int n, float[] y) {
        Kernels.checkMatmul(this, x, n, y);
        if (n == 1) { matvec(x, y); return; }
        if (rows == 0) return;
        int tiles = rows / RT, tail = rows - tiles * RT;
        Parallel.forRange(tiles + (tail > 0 ? 1 : 0), 1, (t0, t1) -> {
            for (int tile = t0; tile < t1; tile++) {
                int rt = tile * RT;
                if (tile == tiles) { tailRows(x, n, y, rt); continue; }
                for (int k0 = 0; k0 < cols; k0 += KC) {
                    int kc = Math.min(KC, cols - k0);
                    boolean first = k0 == 0;
                    int t = 0;
                    for (; t + 4 <= n; t += 4) tile4(k0, kc, rt, x, t * cols + k0, cols, y, t * rows + rt, rows, first);
                    for (; t < n; t++) tile1(k0, kc, rt, x, t * cols + k0, y, t * rows + rt, first);
                }
                if (cols == 0) for (int t = 0; t < n; t++) java.util.Arrays.fill(y, t * rows + rt, t * rows + rt + RT, 0f);
            }
        });
    }

    /** The rows from r0 to the end, for every token, by the x-stationary kernel. */
    private void tailRows(float[] x, int n, float[] y, int r0) {
        int nr = rows - r0;
        int[] idx = new int[cols];
        float[] acc = new float[nr];
        for (int t = 0; t < n; t++) {
            int xo = t * cols, cnt = 0;
            for (int j = 0; j < cols; j++) if (x[xo + j] != 0f) idx[cnt++] = j;
            java.util.Arrays.fill(acc, 0f);
            accumulateInto(x, xo, idx, cnt, acc, r0, nr);
            System.arraycopy(acc, 0, y, t * rows + r0, nr);
        }
    }

    /** y[yo + k*ys + 0..RT) (+)= sum_i x[xo + k*xs + i] * W[rt..rt+RT, k0 + i] for tokens k = 0..3. */
    private void tile4(int k0, int kc, int rt, float[] x, int xo, int xs, float[] y, int yo, int ys, boolean first) {
        FloatVector a00, a01, a02, a03, a10, a11, a12, a13, a20, a21, a22, a23, a30, a31, a32, a33;
        int y1 = yo + ys, y2 = y1 + ys, y3 = y2 + ys;
        if (first) {
            a00 = a01 = a02 = a03 = a10 = a11 = a12 = a13 = a20 = a21 = a22 = a23 = a30 = a31 = a32 = a33 = FloatVector.zero(S);
        } else {
            a00 = FloatVector.fromArray(S, y, yo); a01 = FloatVector.fromArray(S, y, yo + L);
            a02 = FloatVector.fromArray(S, y, yo + 2 * L); a03 = FloatVector.fromArray(S, y, yo + 3 * L);
            a10 = FloatVector.fromArray(S, y, y1); a11 = FloatVector.fromArray(S, y, y1 + L);
            a12 = FloatVector.fromArray(S, y, y1 + 2 * L); a13 = FloatVector.fromArray(S, y, y1 + 3 * L);
            a20 = FloatVector.fromArray(S, y, y2); a21 = FloatVector.fromArray(S, y, y2 + L);
            a22 = FloatVector.fromArray(S, y, y2 + 2 * L); a23 = FloatVector.fromArray(S, y, y2 + 3 * L);
            a30 = FloatVector.fromArray(S, y, y3); a31 = FloatVector.fromArray(S, y, y3 + L);
            a32 = FloatVector.fromArray(S, y, y3 + 2 * L); a33 = FloatVector.fromArray(S, y, y3 + 3 * L);
        }
        int x0 = xo, x1 = xo + xs, x2 = x1 + xs, x3 = x2 + xs;
        long rowBytes = 4L * rows;
        long b = k0 * rowBytes + 4L * rt;
        for (int i = 0; i < kc; i++, b += rowBytes) {
            FloatVector w0 = FloatVector.fromMemorySegment(S, wt, b, LE), w1 = FloatVector.fromMemorySegment(S, wt, b + 4L * L, LE);
            FloatVector w2 = FloatVector.fromMemorySegment(S, wt, b + 8L * L, LE), w3 = FloatVector.fromMemorySegment(S, wt, b + 12L * L, LE);
            FloatVector v = FloatVector.broadcast(S, x[x0 + i]);
            a00 = w0.fma(v, a00); a01 = w1.fma(v, a01); a02 = w2.fma(v, a02); a03 = w3.fma(v, a03);
            v = FloatVector.broadcast(S, x[x1 + i]);
            a10 = w0.fma(v, a10); a11 = w1.fma(v, a11); a12 = w2.fma(v, a12); a13 = w3.fma(v, a13);
            v = FloatVector.broadcast(S, x[x2 + i]);
            a20 = w0.fma(v, a20); a21 = w1.fma(v, a21); a22 = w2.fma(v, a22); a23 = w3.fma(v, a23);
            v = FloatVector.broadcast(S, x[x3 + i]);
            a30 = w0.fma(v, a30); a31 = w1.fma(v, a31); a32 = w2.fma(v, a32); a33 = w3.fma(v, a33);
        }
        a00.intoArray(y, yo); a01.intoArray(y, yo + L); a02.intoArray(y, yo + 2 * L); a03.intoArray(y, yo + 3 * L);
        a10.intoArray(y, y1); a11.intoArray(y, y1 + L); a12.intoArray(y, y1 + 2 * L); a13.intoArray(y, y1 + 3 * L);
        a20.intoArray(y, y2); a21.intoArray(y, y2 + L); a22.intoArray(y, y2 + 2 * L); a23.intoArray(y, y2 + 3 * L);
        a30.intoArray(y, y3); a31.intoArray(y, y3 + L); a32.intoArray(y, y3 + 2 * L); a33.intoArray(y, y3 + 3 * L);
    }

    /** One token of {@link #tile4}. */
    private void tile1(int k0, int kc, int rt, float[] x, int xo, float[] y, int yo, boolean first) {
        FloatVector a0, a1, a2, a3;
        if (first) a0 = a1 = a2 = a3 = FloatVector.zero(S);
        else {
            a0 = FloatVector.fromArray(S, y, yo); a1 = FloatVector.fromArray(S, y, yo + L);
            a2 = FloatVector.fromArray(S, y, yo + 2 * L); a3 = FloatVector.fromArray(S, y, yo + 3 * L);
        }
        long rowBytes = 4L * rows;
        long b = k0 * rowBytes + 4L * rt;
        for (int i = 0; i < kc; i++, b += rowBytes) {
            FloatVector v = FloatVector.broadcast(S, x[xo + i]);
            a0 = FloatVector.fromMemorySegment(S, wt, b, LE).fma(v, a0); a1 = FloatVector.fromMemorySegment(S, wt, b + 4L * L, LE).fma(v, a1);
            a2 = FloatVector.fromMemorySegment(S, wt, b + 8L * L, LE).fma(v, a2); a3 = FloatVector.fromMemorySegment(S, wt, b + 12L * L, LE).fma(v, a3);
        }
        a0.intoArray(y, yo); a1.intoArray(y, yo + L); a2.intoArray(y, yo + 2 * L); a3.intoArray(y, yo + 3 * L);
    }

    /** acc[0..nr) += sum_k x[xo + idx[k]] * W[r0 + (0..nr), idx[k]] (acc indexed from the band's first row). */
    private void accumulateInto(float[] x, int xo, int[] idx, int count, float[] acc, int r0, int nr) {
        int vEnd = S.loopBound(nr);
        long rowBytes = 4L * rows, base = 4L * r0;
        for (int k = 0; k < count; k++) {
            int j = idx[k];
            float xj = x[xo + j];
            long c = j * rowBytes + base;
            FloatVector v = FloatVector.broadcast(S, xj);
            int r = 0;
            for (; r < vEnd; r += L)
                FloatVector.fromMemorySegment(S, wt, c + 4L * r, LE).fma(v, FloatVector.fromArray(S, acc, r)).intoArray(acc, r);
            for (; r < nr; r++) acc[r] += wt.get(F32, c + 4L * r) * xj;
        }
    }

    @Override public long bytes() { return 4L * rows * cols; }

    @Override public long parameters() { return (long) rows * cols; }

    @Override public float[] toDense() {
        float[] out = new float[rows * cols];
        for (int c = 0; c < cols; c++)
            for (int r = 0; r < rows; r++) out[r * cols + c] = wt.getAtIndex(F32, (long) c * rows + r);
        return out;
    }

    @Override public String format() { return FORMAT; }

    @Override public void write(String prefix, SafeTensorsWriter out) {
        out.add(prefix + ".weight_t", DType.F32, new long[]{cols, rows}, wt);
        out.metadata(WeightFormats.META_PREFIX + prefix, FORMAT);
    }

    static ColumnMajorLinear read(SafeTensors st, String prefix) {
        var t = FormatIO.need(st, prefix + ".weight_t", DType.F32, -1, -1);
        return new ColumnMajorLinear(t.dim(1), t.dim(0), t.data());
    }
}
