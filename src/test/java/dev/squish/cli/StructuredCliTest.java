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

    @Test void badInputIsOneErrorLineAndNothingWritten(@TempDir Path dir) {
        String[][] cases = {
                {"--method", "flap", "--remove", "1.2"},
                {"--method", "l2-structured", "--remove", "-0.1"},
                {"--method", "drop-layers", "--layers", "6"},
                {"--method", "wanda", "--pattern", "2:4", "--allocation", "owl"},
                {"--method", "wanda", "--sparsity", "0.5", "--owl-m", "3"},
                {"--method", "dsnot", "--sparsity", "0.5", "--base", "magnitude"},
                {"--method", "l2-structured", "--remove", "0.999"},
        };
        String[] expect = {"--remove", "--remove", "--layers 6", "--pattern", "--owl-m", "--base", "--remove"};
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
