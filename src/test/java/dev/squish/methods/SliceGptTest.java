package dev.squish.methods;

import dev.squish.Fixtures;
import dev.squish.SquishException;
import dev.squish.methods.BlockPipeline;
import dev.squish.cli.Main;
import dev.squish.formats.SafeTensors;
import dev.squish.formats.Tokenizer;
import dev.squish.model.Block;
import dev.squish.model.Model;
import dev.squish.eval.Generator;
import dev.squish.eval.Perplexity;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** SliceGPT on the Llama fixture: exact rotation at slice 0; a sliced model that saves, loads, evaluates and generates. */
class SliceGptTest {
    @Test
    void rotationWithoutSlicingKeepsTheLogits() throws Exception {
        try (Model m = FactorizationModelTest.compress(new SliceGpt(0), FactorizationModelTest.calibration(16, 128))) {
            for (Block b : m.blocks) {
                assertTrue(b.linears.containsKey("attn_shortcut") && b.linears.containsKey("mlp_shortcut"));
                for (float g : b.vector("input_layernorm.weight")) assertEquals(1f, g);
            }
            FactorizationModelTest.assertReferenceLogits(m);
        }
    }

    static long expectedParameters(int vocab, int hidden, int d, int layers, int qDim, int kvDim, int inter) {
        long n = (long) vocab * d + hidden + (long) vocab * hidden; // embedding, final norm, head (not sliced)
        for (int i = 0; i < layers; i++) {
            int out = i == layers - 1 ? hidden : d;
            n += (long) (qDim + 2 * kvDim) * d + (long) d * qDim + 2L * inter * d + (long) out * inter; // linears
            n += (long) d * d + (long) out * d + 2L * d;                                         // shortcuts, norms
        }
        return n;
    }

    @Test
    void slicedModelSavesLoadsEvaluatesAndGenerates(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("slice25");
        StringWriter so = new StringWriter(), se = new StringWriter();
        int rc = Main.run(new String[]{"compress", Fixtures.LLAMA.toString(), "-o", out.toString(), "--method", "slicegpt", "--slice", "0.25",
                "--calibration", Fixtures.TRAIN.toString(), "--samples", "32", "--seq-len", "128"}, new PrintWriter(so), new PrintWriter(se));
        assertEquals(0, rc, se.toString());
        try (Model orig = Model.load(Fixtures.LLAMA); Model m = Model.load(out);
             SafeTensors st = SafeTensors.open(out)) {
            assertTrue(st.metadata().containsKey("squish.reshaped"));
            assertEquals(192, m.width());
            assertEquals(192, m.blocks.get(0).linear("self_attn.q_proj").cols());
            assertEquals(256, m.blocks.get(5).linear("mlp.down_proj").rows());
            var c = m.config;
            assertEquals(expectedParameters(c.vocab(), 256, 192, c.layers(), c.qDim(), c.kvDim(), c.intermediate()), m.parameters());
            assertTrue(m.parameters() < orig.parameters(), m.parameters() + " vs " + orig.parameters());

            Tokenizer tok = Tokenizer.load(out);
            int[] valid = Arrays.copyOf(tok.encode(Files.readString(Fixtures.VALID)), 256 * 24);
            double sliced = Perplexity.evaluate(m, valid, 256).perplexity(), base = Perplexity.evaluate(orig, valid, 256).perplexity();
            assertTrue(sliced > base * 0.98 && sliced < base * 1.5, "sliced " + sliced + " vs original " + base);

            int[] prompt = tok.encode("And God said");
            int[] gen = new Generator(m).generate(prompt, Generator.Options.greedy(12), t -> { }).tokens();
            assertEquals(12, gen.length);
            // Greedy decoding through the KV cache agrees with one prefill over the whole sequence.
            int[] all = Arrays.copyOf(prompt, prompt.length + gen.length - 1);
            System.arraycopy(gen, 0, all, prompt.length, gen.length - 1);
            float[] logits = m.forward(all, 0, m.newCache(all.length));
            for (int t = 0; t < gen.length; t++)
                assertEquals(gen[t], Generator.argmax(Arrays.copyOfRange(logits, (prompt.length - 1 + t) * m.vocab(), (prompt.length + t) * m.vocab())));
        }
        // A plain HF export cannot hold the sliced shapes.
        int rc2 = Main.run(new String[]{"compress", out.toString(), "-o", tmp.resolve("again").toString(), "--method", "svd", "--keep", "0.9", "--dense"},
                new PrintWriter(new StringWriter()), new PrintWriter(se = new StringWriter()));
        assertEquals(2, rc2);
        assertTrue(se.toString().contains("--dense"), se.toString());
    }

    @Test
    void refusesOtherFamilies() {
        try (Model m = Model.load(Fixtures.GPT2)) {
            var p = new BlockPipeline(m, List.of(new BlockPipeline.Stage(new SliceGpt(0.25), null)));
            assertThrows(SquishException.class, () -> p.run(new int[][]{new int[16]}));
        }
    }
}
