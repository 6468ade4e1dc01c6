package dev.squish.weights;

import dev.squish.formats.SafeTensors;
import dev.squish.formats.SafeTensorsWriter;

/**
 * Dense-and-sparse decomposition (SqueezeLLM): W = Q + O, a {@link QuantizedLinear} Q plus a
 * {@link SparseLinear} O holding a few full-precision outliers; y = Q x + O x.
 *
 * <p>File: Q under {@code PREFIX.dense.*} and O under {@code PREFIX.outliers.*} (each with its own
 * format metadata); format {@code outlier-int4-g128}, ...
 */
public final class OutlierLinear implements Linear {
    private final QuantizedLinear q;
    private final SparseLinear o;

    public OutlierLinear(QuantizedLinear q, SparseLinear outliers) {
        if (q.rows() != outliers.rows() || q.cols() != outliers.cols())
            throw new IllegalArgumentException("quantized part is " + q.rows() + "x" + q.cols() + ", outliers " + outliers.rows() + "x" + outliers.cols());
        this.q = q; this.o = outliers;
    }

    /**
     * Keeps the {@code fraction} of weights with the largest magnitude in float32 and quantizes the
     * rest (outlier positions set to 0) round-to-nearest with {@link QuantGrid}.
     */
    public static OutlierLinear fromDense(float[] w, int rows, int cols, int bits, int groupSize, boolean sym, double fraction) {
        FormatIO.checkDense(w, rows, cols);
        if (!(fraction >= 0 && fraction < 1)) throw new IllegalArgumentException("outlier fraction must be in [0, 1), got " + fraction);
        int k = (int) Math.round(fraction * w.length);
        float[] out = new float[w.length], rest = w.clone();
        if (k > 0) {
            float[] mags = new float[w.length];
            for (int i = 0; i < w.length; i++) mags[i] = Math.abs(w[i]);
            float[] sorted = mags.clone();
            java.util.Arrays.sort(sorted);
            float thr = sorted[w.length - k];
            int taken = 0;
            for (int i = 0; i < w.length && taken < k; i++)
                if (mags[i] > thr) { out[i] = w[i]; rest[i] = 0; taken++; }
            for (int i = 0; i < w.length && taken < k; i++)
                if (mags[i] == thr && rest[i] != 0) { out[i] = w[i]; rest[i] = 0; taken++; }
        }
        return new OutlierLinear(QuantizedLinear.quantizeRtn(rest, rows, cols, bits, groupSize, sym), SparseLinear.fromDense(out, rows, cols));
    }

    public QuantizedLinear quantized() { return q; }
    public SparseLinear outliers() { return o; }

    @Override public int rows() { return q.rows(); }
    @Override public int cols() { return q.cols(); }

    @Override public void matvec(float[] x, float[] y) {
        Kernels.checkMatvec(this, x, y);
        float[] t = new float[rows()];
        q.matvec(x, y);
        o.matvec(x, t);
        for (int i = 0; i < t.length; i++) y[i] += t[i];
    }

    @Override public void matmul(float[] x, int n, float[] y) {
        Kernels.checkMatmul(this, x, n, y);
        float[] t = new float[n * rows()];
        q.matmul(x, n, y);
        o.matmul(x, n, t);
        for (int i = 0; i < t.length; i++) y[i] += t[i];
    }

    @Override public long bytes() { return q.bytes() + o.bytes(); }
    @Override public long parameters() { return q.parameters() + o.parameters(); }

    @Override public float[] toDense() {
        float[] a = q.toDense(), b = o.toDense();
        for (int i = 0; i < a.length; i++) a[i] += b[i];
        return a;
    }

    @Override public String format() { return "outlier-" + q.format(); }

    @Override public void write(String prefix, SafeTensorsWriter out) {
        q.write(prefix + ".dense", out);
        o.write(prefix + ".outliers", out);
        out.metadata(WeightFormats.META_PREFIX + prefix, format());
    }

    static OutlierLinear read(SafeTensors st, String prefix) {
        Linear q = WeightFormats.read(st, prefix + ".dense", false), o = WeightFormats.read(st, prefix + ".outliers", false);
        if (!(q instanceof QuantizedLinear ql) || !(o instanceof SparseLinear sl))
            throw FormatIO.bad(st, prefix + ".dense.qweight", "should be a quantized part with sparse outliers, found " + q.format() + " and " + o.format());
        return new OutlierLinear(ql, sl);
    }
}
