package dev.squish.weights;

import dev.squish.weights.QuantGrid;

/**
 * A quantized weight matrix on the {@link QuantGrid} convention, in the original column order:
 * {@code weights[r*cols + c] == QuantGrid.dequantize(code(r, c), scale(r, g), zero(r, g))} exactly,
 * with {@code g = c / groupSize}. Groups are runs of {@code groupSize} consecutive input columns
 * (the last one may be shorter); per-channel quantization has {@code groupSize == cols}, one group.
 *
 * @param weights dequantized weights, rows x cols row-major
 * @param codes   unsigned codes in [0, 2^bits - 1] ({@code codes[r*cols + c] & 0xFF}), bits <= 8
 * @param scales  per (row, group): {@code scales[r*groups + g]}
 * @param zeros   per (row, group), same layout (integral values)
 */
public record QuantResult(int rows, int cols, int bits, int groupSize, boolean sym,
                          float[] weights, byte[] codes, float[] scales, float[] zeros) {

    public int groups() { return (cols + groupSize - 1) / groupSize; }

    public int code(int r, int c) { return codes[r * cols + c] & 0xFF; }

    public float scale(int r, int g) { return scales[r * groups() + g]; }

    public float zero(int r, int g) { return zeros[r * groups() + g]; }

    public static QuantResult allocate(int rows, int cols, int bits, int groupSize, boolean sym) {
        if (bits < 1 || bits > 8) throw new IllegalArgumentException("bits must be in 1..8, got " + bits);
        int g = groupSize <= 0 ? cols : groupSize;
        int groups = (cols + g - 1) / g;
        return new QuantResult(rows, cols, bits, g, sym, new float[rows * cols], new byte[rows * cols],
                new float[rows * groups], new float[rows * groups]);
    }
}
