package dev.squish.methods.prune;

import dev.squish.Fixtures;
import dev.squish.calibration.Sampler;
import dev.squish.formats.Tokenizer;
import dev.squish.model.Architecture;
import dev.squish.model.Block;
import dev.squish.model.Model;
import dev.squish.model.Structure;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

/** FLAP, the L2 baseline and ShortGPT's block influence on the bundled Llama. */
class StructuredPruningTest {
    static int[][] calibration;
    static final int[] TOKENS = {5, 77, 300, 1200, 9, 42, 3000, 17, 256, 1024, 8, 99};

    @BeforeAll static void data() throws Exception {
        Tokenizer tok = Tokenizer.load(Fixtures.LLAMA);
        calibration = Sampler.sample(tok.encode(Files.readString(Fixtures.TRAIN)), 16, 64, false, 0);
    }

    static float[] logits(Model m) { return m.forward(TOKENS, 0, m.newCache(TOKENS.length)); }

    static float maxDiff(float[] a, float[] b) {
        float d = 0;
        for (int i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
        return d;
    }

    /** Mean squared difference of the final hidden states against the dense model, on calibration text. */
    static double hiddenError(Model dense, Model m) {
        double s = 0;
        for (int i = 0; i < 4; i++) {
            float[] a = dense.hidden(calibration[i], 0, dense.newCache(64)), b = m.hidden(calibration[i], 0, m.newCache(64));
            for (int j = 0; j < a.length; j++) s += (a[j] - b[j]) * (a[j] - b[j]);
        }
        return s;
    }

    @Test void flapRemovingNothingReproducesTheLogits() {
        try (Model ref = Model.load(Fixtures.LLAMA); Model m = Model.load(Fixtures.LLAMA)) {
            Flap.Stats st = Flap.collect(m, calibration);
            boolean[][][] keep = Flap.adaptive(m, Flap.scores(m, st), 0.0);
            assertEquals(0, Flap.apply(m, keep, st, true));
            assertTrue(maxDiff(logits(ref), logits(m)) < 1e-4);
        }
    }

    @Test void adaptiveFlapRemovesTheAskedShareAndCompensatesWithBiases() {
        try (Model dense = Model.load(Fixtures.LLAMA); Model m = Model.load(Fixtures.LLAMA); Model noBias = Model.load(Fixtures.LLAMA)) {
            long linearParams = 0;
            for (Block b : m.blocks) for (var l : b.linears.values()) linearParams += l.parameters();
            Flap.Stats st = Flap.collect(m, calibration);
            boolean[][][] keep = Flap.adaptive(m, Flap.scores(m, st), 0.2);
            long removed = Flap.apply(m, keep, st, true);
            Flap.apply(noBias, keep, st, false);
            long linearAfter = 0;
            for (Block b : m.blocks) for (var l : b.linears.values()) linearAfter += l.parameters();
            // within one attention unit (49,152 weights) of 20% of the linear weights
            assertEquals(0.2 * linearParams, linearParams - linearAfter, 49152);
            assertTrue(removed > 0.19 * linearParams);
            for (Block b : m.blocks) {
                var s = m.arch.shape(b);
                if (s.kvHeads() < 4) assertNotNull(b.vector("self_attn.o_proj.bias"), "removed heads leave a bias");
                if (s.intermediate() < 768) assertNotNull(b.vector("mlp.down_proj.bias"), "removed channels leave a bias");
                assertTrue(s.kvHeads() >= 1 && s.intermediate() >= 1);
                assertEquals(2 * s.kvHeads(), s.heads(), "whole key/value groups go");
                assertEquals(s.heads() * 32, b.linear("self_attn.o_proj").cols());
                assertEquals(s.intermediate(), b.linear("mlp.down_proj").cols());
            }
            double withBias = hiddenError(dense, m), without = hiddenError(dense, noBias);
            assertTrue(withBias < without, "bias compensation brings the output closer to the dense model: " + withBias + " vs " + without);
        }
    }

    @Test void uniformStructuresHaveOneShape() {
        try (Model m = Model.load(Fixtures.LLAMA); Model l2 = Model.load(Fixtures.LLAMA)) {
            assertArrayEquals(new int[]{0, 102}, Flap.uniformCounts(m, 0.1));
            assertArrayEquals(new int[]{1, 243}, Flap.uniformCounts(m, 0.3));
            Flap.Stats st = Flap.collect(m, calibration);
            Flap.apply(m, Flap.uniform(Flap.scores(m, st), Flap.uniformCounts(m, 0.3)), st, true);
            L2Structured.prune(l2, 0.3);
            for (Model x : new Model[]{m, l2}) {
                var shapes = Structure.shapes(x);
                assertTrue(Structure.uniform(shapes));
                assertEquals(new Architecture.LayerShape(6, 3, 768 - 243), shapes.get(0));
            }
            assertNull(l2.blocks.get(0).vector("mlp.down_proj.bias"), "the baseline adds no bias");
        }
    }

    @Test void l2RemovesTheWeakestColumns() {
        try (Model m = Model.load(Fixtures.LLAMA)) {
            // make MLP channel 7 and key/value group 2 of block 1 the weakest by far
            Block b = m.blocks.get(1);
            var d = b.linear("mlp.down_proj");
            float[] w = d.toDense();
            for (int r = 0; r < d.rows(); r++) w[r * d.cols() + 7] *= 1e-3f;
            b.linears.put("mlp.down_proj", new dev.squish.weights.DenseLinear(d.rows(), d.cols(), w));
            var o = b.linear("self_attn.o_proj");
            float[] wo = o.toDense();
            for (int r = 0; r < o.rows(); r++) for (int j = 128; j < 192; j++) wo[r * o.cols() + j] *= 1e-3f;
            b.linears.put("self_attn.o_proj", new dev.squish.weights.DenseLinear(o.rows(), o.cols(), wo));
            var s = L2Structured.scores(m);
            boolean[][][] keep = Flap.uniform(s, new int[]{1, 1});
            assertFalse(keep[1][0][2]);
            assertFalse(keep[1][1][7]);
        }
    }

    @Test void blockInfluencePicksABlockThatDoesNothing() {
        try (Model m = Model.load(Fixtures.LLAMA)) {
            // block 4 made a no-op: its o_proj and down_proj write nothing to the residual
            Block b = m.blocks.get(4);
            for (String n : new String[]{"self_attn.o_proj", "mlp.down_proj"}) {
                var l = b.linear(n);
                b.linears.put(n, new dev.squish.weights.DenseLinear(l.rows(), l.cols(), new float[l.rows() * l.cols()]));
            }
            double[] bi = BlockInfluence.scores(m, calibration);
            assertEquals(0, bi[4], 1e-6);
            for (int i = 0; i < bi.length; i++) if (i != 4) assertTrue(bi[i] > 1e-4, "block " + i + ": " + bi[i]);
            assertEquals(Set.of(4), BlockInfluence.lowest(bi, 1));
            assertEquals(Set.of(), BlockInfluence.lowest(bi, 0));
        }
    }
}
