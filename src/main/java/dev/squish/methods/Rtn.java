package dev.squish.methods;

import dev.squish.weights.QuantResult;

import dev.squish.util.Parallel;
import dev.squish.weights.QuantGrid;

/**
 * Round-to-nearest quantization on the {@link QuantGrid} grid: per (row, group of consecutive
 * input columns) min/max parameters, then {@code q = clamp(round(w / scale) + zero, 0, maxq)}
 * (the {@code quant.py} quantizer of IST-DASLab/gptq with {@code weight=True}).
 */
public final class Rtn extends Quantizer {
    public static final class Descriptor extends Family<QuantOptions> {
        public Descriptor() {
            super("rtn", "round-to-nearest quantization (data-free)", java.util.Set.of(),
                    QuantOptions.class, QuantOptions.OPTIONS, QuantOptions::read);
        }

        @Override public CompressionMethod create(QuantOptions o) { return new Rtn(o); }
    }

    static final Descriptor DESCRIPTOR = new Descriptor();

    public Rtn(QuantOptions options) { super(options); }

    public Rtn(int bits, int groupSize, boolean sym) { this(bits, groupSize, sym, 0); }

    public Rtn(int bits, int groupSize, boolean sym, double outliers) { this(new QuantOptions(bits, groupSize, sym, outliers)); }

    @Override public MethodDescriptor<?> descriptor() { return DESCRIPTOR; }

    /** Constraints hold by construction: zero inputs (pruned entries, removed outliers) round to exactly 0. */
    @Override protected QuantResult quantize(dev.squish.calibration.BlockContext ctx, String linear, float[] w, int rows, int cols, Constraints c) {
        return quantize(w, rows, cols, bits, groupSize, sym);
    }

    /** groupSize <= 0 (e.g. -1) quantizes per output channel (one group per row). */
    public static QuantResult quantize(float[] w, int rows, int cols, int bits, int groupSize, boolean sym) {
        Magnitude.checkShape(w, rows, cols);
        QuantResult res = QuantResult.allocate(rows, cols, bits, groupSize, sym);
        int g = res.groupSize(), groups = res.groups(), maxq = QuantGrid.maxq(bits);
        Parallel.forRange(rows, 16, (r0, r1) -> {
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
}
