package dev.squish.bench;

import com.fasterxml.jackson.databind.node.ObjectNode;
import com.github.tjake.jlama.model.AbstractModel;
import com.github.tjake.jlama.model.ModelSupport;
import com.github.tjake.jlama.safetensors.SafeTensorSupport;
import com.github.tjake.jlama.tensor.AbstractTensor;
import com.github.tjake.jlama.tensor.KvBufferCache;
import com.github.tjake.jlama.util.PhysicalCoreExecutor;
import dev.squish.formats.DType;
import dev.squish.formats.ModelConfig;
import dev.squish.formats.SafeTensorsWriter;
import dev.squish.util.Parallel;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;

/**
 * The peer row of {@code squish bench}: Jlama (com.github.tjake:jlama-core, pure Java with the
 * Vector API) running the same dense weights, written to a temporary Hugging Face folder, and
 * Jlama's own Q8 and Q4 quantizations of them (its {@code quantizeModel}, blocks of 32 with one
 * float scale). Decode and prefill are timed with the same prompts and loop as Squish's rows.
 *
 * <p>Jlama is an optional dependency used only here; when it is missing or fails, the bench
 * prints a note and goes on.
 */
final class JlamaPeer {
    private JlamaPeer() {}

    static final String[] VARIANTS = {"F32", "Q8", "Q4"};

    static List<Bench.Row> run(BenchModel src, Bench.Options o, MemoryBandwidth.Result bandwidth, List<String> notes, PrintWriter log) {
        List<Bench.Row> rows = new ArrayList<>();
        ModelConfig c = src.config();
        if (c.family() != ModelConfig.Family.LLAMA) {
            notes.add("Jlama: skipped (the peer comparison is written for Llama-family models)");
            return rows;
        }
        try {
            Class.forName("com.github.tjake.jlama.model.ModelSupport");
        } catch (ClassNotFoundException | LinkageError e) {
            notes.add("Jlama: not available (jlama-core is not on the classpath: " + e + ")");
            return rows;
        }
        long need = 2 * (src.denseBytesPerToken() + 4L * c.vocab() * c.hidden());
        Path dir = null;
        try {
            dir = Files.createTempDirectory("squish-bench-jlama");
            long free = Files.getFileStore(dir).getUsableSpace();
            if (free < need) {
                notes.add(String.format("Jlama: skipped (needs %.1f GB of temporary disk, %.1f GB free in %s)", need / 1e9, free / 1e9, dir.getParent()));
                return rows;
            }
            try {
                PhysicalCoreExecutor.overrideThreadCount(Parallel.threads());
            } catch (IllegalStateException alreadyStarted) { /* a previous run set it */ }
            Path f32 = dir.resolve("f32");
            long t0 = System.nanoTime();
            writeHfFolder(src, f32);
            log.printf("jlama: wrote the dense weights in %.1f s%n", (System.nanoTime() - t0) / 1e9);
            for (String v : VARIANTS) {
                try {
                    Path folder = f32;
                    if (!v.equals("F32")) {
                        folder = dir.resolve(v.toLowerCase());
                        var dt = v.equals("Q8") ? com.github.tjake.jlama.safetensors.DType.I8 : com.github.tjake.jlama.safetensors.DType.Q4;
                        SafeTensorSupport.quantizeModel(f32, dt, new String[]{"embed_tokens", "norm"}, null, Optional.of(folder));
                    }
                    rows.add(measure(folder, v, src, o, bandwidth, log));
                } catch (RuntimeException | IOException | LinkageError e) {
                    notes.add("Jlama " + v + ": failed: " + rootMessage(e));
                    log.printf("jlama %s: failed: %s%n", v, rootMessage(e));
                }
            }
        } catch (IOException | RuntimeException | LinkageError e) {
            notes.add("Jlama: failed: " + rootMessage(e));
        } finally {
            if (dir != null) deleteTree(dir);
        }
        return rows;
    }

    private static Bench.Row measure(Path folder, String variant, BenchModel src, Bench.Options o, MemoryBandwidth.Result bandwidth, PrintWriter log) {
        ModelConfig c = src.config();
        AbstractModel m = load(folder, !variant.equals("F32"));
        try (KvBufferCache cache = new KvBufferCache(m); AbstractTensor logits = m.makeDenseTensor(c.vocab())) {
            // weights read per token: the file minus the embedding (a lookup) and the norms
            long bytes = fileBytes(folder) - 4L * c.vocab() * c.hidden();
            Bench.Speed s = Bench.measure(engine(m, cache, logits), c.vocab(), o);
            log.printf("jlama %s: decode %.2f tokens/s (%.2f from CPU time), prefill %.1f tokens/s%n", variant, s.decodeTps(), s.decodeCpuTps(), s.prefillTps());
            return Bench.row("jlama", variant, bytes, s, bandwidth);
        } finally {
            m.close();
        }
    }

