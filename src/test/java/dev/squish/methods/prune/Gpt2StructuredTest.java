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

/**
 * FLAP, the L2 baseline and block dropping on the bundled GPT-2 (4 blocks, n_embd 192, 6 heads,
 * MLP 768): GPT-2's couplings are its MLP channels (a c_fc row and bias entry, a mlp.c_proj
 * column); its fused c_attn and attn.c_proj count in the budget and stay whole.
 */
class Gpt2StructuredTest {
    static int[][] calibration;
    static final int[] TOKENS = {5, 77, 300, 1200, 9, 42, 3000, 17, 256, 1024, 8, 99};

    @BeforeAll static void data() throws Exception {
        Tokenizer tok = Tokenizer.load(Fixtures.GPT2);
        calibration = Sampler.sample(tok.encode(Files.readString(Fixtures.TRAIN)), 16, 64, false, 0);
    }

    /** Squared difference of the final hidden states against the dense model, on calibration text. */
    static double hiddenError(Model dense, Model m) {
        double s = 0;
        for (int i = 0; i < 4; i++) {
            float[] a = dense.hidden(calibration[i], 0, dense.newCache(64)), b = m.hidden(calibration[i], 0, m.newCache(64));
            for (int j = 0; j < a.length; j++) s += (a[j] - b[j]) * (a[j] - b[j]);
        }
        return s;
    }

    static long blockLinearParameters(Model m) {
        long n = 0;
        for (Block b : m.blocks) for (var l : b.linears.values()) n += l.parameters();
        return n;
    }

    @Test void removingNothingReproducesTheLogits() {
        try (Model ref = Model.load(Fixtures.GPT2); Model m = Model.load(Fixtures.GPT2); Model u = Model.load(Fixtures.GPT2)) {
            Flap.Stats st = Flap.collect(m, calibration);
            assertEquals(0, Flap.apply(m, Flap.adaptive(m, Flap.scores(m, st), 0.0), st, true));
            assertArrayEquals(new int[]{0}, Flap.uniformCounts(u, 0.0));
            assertEquals(0, L2Structured.prune(u, 0.0));
            float[] a = StructuredPruningTest.logits(ref);
            assertTrue(StructuredPruningTest.maxDiff(a, StructuredPruningTest.logits(m)) < 1e-4);
            assertTrue(StructuredPruningTest.maxDiff(a, StructuredPruningTest.logits(u)) < 1e-4);
        }
    }

    @Test void adaptiveFlapHasTheDeclaredShapesAndTheAskedShare() {
        try (Model dense = Model.load(Fixtures.GPT2); Model m = Model.load(Fixtures.GPT2); Model noBias = Model.load(Fixtures.GPT2)) {
            long before = blockLinearParameters(m);
            Flap.Stats st = Flap.collect(m, calibration);
            boolean[][][] keep = Flap.adaptive(m, Flap.scores(m, st), 0.2);
            Flap.apply(m, keep, st, true);
            Flap.apply(noBias, keep, st, false);
            // 20% of all the blocks' linear weights (attention included) come out of the MLPs,
            // within one channel (192 + 192 weights)
            assertEquals(0.2 * before, before - blockLinearParameters(m), 384);
            for (Block b : m.blocks) {
                Architecture.LayerShape s = m.arch.shape(b);
                assertEquals(6, s.heads());
                assertArrayEquals(new int[]{576, 192}, new int[]{b.linear("attn.c_attn").rows(), b.linear("attn.c_attn").cols()}, "attention stays whole");
                assertArrayEquals(new int[]{192, 192}, new int[]{b.linear("attn.c_proj").rows(), b.linear("attn.c_proj").cols()});
                assertArrayEquals(m.arch.expectedShape("mlp.c_fc", s), new int[]{b.linear("mlp.c_fc").rows(), b.linear("mlp.c_fc").cols()});
                assertArrayEquals(m.arch.expectedShape("mlp.c_proj", s), new int[]{b.linear("mlp.c_proj").rows(), b.linear("mlp.c_proj").cols()});
                assertEquals(s.intermediate(), b.vector("mlp.c_fc.bias").length, "c_fc's bias loses the removed channels");
                assertTrue(s.intermediate() >= 1 && s.intermediate() <= 768);
            }
            double withBias = hiddenError(dense, m), without = hiddenError(dense, noBias);
            assertTrue(withBias < without, "bias compensation into mlp.c_proj.bias helps: " + withBias + " vs " + without);
        }
    }

    @Test void uniformStructuresHaveOneShapeAndTheBudgetCountsTheAttention() {
        try (Model m = Model.load(Fixtures.GPT2); Model l2 = Model.load(Fixtures.GPT2)) {
            // per block: attention 4 * 192^2 = 147,456 weights (fixed) + 768 channels of 192 + 1 + 192 = 385;
            // 20% of 443,136 = 88,627.2 -> 230.2 channels -> 230
            assertArrayEquals(new int[]{230}, Flap.uniformCounts(m, 0.2));
            Flap.Stats st = Flap.collect(m, calibration);
            Flap.apply(m, Flap.uniform(Flap.scores(m, st), Flap.uniformCounts(m, 0.2)), st, true);
            L2Structured.prune(l2, 0.2);
            for (Model x : new Model[]{m, l2}) {
                var shapes = Structure.shapes(x);
                assertTrue(Structure.uniform(shapes));
                assertEquals(new Architecture.LayerShape(6, 6, 768 - 230), shapes.get(0));
            }
            // the MLP is 2/3 of a GPT-2 block: at most (768 - 1) * 385 of 443,136 per block can go
            var e = assertThrows(dev.squish.SquishException.class, () -> Flap.adaptive(m, Flap.scores(m, st), 0.7));
            assertTrue(e.getMessage().startsWith("--remove 0.7"), e.getMessage());
        }
    }

    @Test void droppingNoBlockIsTheIdentityAndOneBlockIsTheLeastInfluential() {
        try (Model ref = Model.load(Fixtures.GPT2); Model m = Model.load(Fixtures.GPT2)) {
            double[] bi = BlockInfluence.scores(m, calibration);
            assertEquals(4, bi.length);
            Set<Integer> none = BlockInfluence.lowest(bi, 0);
            assertEquals(Set.of(), none);
            Structure.removeBlocks(m, none);
            assertArrayEquals(StructuredPruningTest.logits(ref), StructuredPruningTest.logits(m));
            int low = BlockInfluence.lowest(bi, 1).iterator().next();
            for (int i = 0; i < bi.length; i++) assertTrue(bi[low] <= bi[i]);
            Structure.removeBlocks(m, Set.of(low));
            assertEquals(3, m.blocks.size());
        }
    }
}
