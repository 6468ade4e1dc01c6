package dev.squish.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.squish.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** The structured and OWL / DSnoT methods on the command line: outputs, shapes and bad input. */
class StructuredCliTest {
    static final String[] CAL = {"--calibration", Fixtures.TRAIN.toString(), "--samples", "8", "--seq-len", "64"};

    static CliTest.Run compress(Path out, String... args) {
        String[] a = new String[4 + args.length];
        a[0] = "compress"; a[1] = Fixtures.LLAMA.toString(); a[2] = "-o"; a[3] = out.toString();
        System.arraycopy(args, 0, a, 4, args.length);
        return CliTest.run(a);
    }

    static CliTest.Run compressGpt2(Path out, String... args) {
        String[] a = new String[4 + args.length];
        a[0] = "compress"; a[1] = Fixtures.GPT2.toString(); a[2] = "-o"; a[3] = out.toString();
        System.arraycopy(args, 0, a, 4, args.length);
        return CliTest.run(a);
    }

    static float[] logits(Path model) {
        int[] tokens = {5, 77, 300, 1200, 9, 42, 3000, 17};
        try (dev.squish.model.Model m = dev.squish.model.Model.load(model)) { return m.forward(tokens, 0, m.newCache(tokens.length)); }
    }

    /** The plain Hugging Face part of an output folder alone (config, tokenizer, model.safetensors). */
    static Path plainOnly(Path out, Path to) throws Exception {
        Files.createDirectories(to);
        for (String f : new String[]{"config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors"})
            if (Files.exists(out.resolve(f))) Files.copy(out.resolve(f), to.resolve(f));
        return to;
    }

    @Test void gpt2StructuredOutputsArePlainGpt2Folders(@TempDir Path dir) throws Exception {
        Path flap = dir.resolve("flap");
        CliTest.Run r = compressGpt2(flap, with(CAL, "--method", "flap", "--remove", "0.2", "--structure", "uniform", "--dense"));
        assertEquals(0, r.code(), r.err());
        JsonNode cfg = new ObjectMapper().readTree(flap.resolve("config.json").toFile());
        assertEquals(538, cfg.get("n_inner").asInt(), "768 - 230 channels");
        assertEquals(6, cfg.get("n_head").asInt());
        assertEquals(4, cfg.get("n_layer").asInt());
        // the plain checkpoint alone (Conv1D layout, FLAP's biases in mlp.c_proj.bias) is the same model
        float[] a = logits(flap), b = logits(plainOnly(flap, dir.resolve("flap-plain")));
        for (int i = 0; i < a.length; i++) assertEquals(a[i], b[i], 1e-4);
        try (var st = dev.squish.formats.SafeTensors.open(dir.resolve("flap-plain"))) {
            assertArrayEquals(new long[]{192, 538}, st.get("transformer.h.0.mlp.c_fc.weight").shape(), "Conv1D: [in, out]");
        }

        Path l2 = dir.resolve("l2");
        assertEquals(0, compressGpt2(l2, "--method", "l2-structured", "--remove", "0.1").code());
        assertEquals(768 - 115, new ObjectMapper().readTree(l2.resolve("config.json").toFile()).get("n_inner").asInt());

        Path same = dir.resolve("drop0"), one = dir.resolve("drop1");
        assertEquals(0, compressGpt2(same, with(CAL, "--method", "drop-layers", "--layers", "0")).code());
        assertArrayEquals(logits(Fixtures.GPT2), logits(same), "dropping no block is the identity");
        assertEquals(0, compressGpt2(one, with(CAL, "--method", "drop-layers", "--layers", "1", "--dense")).code());
        assertEquals(3, new ObjectMapper().readTree(one.resolve("config.json").toFile()).get("n_layer").asInt());
        assertEquals(logits(one).length, logits(plainOnly(one, dir.resolve("drop1-plain"))).length);

        // adaptive FLAP gives blocks different MLP widths: Squish runs it, no plain config holds it
        CliTest.Run ad = compressGpt2(dir.resolve("adaptive"), with(CAL, "--method", "flap", "--remove", "0.2", "--dense"));
        assertEquals(2, ad.code());
        assertTrue(ad.err().startsWith("error: --dense") && ad.err().contains("differ in shape"), ad.err());
        CliTest.Run bad = compressGpt2(dir.resolve("bad"), with(CAL, "--method", "flap", "--remove", "0.7"));
        assertEquals(2, bad.code());
        assertTrue(bad.err().startsWith("error: --remove 0.7"), bad.err());
        assertEquals(1, bad.err().strip().lines().count(), bad.err());
        assertFalse(Files.exists(dir.resolve("bad")));
    }

