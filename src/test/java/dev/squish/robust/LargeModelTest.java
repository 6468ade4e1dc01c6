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
 * Bounded memory: a synthetic Llama of about 1.7 GB of float32 weights is compressed and evaluated
 * by a JVM limited to a 512 MB heap. Weights are read from memory-mapped files, and each
 * compressed block is written out and released before the next (docs/robustness.md).
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

        // Not --eval: reloading compressed formats (sparse, quantized) copies them onto the heap
        // (weights/FormatIO), which does not stream yet; see docs/robustness.md.
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

        r = java("eval", model.toString(), "--data", text.toString(), "--seq-len", "64", "--json");
        assertEquals(0, r.rc, r.log);
        double ppl = ModelFiles.JSON.readTree(r.log.lines().filter(l -> l.startsWith("{")).findFirst().orElseThrow()).get("perplexity").asDouble();
        assertTrue(Double.isFinite(ppl) && ppl > 1, r.log);
    }

    record Result(int rc, String log) {}

    /** Runs the CLI in a fresh JVM with a small heap. */
    Result java(String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"), HEAP,
                "--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
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
