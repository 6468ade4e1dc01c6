package dev.squish.export;

import dev.squish.SquishException;
import dev.squish.formats.SafeTensors;
import dev.squish.formats.SafeTensorsWriter;
import dev.squish.model.Architecture;
import dev.squish.model.Block;
import dev.squish.model.Llama;
import dev.squish.model.Model;
import dev.squish.model.Structure;
import dev.squish.weights.DenseLinear;
import dev.squish.weights.Linear;

import java.io.IOException;
import java.nio.file.*;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Writes a model folder: config.json and the tokenizer files copied from the input, the weights
 * in Squish's compact format ({@code squish.safetensors}, each compressed matrix in its own
 * format), and with {@code dense} also {@code model.safetensors}, plain float32 tensors under the
 * original Hugging Face names that transformers and Jlama load unchanged.
 *
 * <p>Crash safety: everything is written into a temporary folder beside the target and renamed
 * into place only when complete, so an interrupted run leaves no partial output. An existing
 * target is refused unless {@code force}; the input folder is only read.
 */
public final class ModelWriter {
    private ModelWriter() {}

    static final List<String> COPIED = List.of("config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json",
            "special_tokens_map.json", "vocab.json", "merges.txt", "tokenizer.model");

    public static Path write(Model m, Path out, boolean dense, boolean force, Map<String, String> metadata) {
        return writeFolder(m.dir, out, force, tmp -> {
            copyConfig(m.dir, tmp);
            writeSquish(m, tmp.resolve(SafeTensors.SQUISH_FILE), metadata);
            if (dense) writeDense(m, tmp.resolve("model.safetensors"));
        });
    }

    /** Copies config.json and the tokenizer files from a model folder into an output folder. */
    public static void copyConfig(Path modelDir, Path outDir) {
        for (String f : COPIED) {
            Path src = modelDir.resolve(f);
            if (Files.isRegularFile(src)) copy(src, outDir.resolve(f));
        }
    }

    /** Creates {@code out} atomically: {@code body} fills a temporary sibling folder that is then renamed. */
    public static Path writeFolder(Path input, Path out, boolean force, Consumer<Path> body) {
        try (Output o = Output.create(input, out, force)) {
            body.accept(o.dir());
            return o.commit();
        }
    }

    /**
     * An output folder under construction: a temporary sibling of the target
     * ({@code .NAME.tmp-PID-NANOS}) that {@link #commit} renames into place; closing it without a
     * commit deletes it. Creating one refuses an existing target without {@code force} and a target
     * that is, contains or lies inside the input folder, and clears what crashed runs left behind:
     * temporary folders of processes no longer alive, and a replaced output ({@code .NAME.old-PID-NANOS})
     * that a crash left in limbo (restored if the target is missing, else deleted).
     */
    public static final class Output implements AutoCloseable {
        private final Path out, tmp;
        private boolean committed;

        private Output(Path out, Path tmp) { this.out = out; this.tmp = tmp; }

        public static Output create(Path input, Path out, boolean force) {
            out = out.toAbsolutePath().normalize();
            if (input != null) {
                Path in = input.toAbsolutePath().normalize();
                if (out.equals(in) || in.startsWith(out) || out.startsWith(in))
                    throw new SquishException(out + ": output folder must not be, contain or lie inside the input folder " + in);
            }
            Path parent = out.getParent();
            if (parent == null) throw new SquishException(out + ": cannot write a model to the root folder");
            clearStale(out);
            if (Files.exists(out) && !force) throw new SquishException(out + ": output folder already exists (use --force to replace it)");
            if (Files.exists(out) && !Files.isDirectory(out)) throw new SquishException(out + ": exists and is not a folder");
            try {
                Files.createDirectories(parent);
            } catch (IOException e) {
                throw new SquishException(parent + ": cannot create (" + e.getMessage() + ")");
            }
            Path tmp = parent.resolve("." + out.getFileName() + ".tmp-" + ProcessHandle.current().pid() + "-" + System.nanoTime());
            try {
                Files.createDirectory(tmp);
            } catch (IOException e) {
                throw new SquishException(tmp + ": cannot create (" + e.getMessage() + ")");
            }
            return new Output(out, tmp);
        }

        /** The temporary folder to fill. */
        public Path dir() { return tmp; }

        /** The final location. */
        public Path target() { return out; }

