package dev.squish.methods;

import dev.squish.calibration.BlockContext;
import dev.squish.calibration.ModelContext;

/**
 * A stage that works on the whole model at once instead of block by block, e.g. fine-tuning
 * (every block's weights move together under one loss). {@link BlockPipeline} runs the stages
 * before it to the end (every block compressed), then {@link #apply} on the resulting model,
 * then the stages after it as a new block-by-block pass on the changed model.
 */
public interface WholeModelMethod extends CompressionMethod {
    void apply(ModelContext ctx);

    @Override default void compressBlock(BlockContext ctx) {
        throw new IllegalStateException(name() + " works on the whole model, not block by block");
    }
}
