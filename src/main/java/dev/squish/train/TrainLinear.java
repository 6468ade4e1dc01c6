package dev.squish.train;

import dev.squish.weights.Linear;

import java.util.List;

/**
 * A linear layer during training, in double: y = x W^T for x [n, cols]. {@link #backward}
 * accumulates the gradients of its parameters and returns dL/dx. {@link #toLinear} gives the
 * trained weight back in the format it came in (a pruned matrix stays sparse with the same mask).
 */
public interface TrainLinear {
    int rows();

    int cols();

    double[] forward(double[] x, int n);

    /** Accumulates parameter gradients from dy and returns dx [n, cols]. */
    double[] backward(double[] x, double[] dy, int n);

    List<Param> params();

    Linear toLinear();
}
