package dev.squish.model;

import dev.squish.formats.ModelConfig;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * What differs between model families: tensor names, which vectors a block has, the block's
 * forward pass, and, as data for the compression methods, how the block's pieces connect: which
 * operation produces each linear's input (AWQ's scaling groups), which norm feeds which linears
 * and which linear writes back into the residual stream (SliceGPT), which dimensions are coupled
 * (structured pruning, {@link Coupling}) and the shapes config.json implies. Everything else (loading, the decoder
 * loop, calibration, compression) is shared, and no method tests for a family.
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

    /**
     * [rows, cols] of a block linear for a block of the given shape (heads, key/value heads, MLP
     * width), or null for a name the family does not have.
     */
    public abstract int[] expectedShape(String linear, LayerShape shape);

    /** [rows, cols] of a block linear as config.json implies it. */
    public int[] expectedShape(String linear) {
        return expectedShape(linear, new LayerShape(config.heads(), config.kvHeads(), config.intermediate()));
    }

    /**
     * Linears that read one input, and the operation that produces that input: the vectors of a
     * norm (weight, bias) or the last {@code n} output rows of a linear (and its bias), where n is
     * the input width. Dividing the producer's output channel j by s_j and multiplying column j of
     * the readers by s_j leaves the block's function unchanged (AWQ folds its scales so).
     *
     * @param producerVectors the norm's vectors (empty when a linear produces the input)
     * @param producerLinear  the linear whose outputs are the input, or null
     * @param producerBias    that linear's bias vector name (may be absent in the block)
     * @param mlpDown         non-null when the readers are an MLP's gate and up projections (in that
     *                        order) and this is its down projection: the group's output error is
     *                        best measured at the MLP's output
     */
    public record ScalingGroup(String name, List<String> producerVectors, String producerLinear, String producerBias,
                               List<String> linears, String mlpDown) {
        public ScalingGroup {
            producerVectors = List.copyOf(producerVectors);
            linears = List.copyOf(linears);
        }
    }

    /** The scaling groups of block b, in forward order; those the block's shapes do not allow are left out. */
    public abstract List<ScalingGroup> scalingGroups(Block b);

    /**
     * Linears whose outputs only enter the attention scores (queries and keys): their error is
     * softened by the softmax, so AWQ's reference does not clip them.
     */
    public abstract List<String> scoreLinears();

    /**
     * One residual branch of a pre-norm block: the norm's weight, the linears that read the norm's
     * output, the linear that writes the branch's result into the residual stream, and the name of
     * the shortcut linear a sliced model carries on that branch's residual path.
     */
    public record ResidualBranch(String norm, List<String> readers, String writer, String shortcut) {
        public ResidualBranch { readers = List.copyOf(readers); }
    }

    /**
     * The residual branches when the residual stream may be rotated (SliceGPT): the norms are
     * RMSNorms without bias, so their weights fold into the readers and the model becomes
     * invariant to orthogonal rotations. Empty for families where that does not hold (LayerNorm
     * subtracts the mean and has a bias).
     */
    public List<ResidualBranch> rotatableBranches() { return List.of(); }

    /** Names of the shortcut linears a sliced block may carry. */
    public List<String> shortcutNames() {
        List<String> out = new ArrayList<>();
        for (ResidualBranch r : rotatableBranches()) out.add(r.shortcut());
        return out;
    }

    /** Whether block b carries shortcut linears (the model was sliced). */
    public boolean sliced(Block b) {
        for (String s : shortcutNames()) if (b.linears.containsKey(s)) return true;
        return false;
    }

    /** Width of the key/value cache rows for a block. */
    public abstract int kvDim(Block b);

    /**
     * Runs block b on x ([n, width], positions pos0..pos0+n-1) and returns the block's output:
     * x itself updated in place, or a new array when a shortcut changes the residual's width.
     */
    public abstract float[] forwardBlock(Block b, float[] x, int n, int pos0, KVCache cache, LinearObserver obs);

    /** The final norm over [n, width]. */
    public abstract void finalNorm(Model m, float[] x, int n);

    /**
     * Dimensions of a block that structured pruning must remove together, as data: one unit of the
     * coupling is {@code rows.get(l)} consecutive output rows of each linear l in {@code rows}
     * (with the same entries of its bias, when the block has one) and {@code cols.get(l)}
     * consecutive input columns of each linear l in {@code cols}. For the Llama family the
     * attention unit is one key/value group (its query heads, its key and value head, and the
     * matching o_proj columns: a query head cannot go without the key/value head it reads, and a
     * key/value head is shared by its whole group under grouped-query attention); the MLP unit is
     * one channel (a row of gate_proj and up_proj, a column of down_proj).
     *
     * @param output the linear whose output the removed units no longer reach (o_proj, down_proj):
     *               where FLAP compensates with a bias
     */
    public record Coupling(String name, Map<String, Integer> rows, Map<String, Integer> cols, String output) {
        /** Units the block currently has. */
        public int units(Block b) {
            var e = rows.entrySet().iterator().next();
            return b.linear(e.getKey()).rows() / e.getValue();
        }

        /** Weights (and biases) one unit holds in block b: what removing it saves. */
        public long unitParameters(Block b) {
            long n = 0;
            for (var e : rows.entrySet()) {
                n += (long) e.getValue() * b.linear(e.getKey()).cols();
                if (b.vector(e.getKey() + ".bias") != null) n += e.getValue();
            }
            for (var e : cols.entrySet()) n += (long) e.getValue() * b.linear(e.getKey()).rows();
            return n;
        }

        /** Input columns of the {@link #output} linear per unit. */
        public int outputColumns() { return cols.get(output); }
    }

    /** The couplings of this family that structured pruning supports (none by default). */
    public List<Coupling> couplings() { return List.of(); }

    /** The shape of one block: query heads, key/value heads, MLP width (what a plain config holds per model). */
    public record LayerShape(int heads, int kvHeads, int intermediate) {}

    /** Block b's shape as its weights give it. */
    public LayerShape shape(Block b) { return new LayerShape(config.heads(), config.kvHeads(), config.intermediate()); }

    /** The config.json keys for the layer count, query heads, key/value heads and MLP width, in that order. */
    public List<String> configKeys() { return List.of("num_hidden_layers", "num_attention_heads", "num_key_value_heads", "intermediate_size"); }
}
