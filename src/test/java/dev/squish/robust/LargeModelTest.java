package dev.squish.robust;

import dev.squish.Fixtures;
import dev.squish.formats.SafeTensors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Bounded memory: a synthetic Llama of about 1.7 GB of float32 weights is compressed and evaluated,
 * and its compressed outputs (50% sparse, int8) are evaluated, by a JVM limited to a 512 MB heap.
 * Weights are read from memory-mapped files, each compressed block is written out and released
 * before the next, and compressed weights are repacked off the heap at load (docs/robustness.md).
 */
class LargeModelTest {
    @TempDir Path tmp;

    static final String HEAP = "-Xmx512m";
    static final int LAYERS = 8;

    @Test void compressAndEvaluateAModelMuchLargerThanTheHeap() throws Exception {
        assumeDisk(tmp, 7L << 30);
        Path model = tmp.resolve("big");
        long t0 = System.nanoTime();
        long bytes = SyntheticModel.llama(model, 2048, LAYERS, 5632, 16, 4096, 2);
        System.err.printf("generated %.2f GB in %.1f s%n", bytes / 1e9, (System.nanoTime() - t0) / 1e9);
        assertTrue(bytes > 3 * (512L << 20), "model several times the heap: " + bytes);
        Path text = ModelFiles.text(tmp, "text.txt", Files.readString(Fixtures.VALID).substring(0, 400));
        Path out = tmp.resolve("out");

        Result r = java("compress", model.toString(), "-o", out.toString(), "--method", "magnitude", "--sparsity", "0.5", "--json");
        assertEquals(0, r.rc, r.log);
        var json = ModelFiles.JSON.readTree(r.log.lines().filter(l -> l.startsWith("{")).findFirst().orElseThrow());
        assertTrue(json.get("bytes").asLong() < json.get("bytes_before").asLong(), r.log);
        assertEquals(LAYERS * 7, json.get("layers").size());
        for (var l : json.get("layers")) assertEquals(0.5, l.get("sparsity").asDouble(), 1e-6);
        try (SafeTensors st = SafeTensors.open(out)) {
            // Every linear of every block was written, in its compressed format or dense.
            for (int i = 0; i < LAYERS; i++)
                for (String l : new String[]{"self_attn.q_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.down_proj"}) {
                    String prefix = "model.layers." + i + "." + l;
                    assertTrue(st.metadata().containsKey("squish.format." + prefix) || st.has(prefix + ".weight"), prefix);
                }
            assertTrue(st.has("lm_head.weight") && st.has("model.embed_tokens.weight") && st.has("model.norm.weight"));
        }

        double dense = perplexity(model, text);
        assertTrue(Double.isFinite(dense) && dense > 1, "dense " + dense);
        // The compressed output (sparse values 0.85 GB, off the heap once loaded) under the same heap.
        double pruned = perplexity(out, text);
        assertTrue(Double.isFinite(pruned) && pruned > 1 && pruned != dense, dense + " vs " + pruned);

        // int8: the repacked codes (0.4 GB here) are off the heap too.
        Path q8 = tmp.resolve("q8");
        r = java("compress", model.toString(), "-o", q8.toString(), "--method", "rtn", "--bits", "8", "--group-size", "128");
        assertEquals(0, r.rc, r.log);
        double quant = perplexity(q8, text);
        // random weights: int8-g128 keeps the logits within a few percent of the dense model's
        assertEquals(dense, quant, 0.05 * dense, "int8 " + quant + " vs dense " + dense);
    }

    double perplexity(Path dir, Path text) throws Exception {
        Result r = java("eval", dir.toString(), "--data", text.toString(), "--seq-len", "64", "--json");
        assertEquals(0, r.rc, r.log);
        return ModelFiles.JSON.readTree(r.log.lines().filter(l -> l.startsWith("{")).findFirst().orElseThrow()).get("perplexity").asDouble();
    }

    record Result(int rc, String log) {}

    /** Runs the CLI in a fresh JVM with a small heap. */
    Result java(String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"), HEAP,
                "-XX:MaxDirectMemorySize=1t", "--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-cp", System.getProperty("java.class.path"), "dev.squish.cli.Main"));
        cmd.addAll(List.of(args));
        Path log = tmp.resolve("run.log");
        long t0 = System.nanoTime();
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        if (!p.waitFor(10, TimeUnit.MINUTES)) { p.destroyForcibly(); fail("timed out"); }
        System.err.printf("%s with %s: %.1f s%n", args[0], HEAP, (System.nanoTime() - t0) / 1e9);
        return new Result(p.exitValue(), Files.readString(log));
    }

    static void assumeDisk(Path dir, long need) throws Exception {
        long free = Files.getFileStore(dir).getUsableSpace();
        org.junit.jupiter.api.Assumptions.assumeTrue(free > need, "needs " + (need >> 30) + " GB free disk, have " + (free >> 30));
    }
}
