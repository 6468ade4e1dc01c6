package dev.squish.bench;

import dev.squish.formats.ModelConfig;
import dev.squish.model.Architecture;
import dev.squish.model.Block;
import dev.squish.model.Model;
import dev.squish.weights.DenseLinear;
import dev.squish.weights.Linear;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Where the benchmark's weights come from: a model folder, or random weights in a named shape
 * generated on the fly. Either way {@link #build} makes a {@link Model} with every linear (head
 * included unless asked otherwise) in one {@link BenchFormat}, from the same dense weights, one
 * matrix at a time, so that only the format being measured is in memory.
 */
public abstract class BenchModel implements AutoCloseable {
    /** Shape of a linear: [rows = out, cols = in]. */
    public record Shape(int rows, int cols) {}

    public abstract String name();

    public abstract ModelConfig config();

    abstract Architecture arch();

    abstract DenseLinear embed();

    /** Learned position embeddings (GPT-2), else null. */
    DenseLinear positions() { return null; }

    /** Linears of block i in forward order, with their shapes. */
    abstract Map<String, Shape> linears(int layer);

    /** A fresh dense copy [rows x cols] of block i's linear (layer -1: the head), row-major. */
    abstract float[] dense(int layer, String name);

    abstract Shape headShape();

    abstract Map<String, float[]> vectors(int layer);

    abstract float[] finalNorm();

    abstract float[] finalNormBias();

    @Override public abstract void close();

