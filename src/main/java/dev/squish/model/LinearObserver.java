package dev.squish.model;

/**
 * Sees the input of every linear layer of a block as the forward pass runs (the calibration
 * pipeline accumulates statistics from it). {@code x} holds {@code n} row-major rows of
 * {@code cols} values and must not be modified or kept.
 */
@FunctionalInterface
public interface LinearObserver {
    void input(String linear, float[] x, int n, int cols);

    LinearObserver NONE = (l, x, n, c) -> { };
}
