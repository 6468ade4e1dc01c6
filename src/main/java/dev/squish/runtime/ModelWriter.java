package dev.squish.runtime;

import dev.squish.SquishException;
import dev.squish.formats.SafeTensors;
import dev.squish.formats.SafeTensorsWriter;
import dev.squish.model.Block;
import dev.squish.model.Model;
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
            for (String f : COPIED) {
                Path src = m.dir.resolve(f);
                if (Files.isRegularFile(src)) copy(src, tmp.resolve(f));
            }
            writeSquish(m, tmp.resolve(SafeTensors.SQUISH_FILE), metadata);
            if (dense) writeDense(m, tmp.resolve("model.safetensors"));
        });
    }

    /** Creates {@code out} atomically: {@code body} fills a temporary sibling folder that is then renamed. */
    public static Path writeFolder(Path input, Path out, boolean force, Consumer<Path> body) {
        out = out.toAbsolutePath().normalize();
        if (input != null) {
            Path in = input.toAbsolutePath().normalize();
            if (out.equals(in) || in.startsWith(out) || out.startsWith(in))
                throw new SquishException(out + ": output folder must not be, contain or lie inside the input folder " + in);
        }
        if (Files.exists(out) && !force) throw new SquishException(out + ": output folder already exists (use --force to replace it)");
        if (Files.exists(out) && !Files.isDirectory(out)) throw new SquishException(out + ": exists and is not a folder");
        Path parent = out.getParent();
        try {
            Files.createDirectories(parent);
        } catch (IOException e) {
            throw new SquishException(parent + ": cannot create (" + e.getMessage() + ")");
        }
        Path tmp = parent.resolve("." + out.getFileName() + ".tmp-" + ProcessHandle.current().pid() + "-" + System.nanoTime());
        try {
            Files.createDirectory(tmp);
            body.accept(tmp);
            if (Files.exists(out)) {
                Path old = parent.resolve("." + out.getFileName() + ".old-" + System.nanoTime());
                Files.move(out, old, StandardCopyOption.ATOMIC_MOVE);
                Files.move(tmp, out, StandardCopyOption.ATOMIC_MOVE);
                deleteTree(old);
            } else {
                Files.move(tmp, out, StandardCopyOption.ATOMIC_MOVE);
            }
            return out;
        } catch (IOException e) {
            deleteTree(tmp);
            throw new SquishException(out + ": cannot write (" + e.getMessage() + ")", e);
        } catch (RuntimeException | Error e) {
            deleteTree(tmp);
            throw e;
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
        try (SafeTensorsWriter w = new SafeTensorsWriter(file)) {
            w.metadata("format", "pt");
            w.metadata("squish.version", "1");
            if (metadata != null) metadata.forEach(w::metadata);
            if (reshaped(m)) w.metadata("squish.reshaped", "1");
            writeGlobals(m, w);
            for (Block b : m.blocks) {
                String p = m.arch.blockPrefix(b.index);
                for (var e : b.linears.entrySet()) e.getValue().write(p + e.getKey(), w);
                for (var e : b.vectors.entrySet()) w.addF32(p + e.getKey(), new long[]{e.getValue().length}, e.getValue());
            }
            if (!m.tiedHead) m.head.write(m.arch.headName().replace(".weight", ""), w);
            w.finish();
        }
    }

    /** True when the shapes no longer follow config.json (SliceGPT: sliced widths, shortcut linears). */
    static boolean reshaped(Model m) {
        return m.weights.metadata().containsKey("squish.reshaped") || m.width() != m.config.hidden()
                || m.blocks.stream().anyMatch(b -> b.linears.containsKey("attn_shortcut") || b.linears.containsKey("mlp_shortcut"));
    }

    private static void writeGlobals(Model m, SafeTensorsWriter w) {
        m.embed.write(m.arch.embedName().replace(".weight", ""), w);
        if (m.positions != null) m.positions.write(m.arch.positionName().replace(".weight", ""), w);
        w.addF32(m.arch.finalNormName(), new long[]{m.finalNorm.length}, m.finalNorm);
        if (m.finalNormBias != null) w.addF32(m.arch.finalNormBiasName(), new long[]{m.finalNormBias.length}, m.finalNormBias);
    }

    /**
     * Plain Hugging Face tensors (float32, original names and layouts: GPT-2's Conv1D weights are
     * transposed back to [in, out]); compressed matrices are expanded (zeros kept as zeros).
     */
    static void writeDense(Model m, Path file) {
        if (reshaped(m))
            throw new SquishException("--dense: this model's shapes were changed (SliceGPT) and cannot be written as a plain Hugging Face checkpoint");
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
                for (var e : b.vectors.entrySet()) w.addF32(p + e.getKey(), new long[]{e.getValue().length}, e.getValue());
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
