package dev.squish.weights;

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

    public int groups() { return QuantGrid.groups(cols, groupSize); }

    public int code(int r, int c) { return codes[r * cols + c] & 0xFF; }

    public float scale(int r, int g) { return scales[r * groups() + g]; }

    public float zero(int r, int g) { return zeros[r * groups() + g]; }

    /**
     * Round-to-nearest on the {@link QuantGrid} grid, the one implementation (the rtn method and
     * the formats' {@code quantizeRtn} use it): per (row, group of consecutive input columns)
     * min/max parameters, then {@code q = clamp(round(w / scale) + zero, 0, maxq)}. Exact zeros of
     * w come out as code {@code zero} and weight exactly 0. groupSize <= 0 quantizes per output
     * channel. Rows run in parallel (each row's result depends on that row only).
     */
    public static QuantResult roundToNearest(float[] w, int rows, int cols, int bits, int groupSize, boolean sym) {
        FormatIO.checkDense(w, rows, cols);
        QuantResult res = allocate(rows, cols, bits, groupSize, sym);
        int g = res.groupSize(), groups = res.groups(), maxq = QuantGrid.maxq(bits);
        dev.squish.util.Parallel.forRange(rows, 16, (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                for (int gi = 0; gi < groups; gi++) {
                    int c0 = gi * g, c1 = Math.min(cols, c0 + g), off = r * cols;
                    float[] p = QuantGrid.params(w, off + c0, c1 - c0, 1, bits, sym);
                    res.scales()[r * groups + gi] = p[0];
                    res.zeros()[r * groups + gi] = p[1];
                    for (int c = c0; c < c1; c++) {
                        int q = QuantGrid.quantize(w[off + c], p[0], p[1], maxq);
                        res.codes()[off + c] = (byte) q;
                        res.weights()[off + c] = QuantGrid.dequantize(q, p[0], p[1]);
                    }
                }
            }
        });
        return res;
    }

    /** The codes as ints in [0, 2^bits - 1]. */
    public int[] intCodes() {
        int[] out = new int[codes.length];
        for (int i = 0; i < out.length; i++) out[i] = codes[i] & 0xFF;
        return out;
    }

    public static QuantResult allocate(int rows, int cols, int bits, int groupSize, boolean sym) {
        if (bits < 1 || bits > 8) throw new IllegalArgumentException("bits must be in 1..8, got " + bits);
        int g = groupSize <= 0 ? cols : groupSize;
        int groups = QuantGrid.groups(cols, g);
        return new QuantResult(rows, cols, bits, g, sym, new float[rows * cols], new byte[rows * cols],
                new float[rows * groups], new float[rows * groups]);
    }
}
