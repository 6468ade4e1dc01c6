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
    /**
     * FIRST: only as the first stage (it would undo earlier ones); LAST: nothing may follow it;
     * ANY: anywhere; RUNTIME: after every stage that changes weights (it may follow a LAST stage),
     * for settings computed on the final weights and applied at run time (activation sparsity).
     */
    public enum Placement { FIRST, ANY, LAST, RUNTIME }

    /**
     * What a stage does to a selected linear. A layer that one stage {@link #FACTOR}s may not be
     * {@link #MASK}ed or factored by another stage (the factors would be pruned or split again
     * into something no format stores); {@link #RECODE} (quantization) and {@link #ROTATE} combine
     * with anything their placement allows. {@link #TRAIN} (fine-tuning) moves values but keeps
     * each weight's format, mask and grid, so it may follow any stage, a LAST one included.
     */
    public enum Edit { MASK, FACTOR, ROTATE, RECODE, NONE, TRAIN }

    public static final Kind PRUNE = new Kind("prune", Placement.ANY, false, Edit.MASK, "pruning", "pruning", null);
    public static final Kind LOW_RANK = new Kind("low_rank", Placement.ANY, false, Edit.FACTOR, "factorization", "factorizing", null);
    /** SliceGPT rotates and cuts the hidden dimension, which would undo any change made before it. */
    public static final Kind SLICE = new Kind("slice", Placement.FIRST, true, Edit.ROTATE, "slicing", "slicing", "rotates the weights");
    /**
     * Quantization comes last, once: pruning or factorizing quantized weights would leave them off
     * the quantization grid, and quantizing twice compounds rounding error.
     */
    public static final Kind QUANTIZE = new Kind("quantize", Placement.LAST, true, Edit.RECODE, "quantization", "quantizing", null);

    /**
     * Run-time activation sparsity (TEAL, CATS): thresholds calibrated on the inputs the final
     * weights see, so after quantization; one per recipe (two thresholds on one input compound).
     */
    public static final Kind ACTIVATION = new Kind("activation", Placement.RUNTIME, true, Edit.NONE, "activation sparsity", "sparsifying activations", null);
    /** MoE-ification: an expert map and router over the final MLP weights; once. */
    public static final Kind MOE = new Kind("moe", Placement.RUNTIME, true, Edit.NONE, "MoE-ification", "MoE-ifying", null);

    public Kind {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(placement, "placement");
        Objects.requireNonNull(edit, "edit");
        Objects.requireNonNull(noun, "noun");
        Objects.requireNonNull(gerund, "gerund");
        if (placement == Placement.FIRST && undoes == null) throw new IllegalArgumentException("a FIRST kind says what it undoes");
    }
}
