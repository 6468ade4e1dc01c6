package dev.squish.model;

import dev.squish.SquishException;
import dev.squish.formats.ModelConfig;
import dev.squish.formats.SafeTensors;
import dev.squish.formats.TensorInfo;
import dev.squish.weights.DenseLinear;
import dev.squish.weights.Linear;
import dev.squish.weights.WeightFormats;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A decoder-only language model over a {@link Linear} weight interface. Weights stay in the
 * memory-mapped checkpoint (dense float32) or in their compressed formats; the heap holds only
 * small vectors (norms, biases) and whatever a caller converts.
 */
public final class Model implements AutoCloseable {
    public final Path dir;
    public final ModelConfig config;
    public final Architecture arch;
    public final SafeTensors weights;
    public DenseLinear embed;
    public DenseLinear positions;          // GPT-2 learned positions, else null
    public final List<Block> blocks = new ArrayList<>();
    public float[] finalNorm, finalNormBias;
    public Linear head;
    public boolean tiedHead;
    private AutoCloseable resources;       // what an assembled model owns (e.g. an arena of off-heap weights)

    private Model(Path dir, ModelConfig config, Architecture arch, SafeTensors weights) {
        this.dir = dir; this.config = config; this.arch = arch; this.weights = weights;
    }

    /**
     * A model assembled in memory (benchmarks, tests): no checkpoint behind it. {@code blocks} must
     * hold the architecture's linears and vectors; {@code resources} (may be null) is closed with
     * the model, e.g. the arena holding off-heap weights.
     */
    public static Model assemble(ModelConfig config, Architecture arch, DenseLinear embed, List<Block> blocks,
                                 float[] finalNorm, float[] finalNormBias, Linear head, AutoCloseable resources) {
        if (blocks.size() != config.layers()) throw new IllegalArgumentException(blocks.size() + " blocks, config has " + config.layers());
        Model m = new Model(null, config, arch, null);
        m.embed = embed;
        m.blocks.addAll(blocks);
        m.finalNorm = finalNorm;
        m.finalNormBias = finalNormBias;
        m.head = head;
        m.tiedHead = head == embed;
        m.resources = resources;
        return m;
    }

    /** Loads a Hugging Face model folder or a folder written by Squish (any of its weight formats). */
    public static Model load(Path dir) {
        if (!Files.isDirectory(dir)) throw new SquishException(dir + ": not a model folder");
        ModelConfig c = ModelConfig.load(dir);
        SafeTensors st = SafeTensors.open(dir);
        try {
            Architecture arch = c.family() == ModelConfig.Family.GPT2 && !st.has("transformer.wte.weight") && st.has("wte.weight")
                    ? new Gpt2(c, "") : Architecture.of(c);
            Model m = new Model(dir, c, arch, st);
            m.loadWeights();
            return m;
        } catch (RuntimeException e) {
            st.close();
            throw e;
        }
    }

