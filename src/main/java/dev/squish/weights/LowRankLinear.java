package dev.squish.weights;

import dev.squish.formats.SafeTensors;
import dev.squish.formats.SafeTensorsWriter;
import org.ejml.data.DMatrixRMaj;
import dev.squish.util.Svds;

/**
 * Low-rank weight W = A B with A [rows x k] and B [k x cols], both dense float32 (each a
 * {@link DenseLinear}, so their kernels are the dense Vector API kernels). matvec is B x then A
 * (Bx): {@code k (rows + cols)} multiply-adds instead of {@code rows cols}.
 *
 * <p>File: {@code PREFIX.lowrank_a} F32 [rows, k], {@code PREFIX.lowrank_b} F32 [k, cols] (both
 * memory-mapped on load). Format {@code lowrank}.
 */
public final class LowRankLinear implements Linear {
    public static final String FORMAT = "lowrank";

    private final DenseLinear a, b;

    public LowRankLinear(DenseLinear a, DenseLinear b) {
        if (a.cols() != b.rows()) throw new IllegalArgumentException("A is " + a.rows() + "x" + a.cols() + " but B is " + b.rows() + "x" + b.cols());
        this.a = a; this.b = b;
    }

    /** From row-major A [rows x k] and B [k x cols] (copied). */
    public static LowRankLinear of(float[] a, float[] b, int rows, int k, int cols) {
        return new LowRankLinear(new DenseLinear(rows, k, a), new DenseLinear(k, cols, b));
    }

    /**
     * Best rank-k approximation of w in the Frobenius norm (truncated SVD, EJML, in double):
     * A = U_k sqrt(S_k), B = sqrt(S_k) V_k^T. k is capped at min(rows, cols).
     */
    public static LowRankLinear fromDense(float[] w, int rows, int cols, int k) {
        FormatIO.checkDense(w, rows, cols);
        if (k < 1) throw new IllegalArgumentException("rank must be >= 1, got " + k);
        k = Math.min(k, Math.min(rows, cols));
        Svds.Decomposition d = Svds.svd(Svds.matrix(w, rows, cols));
        DMatrixRMaj u = d.u(), v = d.v();
        float[] a = new float[rows * k], b = new float[k * cols];
        for (int j = 0; j < k; j++) {
            double s = Math.sqrt(d.s()[j]);
            for (int r = 0; r < rows; r++) a[r * k + j] = (float) (u.get(r, j) * s);
            for (int c = 0; c < cols; c++) b[j * cols + c] = (float) (v.get(c, j) * s);
        }
        return of(a, b, rows, k, cols);
    }

    public DenseLinear a() { return a; }
    public DenseLinear b() { return b; }
    public int rank() { return a.cols(); }

    @Override public int rows() { return a.rows(); }
    @Override public int cols() { return b.cols(); }

    @Override public void matvec(float[] x, float[] y) {
        Kernels.checkMatvec(this, x, y);
        float[] t = new float[rank()];
        b.matvec(x, t);
        a.matvec(t, y);
    }

    @Override public void matmul(float[] x, int n, float[] y) {
        Kernels.checkMatmul(this, x, n, y);
        float[] t = new float[n * rank()];
        b.matmul(x, n, t);
        a.matmul(t, n, y);
    }

    @Override public long bytes() { return a.bytes() + b.bytes(); }
    @Override public long parameters() { return a.parameters() + b.parameters(); }

    /** A B, accumulated in double. */
    @Override public float[] toDense() {
        int rows = rows(), cols = cols(), k = rank();
        float[] ad = a.toDense(), bd = b.toDense(), out = new float[rows * cols];
        double[] acc = new double[cols];
        for (int r = 0; r < rows; r++) {
            java.util.Arrays.fill(acc, 0);
            for (int j = 0; j < k; j++) {
                double arj = ad[r * k + j];
                for (int c = 0; c < cols; c++) acc[c] += arj * bd[j * cols + c];
            }
            for (int c = 0; c < cols; c++) out[r * cols + c] = (float) acc[c];
        }
        return out;
    }

    @Override public String format() { return FORMAT; }

    @Override public void write(String prefix, SafeTensorsWriter out) {
        out.add(prefix + ".lowrank_a", dev.squish.formats.DType.F32, new long[]{rows(), rank()}, a.segment());
        out.add(prefix + ".lowrank_b", dev.squish.formats.DType.F32, new long[]{rank(), cols()}, b.segment());
        out.metadata(WeightFormats.META_PREFIX + prefix, FORMAT);
    }

    static LowRankLinear read(SafeTensors st, String prefix) {
        DenseLinear a = WeightFormats.readDense(st, prefix + ".lowrank_a", false);
        DenseLinear b = WeightFormats.readDense(st, prefix + ".lowrank_b", false);
        if (a.cols() != b.rows())
            throw FormatIO.bad(st, prefix + ".lowrank_b", "has " + b.rows() + " rows but " + prefix + ".lowrank_a has rank " + a.cols());
        return new LowRankLinear(a, b);
    }
}
