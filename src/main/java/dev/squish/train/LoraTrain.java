package dev.squish.train;

import dev.squish.weights.DenseLinear;
import dev.squish.weights.Linear;
import dev.squish.weights.LoraLinear;
import dev.squish.weights.LowRankLinear;

import java.util.List;
import java.util.SplittableRandom;

/**
 * LoRA (Hu et al. 2021) on a frozen weight of any format: y = W x + (alpha / r) B A x with A
 * [r, cols] drawn uniform in +-1/sqrt(cols) (PEFT's Kaiming-uniform with a = sqrt 5) and B
 * [rows, r] zero, so training starts from the compressed model exactly. At the end the adapter
 * merges into a dense weight, joins a low-rank weight's factors (rank k + r, exact), or stays
 * beside any other format as a {@link LoraLinear}.
 */
public final class LoraTrain implements TrainLinear {
    final FrozenTrain base;
    final Param a, b;
    final int r;
    final double scale;

    public LoraTrain(String name, Linear base, int r, double alpha, long seed) {
        this.base = new FrozenTrain(base);
        this.r = r;
        this.scale = alpha / r;
        int rows = base.rows(), cols = base.cols();
        double[] av = new double[r * cols];
        SplittableRandom rnd = new SplittableRandom(seed);
        double bound = 1 / Math.sqrt(cols);
        for (int i = 0; i < av.length; i++) av[i] = (rnd.nextDouble() * 2 - 1) * bound;
        a = new Param(name + ".lora_a", av, null, true);
        b = new Param(name + ".lora_b", new double[rows * r], null, true);
    }

    @Override public int rows() { return base.rows(); }
    @Override public int cols() { return base.cols(); }

    @Override public double[] forward(double[] x, int n) {
        double[] y = base.forward(x, n);
        double[] d = GradOps.matmul(b.w, rows(), r, GradOps.matmul(a.w, r, cols(), x, n), n);
        for (int i = 0; i < y.length; i++) y[i] += scale * d[i];
        return y;
    }

    @Override public double[] backward(double[] x, double[] dy, int n) {
        double[] dx = base.backward(x, dy, n);
        double[] z = GradOps.matmul(a.w, r, cols(), x, n);
        double[] sdy = new double[dy.length];
        for (int i = 0; i < dy.length; i++) sdy[i] = scale * dy[i];
        GradOps.matmulBackW(sdy, z, n, rows(), r, b.g);
        double[] dz = new double[n * r];
        GradOps.matmulBackX(b.w, rows(), r, sdy, n, dz);
        GradOps.matmulBackW(dz, x, n, r, cols(), a.g);
        GradOps.matmulBackX(a.w, r, cols(), dz, n, dx);
        return dx;
    }

    @Override public List<Param> params() { return List.of(a, b); }

    /** B scaled by alpha / r, as float [rows, r]. */
    private float[] scaledB() {
        float[] f = new float[b.w.length];
        for (int i = 0; i < f.length; i++) f[i] = (float) (scale * b.w[i]);
        return f;
    }

    @Override public Linear toLinear() {
        Linear orig = base.original;
        int rows = rows(), cols = cols();
        if (TrainModel.isDense(orig)) {
            float[] w = new float[rows * cols];
            for (int o = 0; o < rows; o++)
                for (int c = 0; c < cols; c++) {
                    double s = base.w[o * cols + c];
                    for (int j = 0; j < r; j++) s += scale * b.w[o * r + j] * a.w[j * cols + c];
                    w[o * cols + c] = (float) s;
                }
            return new DenseLinear(rows, cols, w);
        }
        if (orig instanceof LowRankLinear lr) {
            // [A_base | sB] [B_base ; A]: the sum of both products, rank k + r.
            int k = lr.rank(), k2 = k + r;
            float[] ab = lr.a().toDense(), bb = lr.b().toDense(), sb = scaledB(), a2 = new float[rows * k2], b2 = new float[k2 * cols];
            for (int o = 0; o < rows; o++) {
                System.arraycopy(ab, o * k, a2, o * k2, k);
                System.arraycopy(sb, o * r, a2, o * k2 + k, r);
            }
            System.arraycopy(bb, 0, b2, 0, k * cols);
            float[] af = a.toFloat();
            System.arraycopy(af, 0, b2, k * cols, r * cols);
            return LowRankLinear.of(a2, b2, rows, k2, cols);
        }
        return new LoraLinear(orig, new DenseLinear(r, cols, a.toFloat()), new DenseLinear(rows, r, scaledB()));
    }
}