        /** Renames the finished folder into place (replacing an existing target) and returns it. */
        public Path commit() {
            Path parent = out.getParent();
            try {
                if (Files.exists(out)) {
                    // A folder cannot be replaced in one rename: move the old one aside first. A crash
                    // between the two moves leaves it as .NAME.old-PID-*, restored by the next run.
                    Path old = parent.resolve("." + out.getFileName() + ".old-" + ProcessHandle.current().pid() + "-" + System.nanoTime());
                    Files.move(out, old, StandardCopyOption.ATOMIC_MOVE);
                    Files.move(tmp, out, StandardCopyOption.ATOMIC_MOVE);
                    deleteTree(old);
                } else {
                    Files.move(tmp, out, StandardCopyOption.ATOMIC_MOVE);
                }
                committed = true;
                return out;
            } catch (IOException e) {
                throw new SquishException(out + ": cannot write (" + e.getMessage() + ")", e);
            }
        }

        @Override public void close() { if (!committed) deleteTree(tmp); }

        /** Removes leftovers of crashed runs writing {@code out} (see the class comment). */
        static void clearStale(Path out) {
            Path parent = out.getParent();
            if (!Files.isDirectory(parent)) return;
            String tmpPrefix = "." + out.getFileName() + ".tmp-", oldPrefix = "." + out.getFileName() + ".old-";
            try (var s = Files.list(parent)) {
                for (Path p : s.toList()) {
                    String name = p.getFileName().toString();
                    boolean isTmp = name.startsWith(tmpPrefix), isOld = name.startsWith(oldPrefix);
                    if (!isTmp && !isOld) continue;
                    String rest = name.substring((isTmp ? tmpPrefix : oldPrefix).length());
                    long pid;
                    try { pid = Long.parseLong(rest.substring(0, rest.indexOf('-'))); } catch (RuntimeException e) { continue; }
                    if (ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) continue;
                    if (isOld && !Files.exists(out)) Files.move(p, out, StandardCopyOption.ATOMIC_MOVE);
                    else deleteTree(p);
                }
            } catch (IOException e) {
                throw new SquishException(parent + ": cannot clean up an interrupted earlier run (" + e.getMessage() + ")");
            }
        }
    }

