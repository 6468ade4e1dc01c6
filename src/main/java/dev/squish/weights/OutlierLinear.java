package dev.squish.weights;

import dev.squish.formats.SafeTensors;
import dev.squish.formats.SafeTensorsWriter;

/**
 * Dense-and-sparse weight (SqueezeLLM, Kim et al. 2023): {@code W = Q + S}, a quantized matrix Q
 * (the bulk, with the outlier positions at 0) plus a sparse full-precision matrix S holding the
 * few largest-magnitude entries. Each part runs its own kernel and the outputs are added; no
 * dense copy of W is made.
 *
 * <p>File: the quantized part under {@code PREFIX.base} and the outliers under
 * {@code PREFIX.outliers}, each in its own format (recorded in the metadata as usual), plus
 * {@code squish.format.PREFIX = BASEFORMAT+outliers}.
 */
public final class OutlierLinear implements Linear {
    public static final String SUFFIX = "+outliers";

    private final Linear base;
    private final Linear outliers;

    public OutlierLinear(Linear base, Linear outliers) {
        if (base.rows() != outliers.rows() || base.cols() != outliers.cols())
            throw new IllegalArgumentException("base " + base.rows() + "x" + base.cols() + " and outliers " + outliers.rows() + "x" + outliers.cols() + " differ");
        this.base = base; this.outliers = outliers;
    }

    public Linear base() { return base; }
    public Linear outliers() { return outliers; }

    @Override public int rows() { return base.rows(); }
    @Override public int cols() { return base.cols(); }

    @Override public void matvec(float[] x, float[] y) {
        base.matvec(x, y);
        float[] s = new float[rows()];
        outliers.matvec(x, s);
        for (int i = 0; i < s.length; i++) y[i] += s[i];
    }

    @Override public void matmul(float[] x, int n, float[] y) {
        base.matmul(x, n, y);
        float[] s = new float[n * rows()];
        outliers.matmul(x, n, s);
        for (int i = 0; i < s.length; i++) y[i] += s[i];
    }

    @Override public long bytes() { return base.bytes() + outliers.bytes(); }

    @Override public long parameters() { return base.parameters() + outliers.parameters(); }

    @Override public float[] toDense() {
        float[] a = base.toDense(), b = outliers.toDense();
        for (int i = 0; i < a.length; i++) a[i] += b[i];
        return a;
    }

    @Override public String format() { return base.format() + SUFFIX; }

    @Override public void write(String prefix, SafeTensorsWriter out) {
        base.write(prefix + ".base", out);
        outliers.write(prefix + ".outliers", out);
        out.metadata(WeightFormats.META_PREFIX + prefix, format());
    }

    static OutlierLinear read(SafeTensors st, String prefix) {
        return new OutlierLinear(WeightFormats.read(st, prefix + ".base", false), WeightFormats.read(st, prefix + ".outliers", false));
    }
}
