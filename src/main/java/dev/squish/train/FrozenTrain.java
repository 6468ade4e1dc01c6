package dev.squish.train;

import dev.squish.weights.Linear;

import java.util.List;

/**
 * A weight that does not train (a quantized matrix without adapters, or the base under LoRA):
 * gradients flow through it to its input only. Held as a double copy of {@link Linear#toDense()}
 * so the backward's W^T dy runs for every format with one kernel (8 bytes per weight while
 * training; the original is given back unchanged).
 */
public final class FrozenTrain implements TrainLinear {
    final Linear original;
    final double[] w;

    public FrozenTrain(Linear l) {
        original = l;
        float[] f = l.toDense();
        w = new double[f.length];
        for (int i = 0; i < f.length; i++) w[i] = f[i];
    }

    @Override public int rows() { return original.rows(); }
    @Override public int cols() { return original.cols(); }

    @Override public double[] forward(double[] x, int n) { return GradOps.matmul(w, rows(), cols(), x, n); }

    @Override public double[] backward(double[] x, double[] dy, int n) {
        double[] dx = new double[n * cols()];
        GradOps.matmulBackX(w, rows(), cols(), dy, n, dx);
        return dx;
    }

    @Override public List<Param> params() { return List.of(); }

    @Override public Linear toLinear() { return original; }
}