    /** Builds the whole model in format f; with denseHead the head stays float32. Close it after use. */
    public Model build(BenchFormat f, boolean denseHead) {
        if (f == BenchFormat.STORED) {
            if (!(this instanceof Folder folder))
                throw new dev.squish.SquishException("--formats stored measures a model folder as compressed; a synthetic model has no stored formats");
            return folder.stored();
        }
        Arena arena = Arena.ofShared();
        try {
            ModelConfig c = config();
            List<Block> blocks = new ArrayList<>();
            for (int i = 0; i < c.layers(); i++) {
                Block b = new Block(i);
                for (var e : linears(i).entrySet()) {
                    Shape s = e.getValue();
                    b.linears.put(e.getKey(), f.make(dense(i, e.getKey()), s.rows(), s.cols(), arena, BenchFormat.seed(7, i, e.getKey())));
                }
                b.vectors.putAll(vectors(i));
                blocks.add(b);
            }
            Shape hs = headShape();
            BenchFormat hf = denseHead ? BenchFormat.DENSE_F32 : f;
            Linear head = hf.make(dense(-1, "lm_head"), hs.rows(), hs.cols(), arena, BenchFormat.seed(7, -1, "lm_head"));
            Model m = Model.assemble(c, arch(), embed(), blocks, finalNorm(), finalNormBias(), head, arena);
            m.positions = positions();
            return m;
        } catch (RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    /** Bytes of dense float32 weights read per decoded token (all linears and the head). */
    public long denseBytesPerToken() {
        long n = 4L * headShape().rows() * headShape().cols();
        for (int i = 0; i < config().layers(); i++) for (Shape s : linears(i).values()) n += 4L * s.rows() * s.cols();
        return n;
    }

    /** The model folder measured, or null for a synthetic model. */
    public Path folder() { return this instanceof Folder f ? f.m.dir : null; }

    public static BenchModel synthetic(String name) { return new Synthetic(name); }

    public static BenchModel folder(Path dir) { return new Folder(Model.load(dir)); }

    /** Random weights (std {@link SyntheticWeights#STD}) in a named Llama shape; norms are ones. */
    static final class Synthetic extends BenchModel {
        private final String name;
        private final ModelConfig config;
        private final Architecture arch;
        private final Arena arena = Arena.ofShared();
        private final DenseLinear embed;

        Synthetic(String name) {
            this.name = name;
            this.config = SyntheticWeights.config(name);
            this.arch = Architecture.of(config);
            float[] e = new float[config.vocab() * config.hidden()];
            SyntheticWeights.fill(e, SyntheticWeights.STD, BenchFormat.seed(1, -2, "embed"));
            this.embed = BenchFormat.offHeap(e, config.vocab(), config.hidden(), arena);
        }

        @Override public String name() { return "synthetic " + name; }
        @Override public ModelConfig config() { return config; }
        @Override Architecture arch() { return arch; }
        @Override DenseLinear embed() { return embed; }

        @Override Map<String, Shape> linears(int layer) {
            // the shapes config.json implies, as the architecture states them
            Map<String, Shape> m = new LinkedHashMap<>();
            for (String l : arch.linearNames()) {
                int[] s = arch.expectedShape(l);
                m.put(l, new Shape(s[0], s[1]));
            }
            return m;
        }

        @Override float[] dense(int layer, String name) {
            Shape s = layer < 0 ? headShape() : linears(layer).get(name);
            float[] w = new float[s.rows() * s.cols()];
            SyntheticWeights.fill(w, SyntheticWeights.STD, BenchFormat.seed(1, layer, name));
            return w;
        }

        @Override Shape headShape() { return new Shape(config.vocab(), config.hidden()); }

        @Override Map<String, float[]> vectors(int layer) {
            Map<String, float[]> v = new LinkedHashMap<>();
            for (String n : arch.requiredVectors()) v.put(n, ones(config.hidden()));
            return v;
        }

        @Override float[] finalNorm() { return ones(config.hidden()); }
        @Override float[] finalNormBias() { return null; }
        @Override public void close() { arena.close(); }

        private static float[] ones(int n) {
            float[] a = new float[n];
            Arrays.fill(a, 1f);
            return a;
        }
    }

    /** The weights of a model folder (any of Squish's formats, read back as dense). */
    static final class Folder extends BenchModel {
        private final Model m;

        Folder(Model m) { this.m = m; }

        @Override public String name() { return m.dir.toString(); }
        @Override public ModelConfig config() { return m.config; }
        @Override Architecture arch() { return m.arch; }
        @Override DenseLinear embed() { return m.embed; }
        @Override DenseLinear positions() { return m.positions; }

        @Override Map<String, Shape> linears(int layer) {
            Map<String, Shape> out = new LinkedHashMap<>();
            m.blocks.get(layer).linears.forEach((k, l) -> out.put(k, new Shape(l.rows(), l.cols())));
            return out;
        }

        @Override float[] dense(int layer, String name) {
            return layer < 0 ? m.head.toDense() : m.blocks.get(layer).linear(name).toDense();
        }

        @Override Shape headShape() { return new Shape(m.head.rows(), m.head.cols()); }
        /** The block's vectors without run-time sparsity (CATS, MoE maps): the formats made from dense weights run the dense MLP. */
        @Override Map<String, float[]> vectors(int layer) {
            Map<String, float[]> v = new LinkedHashMap<>(m.blocks.get(layer).vectors);
            v.keySet().removeAll(dev.squish.model.SparseMlp.VECTORS);
            return v;
        }

        /**
         * The folder's model as stored (its formats, thresholds and expert maps), with the weights
         * the folder maps (dense, column-major) copied into an arena as every other row's are:
         * measured, a mapped 1B-shaped model decoded at a third of the speed of the same floats in
         * anonymous memory on a loaded machine, which would credit or blame the format for the page cache.
         */
        Model stored() {
            Arena arena = Arena.ofShared();
            try {
                List<Block> blocks = new ArrayList<>();
                for (Block b : m.blocks) {
                    Block c = new Block(b.index);
                    b.linears.forEach((k, l) -> c.linears.put(k, inArena(l, arena)));
                    c.vectors.putAll(b.vectors);
                    blocks.add(c);
                }
                Linear head = m.tiedHead ? m.head : inArena(m.head, arena);
                Model s = Model.assemble(m.config, m.arch, m.embed, blocks, m.finalNorm, m.finalNormBias, head, arena);
                s.positions = m.positions;
                return s;
            } catch (RuntimeException | Error e) {
                arena.close();
                throw e;
            }
        }

        private static Linear inArena(Linear l, Arena arena) {
            if (l instanceof dev.squish.weights.ActSparseLinear a) return a.withBase(inArena(a.base(), arena));
            if (l instanceof dev.squish.weights.ColumnMajorLinear c) return c.copyTo(arena);
            if (l instanceof DenseLinear d) return BenchFormat.offHeap(d.toDense(), d.rows(), d.cols(), arena);
            return l;
        }
        @Override float[] finalNorm() { return m.finalNorm; }
        @Override float[] finalNormBias() { return m.finalNormBias; }
        @Override public void close() { m.close(); }
    }
}
