package dev.squish.methods;

import dev.squish.calibration.BlockContext;
import dev.squish.calibration.ModelContext;

/**
 * One compression method at work (one class per method, created by its {@link MethodDescriptor}).
 * The pipeline runs it in three phases:
 * <ol>
 *   <li>{@link #plan} once over the whole model before the first block (global budgets such as
 *       SVD's spectrum allocation, folding norms for SliceGPT);</li>
 *   <li>{@link #compressBlock} for each decoder block in order, after the block's inputs have been
 *       produced by the already-compressed previous blocks;</li>
 *   <li>{@link #finish} once after the last block (e.g. SliceGPT rotates the head).</li>
 * </ol>
 * Weights change only through the contexts ({@code ctx.replace(...)}), so reports stay right.
 */
public interface CompressionMethod {
    MethodDescriptor<?> descriptor();

    /** Name as on the command line, e.g. {@code sparsegpt}. */
    default String name() { return descriptor().id(); }

    /** A one-line description of the settings, e.g. {@code sparsegpt 2:4}. */
    String describe();

    /** From the descriptor: the pipeline skips calibration when no stage needs it. */
    default boolean needsCalibration() { return descriptor().needsCalibration(); }

    default void plan(ModelContext ctx) { }

    void compressBlock(BlockContext ctx);

    default void finish(ModelContext ctx) { }
}