    static void copy(Path src, Path dst) {
        try {
            Files.copy(src, dst, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new SquishException(dst + ": cannot write (" + e.getMessage() + ")");
        }
    }

    public static void deleteTree(Path p) {
        if (p == null || !Files.exists(p, LinkOption.NOFOLLOW_LINKS)) return;
        try (var s = Files.walk(p)) {
            s.sorted(java.util.Comparator.reverseOrder()).forEach(f -> { try { Files.deleteIfExists(f); } catch (IOException ignored) { } });
        } catch (IOException ignored) { }
    }

    /** Squish's compact format: every linear in its own format; everything else float32. */
    static void writeSquish(Model m, Path file, Map<String, String> metadata) {
        try (Streaming s = new Streaming(m, file, metadata, false)) {
            s.finish();
        }
    }

    /**
     * Writes {@code squish.safetensors} while a model is being compressed: {@link #block} writes a
     * finished block's tensors (streamed to disk by {@link SafeTensorsWriter}) and then releases its
     * linears, replacing them by placeholders that keep their shape, size and format but no
     * weights; {@link #finish} adds the global tensors and any block not yet written. The heap thus
     * holds one compressed block at a time, not the whole compressed model. A released model can
     * no longer run: reload the written folder to evaluate it.
     */
    public static final class Streaming implements AutoCloseable {
        private final Model m;
        private final SafeTensorsWriter w;
        private final boolean release;
        private final java.util.Set<Integer> written = new java.util.HashSet<>();
        private final Path file;

        public Streaming(Model m, Path file, Map<String, String> metadata) { this(m, file, metadata, true); }

        Streaming(Model m, Path file, Map<String, String> metadata, boolean release) {
            this.m = m;
            this.release = release;
            this.file = file;
            w = new SafeTensorsWriter(file);
            w.metadata("format", "pt");
            w.metadata("squish.version", "1");
            if (metadata != null) metadata.forEach(w::metadata);
        }

        /** Writes block b (once) and releases its linears. */
        public void block(Block b) {
            if (!written.add(b.index)) return;
            String p = m.arch.blockPrefix(b.index);
            for (var e : b.linears.entrySet()) e.getValue().write(p + e.getKey(), w);
            for (var e : b.vectors.entrySet()) w.addF32(p + e.getKey(), new long[]{e.getValue().length}, e.getValue());
            if (release) b.linears.replaceAll((name, l) -> new Released(l.rows(), l.cols(), l.bytes(), l.parameters(), l.format()));
        }

        /**
         * Adds the globals and unwritten blocks and completes the file; rewrites the folder's
         * config.json when blocks were removed or reshaped (see {@link #config}).
         */
        public void finish() {
            // Known only now: SliceGPT changes widths and adds shortcut linears while compressing.
            if (reshaped(m)) w.metadata("squish.reshaped", "1");
            Shapes s = shapes(m);
            if (!s.plain()) w.metadata(Model.LAYER_SHAPES, s.json());
            if (file.getParent() != null && Files.isRegularFile(file.getParent().resolve("config.json"))) writeConfig(m, file.getParent());
            writeGlobals(m, w);
            for (Block b : m.blocks) block(b);
            if (!m.tiedHead) m.head.write(m.arch.headName().replace(".weight", ""), w);
            w.finish();
        }

        @Override public void close() { w.close(); }
    }

    /** A linear whose weights were written out and dropped from memory (see {@link Streaming}). */
    record Released(int rows, int cols, long bytes, long parameters, String format) implements Linear {
        private IllegalStateException gone() {
            return new IllegalStateException("this " + rows + "x" + cols + " weight was written to the output and released from memory");
        }
        @Override public void matvec(float[] x, float[] y) { throw gone(); }
        @Override public void matmul(float[] x, int n, float[] y) { throw gone(); }
        @Override public float[] toDense() { throw gone(); }
        @Override public void write(String prefix, SafeTensorsWriter out) { throw gone(); }
    }

    /** True when the shapes no longer follow config.json (SliceGPT: sliced widths, shortcut linears). */
    static boolean reshaped(Model m) {
        return m.weights.metadata().containsKey("squish.reshaped") || m.width() != m.config.hidden()
                || m.blocks.stream().anyMatch(m.arch::sliced);
    }

    private static void writeGlobals(Model m, SafeTensorsWriter w) {
        m.embed.write(m.arch.embedName().replace(".weight", ""), w);
        if (m.positions != null) m.positions.write(m.arch.positionName().replace(".weight", ""), w);
        w.addF32(m.arch.finalNormName(), new long[]{m.finalNorm.length}, m.finalNorm);
        if (m.finalNormBias != null) w.addF32(m.arch.finalNormBiasName(), new long[]{m.finalNormBias.length}, m.finalNormBias);
    }

    /**
     * What the blocks' shapes allow: {@code plain} when a config.json can describe every block
     * (all blocks share one shape, and any bias the blocks carry is one the family's config can
     * switch on); otherwise {@code why} says what stands in the way, and the per-layer shapes go
     * into Squish's file ({@link Model#LAYER_SHAPES}).
     */
    public record Shapes(List<Architecture.LayerShape> layers, boolean attentionBias, boolean mlpBias, String why) {
        public boolean plain() { return why == null; }

        String json() {
            StringBuilder b = new StringBuilder("[");
            for (var s : layers) b.append(b.length() > 1 ? "," : "").append('[').append(s.heads()).append(',').append(s.kvHeads()).append(',').append(s.intermediate()).append(']');
            return b.append(']').toString();
        }
    }

    public static Shapes shapes(Model m) {
        List<Architecture.LayerShape> layers = Structure.shapes(m);
        boolean attn = false, mlp = false;
        if (m.arch instanceof Llama)
            for (Block b : m.blocks) {
                for (String v : Llama.ATTENTION_BIASES) attn |= b.vector(v) != null;
                for (String v : Llama.MLP_BIASES) mlp |= b.vector(v) != null;
            }
        String why = null;
        if (!Structure.uniform(layers)) {
            int i = 1;
            while (layers.get(i).equals(layers.get(0))) i++;
            why = "its blocks differ in shape (block 0: " + describe(layers.get(0)) + "; block " + i + ": " + describe(layers.get(i))
                    + ") and a config.json holds one shape for all layers";
        } else if (m.arch instanceof Llama && !m.config.modelType().equals("llama")
                && ((mlp && !m.config.mlpBias()) || (attn && !m.config.attentionBias()) || (attn && m.config.modelType().equals("qwen2")))) {
            why = "its blocks carry biases (from structured pruning) that transformers' " + m.config.modelType() + " architecture has no setting for";
        }
        return new Shapes(layers, attn, mlp, why);
    }

    private static String describe(Architecture.LayerShape s) {
        return s.heads() + " heads, " + s.kvHeads() + " key/value heads, MLP width " + s.intermediate();
    }

    /**
     * config.json for the model as it now is: the input's, with the layer count, and for a model
     * whose blocks share one shape the heads, key/value heads, MLP width (and {@code head_dim},
     * which transformers would otherwise derive from the new head count) and the bias flags set to
     * what the blocks hold. Where the blocks differ the shape keys stay as in the input and the
     * per-layer shapes live in Squish's file.
     */
    public static com.fasterxml.jackson.databind.node.ObjectNode config(Model m) {
        var j = m.config.json().deepCopy();
        // Read from a compressed-tensors folder: Squish's output holds its own formats, and a
        // quantization_config left behind would make transformers / vLLM misread the plain weights.
        if (dev.squish.formats.CompressedTensors.declared(j)) j.remove("quantization_config");
        List<String> keys = m.arch.configKeys();
        j.put(keys.get(0), m.blocks.size());
        Shapes s = shapes(m);
        if (s.plain() && !s.layers().isEmpty()) {
            Architecture.LayerShape l = s.layers().get(0);
            if (m.arch instanceof Llama) {
                if (l.heads() != m.config.heads() || l.kvHeads() != m.config.kvHeads()) {
                    j.put(keys.get(1), l.heads());
                    j.put(keys.get(2), l.kvHeads());
                    j.put("head_dim", m.config.headDim());
                }
                if (s.attentionBias() && !m.config.attentionBias()) j.put("attention_bias", true);
                if (s.mlpBias() && !m.config.mlpBias()) j.put("mlp_bias", true);
            }
            if (l.intermediate() != m.config.intermediate()) j.put(keys.get(3), l.intermediate());
        }
        return j;
    }

    /** Writes {@link #config} into dir/config.json when it differs from the input's. */
    public static void writeConfig(Model m, Path dir) {
        var j = config(m);
        if (j.equals(m.config.json())) return;
        try {
            Files.writeString(dir.resolve("config.json"), dev.squish.formats.SafeTensors.JSON.writerWithDefaultPrettyPrinter().writeValueAsString(j) + "\n");
        } catch (IOException e) {
            throw new SquishException(dir.resolve("config.json") + ": cannot write (" + e.getMessage() + ")");
        }
    }

    /**
     * Plain Hugging Face tensors (float32, original names and layouts: GPT-2's Conv1D weights are
     * transposed back to [in, out]); compressed matrices are expanded (zeros kept as zeros). Biases
     * that the config switches on but a block lacks (FLAP adds only o_proj / down_proj biases;
     * transformers' {@code attention_bias} covers q, k, v and o) are written as zeros.
     */
    public static void writeDense(Model m, Path file) {
        if (reshaped(m))
            throw new SquishException("--dense: this model's shapes were changed (SliceGPT) and cannot be written as a plain Hugging Face checkpoint");
        Shapes shapes = shapes(m);
        if (!shapes.plain())
            throw new SquishException("--dense: no plain Hugging Face checkpoint can hold this model: " + shapes.why()
                    + "; Squish's own folder (squish.safetensors) records the per-layer shapes and Squish runs it");
        List<String> zeroBiases = new java.util.ArrayList<>();
        if (m.arch instanceof Llama && m.config.modelType().equals("llama")) {
            if (shapes.attentionBias() || m.config.attentionBias()) zeroBiases.addAll(Llama.ATTENTION_BIASES);
            if (shapes.mlpBias() || m.config.mlpBias()) zeroBiases.addAll(Llama.MLP_BIASES);
        }
        try (SafeTensorsWriter w = new SafeTensorsWriter(file)) {
            w.metadata("format", "pt");
            writeGlobals(m, w);
            boolean t = m.arch.transposedLinears();
            for (Block b : m.blocks) {
                String p = m.arch.blockPrefix(b.index);
                for (var e : b.linears.entrySet()) {
                    Linear l = e.getValue();
                    float[] d = l.toDense();
                    if (t) w.addF32(p + e.getKey() + ".weight", new long[]{l.cols(), l.rows()}, transpose(d, l.rows(), l.cols()));
                    else w.addF32(p + e.getKey() + ".weight", new long[]{l.rows(), l.cols()}, d);
                }
                for (var e : b.vectors.entrySet())   // run-time sparsity (CATS, MoE-ification) has no place in a plain checkpoint
                    if (!dev.squish.model.SparseMlp.VECTORS.contains(e.getKey())) w.addF32(p + e.getKey(), new long[]{e.getValue().length}, e.getValue());
                for (String z : zeroBiases) {
                    if (b.vector(z) != null) continue;
                    int rows = b.linear(z.substring(0, z.length() - ".bias".length())).rows();
                    w.addF32(p + z, new long[]{rows}, new float[rows]);
                }
            }
            if (!m.tiedHead) {
                Linear h = m.head;
                if (h instanceof DenseLinear dl) dl.write(m.arch.headName().replace(".weight", ""), w);
                else w.addF32(m.arch.headName(), new long[]{h.rows(), h.cols()}, h.toDense());
            }
            w.finish();
        }
    }

    static float[] transpose(float[] a, int rows, int cols) {
        float[] t = new float[a.length];
        for (int i = 0; i < rows; i++) for (int j = 0; j < cols; j++) t[j * rows + i] = a[i * cols + j];
        return t;
    }
}
