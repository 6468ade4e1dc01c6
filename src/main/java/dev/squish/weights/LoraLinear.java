package dev.squish.weights;

import dev.squish.formats.SafeTensors;
import dev.squish.formats.SafeTensorsWriter;

/**
 * A frozen weight of any format plus a low-rank adapter: W x + B (A x), with A [r, cols] and B
 * [rows, r] dense float32 (the LoRA scale alpha / r is folded into B). What a LoRA fine-tune of a
 * quantized or sparse model leaves: merging the adapter into an int4 or 2:4 matrix would undo the
 * compression, so it stays beside it, costing {@code r (rows + cols)} extra multiply-adds per token.
 *
 * <p>File: the base under {@code PREFIX} in its own format, {@code PREFIX.lora_a} F32 [r, cols],
 * {@code PREFIX.lora_b} F32 [rows, r]; format {@code lora+BASE}.
 */
public final class LoraLinear implements Linear {
    public static final String PREFIX = "lora+";

    private final Linear base;
    private final DenseLinear a, b;

    public LoraLinear(Linear base, DenseLinear a, DenseLinear b) {
        if (a.cols() != base.cols() || b.rows() != base.rows() || a.rows() != b.cols())
            throw new IllegalArgumentException("adapter " + b.rows() + "x" + b.cols() + " . " + a.rows() + "x" + a.cols()
                    + " does not fit a " + base.rows() + "x" + base.cols() + " weight");
        this.base = base; this.a = a; this.b = b;
    }

    public Linear base() { return base; }
    public DenseLinear a() { return a; }
    public DenseLinear b() { return b; }
    public int rank() { return a.rows(); }

    @Override public int rows() { return base.rows(); }
    @Override public int cols() { return base.cols(); }

    @Override public void matvec(float[] x, float[] y) {
        base.matvec(x, y);
        float[] t = new float[rank()], d = new float[rows()];
        a.matvec(x, t);
        b.matvec(t, d);
        for (int i = 0; i < d.length; i++) y[i] += d[i];
    }

    @Override public void matmul(float[] x, int n, float[] y) {
        base.matmul(x, n, y);
        float[] t = new float[n * rank()], d = new float[n * rows()];
        a.matmul(x, n, t);
        b.matmul(t, n, d);
        for (int i = 0; i < d.length; i++) y[i] += d[i];
    }

    @Override public long bytes() { return base.bytes() + a.bytes() + b.bytes(); }
    @Override public long parameters() { return base.parameters() + a.parameters() + b.parameters(); }

    /** W + B A, the product accumulated in double. */
    @Override public float[] toDense() {
        float[] w = base.toDense(), ad = a.toDense(), bd = b.toDense();
        int rows = rows(), cols = cols(), r = rank();
        for (int o = 0; o < rows; o++)
            for (int c = 0; c < cols; c++) {
                double s = 0;
                for (int j = 0; j < r; j++) s += (double) bd[o * r + j] * ad[j * cols + c];
                w[o * cols + c] = (float) (w[o * cols + c] + s);
            }
        return w;
    }

    @Override public String format() { return PREFIX + base.format(); }

    @Override public void write(String prefix, SafeTensorsWriter out) {
        base.write(prefix, out);
        out.add(prefix + ".lora_a", dev.squish.formats.DType.F32, new long[]{rank(), cols()}, a.segment());
        out.add(prefix + ".lora_b", dev.squish.formats.DType.F32, new long[]{rows(), rank()}, b.segment());
        out.metadata(WeightFormats.META_PREFIX + prefix, format());
    }

    static LoraLinear read(SafeTensors st, String prefix, Linear base) {
        DenseLinear a = WeightFormats.readDense(st, prefix + ".lora_a", false);
        DenseLinear b = WeightFormats.readDense(st, prefix + ".lora_b", false);
        if (a.cols() != base.cols() || b.rows() != base.rows() || a.rows() != b.cols())
            throw FormatIO.bad(st, prefix + ".lora_b", "adapter shapes " + b.rows() + "x" + b.cols() + " and " + a.rows() + "x" + a.cols()
                    + " do not fit the " + base.rows() + "x" + base.cols() + " weight");
        return new LoraLinear(base, a, b);
    }
}
