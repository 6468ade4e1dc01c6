package dev.squish.weights;

import dev.squish.formats.DType;
import dev.squish.formats.SafeTensors;
import dev.squish.formats.SafeTensorsWriter;

/**
 * A weight of any format whose input is thresholded at run time (TEAL): entries with
 * {@code |x_j| <= threshold} are taken as zero, so their weight columns need not be read. Over a
 * {@link ColumnMajorLinear} the skipped columns are never touched; over a {@link QuantizedLinear}
 * (int4, int8) a column-blocked copy of the codes ({@link ColumnQuantCodes}) can be built
 * ({@link #columnBlocked}, or by default with {@link #INT_COLUMNS}) so that decode computes only
 * the kept columns (prefill keeps the quantized weight's own tile kernels, so both layouts are then
 * held in memory); otherwise, and over other formats (sparse, bf16, N:M, ...), which store rows,
 * the masked input gives TEAL's output but no speedup.
 *
 * <p>File: the base under {@code PREFIX} in its own format, {@code PREFIX.act_threshold} F32 [1];
 * format {@code actsparse+BASE}. A threshold of 0 skips only exact zeros (CATS and MoE-ified
 * MLPs zero the down projection's input themselves).
 */
public final class ActSparseLinear implements Linear {
    public static final String PREFIX = "actsparse+";

    private final Linear base;
    private final float threshold;
    private final ColumnQuantCodes columns;   // decode layout of a quantized base; null for other bases and masking-only instances

    /**
     * Whether a quantized base gets its column-blocked decode copy by default
     * ({@code -Dsquish.intColumnSkip=true}). Off: in the 1B model's decode TEAL 40-50% through it
     * measured 0.59-0.97x of int4 without thresholds on this machine (the kernel alone, one
     * thread, 1.6-1.8x), and it doubles the codes in memory; docs/activation-sparsity.md.
     */
    public static final boolean INT_COLUMNS = Boolean.getBoolean("squish.intColumnSkip");

    /** The thresholded weight as every command runs it. */
    public ActSparseLinear(Linear base, float threshold) { this(base, threshold, INT_COLUMNS); }

    /** With a quantized base: decode through the column-blocked copy of its codes, whatever {@link #INT_COLUMNS} says. */
    public static ActSparseLinear columnBlocked(Linear base, float threshold) { return new ActSparseLinear(base, threshold, true); }

    private ActSparseLinear(Linear base, float threshold, boolean layout) {
        if (!(threshold >= 0) || Float.isInfinite(threshold)) throw new IllegalArgumentException("threshold must be finite and >= 0, got " + threshold);
        if (base instanceof ActSparseLinear) throw new IllegalArgumentException("already thresholded");
        this.base = base; this.threshold = threshold;
        this.columns = layout && base instanceof QuantizedLinear q ? new ColumnQuantCodes(q) : null;
    }

    /**
     * The same function without the column-blocked copy: for trial runs that only need the output
     * (TEAL's greedy allocation installs hundreds), where building the layout would cost more than
     * the products it serves.
     */
    public static ActSparseLinear masking(Linear base, float threshold) { return new ActSparseLinear(base, threshold, false); }

    /** This threshold over another copy of the same weight (what the benchmark's arena copies need), keeping the decode layout. */
    public ActSparseLinear withBase(Linear copy) {
        if (copy == base) return this;
        return new ActSparseLinear(copy, threshold, columns != null);
    }

    /** Whether decode reads only the kept columns' bytes (column-major or column-blocked quantized base). */
    public boolean skipsColumns() { return columns != null || base instanceof ColumnMajorLinear; }

    public Linear base() { return base; }
    public float threshold() { return threshold; }

    @Override public int rows() { return base.rows(); }
    @Override public int cols() { return base.cols(); }

    @Override public void matvec(float[] x, float[] y) {
        Kernels.checkMatvec(this, x, y);
        int cols = cols();
        int[] idx = ColumnSkip.scratch(cols);
        int nnz = ColumnSkip.select(x, 0, cols, threshold, idx);
        if (base instanceof ColumnMajorLinear cm) { cm.matvecColumns(x, idx, nnz, y); return; }
        if (columns != null) { columns.matvecColumns(x, idx, nnz, y); return; }
        float[] xm = new float[cols];
        for (int k = 0; k < nnz; k++) xm[idx[k]] = x[idx[k]];
        base.matvec(xm, y);
    }

    @Override public void matmul(float[] x, int n, float[] y) {
        Kernels.checkMatmul(this, x, n, y);
        if (n == 1) { matvec(x, y); return; }
        base.matmul(mask(x, n * cols(), threshold), n, y);
    }

    /** A copy of x[0..len) with the entries of magnitude at most t set to 0. */
    public static float[] mask(float[] x, int len, float t) {
        float[] xm = new float[len];
        for (int i = 0; i < len; i++) { float v = x[i]; if (Math.abs(v) > t) xm[i] = v; }
        return xm;
    }

    @Override public long bytes() { return base.bytes() + 4; }
    @Override public long parameters() { return base.parameters(); }
    @Override public float[] toDense() { return base.toDense(); }
    @Override public String format() { return PREFIX + base.format(); }

    @Override public void write(String prefix, SafeTensorsWriter out) {
        base.write(prefix, out);
        out.addF32(prefix + ".act_threshold", new long[]{1}, new float[]{threshold});
        out.metadata(WeightFormats.META_PREFIX + prefix, format());
    }

    static ActSparseLinear read(SafeTensors st, String prefix, Linear base) {
        float[] t = FormatIO.need(st, prefix + ".act_threshold", DType.F32, 1).toFloatArray();
        if (!(t[0] >= 0) || Float.isInfinite(t[0])) throw FormatIO.bad(st, prefix + ".act_threshold", "is " + t[0] + ", not a finite threshold >= 0");
        return new ActSparseLinear(base, t[0]);
    }
}
