package dev.squish.methods;

import dev.squish.weights.QuantResult;


/**
 * Round-to-nearest quantization on the {@link dev.squish.weights.QuantGrid} grid: per (row, group of consecutive
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

    /** groupSize <= 0 (e.g. -1) quantizes per output channel (one group per row); see {@link QuantResult#roundToNearest}. */
    public static QuantResult quantize(float[] w, int rows, int cols, int bits, int groupSize, boolean sym) {
        Magnitude.checkShape(w, rows, cols);
        return QuantResult.roundToNearest(w, rows, cols, bits, groupSize, sym);
    }
}
