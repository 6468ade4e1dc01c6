package dev.squish.methods;

import java.util.Objects;

/**
 * What kind of change a method makes, and so where a recipe may place it. Open: a new method may
 * bring its own kind (e.g. an activation-sparsity or a fine-tuning kind) by making one of these;
 * the recipe's order rules read only the fields, never the name.
 *
 * @param id        e.g. {@code prune}
 * @param placement where a stage of this kind may stand among the stages
 * @param once      at most one stage of this kind per recipe
 * @param edit      what it does to the linears it selects (for the layer-overlap rule)
 * @param noun      the kind in error messages, e.g. {@code quantization}
 * @param gerund    e.g. {@code quantizing} ("quantizing twice")
 * @param undoes    for a {@link Placement#FIRST} kind: why it must come first, e.g.
 *                  {@code rotates the weights} ("slicegpt rotates the weights, which undoes stage 1")
 */
public record Kind(String id, Placement placement, boolean once, Edit edit, String noun, String gerund, String undoes) {
    /** FIRST: only as the first stage (it would undo earlier ones); LAST: nothing may follow it; ANY: anywhere. */
    public enum Placement { FIRST, ANY, LAST }

    /**
     * What a stage does to a selected linear. A layer that one stage {@link #FACTOR}s may not be
     * {@link #MASK}ed or factored by another stage (the factors would be pruned or split again
     * into something no format stores); {@link #RECODE} (quantization) and {@link #ROTATE} combine
     * with anything their placement allows.
     */
    public enum Edit { MASK, FACTOR, ROTATE, RECODE, NONE }

    public static final Kind PRUNE = new Kind("prune", Placement.ANY, false, Edit.MASK, "pruning", "pruning", null);
    public static final Kind LOW_RANK = new Kind("low_rank", Placement.ANY, false, Edit.FACTOR, "factorization", "factorizing", null);
    /** SliceGPT rotates and cuts the hidden dimension, which would undo any change made before it. */
    public static final Kind SLICE = new Kind("slice", Placement.FIRST, true, Edit.ROTATE, "slicing", "slicing", "rotates the weights");
    /**
     * Quantization comes last, once: pruning or factorizing quantized weights would leave them off
     * the quantization grid, and quantizing twice compounds rounding error.
     */
    public static final Kind QUANTIZE = new Kind("quantize", Placement.LAST, true, Edit.RECODE, "quantization", "quantizing", null);

    public Kind {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(placement, "placement");
        Objects.requireNonNull(edit, "edit");
        Objects.requireNonNull(noun, "noun");
        Objects.requireNonNull(gerund, "gerund");
        if (placement == Placement.FIRST && undoes == null) throw new IllegalArgumentException("a FIRST kind says what it undoes");
    }
}