    /** Loads a folder with Jlama's documented set-up: float32 activations, int8 ones for quantized matmuls. */
    static AbstractModel load(Path folder, boolean quantized) {
        var f32 = com.github.tjake.jlama.safetensors.DType.F32;
        return ModelSupport.loadModel(AbstractModel.InferenceType.FULL_GENERATION, folder.toFile(), null, f32,
                quantized ? com.github.tjake.jlama.safetensors.DType.I8 : f32, Optional.empty(), Optional.empty(), Optional.empty(),
                SafeTensorSupport::loadWeights);
    }

    /** Jlama's own generation loop (as in AbstractModel.generate), greedy, on token ids. */
    static Bench.Engine engine(AbstractModel m, KvBufferCache cache, AbstractTensor logits) {
        return new Bench.Engine() {
            KvBufferCache.KvBuffer kv;
            int next, pos;

            @Override public int lastToken() { return next; }

            @Override public void start(int[] prompt) {
                if (kv != null) kv.close();
                kv = cache.getKvBuffer(UUID.randomUUID());
                AbstractTensor out = m.batchForward(prompt, 0, kv);
                next = m.sample(out.slice(out.shape().first() - 1), 0f, 0f, logits);
                out.close();
                pos = prompt.length;
            }

            @Override public void step() {
                AbstractTensor out = m.forward(next, pos++, kv, Optional.empty());
                next = m.sample(out, 0f, 0f, logits);
                out.close();
                kv.incrementContextPosition();
            }
        };
    }

    /** config.json, model.safetensors (float32), a placeholder tokenizer and README (Jlama's quantizer copies it). */
    static void writeHfFolder(BenchModel src, Path dir) throws IOException {
        Files.createDirectories(dir);
        ModelConfig c = src.config();
        ObjectNode cfg = c.json().deepCopy();
        cfg.put("rope_theta", c.ropeTheta());   // Jlama reads rope_theta only at the top level
        Files.writeString(dir.resolve("config.json"), cfg.toPrettyString());
        Files.writeString(dir.resolve("README.md"), "Temporary copy of " + src.name() + " for squish bench.\n");
        Files.writeString(dir.resolve("tokenizer.json"), placeholderTokenizer(c.vocab()));
        try (SafeTensorsWriter w = new SafeTensorsWriter(dir.resolve("model.safetensors"))) {
            w.add("model.embed_tokens.weight", DType.F32, new long[]{c.vocab(), c.hidden()}, src.embed().segment());
            for (int i = 0; i < c.layers(); i++) {
                String p = "model.layers." + i + ".";
                for (Map.Entry<String, BenchModel.Shape> e : src.linears(i).entrySet())
                    w.addF32(p + e.getKey() + ".weight", new long[]{e.getValue().rows(), e.getValue().cols()}, src.dense(i, e.getKey()));
                for (Map.Entry<String, float[]> e : src.vectors(i).entrySet())
                    w.addF32(p + e.getKey(), new long[]{e.getValue().length}, e.getValue());
            }
            w.addF32("model.norm.weight", new long[]{c.hidden()}, src.finalNorm());
            BenchModel.Shape hs = src.headShape();
            w.addF32("lm_head.weight", new long[]{hs.rows(), hs.cols()}, src.dense(-1, "lm_head"));
            w.finish();
        }
    }

    /** A BPE tokenizer.json whose vocabulary has one entry per id (the bench feeds token ids, never text). */
    private static String placeholderTokenizer(int vocab) {
        ObjectNode root = com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode();
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE");
        ObjectNode v = model.putObject("vocab");
        for (int i = 0; i < vocab; i++) v.put(i == 0 ? "<unk>" : i == 1 ? "<s>" : i == 2 ? "</s>" : "t" + i, i);
        model.putArray("merges");
        root.putArray("added_tokens");
        return root.toString();
    }

    private static long fileBytes(Path folder) {
        try {
            return Files.size(folder.resolve("model.safetensors"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String rootMessage(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t) t = t.getCause();
        return (t.getClass().getSimpleName() + ": " + t.getMessage()).replace('\n', ' ');
    }

    private static void deleteTree(Path dir) {
        try {
            Files.walkFileTree(dir, new SimpleFileVisitor<>() {
                @Override public FileVisitResult visitFile(Path f, BasicFileAttributes a) throws IOException { Files.delete(f); return FileVisitResult.CONTINUE; }
                @Override public FileVisitResult postVisitDirectory(Path d, IOException e) throws IOException { Files.delete(d); return FileVisitResult.CONTINUE; }
            });
        } catch (IOException ignored) { }
    }
}
