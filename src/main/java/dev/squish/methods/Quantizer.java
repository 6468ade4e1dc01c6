package dev.squish.methods;

import dev.squish.SquishException;
import dev.squish.calibration.BlockContext;
import dev.squish.weights.Compact;
import dev.squish.weights.Linear;

/**
 * What the weight quantizers share: bits, group size, symmetric or not, the loop over a block's
 * selected linears, packed storage and the per-layer report. Pruned zeros survive quantization
 * exactly (0 is always on the grid), so a prune-then-quantize recipe stores neither.
 */
public abstract class Quantizer implements CompressionMethod {
    protected final int bits, groupSize;
    protected final boolean sym;

    protected Quantizer(int bits, int groupSize, boolean sym) {
        if (bits != 4 && bits != 8) throw new SquishException("--bits must be 4 or 8, got " + bits);
        if (groupSize == 0 || groupSize < -1) throw new SquishException("--group-size must be a positive number of columns or -1 (per channel), got " + groupSize);
        this.bits = bits; this.groupSize = groupSize; this.sym = sym;
    }

    @Override public String describe() {
        return name() + " int" + bits + (groupSize > 0 ? " g" + groupSize : " per-channel") + (sym ? " sym" : " asym");
    }

    /** Quantizes w (rows x cols) of the named linear. */
    protected abstract QuantResult quantize(BlockContext ctx, String linear, float[] w, int rows, int cols);

    @Override public void compressBlock(BlockContext ctx) {
        for (String name : ctx.selectedLinears()) {
            Linear l = ctx.block().linear(name);
            long t0 = System.nanoTime();
            float[] w = l.toDense();
            QuantResult q = quantize(ctx, name, w, l.rows(), l.cols());
            Linear c = Compact.quantized(q, l);
            if (ctx.samples() > 0) ctx.stats();
            ctx.replace(name(), name, c, w, (System.nanoTime() - t0) / 1e9);
        }
    }
}