    static String[] with(String[] a, String... b) {
        String[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    @Test void l2StructuredWritesASmallerPlainModelThatInspectDescribes(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("l2");
        CliTest.Run r = compress(out, "--method", "l2-structured", "--remove", "0.3", "--dense");
        assertEquals(0, r.code(), r.err());
        JsonNode cfg = new ObjectMapper().readTree(out.resolve("config.json").toFile());
        assertEquals(6, cfg.get("num_attention_heads").asInt());
        assertEquals(525, cfg.get("intermediate_size").asInt());
        assertTrue(Files.isRegularFile(out.resolve("model.safetensors")));
        CliTest.Run i = CliTest.run("inspect", out.toString(), "--json");
        assertEquals(0, i.code(), i.err());
        JsonNode j = new ObjectMapper().readTree(i.out());
        assertEquals(6, j.get("blocks").size());
        assertEquals(525, j.get("blocks").get(0).get("intermediate").asInt());
        for (JsonNode m : j.get("matrices"))
            if (m.get("name").asText().endsWith("mlp.down_proj")) assertEquals(525, m.get("shape").get(1).asInt());
    }

    @Test void dropLayersTakesItsCountAsLayers(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("drop");
        CliTest.Run r = compress(out, with(CAL, "--method", "drop-layers", "--layers", "2", "--json"));
        assertEquals(0, r.code(), r.err());
        assertEquals(4, new ObjectMapper().readTree(out.resolve("config.json").toFile()).get("num_hidden_layers").asInt());
    }

    @Test void adaptiveFlapExplainsWhyThereIsNoPlainCheckpoint(@TempDir Path dir) {
        Path out = dir.resolve("flap");
        CliTest.Run r = compress(out, with(CAL, "--method", "flap", "--remove", "0.3", "--dense"));
        assertEquals(2, r.code());
        assertTrue(r.err().startsWith("error: --dense") && r.err().contains("differ in shape"), r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertFalse(Files.exists(out));
        assertEquals(0, compress(out, with(CAL, "--method", "flap", "--remove", "0.3")).code());
    }

    @Test void owlAndDsnotRun(@TempDir Path dir) throws Exception {
        CliTest.Run r = compress(dir.resolve("owl"), with(CAL, "--method", "wanda", "--sparsity", "0.6", "--allocation", "owl", "--json"));
        assertEquals(0, r.code(), r.err());
        JsonNode j = new ObjectMapper().readTree(r.out());
        long zeros = 0, total = 0;
        java.util.Set<Long> perBlock = new java.util.TreeSet<>();
        for (JsonNode l : j.get("layers")) {
            long n = l.get("shape").get(0).asLong() * l.get("shape").get(1).asLong();
            zeros += Math.round(l.get("sparsity").asDouble() * n);
            total += n;
            if (l.get("linear").asText().equals("mlp.up_proj")) perBlock.add(Math.round(l.get("sparsity").asDouble() * 1e4));
        }
        assertEquals(Math.round(0.6 * total), zeros, "exactly 60% over all pruned weights");
        assertTrue(perBlock.size() > 1, "blocks get different sparsities: " + perBlock);
        CliTest.Run d = compress(dir.resolve("dsnot"), with(CAL, "--method", "dsnot", "--sparsity", "0.5", "--base", "sparsegpt", "--json"));
        assertEquals(0, d.code(), d.err());
        for (JsonNode l : new ObjectMapper().readTree(d.out()).get("layers")) assertEquals(0.5, l.get("sparsity").asDouble(), 1e-9);
    }

    @Test void owlOnNmGivesEachBlockItsOwnNThatLoadsBackAndRuns(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("owlnm");
        CliTest.Run r = compress(out, with(CAL, "--method", "wanda", "--pattern", "4:8", "--allocation", "owl", "--owl-lambda", "0.125", "--json"));
        assertEquals(0, r.code(), r.err());
        java.util.Map<Integer, Integer> nOfBlock = new java.util.TreeMap<>();
        for (JsonNode l : new ObjectMapper().readTree(r.out()).get("layers")) {
            String[] f = l.get("format").asText().split(":");
            assertEquals("8", f[1], l.toString());
            Integer prev = nOfBlock.put(l.get("block").asInt(), Integer.parseInt(f[0]));
            assertTrue(prev == null || prev == Integer.parseInt(f[0]), "one N per block: " + l);
        }
        assertTrue(new java.util.HashSet<>(nOfBlock.values()).size() > 1, "blocks differ: " + nOfBlock);
        long kept = 0, total = 0;
        try (dev.squish.model.Model m = dev.squish.model.Model.load(out)) {
            for (var b : m.blocks)
                for (var e : b.linears.entrySet()) {
                    var lin = e.getValue();
                    int n = nOfBlock.get(b.index);
                    assertInstanceOf(dev.squish.weights.NMSparseLinear.class, lin, e.getKey());
                    assertEquals(n, ((dev.squish.weights.NMSparseLinear) lin).n());
                    assertEquals(1 - n / 8.0, sparsity(lin), 1e-12, "block " + b.index + " " + e.getKey());
                    float[] w = lin.toDense();
                    for (int row = 0; row < lin.rows(); row++)
                        for (int g = 0; g < lin.cols(); g += 8) {
                            int nz = 0;
                            for (int j = 0; j < 8; j++) if (w[row * lin.cols() + g + j] != 0) nz++;
                            assertTrue(nz <= n, "block " + b.index + " " + e.getKey() + " row " + row + " keeps " + nz + " > " + n);
                        }
                    kept += (long) n * lin.rows() * lin.cols() / 8;
                    total += (long) lin.rows() * lin.cols();
                }
        }
        assertTrue(kept > 0 && kept < total);
        Path text = dir.resolve("text.txt");
        Files.writeString(text, Files.readString(Fixtures.TEST).substring(0, 1500));
        CliTest.Run e = CliTest.run("eval", out.toString(), "--data", text.toString());
        assertEquals(0, e.code(), e.err());
        assertTrue(e.out().contains("perplexity"), e.out());
    }

    static double sparsity(dev.squish.weights.Linear l) {
        long zeros = 0;
        for (float v : l.toDense()) if (v == 0) zeros++;
        return (double) zeros / ((long) l.rows() * l.cols());
    }

    @Test void badInputIsOneErrorLineAndNothingWritten(@TempDir Path dir) {
        String[][] cases = {
                {"--method", "flap", "--remove", "1.2"},
                {"--method", "l2-structured", "--remove", "-0.1"},
                {"--method", "drop-layers", "--layers", "6"},
                {"--method", "wanda", "--pattern", "1:4", "--allocation", "owl", "--owl-lambda", "0.3"},
                {"--method", "sparsegpt", "--pattern", "3:4", "--allocation", "owl", "--owl-lambda", "0.3"},
                {"--method", "wanda", "--sparsity", "0.5", "--owl-m", "3"},
                {"--method", "dsnot", "--sparsity", "0.5", "--base", "magnitude"},
                {"--method", "l2-structured", "--remove", "0.999"},
        };
        String[] expect = {"--remove", "--remove", "--layers 6", "--owl-lambda 0.3 with --pattern 1:4", "--owl-lambda 0.3 with --pattern 3:4",
                "--owl-m", "--base", "--remove"};
        for (int i = 0; i < cases.length; i++) {
            Path out = dir.resolve("bad" + i);
            CliTest.Run r = compress(out, with(CAL, cases[i]));
            assertEquals(2, r.code(), String.join(" ", cases[i]) + ": " + r.err());
            assertTrue(r.err().startsWith("error: ") && r.err().contains(expect[i]), r.err());
            assertEquals(1, r.err().strip().lines().count(), r.err());
            assertFalse(Files.exists(out));
        }
    }
}
