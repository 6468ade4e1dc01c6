package dev.squish.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.squish.Fixtures;
import dev.squish.SquishException;
import dev.squish.export.ModelWriter;
import dev.squish.formats.ModelConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Structural edits (units of a coupling, whole blocks) give smaller dense models that run, are
 * written with a config that describes them, and load back with the same logits.
 */
class StructureTest {
    static final int[] TOKENS = {5, 77, 300, 1200, 9, 42, 3000, 17, 256, 1024, 8, 99};

    static float[] logits(Model m) { return m.forward(TOKENS, 0, m.newCache(TOKENS.length)); }

    static float maxDiff(float[] a, float[] b) {
        assertEquals(a.length, b.length);
        float d = 0;
        for (int i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
        return d;
    }

    static boolean[] keepAllBut(int n, int... drop) {
        boolean[] k = new boolean[n];
        java.util.Arrays.fill(k, true);
        for (int d : drop) k[d] = false;
        return k;
    }

    /** Removes key/value group 1 and MLP channels 0..99 (plus extras in block 0 when uneven); adds random o_proj / down_proj biases. */
    static void edit(Model m, boolean uneven) {
        var c = m.arch.couplings();
        Random r = new Random(1);
        for (Block b : m.blocks) {
            int[] mlpDrop = new int[uneven && b.index == 0 ? 200 : 100];
            for (int i = 0; i < mlpDrop.length; i++) mlpDrop[i] = i;
            Structure.keepUnits(b, c.get(0), keepAllBut(c.get(0).units(b), uneven && b.index == 0 ? new int[]{1, 2} : new int[]{1}));
            Structure.keepUnits(b, c.get(1), keepAllBut(c.get(1).units(b), mlpDrop));
            float[] bo = new float[b.linear("self_attn.o_proj").rows()], bd = new float[b.linear("mlp.down_proj").rows()];
            for (int i = 0; i < bo.length; i++) { bo[i] = 0.05f * (float) r.nextGaussian(); bd[i] = 0.05f * (float) r.nextGaussian(); }
            Structure.addBias(b, "self_attn.o_proj", bo);
            Structure.addBias(b, "mlp.down_proj", bd);
        }
    }

    @Test void llamaCouplingsAreKeyValueGroupsAndChannels() {
        try (Model m = Model.load(Fixtures.LLAMA)) {
            var c = m.arch.couplings();
            Block b = m.blocks.get(0);
            assertEquals(4, c.get(0).units(b), "4 key/value groups of 2 query heads");
            assertEquals(768, c.get(1).units(b));
            // a group: q 64 rows, k 32, v 32 (x256) + o_proj 64 columns (x256)
            assertEquals((64 + 32 + 32) * 256 + 256 * 64, c.get(0).unitParameters(b));
            assertEquals(3 * 256, c.get(1).unitParameters(b));
        }
    }

    @Test void keepingEveryUnitAndDroppingNoBlockIsTheIdentity() {
        try (Model ref = Model.load(Fixtures.LLAMA); Model m = Model.load(Fixtures.LLAMA)) {
            for (Block b : m.blocks) for (var c : m.arch.couplings()) Structure.keepUnits(b, c, keepAllBut(c.units(b)));
            Structure.removeBlocks(m, Set.of());
            assertEquals(0f, maxDiff(logits(ref), logits(m)));
        }
    }

    @Test void removedUnitsMatchMaskingThemOut() {
        // Removing MLP channel j equals zeroing row j of gate/up and column j of down; removing a
        // key/value group equals zeroing its o_proj columns (its heads then contribute nothing).
        try (Model masked = Model.load(Fixtures.LLAMA); Model cut = Model.load(Fixtures.LLAMA)) {
            var c = cut.arch.couplings();
            for (Block b : masked.blocks) {
                var o = b.linear("self_attn.o_proj");
                float[] w = o.toDense();
                for (int r = 0; r < o.rows(); r++) for (int j = 64; j < 128; j++) w[r * o.cols() + j] = 0;
                b.linears.put("self_attn.o_proj", new dev.squish.weights.DenseLinear(o.rows(), o.cols(), w));
                var d = b.linear("mlp.down_proj");
                float[] wd = d.toDense();
                for (int r = 0; r < d.rows(); r++) for (int j = 0; j < 10; j++) wd[r * d.cols() + j] = 0;
                b.linears.put("mlp.down_proj", new dev.squish.weights.DenseLinear(d.rows(), d.cols(), wd));
            }
            for (Block b : cut.blocks) {
                Structure.keepUnits(b, c.get(0), keepAllBut(4, 1));
                Structure.keepUnits(b, c.get(1), keepAllBut(768, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9));
                assertEquals(192, b.linear("self_attn.q_proj").rows());
                assertEquals(96, b.linear("self_attn.k_proj").rows());
                assertEquals(192, b.linear("self_attn.o_proj").cols());
                assertEquals(758, b.linear("mlp.up_proj").rows());
                assertEquals(758, b.linear("mlp.down_proj").cols());
            }
            float d = maxDiff(logits(masked), logits(cut));
            assertTrue(d < 1e-4, "max |logit diff| " + d);
        }
    }

    @Test void removingBlocksSkipsThem(@TempDir Path dir) throws Exception {
        try (Model ref = Model.load(Fixtures.LLAMA); Model m = Model.load(Fixtures.LLAMA)) {
            Structure.removeBlocks(m, Set.of(2, 4));
            assertEquals(4, m.blocks.size());
            for (int i = 0; i < 4; i++) assertEquals(i, m.blocks.get(i).index);
            // reference: run the original model's blocks 0, 1, 3, 5 by hand
            float[] x = ref.embed(TOKENS, 0);
            KVCache cache = ref.newCache(TOKENS.length);
            for (int i : new int[]{0, 1, 3, 5}) x = ref.arch.forwardBlock(ref.blocks.get(i), x, TOKENS.length, 0, cache, LinearObserver.NONE);
            ref.arch.finalNorm(ref, x, TOKENS.length);
            float[] want = new float[TOKENS.length * ref.vocab()];
            ref.head.matmul(x, TOKENS.length, want);
            assertEquals(0f, maxDiff(want, logits(m)));
            Path out = ModelWriter.write(m, dir.resolve("dropped"), true, false, Map.of());
            JsonNode cfg = new ObjectMapper().readTree(out.resolve("config.json").toFile());
            assertEquals(4, cfg.get("num_hidden_layers").asInt());
            assertEquals(8, cfg.get("num_attention_heads").asInt(), "shapes unchanged");
            try (Model back = Model.load(out)) { assertEquals(0f, maxDiff(want, logits(back))); }
        }
    }

    @Test void uniformStructuredModelGetsAPlainConfigAndLoadsBack(@TempDir Path dir) throws Exception {
        try (Model m = Model.load(Fixtures.LLAMA)) {
            edit(m, false);
            float[] want = logits(m);
            Path out = ModelWriter.write(m, dir.resolve("flap"), true, false, Map.of());
            JsonNode cfg = new ObjectMapper().readTree(out.resolve("config.json").toFile());
            assertEquals(6, cfg.get("num_attention_heads").asInt());
            assertEquals(3, cfg.get("num_key_value_heads").asInt());
            assertEquals(32, cfg.get("head_dim").asInt(), "kept: 256 / 6 heads would not be 32");
            assertEquals(668, cfg.get("intermediate_size").asInt());
            assertTrue(cfg.get("attention_bias").asBoolean());
            assertTrue(cfg.get("mlp_bias").asBoolean());
            try (Model back = Model.load(out)) {
                float d = maxDiff(want, logits(back));
                assertTrue(d < 1e-4, "max |logit diff| " + d);
                assertFalse(back.weights.metadata().containsKey(Model.LAYER_SHAPES));
            }
            // the plain checkpoint alone (what transformers reads): zero q/k/v and gate/up biases fill the families
            Path plain = Files.createDirectories(dir.resolve("plain"));
            Files.copy(out.resolve("config.json"), plain.resolve("config.json"));
            Files.copy(out.resolve("model.safetensors"), plain.resolve("model.safetensors"));
            try (Model back = Model.load(plain)) {
                assertNotNull(back.blocks.get(0).vector("self_attn.q_proj.bias"));
                assertNotNull(back.blocks.get(0).vector("mlp.gate_proj.bias"));
                assertTrue(maxDiff(want, logits(back)) < 1e-4);
            }
        }
    }

    @Test void unevenStructuredModelRecordsItsShapesAndRefusesAPlainCheckpoint(@TempDir Path dir) throws Exception {
        try (Model m = Model.load(Fixtures.LLAMA)) {
            edit(m, true);
            float[] want = logits(m);
            SquishException e = assertThrows(SquishException.class, () -> ModelWriter.write(m, dir.resolve("x"), true, false, Map.of()));
            assertTrue(e.getMessage().contains("--dense") && e.getMessage().contains("differ in shape"), e.getMessage());
            assertFalse(Files.exists(dir.resolve("x")), "nothing written");
            Path out = ModelWriter.write(m, dir.resolve("flap"), false, false, Map.of());
            try (Model back = Model.load(out)) {
                assertTrue(maxDiff(want, logits(back)) < 1e-4);
                assertEquals(new Architecture.LayerShape(4, 2, 568), back.arch.shape(back.blocks.get(0)));
                assertEquals(new Architecture.LayerShape(6, 3, 668), back.arch.shape(back.blocks.get(1)));
            }
        }
    }

    @Test void aShapeThatContradictsTheRecordedShapesIsRefused(@TempDir Path dir) throws Exception {
        try (Model m = Model.load(Fixtures.LLAMA)) {
            edit(m, true);
            Path out = ModelWriter.write(m, dir.resolve("flap"), false, false, Map.of());
            // a config.json that claims one more layer than the recorded shapes
            var cfg = (com.fasterxml.jackson.databind.node.ObjectNode) new ObjectMapper().readTree(out.resolve("config.json").toFile());
            cfg.put("num_hidden_layers", 7);
            Files.writeString(out.resolve("config.json"), cfg.toString());
            SquishException e = assertThrows(SquishException.class, () -> Model.load(out).close());
            assertTrue(e.getMessage().contains("squish.layer_shapes"), e.getMessage());
        }
    }

    @Test void configKeysOfBothFamilies() {
        assertEquals("num_hidden_layers", Architecture.of(ModelConfig.load(Fixtures.LLAMA)).configKeys().get(0));
        assertEquals("n_layer", Architecture.of(ModelConfig.load(Fixtures.GPT2)).configKeys().get(0));
        // GPT-2: the MLP channels only (its fused c_attn heads stay whole, see Gpt2.couplings)
        var gpt2 = Architecture.of(ModelConfig.load(Fixtures.GPT2)).couplings();
        assertEquals(1, gpt2.size());
        assertEquals("mlp", gpt2.getFirst().name());
    }
}
