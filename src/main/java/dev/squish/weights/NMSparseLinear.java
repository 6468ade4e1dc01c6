package dev.squish.weights;

import dev.squish.util.Lanes;
import dev.squish.formats.DType;
import dev.squish.formats.SafeTensors;
import dev.squish.formats.SafeTensorsWriter;
import dev.squish.util.Parallel;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;

import static dev.squish.weights.Kernels.L;
import static dev.squish.weights.Kernels.S;

/**
 * N:M semi-structured sparse weight (e.g. 2:4, 4:8; any 1 <= N < M <= 16): in every row, each
 * group of M consecutive input columns keeps exactly N slots, stored as N float32 values plus
 * their in-group positions packed at 2 bits (M <= 4) or 4 bits (M <= 16). A last partial group
 * (cols not a multiple of M) also has N slots; slots a group does not need hold 0.
 *
 * <p>Kernel, chosen per shape: when M divides the vector length L (2:4, 4:8, 8:16, ...), the
 * positions are also held as a bitmask in memory and a chunk of L columns has exactly (L/M) N
 * values at a fixed offset: one contiguous load, an {@code expand} by the chunk's mask bits, one
 * FMA (no gather, no popcount chain). Otherwise L slots at a time: the L positions are unpacked with
 * a broadcast + variable shift + AND, and the x values fetched by one two-table permute of two x
 * vectors ({@code selectFrom}, vpermt2ps) when the slots span at most 2L columns (M <= 2N), else
 * by a gather. 2:4 moves 8.5 bytes per 4 weights instead of 16.
 *
 * <p>File: {@code PREFIX.values} F32 [rows, N * groups], {@code PREFIX.indices} I32 [rows, words]
 * (slot j of a row at bits [b j, b j + b) of the row's words, LSB first, b = 2 or 4),
 * {@code PREFIX.shape} I32 [rows, cols]. Format name {@code N:M}, e.g. {@code 2:4}.
 */
public final class NMSparseLinear implements Linear {
    private static final VectorSpecies<Integer> IS = S.withLanes(int.class);

    private final int rows, cols, n, m, groups, k, ib, rw;
    private final MemorySegment values;  // float32 [rows * k + PAD], little-endian, off-heap (OffHeap)
    private final int[] idx;       // [rows * rw + PAD]
    private final int[] baseCol;   // [k + PAD]: first column of slot j's group
    /**
     * Vector path: 0 = scalar, 1 = gather x, 2 = two-vector permute of x (M <= 2N and L % N == 0),
     * 3 = bitmask expand (L % M == 0 and positions increasing in every group, as fromDense writes).
     */
    private final int path;
    private final long[] mask;       // path 3: kept positions of the whole groups as a bitmask, [rows * wpr]
    private final int wpr;
    private final int[] laneShift;   // bit offset of lane j's position inside its index word
    private final int[] laneCol;     // path 2: column of lane j's group relative to the chunk's first group
    private final long hiWord;       // lanes that read the second index word (when L * ib = 64)

    private NMSparseLinear(int rows, int cols, int n, int m, MemorySegment values, int[] idx) {
        this.rows = rows; this.cols = cols; this.n = n; this.m = m;
        this.groups = (cols + m - 1) / m;
        this.k = n * groups;
        this.ib = m <= 4 ? 2 : 4;
        this.rw = (k * ib + 31) >>> 5;
        this.values = values; this.idx = idx;
        this.baseCol = new int[k + Kernels.PAD];
        for (int j = 0; j < k; j++) baseCol[j] = (j / n) * m;
        int chunkBits = L * ib;
        laneShift = new int[L]; laneCol = new int[L];
        long hi = 0;
        for (int j = 0; j < L; j++) {
            laneShift[j] = (j * ib) & 31;
            if ((j * ib) >= 32) hi |= 1L << j;
            laneCol[j] = (j / n) * m;
        }
        hiWord = hi;
        this.wpr = Bitmask.words(cols);
        this.mask = 64 % L == 0 && L % m == 0 ? buildMask() : null;
        if (mask != null) path = 3;
        else if (chunkBits > 64 || L > 64) path = 0;
        else if (L % n == 0 && m <= 2 * n) path = 2;
        else path = 1;
    }

    /**
     * The kept positions of every whole group as a bitmask (1 bit per column; for 2:4 as large as
     * the packed positions). Null when some group's positions are not strictly increasing, since
     * the expand kernel assumes the i-th value of a group sits at its i-th set bit.
     */
    private long[] buildMask() {
        long[] mk = new long[rows * wpr];
        int whole = cols / m;
        for (int r = 0; r < rows; r++)
            for (int g = 0; g < whole; g++) {
                int prev = -1;
                for (int s = 0; s < n; s++) {
                    int pos = position(r, g * n + s);
                    if (pos <= prev) return null;
                    prev = pos;
                    int c = g * m + pos;
                    Bitmask.set(mk, wpr, r, c);
                }
            }
        return mk;
    }

