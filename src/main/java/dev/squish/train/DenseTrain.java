package dev.squish.train;

import dev.squish.weights.DenseLinear;
import dev.squish.weights.Linear;
import dev.squish.weights.NMSparseLinear;
import dev.squish.weights.SparseLinear;

import java.util.List;

/**
 * A full matrix, optionally with a fixed sparsity mask: dense, unstructured sparse (CSR) or N:M.
 * Pruned entries stay exactly zero (see {@link Param}), so the trained matrix packs back into its
 * format with the same pattern.
 */
public final class DenseTrain implements TrainLinear {
    public enum Kind { DENSE, SPARSE, NM }

    final Param w;
    final int rows, cols;
    final Kind kind;
    final int n, m;

    public DenseTrain(String name, float[] values, int rows, int cols, Kind kind, int n, int m) {
        this.rows = rows; this.cols = cols; this.kind = kind; this.n = n; this.m = m;
        this.w = kind == Kind.DENSE ? Param.of(name, values, true) : Param.masked(name, values);
    }

    /** A dense matrix over an existing parameter (GPT-2's head tied to the embedding). */
    DenseTrain(Param shared, int rows, int cols) {
        this.w = shared; this.rows = rows; this.cols = cols; this.kind = Kind.DENSE; this.n = 0; this.m = 0;
    }

    @Override public int rows() { return rows; }
    @Override public int cols() { return cols; }

    @Override public double[] forward(double[] x, int n) { return GradOps.matmul(w.w, rows, cols, x, n); }

    @Override public double[] backward(double[] x, double[] dy, int n) {
        GradOps.matmulBackW(dy, x, n, rows, cols, w.g);
        double[] dx = new double[n * cols];
        GradOps.matmulBackX(w.w, rows, cols, dy, n, dx);
        return dx;
    }

    @Override public List<Param> params() { return List.of(w); }

    @Override public Linear toLinear() {
        float[] f = w.toFloat();
        return switch (kind) {
            case DENSE -> new DenseLinear(rows, cols, f);
            case SPARSE -> SparseLinear.fromDense(f, rows, cols);
            case NM -> NMSparseLinear.fromDense(f, rows, cols, n, m);
        };
    }
}
