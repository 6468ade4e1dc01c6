package dev.squish.weights;

/**
 * The integer grid shared by every quantizer (RTN, GPTQ, AWQ) and the packed storage format, in
 * the convention of the GPTQ reference code: codes are unsigned {@code q in [0, 2^bits - 1]},
 * {@code w ~= scale * (q - zero)}.
 * <ul>
 *   <li>asymmetric: {@code scale = (max - min) / maxq}, {@code zero = round(-min / scale)};</li>
 *   <li>symmetric: {@code scale = 2 * max|w| / maxq}, {@code zero = (maxq + 1) / 2}.</li>
 * </ul>
 * The range always includes 0 (min clipped to <= 0, max to >= 0), so zero weights stay exactly 0.
 */
public final class QuantGrid {
    private QuantGrid() {}

    public static int maxq(int bits) { return (1 << bits) - 1; }

    /** The group size a format stores for a requested one: at most the row (at least 1); <= 0 means one group per row. */
    public static int groupSize(int requested, int cols) {
        int row = Math.max(cols, 1);
        return requested <= 0 ? row : Math.min(requested, row);
    }

    /** Groups per row: ceil(cols / groupSize), 0 for an empty row. */
    public static int groups(int cols, int groupSize) { return cols == 0 ? 0 : (cols + groupSize - 1) / groupSize; }

    /** Computes {scale, zero} for values w[off + k*stride], k < n. */
    public static float[] params(float[] w, int off, int n, int stride, int bits, boolean sym) {
        float min = 0, max = 0;
        for (int k = 0; k < n; k++) {
            float v = w[off + k * stride];
            if (v < min) min = v;
            if (v > max) max = v;
        }
        return params(min, max, bits, sym);
    }

    /** {scale, zero} for a range [min, max] (min <= 0 <= max is enforced). */
    public static float[] params(float min, float max, int bits, boolean sym) {
        int maxq = maxq(bits);
        min = Math.min(min, 0); max = Math.max(max, 0);
        if (sym) {
            float a = Math.max(Math.abs(min), max);
            min = -a; max = a;
        }
        if (min == 0 && max == 0) { min = -1; max = 1; }
        float scale = (max - min) / maxq;
        float zero = sym ? (maxq + 1) / 2 : Math.round(-min / scale);
        return new float[]{scale, zero};
    }

    /** The code for w: {@code clamp(round(w / scale) + zero, 0, maxq)}. */
    public static int quantize(float w, float scale, float zero, int maxq) {
        int q = (int) Math.rint(w / scale + zero);
        return q < 0 ? 0 : Math.min(q, maxq);
    }

    public static float dequantize(int q, float scale, float zero) { return scale * (q - zero); }

    /** Quantize-dequantize (the value a quantized weight computes with). */
    public static float fake(float w, float scale, float zero, int maxq) {
        return dequantize(quantize(w, scale, zero, maxq), scale, zero);
    }
}
