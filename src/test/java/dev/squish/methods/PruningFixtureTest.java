package dev.squish.methods;

import dev.squish.Fixtures;
import dev.squish.methods.BlockPipeline;
import dev.squish.calibration.Sampler;
import dev.squish.formats.SafeTensors;
import dev.squish.formats.Tokenizer;
import dev.squish.model.Block;
import dev.squish.model.Model;
import dev.squish.export.ModelWriter;
import dev.squish.eval.Perplexity;
import dev.squish.weights.Linear;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The pruning issue's acceptance checks on kjv-llama-tiny, calibrated on train.txt with 128
 * sequential windows of 256 tokens, evaluated on the whole test split. Each configuration is
 * compressed and evaluated once; the assertions compare them.
 */
class PruningFixtureTest {
    static int[][] calibration;
    static int[] test;
    static final Map<String, Double> ppl = new LinkedHashMap<>();
    static final Map<String, Model> models = new LinkedHashMap<>();

    @BeforeAll
    static void compressAll() throws Exception {
        Tokenizer tok = Tokenizer.load(Fixtures.LLAMA);
        calibration = Sampler.sample(tok.encode(Files.readString(Fixtures.TRAIN)), 128, 256, false, 0);
        test = tok.encode(Files.readString(Fixtures.TEST));
        for (String method : List.of("magnitude", "wanda", "sparsegpt"))
            for (String setting : List.of("0.5", "2:4", "0.7")) {
                if (method.equals("magnitude") && setting.equals("0.7")) continue;
                Map<String, Object> o = new LinkedHashMap<>();
                if (setting.contains(":")) o.put("pattern", setting); else o.put("sparsity", Double.parseDouble(setting));
                Model m = Model.load(Fixtures.LLAMA);
                new BlockPipeline(m, List.of(new BlockPipeline.Stage(Methods.create(method, o), null))).run(calibration);
                double p = Perplexity.evaluate(m, test, 256).perplexity();
                String key = method + " " + setting;
                ppl.put(key, p);
                models.put(key, m);
                System.out.printf("PRUNING %-16s test perplexity %.4f%n", key, p);
            }
    }

    static long zeros(float[] w) {
        long z = 0;
        for (float v : w) if (v == 0f) z++;
        return z;
    }

    @Test
    void unstructuredSparsityIsExactInEveryMatrix() {
        for (var e : models.entrySet()) {
            if (e.getKey().contains(":")) continue;
            double s = Double.parseDouble(e.getKey().split(" ")[1]);
            for (Block b : e.getValue().blocks)
                for (var l : b.linears.entrySet()) {
                    Linear lin = l.getValue();
                    long n = (long) lin.rows() * lin.cols();
                    assertEquals(Math.round(s * n), zeros(lin.toDense()), e.getKey() + " block " + b.index + " " + l.getKey());
                }
        }
    }

    @Test
    void everyNmGroupKeepsExactlyTwoOfFour() {
        for (var e : models.entrySet()) {
            if (!e.getKey().endsWith("2:4")) continue;
            for (Block b : e.getValue().blocks)
                for (var l : b.linears.entrySet()) {
                    float[] w = l.getValue().toDense();
                    int cols = l.getValue().cols();
                    for (int r = 0; r < l.getValue().rows(); r++)
                        for (int g = 0; g < cols; g += 4) {
                            int nz = 0;
                            for (int j = g; j < g + 4; j++) if (w[r * cols + j] != 0f) nz++;
                            assertEquals(2, nz, e.getKey() + " " + l.getKey() + " row " + r + " group " + g / 4);
                        }
                }
        }
    }

    @Test
    void dataAwareMethodsBeatMagnitude() {
        for (String s : List.of("0.5", "2:4")) {
            assertTrue(ppl.get("wanda " + s) < ppl.get("magnitude " + s), "wanda " + s + ": " + ppl);
            assertTrue(ppl.get("sparsegpt " + s) < ppl.get("magnitude " + s), "sparsegpt " + s + ": " + ppl);
        }
    }

    @Test
    void sparseGptBeatsWandaAt70Percent() {
        assertTrue(ppl.get("sparsegpt 0.7") < ppl.get("wanda 0.7"), ppl.toString());
    }

    @Test
    void denseExportLoadsBackWithIdenticalWeights(@TempDir Path tmp) {
        Model m = models.get("sparsegpt 2:4");
        Path out = ModelWriter.write(m, tmp.resolve("out"), true, false, Map.of());
        try (SafeTensors dense = SafeTensors.open(out.resolve("model.safetensors")); Model back = Model.load(out)) {
            for (Block b : m.blocks)
                for (var l : b.linears.entrySet()) {
                    String name = m.arch.blockPrefix(b.index) + l.getKey();
                    float[] want = l.getValue().toDense();
                    assertArrayEquals(want, dense.get(name + ".weight").toFloatArray(), name + " (dense export)");
                    assertArrayEquals(want, back.blocks.get(b.index).linear(l.getKey()).toDense(), name + " (squish format)");
                }
            // The dense export is a plain Hugging Face checkpoint: the same names and shapes as the input.
            try (SafeTensors orig = SafeTensors.open(Fixtures.LLAMA)) {
                assertEquals(orig.names(), dense.names());
                for (String n : orig.names()) assertArrayEquals(orig.get(n).shape(), dense.get(n).shape(), n);
            }
        }
    }
}
