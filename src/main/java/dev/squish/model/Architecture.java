package dev.squish.model;

import dev.squish.formats.ModelConfig;

import java.util.List;

/**
 * What differs between model families: tensor names, which vectors a block has, and the block's
 * forward pass. Everything else (loading, the decoder loop, calibration, compression) is shared.
 */
public abstract class Architecture {
    public final ModelConfig config;

    protected Architecture(ModelConfig config) { this.config = config; }

    public static Architecture of(ModelConfig c) {
        return switch (c.family()) {
            case LLAMA -> new Llama(c);
            case GPT2 -> new Gpt2(c);
        };
    }

    /** Prefix of block i's tensors in a Hugging Face checkpoint, e.g. {@code model.layers.3.}. */
    public abstract String blockPrefix(int i);

    /** Linear layers of a block in the order the forward pass uses them. */
    public abstract List<String> linearNames();

    /** Vectors every block must have (norms; biases the config asks for). */
    public abstract List<String> requiredVectors();

    /** Vectors a block may have (loaded when present). */
    public List<String> optionalVectors() { return List.of(); }

    /** True when the checkpoint stores linears as [in, out] (GPT-2's Conv1D). */
    public boolean transposedLinears() { return false; }

    /** Checkpoint names of the global tensors. */
    public abstract String embedName();
    public String positionName() { return null; }
    public abstract String finalNormName();
    public String finalNormBiasName() { return null; }
    public abstract String headName();

    /** Width of the key/value cache rows for a block. */
    public abstract int kvDim(Block b);

    /**
     * Runs block b on x ([n, width], positions pos0..pos0+n-1) and returns the block's output:
     * x itself updated in place, or a new array when a shortcut changes the residual's width.
     */
    public abstract float[] forwardBlock(Block b, float[] x, int n, int pos0, KVCache cache, LinearObserver obs);

    /** The final norm over [n, width]. */
    public abstract void finalNorm(Model m, float[] x, int n);
}