    private void loadWeights() {
        boolean reshaped = weights.metadata().containsKey("squish.reshaped");
        // Squish's own files store every linear as [out, in]; only plain GPT-2 checkpoints are transposed.
        boolean squishFile = weights.metadata().containsKey("squish.version");
        boolean transposed = arch.transposedLinears() && !squishFile;
        embed = WeightFormats.readDense(weights, arch.embedName(), false);
        if (embed.rows() != config.vocab())
            throw new SquishException(where(arch.embedName()) + ": embedding has " + embed.rows() + " rows but config.json vocab_size is " + config.vocab());
        int width = embed.cols();
        if (!reshaped && width != config.hidden())
            throw new SquishException(where(arch.embedName()) + ": embedding width " + width + " but config.json hidden size is " + config.hidden());
        if (arch.positionName() != null) positions = WeightFormats.readDense(weights, arch.positionName(), false);
        List<Architecture.LayerShape> shapes = layerShapes();
        for (int i = 0; i < config.layers(); i++) {
            Architecture.LayerShape shape = shapes != null ? shapes.get(i)
                    : new Architecture.LayerShape(config.heads(), config.kvHeads(), config.intermediate());
            Block b = new Block(i);
            String p = arch.blockPrefix(i);
            for (String l : arch.linearNames()) {
                Linear lin = WeightFormats.read(weights, p + l, transposed);
                if (!reshaped) checkShape(p + l, lin, shape);
                b.linears.put(l, lin);
            }
            for (String extra : arch.shortcutNames())
                if (weights.metadata().containsKey(WeightFormats.META_PREFIX + p + extra) || weights.has(p + extra + ".weight"))
                    b.linears.put(extra, WeightFormats.read(weights, p + extra, false));
            for (String v : arch.requiredVectors()) {
                // Squish's own file stores only the biases a block has: after structured pruning the
                // config may switch a bias family on (attention_bias) for the o_proj bias FLAP adds,
                // while q/k/v have none; a missing bias there means zeros.
                if (squishFile && v.endsWith(".bias") && !weights.has(p + v)) continue;
                b.vectors.put(v, vector(p + v, b.linears));
            }
            for (String v : arch.optionalVectors()) if (!b.vectors.containsKey(v) && weights.has(p + v)) b.vectors.put(v, vector(p + v, b.linears));
            blocks.add(b);
        }
        finalNorm = weights.get(arch.finalNormName()).toFloatArray();
        if (arch.finalNormBiasName() != null) finalNormBias = weights.get(arch.finalNormBiasName()).toFloatArray();
        if (weights.has(arch.headName()) || weights.metadata().containsKey(WeightFormats.META_PREFIX + stripWeight(arch.headName()))) {
            head = WeightFormats.read(weights, stripWeight(arch.headName()), false);
            tiedHead = false;
        } else if (config.tieEmbeddings()) {
            head = embed;
            tiedHead = true;
        } else {
            throw new SquishException(where(arch.headName()) + ": tensor " + arch.headName() + " is missing (config.json says the head is not tied)");
        }
        // A sliced model's head reads the last block's output, which may be wider than the embedding.
        if (head.rows() != config.vocab() || (!reshaped && head.cols() != width))
            throw new SquishException(where(arch.headName()) + ": head is " + head.rows() + "x" + head.cols() + ", expected " + config.vocab() + "x" + width);
    }

    private static String stripWeight(String name) { return name.endsWith(".weight") ? name.substring(0, name.length() - 7) : name; }

    private float[] vector(String name, java.util.Map<String, Linear> linears) {
        TensorInfo t = weights.get(name);
        if (t.rank() != 1) throw new SquishException(t.file() + ": tensor " + name + " should be 1-D, has shape " + Arrays.toString(t.shape()));
        return t.toFloatArray();
    }

    /** Metadata key of the per-layer shapes of a model whose layers differ (structured pruning); see {@link #layerShapes}. */
    public static final String LAYER_SHAPES = "squish.layer_shapes";

    /**
     * The per-layer shapes recorded by Squish for a model whose blocks differ in heads or MLP width
     * (which no plain config.json can hold): a JSON list of {@code [heads, kv_heads, intermediate]},
     * one per layer; null when the file has none (every layer follows config.json).
     */
    private List<Architecture.LayerShape> layerShapes() {
        return layerShapes(weights, config);
    }

    /** The per-layer shapes recorded in a Squish file (see {@link #LAYER_SHAPES}), or null. */
    public static List<Architecture.LayerShape> layerShapes(SafeTensors weights, ModelConfig config) {
        String s = weights.metadata().get(LAYER_SHAPES);
        if (s == null) return null;
        List<Architecture.LayerShape> out = new ArrayList<>();
        try {
            var node = SafeTensors.JSON.readTree(s);
            for (var e : node) out.add(new Architecture.LayerShape(e.get(0).asInt(), e.get(1).asInt(), e.get(2).asInt()));
        } catch (java.io.IOException | RuntimeException e) {
            throw new SquishException(weights.files().get(0) + ": malformed " + LAYER_SHAPES + " metadata: " + s);
        }
        if (out.size() != config.layers())
            throw new SquishException(weights.files().get(0) + ": " + LAYER_SHAPES + " lists " + out.size() + " layers but config.json has " + config.layers());
        return out;
    }

