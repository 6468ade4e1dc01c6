package dev.squish.weights;

import dev.squish.formats.DType;
import dev.squish.formats.SafeTensors;
import dev.squish.formats.SafeTensorsWriter;
import dev.squish.util.Parallel;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

import static dev.squish.weights.Kernels.L;
import static dev.squish.weights.Kernels.S;

/**
 * N:M semi-structured sparse weight (e.g. 2:4, 4:8; any 1 <= N < M <= 16): in every row, each
 * group of M consecutive input columns keeps exactly N slots, stored as N float32 values plus
 * their in-group positions packed at 2 bits (M <= 4) or 4 bits (M <= 16). A last partial group
 * (cols not a multiple of M) also has N slots; slots a group does not need hold 0.
 *
 * <p>Kernel: for L slots at a time it unpacks the L positions with one permute + variable shift +
 * AND, adds the precomputed group start of each slot, and gathers x at those columns (x of one
 * token stays in L1), then FMAs with the L contiguous values. 2:4 moves 8.5 bytes per 4 weights
 * instead of 16.
 *
 * <p>File: {@code PREFIX.values} F32 [rows, N * groups], {@code PREFIX.indices} I32 [rows, words]
 * (slot j of a row at bits [b j, b j + b) of the row's words, LSB first, b = 2 or 4),
 * {@code PREFIX.shape} I32 [rows, cols]. Format name {@code N:M}, e.g. {@code 2:4}.
 */
public final class NMSparseLinear implements Linear {
    private static final VectorSpecies<Integer> IS = S.withLanes(int.class);

    private final int rows, cols, n, m, groups, k, ib, rw;
    private final float[] values;  // [rows * k + PAD]
    private final int[] idx;       // [rows * rw + PAD]
    private final int[] baseCol;   // [k + PAD]: first column of slot j's group
    // per phase (position of a chunk's first slot inside its index word): which word and shift each lane reads
    private final int[][] phaseWord, phaseShift;

    private NMSparseLinear(int rows, int cols, int n, int m, float[] values, int[] idx) {
        this.rows = rows; this.cols = cols; this.n = n; this.m = m;
        this.groups = (cols + m - 1) / m;
        this.k = n * groups;
        this.ib = m <= 4 ? 2 : 4;
        this.rw = (k * ib + 31) >>> 5;
        this.values = values; this.idx = idx;
        this.baseCol = new int[k + Kernels.PAD];
        for (int j = 0; j < k; j++) baseCol[j] = (j / n) * m;
        int chunkBits = L * ib, phases = chunkBits >= 32 ? 1 : 32 / chunkBits;
        phaseWord = new int[phases][L]; phaseShift = new int[phases][L];
        for (int p = 0; p < phases; p++)
            for (int j = 0; j < L; j++) {
                int bit = p * chunkBits + j * ib;
                phaseWord[p][j] = bit >>> 5; phaseShift[p][j] = bit & 31;
            }
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
        return new NMSparseLinear(rows, cols, n, m, values, idx);
    }

    @Override public int rows() { return rows; }
    @Override public int cols() { return cols; }
    public int n() { return n; }
    public int m() { return m; }

    private int position(int r, int j) {
        int bit = j * ib;
        return (idx[r * rw + (bit >>> 5)] >>> (bit & 31)) & ((1 << ib) - 1);
    }

    private float dot(int r, float[] x, int[] scratch, VectorShuffle<Integer>[] shuf, IntVector[] shift) {
        int vo = r * k, wo = r * rw, kv = S.loopBound(k), phases = shuf.length, j = 0;
        IntVector pmask = IntVector.broadcast(IS, (1 << ib) - 1);
        FloatVector acc = FloatVector.zero(S);
        for (; j < kv; j += L) {
            int p = (j / L) % phases;
            IntVector pos = IntVector.fromArray(IS, idx, wo + ((j * ib) >>> 5)).rearrange(shuf[p])
                    .lanewise(VectorOperators.LSHR, shift[p]).and(pmask);
            IntVector.fromArray(IS, baseCol, j).add(pos).intoArray(scratch, 0);
            FloatVector xv = FloatVector.fromArray(S, x, 0, scratch, 0);
            acc = FloatVector.fromArray(S, values, vo + j).fma(xv, acc);
        }
        float s = acc.reduceLanes(VectorOperators.ADD);
        for (; j < k; j++) s += values[vo + j] * x[baseCol[j] + position(r, j)];
        return s;
    }

    @SuppressWarnings("unchecked")
    private VectorShuffle<Integer>[] shuffles() {
        VectorShuffle<Integer>[] s = new VectorShuffle[phaseWord.length];
        for (int p = 0; p < s.length; p++) s[p] = VectorShuffle.fromArray(IS, phaseWord[p], 0);
        return s;
    }

    private IntVector[] shifts() {
        IntVector[] s = new IntVector[phaseShift.length];
        for (int p = 0; p < s.length; p++) s[p] = IntVector.fromArray(IS, phaseShift[p], 0);
        return s;
    }

    @Override public void matvec(float[] x, float[] y) {
        Kernels.checkMatvec(this, x, y);
        Parallel.forRange(rows, 16, (r0, r1) -> {
            int[] scratch = new int[L];
            VectorShuffle<Integer>[] shuf = shuffles();
            IntVector[] shift = shifts();
            for (int r = r0; r < r1; r++) y[r] = dot(r, x, scratch, shuf, shift);
        });
    }

    private void decodeRow(int r, float[] dst, int off) {
        java.util.Arrays.fill(dst, off, off + cols, 0f);
        for (int j = 0; j < k; j++) {
            float v = values[r * k + j];
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
        FormatIO.addF32(out, prefix + ".values", new long[]{rows, k}, values, rows * k);
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
        float[] values = FormatIO.floats(FormatIO.need(st, prefix + ".values", DType.F32, rows, k), Kernels.PAD);
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