    private static void checkNM(int n, int m) {
        if (n < 1 || m > 16 || n >= m) throw new IllegalArgumentException("N:M sparsity needs 1 <= N < M <= 16, got " + n + ":" + m);
    }

    /**
     * Packs w (row-major rows x cols). Each group of m columns may hold at most n non-zeros
     * (fewer is fine: zero slots are stored); more is an {@link IllegalArgumentException}.
     */
    public static NMSparseLinear fromDense(float[] w, int rows, int cols, int n, int m) {
        FormatIO.checkDense(w, rows, cols);
        checkNM(n, m);
        int groups = (cols + m - 1) / m, k = n * groups, ib = m <= 4 ? 2 : 4, rw = (k * ib + 31) >>> 5;
        float[] values = new float[rows * k + Kernels.PAD];
        int[] idx = new int[rows * rw + Kernels.PAD];
        int[] pos = new int[m];
        for (int r = 0; r < rows; r++)
            for (int g = 0; g < groups; g++) {
                int c0 = g * m, width = Math.min(m, cols - c0), cnt = 0;
                for (int i = 0; i < width; i++) if (w[r * cols + c0 + i] != 0) pos[cnt++] = i;
                if (cnt > n) throw new IllegalArgumentException("row " + r + ", columns " + c0 + ".." + (c0 + width - 1)
                        + ": " + cnt + " non-zeros in a group of " + m + ", at most " + n + " allowed for " + n + ":" + m);
                // fill the remaining slots with unused positions (value 0), position 0 if the group is narrower than n
                for (int i = 0; i < width && cnt < n; i++) if (w[r * cols + c0 + i] == 0) pos[cnt++] = i;
                while (cnt < n) pos[cnt++] = 0;
                java.util.Arrays.sort(pos, 0, n);
                for (int s = 0; s < n; s++) {
                    int j = g * n + s, bit = j * ib;
                    boolean dup = s > 0 && pos[s] == pos[s - 1];   // narrow last group: extra slots hold 0
                    values[r * k + j] = dup ? 0f : w[r * cols + c0 + pos[s]];
                    idx[r * rw + (bit >>> 5)] |= pos[s] << (bit & 31);
                }
            }
        return new NMSparseLinear(rows, cols, n, m, OffHeap.copy(values, values.length, values.length), idx);
    }

    @Override public int rows() { return rows; }
    @Override public int cols() { return cols; }
    public int n() { return n; }
    public int m() { return m; }

    private int position(int r, int j) {
        int bit = j * ib;
        return (idx[r * rw + (bit >>> 5)] >>> (bit & 31)) & ((1 << ib) - 1);
    }

    /** Positions (in-group column) of slots j .. j+L-1 of row r (j a multiple of L). */
    private IntVector positions(int r, int j) {
        int bit = j * ib, w = r * rw + (bit >>> 5);
        IntVector words = IntVector.broadcast(IS, idx[w]);
        if (hiWord != 0) words = words.blend(idx[w + 1], VectorMask.fromLong(IS, hiWord));
        IntVector sh = IntVector.fromArray(IS, laneShift, 0);
        if ((bit & 31) != 0) sh = sh.add(bit & 31);
        return words.lanewise(VectorOperators.LSHR, sh).and((1 << ib) - 1);
    }

    /** Path 1: gathers x at the L slot columns. */
    private float dotGather(int r, float[] x, int[] scratch) {
        int vo = r * k, kv = path == 0 ? 0 : S.loopBound(k), j = 0;
        FloatVector acc = FloatVector.zero(S);
        for (; j < kv; j += L) {
            IntVector.fromArray(IS, baseCol, j).add(positions(r, j)).intoArray(scratch, 0);
            acc = FloatVector.fromMemorySegment(S, values, 4L * (vo + j), OffHeap.LE).fma(FloatVector.fromArray(S, x, 0, scratch, 0), acc);
        }
        float s = Lanes.sum(acc);
        for (; j < k; j++) s += values.get(OffHeap.F32, 4L * (vo + j)) * x[baseCol[j] + position(r, j)];
        return s;
    }

