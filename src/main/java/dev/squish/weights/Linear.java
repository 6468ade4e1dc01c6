package dev.squish.weights;

import dev.squish.formats.SafeTensorsWriter;

/**
 * A linear layer's weight W of shape [rows = out features, cols = in features], stored in some
 * format (dense, sparse, N:M, low-rank, quantized, ...). Every format computes with its own
 * kernels; nothing here assumes a dense copy exists. Biases live in the model, not here.
 *
 * <p>Activations are row-major: a batch of n tokens is {@code x[t * cols + i]}.
 */
public interface Linear {
    int rows();

    int cols();

    /** y[o] = sum_i W[o, i] * x[i] for o < rows. x has cols entries, y has rows entries. */
    void matvec(float[] x, float[] y);

    /** y[t * rows + o] = sum_i W[o, i] * x[t * cols + i] for t < n (prefill: matrix-matrix). */
    void matmul(float[] x, int n, float[] y);

    /** Bytes of weight data in this format (what it costs in memory and on disk). */
    long bytes();

    /** Parameters actually stored (non-zeros for sparse formats, A and B for low-rank). */
    long parameters();

    /** A row-major dense copy [rows x cols] (for export, tests and methods that start from dense). */
    float[] toDense();

    /** Short name of the format, e.g. {@code dense-f32}, {@code csr}, {@code 2:4}, {@code lowrank}, {@code int4-g128}. */
    String format();

    /**
     * Writes this weight's tensors under {@code prefix} (e.g. {@code model.layers.0.mlp.up_proj})
     * and records its format in the file metadata, so {@link WeightFormats#read} can load it back.
     */
    void write(String prefix, SafeTensorsWriter out);
}
