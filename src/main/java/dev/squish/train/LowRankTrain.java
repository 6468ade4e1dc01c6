package dev.squish.train;

import dev.squish.weights.Linear;
import dev.squish.weights.LowRankLinear;

import java.util.List;

/** Low-rank factors W = A B (A [rows, k], B [k, cols]) trained as they are: y = (x B^T) A^T. */
public final class LowRankTrain implements TrainLinear {
    final Param a, b;
    final int rows, k, cols;

    public LowRankTrain(String name, LowRankLinear l) {
        rows = l.rows(); cols = l.cols(); k = l.rank();
        a = Param.of(name + ".lowrank_a", l.a().toDense(), true);
        b = Param.of(name + ".lowrank_b", l.b().toDense(), true);
    }

    @Override public int rows() { return rows; }
    @Override public int cols() { return cols; }

    @Override public double[] forward(double[] x, int n) {
        return GradOps.matmul(a.w, rows, k, GradOps.matmul(b.w, k, cols, x, n), n);
    }

    @Override public double[] backward(double[] x, double[] dy, int n) {
        double[] z = GradOps.matmul(b.w, k, cols, x, n);   // recomputed: k floats per token, cheaper than keeping it
        GradOps.matmulBackW(dy, z, n, rows, k, a.g);
        double[] dz = new double[n * k];
        GradOps.matmulBackX(a.w, rows, k, dy, n, dz);
        GradOps.matmulBackW(dz, x, n, k, cols, b.g);
        double[] dx = new double[n * cols];
        GradOps.matmulBackX(b.w, k, cols, dz, n, dx);
        return dx;
    }

    @Override public List<Param> params() { return List.of(a, b); }

    @Override public Linear toLinear() { return LowRankLinear.of(a.toFloat(), b.toFloat(), rows, k, cols); }
}
