package dev.squish.methods;

import dev.squish.calibration.BlockContext;
import dev.squish.model.Model;

/**
 * One compression method (one class per method). The calibration pipeline calls
 * {@link #compressBlock} for each decoder block in order, after the block's inputs have been
 * produced by the already-compressed previous blocks; the method replaces entries of
 * {@code ctx.block().linears} (and may change vectors) and reports each layer it touched.
 */
public interface CompressionMethod {
    /** Name as on the command line, e.g. {@code sparsegpt}. */
    String name();

    /** A one-line description of the settings, e.g. {@code sparsegpt 2:4}. */
    String describe();

    /** False for data-free methods (magnitude, rtn, svd): the pipeline then skips calibration. */
    boolean needsCalibration();

    /** Called once before the first block (e.g. SliceGPT folds norms here). */
    default void prepare(Model model) { }

    void compressBlock(BlockContext ctx);

    /** Called once after the last block (e.g. SliceGPT rotates the head). */
    default void finish(Model model, BlockPipeline pipeline) { }
}
