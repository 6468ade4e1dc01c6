package dev.squish.export;

import de.kherud.llama.LlamaModel;
import de.kherud.llama.LlamaOutput;
import de.kherud.llama.args.LogFormat;
import dev.squish.model.Block;
import dev.squish.model.Model;
import dev.squish.model.Structure;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Structured outputs (fewer key/value groups and MLP channels per block, o_proj / down_proj
 * biases, fewer blocks) are ordinary dense checkpoints: llama.cpp loads their GGUF export and
 * continues the prompt with the same greedy tokens as Squish on the folder. Blocks of equal shape
 * go out as llama.cpp's {@code llama} architecture, blocks of different shapes as {@code deci}
 * (per-layer head counts and MLP widths).
 */
class StructuredGgufTest {
    @BeforeAll static void quiet() { LlamaModel.setLogger(LogFormat.TEXT, (level, msg) -> { }); }

    static boolean[] keepAllBut(int n, int... drop) {
        boolean[] k = new boolean[n];
        Arrays.fill(k, true);
        for (int d : drop) k[d] = false;
        return k;
    }

    static void edit(Model m, boolean uneven) {
        var c = m.arch.couplings();
        Random r = new Random(2);
        for (Block b : m.blocks) {
            boolean more = uneven && b.index % 2 == 0;
            int[] mlpDrop = new int[more ? 256 : 128];
            for (int i = 0; i < mlpDrop.length; i++) mlpDrop[i] = 3 * i;
            Structure.keepUnits(b, c.get(0), keepAllBut(4, more ? new int[]{0, 3} : new int[]{2}));
            Structure.keepUnits(b, c.get(1), keepAllBut(768, mlpDrop));
            float[] bo = new float[256], bd = new float[256];
            for (int i = 0; i < 256; i++) { bo[i] = 0.05f * (float) r.nextGaussian(); bd[i] = 0.05f * (float) r.nextGaussian(); }
            Structure.addBias(b, "self_attn.o_proj", bo);
            Structure.addBias(b, "mlp.down_proj", bd);
        }
    }

    String llamaCpp(Path gguf) {
        try (LlamaModel lm = new LlamaCppGgufTest().load(gguf)) {
            StringBuilder s = new StringBuilder();
            for (LlamaOutput o : lm.generate(LlamaCppGgufTest.greedy(LlamaCppGgufTest.PROMPT, 16))) s.append(o.text);
            return s.toString();
        }
    }

    void check(Path folder, Path gguf, String arch) {
        GgufExport.export(folder, gguf, GgufExport.Type.F32);
        try (dev.squish.formats.GgufReader g = dev.squish.formats.GgufReader.open(gguf)) {
            assertEquals(arch, g.get("general.architecture").asString());
        }
        String squish;
        try (Model back = Model.load(folder)) { squish = LlamaCppGgufTest.squishContinuation(back); }
        String cpp = llamaCpp(gguf);
        System.out.println("structured " + arch + ": squish [" + squish + "] llama.cpp [" + cpp + "]");
        assertFalse(squish.isBlank());
        assertEquals(squish, cpp, "llama.cpp continues like Squish on the structured model");
    }

    @Test void uniformStructureRunsInLlamaCppAsLlama(@TempDir Path dir) {
        try (Model m = Model.load(LlamaCppGgufTest.LLAMA)) {
            edit(m, false);
            Path out = ModelWriter.write(m, dir.resolve("uniform"), true, false, Map.of());
            check(out, dir.resolve("uniform.gguf"), "llama");
        }
    }

    @Test void unevenStructureRunsInLlamaCppAsDeci(@TempDir Path dir) {
        try (Model m = Model.load(LlamaCppGgufTest.LLAMA)) {
            edit(m, true);
            Path out = ModelWriter.write(m, dir.resolve("uneven"), false, false, Map.of());
            check(out, dir.resolve("uneven.gguf"), "deci");
        }
    }

    @Test void droppedBlocksRunInLlamaCpp(@TempDir Path dir) {
        try (Model m = Model.load(LlamaCppGgufTest.LLAMA)) {
            Structure.removeBlocks(m, Set.of(3));
            Path out = ModelWriter.write(m, dir.resolve("dropped"), false, false, Map.of());
            check(out, dir.resolve("dropped.gguf"), "llama");
        }
    }

    /**
     * GPT-2: FLAP's uniform structure (narrower MLPs, compensating mlp.c_proj biases), the L2
     * baseline and a dropped block are plain GPT-2 folders (n_inner, n_layer) that llama.cpp's gpt2
     * runs with Squish's greedy tokens; adaptive FLAP's uneven MLP widths have no gpt2 layout and
     * are refused.
     */
    @Test void gpt2StructuredOutputsRunInLlamaCppAsGpt2(@TempDir Path dir) throws Exception {
        Path gpt2 = GgufArchitecturesTest.GPT2;
        int[] text = dev.squish.formats.Tokenizer.load(gpt2).encode(java.nio.file.Files.readString(Path.of("fixtures/data/kjv/train.txt")).substring(0, 20000));
        int[][] samples = dev.squish.calibration.Sampler.sample(text, 8, 64, false, 0);
        for (String what : new String[]{"flap", "l2", "drop", "adaptive"}) {
            Path out;
            try (Model m = Model.load(gpt2)) {
                switch (what) {
                    case "flap", "adaptive" -> {
                        var st = dev.squish.methods.prune.Flap.collect(m, samples);
                        var scores = dev.squish.methods.prune.Flap.scores(m, st);
                        boolean[][][] keep = what.equals("flap")
                                ? dev.squish.methods.prune.Flap.uniform(scores, dev.squish.methods.prune.Flap.uniformCounts(m, 0.3))
                                : dev.squish.methods.prune.Flap.adaptive(m, scores, 0.3);
                        dev.squish.methods.prune.Flap.apply(m, keep, st, true);
                    }
                    case "l2" -> dev.squish.methods.prune.L2Structured.prune(m, 0.3);
                    default -> Structure.removeBlocks(m, Set.of(2));
                }
                out = ModelWriter.write(m, dir.resolve(what), !what.equals("adaptive"), false, Map.of());
            }
            Path gguf = dir.resolve(what + ".gguf");
            if (what.equals("adaptive")) {
                try (Model back = Model.load(out)) {   // Squish's own folder records the per-layer MLP widths
                    assertFalse(Structure.uniform(Structure.shapes(back)), "adaptive FLAP leaves blocks of different widths");
                    assertFalse(LlamaCppGgufTest.squishContinuation(back).isBlank());
                }
                var e = assertThrows(dev.squish.SquishException.class, () -> GgufExport.export(out, gguf, GgufExport.Type.F32));
                assertTrue(e.getMessage().contains("no llama.cpp gpt2 layout"), e.getMessage());
                continue;
            }
            GgufExport.export(out, gguf, GgufExport.Type.F32);
            try (dev.squish.formats.GgufReader g = dev.squish.formats.GgufReader.open(gguf)) {
                assertEquals("gpt2", g.get("general.architecture").asString());
                assertEquals(what.equals("drop") ? 3L : 4L, g.get("gpt2.block_count").asLong());
                assertEquals(what.equals("drop") ? 768L : 768L - 345, g.get("gpt2.feed_forward_length").asLong());
            }
            GgufArchitecturesTest.assertSameContinuation(out, gguf, "gpt2 " + what);
        }
    }
}