    private void checkShape(String name, Linear l, Architecture.LayerShape shape) {
        int[] e = arch.expectedShape(name.substring(name.lastIndexOf('.', name.lastIndexOf('.') - 1) + 1), shape);
        if (e != null && (l.rows() != e[0] || l.cols() != e[1]))
            throw new SquishException(where(name + ".weight") + ": tensor " + name + ".weight is " + l.rows() + "x" + l.cols()
                    + " (as [out, in]) but config.json implies " + e[0] + "x" + e[1]);
    }

    private String where(String tensor) {
        TensorInfo t = weights.getOrNull(tensor);
        return t != null ? t.file().toString() : dir.toString();
    }

    public int width() { return embed.cols(); }

    public int vocab() { return config.vocab(); }

    public int maxPositions() { return positions != null ? positions.rows() : config.maxPositions(); }

    /** Token (and position) embeddings for tokens at positions pos0.., as [n, width]. */
    public float[] embed(int[] tokens, int pos0) {
        int n = tokens.length, d = width();
        float[] x = new float[n * d];
        float[] row = positions != null ? new float[d] : null;
        for (int t = 0; t < n; t++) {
            int id = tokens[t];
            if (id < 0 || id >= embed.rows()) throw new SquishException("token id " + id + " is outside the vocabulary (" + embed.rows() + ")");
            embed.row(id, x, t * d);
            if (row != null) {
                positions.row(pos0 + t, row, 0);
                for (int i = 0; i < d; i++) x[t * d + i] += row[i];
            }
        }
        return x;
    }

    /** Runs all blocks and the final norm; returns the final hidden states [n, width]. */
    public float[] hidden(int[] tokens, int pos0, KVCache cache) {
        if (pos0 + tokens.length > cache.capacity)
            throw new SquishException("sequence of " + (pos0 + tokens.length) + " tokens exceeds the context of " + cache.capacity);
        int n = tokens.length;
        float[] x = embed(tokens, pos0);
        for (Block b : blocks) x = arch.forwardBlock(b, x, n, pos0, cache, LinearObserver.NONE);
        arch.finalNorm(this, x, n);
        return x;
    }

    /** Logits [n, vocab] for every position. */
    public float[] forward(int[] tokens, int pos0, KVCache cache) {
        int n = tokens.length;
        float[] x = hidden(tokens, pos0, cache);
        float[] logits = new float[n * vocab()];
        head.matmul(x, n, logits);
        return logits;
    }

    /** Logits [vocab] of the last position only (generation). */
    public float[] forwardLast(int[] tokens, int pos0, KVCache cache) {
        int n = tokens.length;
        float[] x = hidden(tokens, pos0, cache);
        int d = x.length / n; // the final width (a sliced model's embedding may be narrower)
        float[] last = Arrays.copyOfRange(x, (n - 1) * d, n * d);
        float[] logits = new float[vocab()];
        head.matvec(last, logits);
        return logits;
    }

    public KVCache newCache(int capacity) { return new KVCache(this, Math.min(capacity, maxPositions())); }

    /** Parameters as stored (tied head counted once). */
    public long parameters() {
        long n = embed.parameters() + (positions != null ? positions.parameters() : 0) + finalNorm.length
                + (finalNormBias != null ? finalNormBias.length : 0);
        for (Block b : blocks) n += b.parameters();
        if (!tiedHead) n += head.parameters();
        return n;
    }

    /** Bytes of all weights in their current formats. */
    public long bytes() {
        long n = embed.bytes() + (positions != null ? positions.bytes() : 0) + 4L * finalNorm.length
                + (finalNormBias != null ? 4L * finalNormBias.length : 0);
        for (Block b : blocks) n += b.bytes();
        if (!tiedHead) n += head.bytes();
        return n;
    }

    @Override public void close() {
        if (weights != null) weights.close();
        if (resources != null) {
            try { resources.close(); } catch (Exception e) { throw new IllegalStateException(e); }
        }
    }
}