    /**
     * Path 2 (e.g. 2:4, 4:8): L slots span at most 2L columns, so the x values they need are
     * picked from two consecutive x vectors by one two-table permute (vpermt2ps) instead of a gather.
     * xp is x copied into a buffer padded by 2L zeros so the last chunk may read past cols.
     */
    private float dotPermute(int r, float[] xp) {
        int vo = r * k, kv = S.loopBound(k), j = 0;
        FloatVector a0 = FloatVector.zero(S), a1 = a0;
        for (; j + 2 * L <= kv; j += 2 * L) {
            int c0 = baseCol[j], c1 = baseCol[j + L];
            FloatVector i0 = (FloatVector) IntVector.fromArray(IS, laneCol, 0).add(positions(r, j)).convert(VectorOperators.I2F, 0);
            FloatVector i1 = (FloatVector) IntVector.fromArray(IS, laneCol, 0).add(positions(r, j + L)).convert(VectorOperators.I2F, 0);
            FloatVector x0 = i0.selectFrom(FloatVector.fromArray(S, xp, c0), FloatVector.fromArray(S, xp, c0 + L));
            FloatVector x1 = i1.selectFrom(FloatVector.fromArray(S, xp, c1), FloatVector.fromArray(S, xp, c1 + L));
            a0 = FloatVector.fromMemorySegment(S, values, 4L * (vo + j), OffHeap.LE).fma(x0, a0);
            a1 = FloatVector.fromMemorySegment(S, values, 4L * (vo + j + L), OffHeap.LE).fma(x1, a1);
        }
        for (; j < kv; j += L) {
            int c0 = baseCol[j];
            FloatVector i0 = (FloatVector) IntVector.fromArray(IS, laneCol, 0).add(positions(r, j)).convert(VectorOperators.I2F, 0);
            FloatVector x0 = i0.selectFrom(FloatVector.fromArray(S, xp, c0), FloatVector.fromArray(S, xp, c0 + L));
            a0 = FloatVector.fromMemorySegment(S, values, 4L * (vo + j), OffHeap.LE).fma(x0, a0);
        }
        float s = Lanes.sum(a0.add(a1));
        for (; j < k; j++) s += values.get(OffHeap.F32, 4L * (vo + j)) * xp[baseCol[j] + position(r, j)];
        return s;
    }

    /**
     * Path 3: a chunk of L columns holds exactly (L / M) N values at a fixed offset, so the values
     * are loaded contiguously and expanded into their columns by the chunk's mask bits (no gather,
     * no popcount chain).
     */
    private float dotMask(int r, float[] x) {
        int vo = r * k, mb = r * wpr, end = S.loopBound((cols / m) * m), c = 0, per = L / m * n;
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
        if (L == 16) {
            for (; c + 64 <= end; c += 64) {
                long w = mask[mb + (c >>> 6)];
                int p = vo + c / m * n;
                a0 = Kernels.expand(FloatVector.fromMemorySegment(S, values, 4L * (p), OffHeap.LE), w & 0xffff).fma(FloatVector.fromArray(S, x, c), a0);
                a1 = Kernels.expand(FloatVector.fromMemorySegment(S, values, 4L * (p + per), OffHeap.LE), (w >>> 16) & 0xffff).fma(FloatVector.fromArray(S, x, c + 16), a1);
                a2 = Kernels.expand(FloatVector.fromMemorySegment(S, values, 4L * (p + 2 * per), OffHeap.LE), (w >>> 32) & 0xffff).fma(FloatVector.fromArray(S, x, c + 32), a2);
                a3 = Kernels.expand(FloatVector.fromMemorySegment(S, values, 4L * (p + 3 * per), OffHeap.LE), w >>> 48).fma(FloatVector.fromArray(S, x, c + 48), a3);
            }
        }
        long laneMask = L >= 64 ? -1L : (1L << L) - 1;
        for (; c < end; c += L) {
            long b = (mask[mb + (c >>> 6)] >>> (c & 63)) & laneMask;
            a0 = Kernels.expand(FloatVector.fromMemorySegment(S, values, 4L * (vo + c / m * n), OffHeap.LE), b).fma(FloatVector.fromArray(S, x, c), a0);
        }
        float s = Lanes.sum(a0.add(a1).add(a2.add(a3)));
        for (int j = c / m * n; j < k; j++) s += values.get(OffHeap.F32, 4L * (vo + j)) * x[baseCol[j] + position(r, j)];
        return s;
    }

