package dev.squish.methods;

import dev.squish.Fixtures;
import dev.squish.methods.BlockPipeline;
import dev.squish.calibration.Sampler;
import dev.squish.formats.Tokenizer;
import dev.squish.model.Block;
import dev.squish.model.Model;
import dev.squish.export.ModelWriter;
import dev.squish.eval.Perplexity;
import dev.squish.weights.*;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.*;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The acceptance checks on kjv-llama-tiny: every variant is compressed once (calibration:
 * 64 sequential windows of 256 tokens of train.txt) and evaluated once on the whole test split.
 */
class QuantizedModelTest {
    static final int SAMPLES = 64, L = 256;
    static final Map<String, Model> models = new LinkedHashMap<>();
    static final Map<String, Double> ppl = new LinkedHashMap<>();
    static double dense;
    static int[] testTokens;

    @BeforeAll
    static void compressAll() throws Exception {
        Tokenizer tok = Tokenizer.load(Fixtures.LLAMA);
        testTokens = tok.encode(Files.readString(Fixtures.TEST));
        int[][] cal = Sampler.sample(tok.encode(Files.readString(Fixtures.TRAIN)), SAMPLES, L, false, 0);
        Matcher m = Pattern.compile("\"test_perplexity\"\\s*:\\s*([0-9.eE+-]+)").matcher(Files.readString(Fixtures.LLAMA.resolve("reference.json")));
        assertTrue(m.find());
        dense = Double.parseDouble(m.group(1));
        run("rtn8", cal, new Rtn(8, 128, true));
        run("rtn4", cal, new Rtn(4, 128, true));
        run("gptq4", cal, new Gptq(4, 128, true, false));
        run("awq4", cal, new Awq(4, 128, true, 0, true));
        run("rtn4-outliers", cal, new Rtn(4, 128, true, 0.005));
        run("sparsegpt24+gptq4", cal, false, new SparseGpt(0.5, "2:4"), new Gptq(4, 128, true, false));
        ppl.forEach((k, v) -> System.out.printf("%-20s test perplexity %.4f%n", k, v));
    }

    static void run(String name, int[][] cal, CompressionMethod... methods) { run(name, cal, true, methods); }

    static void run(String name, int[][] cal, boolean evaluate, CompressionMethod... methods) {
        Model m = Model.load(Fixtures.LLAMA);
        List<BlockPipeline.Stage> stages = new ArrayList<>();
        for (CompressionMethod c : methods) stages.add(new BlockPipeline.Stage(c, null));
        new BlockPipeline(m, stages).run(cal);
        models.put(name, m);
        if (evaluate) ppl.put(name, Perplexity.evaluate(m, testTokens, L).perplexity());
    }

    @AfterAll
    static void close() { models.values().forEach(Model::close); }

    @Test
    void int8WithinHalfAPercentOfDense() {
        assertEquals(dense, ppl.get("rtn8"), 0.005 * dense);
        for (Block b : models.get("rtn8").blocks)
            for (Linear l : b.linears.values()) assertEquals("int8-g128", l.format());
    }

    @Test
    void gptqAndAwqBeatRoundToNearestAt4Bits() {
        double rtn = ppl.get("rtn4");
        assertTrue(rtn > dense);
        assertTrue(ppl.get("gptq4") < rtn, () -> "gptq " + ppl.get("gptq4") + " vs rtn " + rtn);
        assertTrue(ppl.get("awq4") < rtn, () -> "awq " + ppl.get("awq4") + " vs rtn " + rtn);
    }

    @Test
    void outliersBeatPlainRoundToNearest() {
        assertTrue(ppl.get("rtn4-outliers") < ppl.get("rtn4"));
        for (Block b : models.get("rtn4-outliers").blocks)
            for (Linear l : b.linears.values()) {
                OutlierLinear o = assertInstanceOf(OutlierLinear.class, l);
                long want = Math.round(0.005 * l.rows() * l.cols());
                assertEquals(want, o.outliers().parameters(), l.format());
                assertInstanceOf(QuantizedLinear.class, o.quantized());
            }
    }

    @Test
    void pruneThenQuantizeStoresNeitherZerosNorFullPrecisionAndKeeps24() {
        for (Block b : models.get("sparsegpt24+gptq4").blocks)
            for (Linear l : b.linears.values()) {
                SparseQuantizedLinear s = assertInstanceOf(SparseQuantizedLinear.class, l);
                assertEquals(4, s.bits());
                float[] w = l.toDense();
                for (int r = 0; r < l.rows(); r++)
                    for (int g = 0; g < l.cols(); g += 4) {
                        int nz = 0;
                        for (int k = 0; k < 4; k++) if (w[r * l.cols() + g + k] != 0) nz++;
                        assertTrue(nz <= 2, "2:4 broken at row " + r + ", column " + g);
                    }
                assertEquals((long) l.rows() * l.cols() / 2, s.nonZeros());
                long int4 = QuantizedLinear.quantizeRtn(w, l.rows(), l.cols(), 4, 128, true).bytes();
                assertTrue(l.bytes() < 0.8 * int4, l.bytes() + " vs dense int4 " + int4);
            }
    }

    @Test
    void packedFormatsRoundTripExactly(@TempDir Path tmp) {
        for (String name : List.of("rtn8", "awq4", "rtn4-outliers", "sparsegpt24+gptq4")) {
            Model m = models.get(name);
            Path out = ModelWriter.write(m, tmp.resolve(name), false, false, Map.of());
            try (Model back = Model.load(out)) {
                for (int i = 0; i < m.blocks.size(); i++) {
                    Block a = m.blocks.get(i), b = back.blocks.get(i);
                    for (String l : a.linears.keySet()) {
                        assertEquals(a.linear(l).format(), b.linear(l).format(), name + " " + l);
                        assertEquals(a.linear(l).bytes(), b.linear(l).bytes());
                        assertArrayEquals(a.linear(l).toDense(), b.linear(l).toDense(), name + " block " + i + " " + l);
                    }
                    for (String v : a.vectors.keySet()) assertArrayEquals(a.vector(v), b.vector(v), name + " " + v);
                }
                int[] window = Arrays.copyOf(testTokens, L);
                // identical weights and kernels; 1e-4 rather than bit equality because the Vector API's
                // interpreted and JIT-compiled lane reductions can differ in the last bits
                assertArrayEquals(m.forward(window, 0, m.newCache(L)), back.forward(window, 0, back.newCache(L)), 1e-4f, name + " logits");
            }
        }
    }
}