    @Override public void matvec(float[] x, float[] y) {
        Kernels.checkMatvec(this, x, y);
        if (path == 3) {
            Parallel.forRange(rows, Parallel.rowGrain(cols), (r0, r1) -> {
                for (int r = r0; r < r1; r++) y[r] = dotMask(r, x);
            });
        } else if (path == 2) {
            float[] xp = java.util.Arrays.copyOf(x, cols + 2 * L);
            Parallel.forRange(rows, Parallel.rowGrain(cols), (r0, r1) -> {
                for (int r = r0; r < r1; r++) y[r] = dotPermute(r, xp);
            });
        } else {
            Parallel.forRange(rows, Parallel.rowGrain(cols), (r0, r1) -> {
                int[] scratch = new int[L];
                for (int r = r0; r < r1; r++) y[r] = dotGather(r, x, scratch);
            });
        }
    }

    private void decodeRow(int r, float[] dst, int off) {
        if (path == 3) {
            int vo = r * k, mb = r * wpr, end = S.loopBound((cols / m) * m), c = 0;
            long laneMask = L >= 64 ? -1L : (1L << L) - 1;
            for (; c < end; c += L) {
                long b = (mask[mb + (c >>> 6)] >>> (c & 63)) & laneMask;
                Kernels.expand(FloatVector.fromMemorySegment(S, values, 4L * (vo + c / m * n), OffHeap.LE), b).intoArray(dst, off + c);
            }
            java.util.Arrays.fill(dst, off + c, off + cols, 0f);
            for (int j = c / m * n; j < k; j++) {
                float v = values.get(OffHeap.F32, 4L * (r * k + j));
                if (v != 0) dst[off + baseCol[j] + position(r, j)] = v;
            }
            return;
        }
        java.util.Arrays.fill(dst, off, off + cols, 0f);
        for (int j = 0; j < k; j++) {
            float v = values.get(OffHeap.F32, 4L * (r * k + j));
            if (v != 0) dst[off + baseCol[j] + position(r, j)] = v;
        }
    }

    @Override public void matmul(float[] x, int n, float[] y) {
        Kernels.checkMatmul(this, x, n, y);
        if (n == 1) { matvec(x, y); return; }
        Kernels.matmulByRows(rows, cols, x, n, y, this::decodeRow);
    }

    @Override public long bytes() { return 4L * rows * k + 4L * rows * rw; }
    /** Stored slots (N per group of M), including slots that hold 0. */
    @Override public long parameters() { return (long) rows * k; }

    @Override public float[] toDense() {
        float[] out = new float[rows * cols];
        for (int r = 0; r < rows; r++) decodeRow(r, out, r * cols);
        return out;
    }

    @Override public String format() { return n + ":" + m; }

    @Override public void write(String prefix, SafeTensorsWriter out) {
        out.add(prefix + ".values", DType.F32, new long[]{rows, k}, values.asSlice(0, 4L * rows * k));
        out.addI32(prefix + ".indices", new long[]{rows, rw}, java.util.Arrays.copyOf(idx, rows * rw));
        FormatIO.writeShape(out, prefix, rows, cols);
        out.metadata(WeightFormats.META_PREFIX + prefix, format());
    }

    /** Parses {@code N:M} into {n, m}, or null. */
    static int[] parseFormat(String fmt) {
        var mt = java.util.regex.Pattern.compile("(\\d{1,2}):(\\d{1,2})").matcher(fmt);
        return mt.matches() ? new int[]{Integer.parseInt(mt.group(1)), Integer.parseInt(mt.group(2))} : null;
    }

    static NMSparseLinear read(SafeTensors st, String prefix, String fmt) {
        int[] nm = parseFormat(fmt);
        int n = nm[0], m = nm[1];
        if (n < 1 || m > 16 || n >= m) throw FormatIO.bad(st, prefix + ".values", "has invalid N:M format '" + fmt + "'");
        int[] shape = FormatIO.shape(st, prefix, 2);
        int rows = shape[0], cols = shape[1], groups = (cols + m - 1) / m, k = n * groups, ib = m <= 4 ? 2 : 4, rw = (k * ib + 31) >>> 5;
        MemorySegment values = OffHeap.copy(FormatIO.need(st, prefix + ".values", DType.F32, rows, k).data(), 4L * Kernels.PAD);
        int[] raw = FormatIO.need(st, prefix + ".indices", DType.I32, rows, rw).toIntArray();
        int[] idx = java.util.Arrays.copyOf(raw, rows * rw + Kernels.PAD);
        NMSparseLinear l = new NMSparseLinear(rows, cols, n, m, values, idx);
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < k; j++) {
                int g = j / n, pos = l.position(r, j);
                if (pos >= Math.min(m, cols - g * m))
                    throw FormatIO.bad(st, prefix + ".indices", "row " + r + " slot " + j + ": position " + pos + " is outside its group of columns");
            }
        return l;
    }
}
