package dev.squish.methods;

import static org.junit.jupiter.api.Assertions.*;

import dev.squish.SquishException;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;
import org.junit.jupiter.api.Test;

/** The method registry: ServiceLoader discovery, descriptors, typed options with one set of limits. */
class MethodsTest {
    @Test
    void serviceLoaderFindsEveryMethodInRegistrationOrder() {
        List<String> found = ServiceLoader.load(MethodDescriptor.class).stream().map(p -> p.get().id()).toList();
        assertEquals(List.of("magnitude", "wanda", "sparsegpt", "svd", "asvd", "fwsvd", "slicegpt", "rtn", "gptq", "awq",
                "dsnot", "flap", "l2-structured", "drop-layers", "teal", "cats", "moefy", "finetune"), found);
        assertEquals(found, Methods.ids());
        for (MethodDescriptor<?> d : Methods.all()) {
            assertFalse(d.help().isBlank(), d.id());
            assertFalse(d.help().contains("\n"), d.id());
            assertFalse(d.optionKeys().contains("layers"), d.id());
        }
    }

    @Test
    void descriptorsDeclareKindNeedsAndCreateTheirMethod() {
        assertEquals(Kind.PRUNE, Methods.get("wanda").kind());
        assertEquals(Kind.LOW_RANK, Methods.get("asvd").kind());
        assertEquals(Kind.SLICE, Methods.get("slicegpt").kind());
        assertEquals(Kind.QUANTIZE, Methods.get("awq").kind());
        assertTrue(Methods.get("svd").needs(Need.WHOLE_MODEL));
        assertFalse(Methods.get("svd").needsCalibration());
        assertTrue(Methods.get("gptq").needsCalibration());
        CompressionMethod g = Methods.create("gptq", Map.of("bits", 4, "act_order", true));
        assertInstanceOf(Gptq.class, g);
        assertSame(Methods.get("gptq").getClass(), g.descriptor().getClass());
        assertEquals("gptq int4 g128 sym act-order", g.describe());
        assertTrue(g.needsCalibration());
        assertEquals("svd keep 0.500 spectrum", Methods.create("svd", Map.of("keep", "0.5", "allocation", "spectrum")).describe());
        assertEquals(List.of("magnitude", "wanda", "sparsegpt", "dsnot"), Methods.taking("sparsity"));
        assertEquals(List.of("magnitude", "wanda", "sparsegpt", "svd", "asvd", "fwsvd", "teal"), Methods.taking("allocation"));
        assertEquals(Kind.Placement.RUNTIME, Methods.get("teal").kind().placement());
        assertEquals(Methods.get("teal").kind(), Methods.get("cats").kind());
        assertEquals(List.of("teal", "cats"), Methods.taking("activation_sparsity"));
        assertEquals("moefy 8 experts top-2 shared 1", Methods.create("moefy", Map.of("experts", 8, "top_k", 2, "shared", 1)).describe());
        assertEquals("wanda 60% unstructured, OWL allocation (M 5, lambda 0.08)",
                Methods.create("wanda", Map.of("sparsity", 0.6, "allocation", "owl")).describe());
        assertEquals("structure", Methods.get("flap").kind().id());
    }

    @Test
    void unknownMethodAndOptionsAreOneLineErrors() {
        assertEquals("unknown method 'gtpq' (did you mean 'gptq'?); known methods: " + String.join(", ", Methods.ids()), assertThrows(SquishException.class, () -> Methods.get("gtpq")).getMessage());
        assertEquals("rtn: --act-order does not apply to rtn; rtn takes --bits, --group-size, --sym, --outliers, --gguf-type",
                assertThrows(SquishException.class, () -> Methods.create("rtn", Map.of("bits", 4, "act_order", true))).getMessage());
    }

    @Test
    void oneOutlierLimitForRecipesAndDirectUse() {
        assertEquals(0.1, QuantOptions.OUTLIERS.hi());
        new Rtn(4, 128, true, 0.1);
        OptionException direct = assertThrows(OptionException.class, () -> new Rtn(4, 128, true, 0.2));
        assertEquals("outliers must be in [0, 0.1], got 0.2", direct.getMessage());
        SquishException cli = assertThrows(SquishException.class, () -> Methods.create("gptq", Map.of("bits", 4, "outliers", 0.2)));
        assertEquals("gptq: --outliers must be in [0, 0.1], got 0.2", cli.getMessage());
        assertThrows(OptionException.class, () -> new Awq(4, 128, true, 0.5, true));
    }

    @Test
    void optionsRecordsCheckThemselvesAndWordErrorsForTheReader() {
        assertEquals("give keep or rank, not both", assertThrows(OptionException.class, () -> new LowRankOptions(0.5, 8, null)).getMessage());
        Map<String, Object> both = new HashMap<>();
        both.put("keep", 0.5);
        both.put("rank", 8);
        assertEquals("svd: give --keep or --rank, not both", assertThrows(SquishException.class, () -> Methods.create("svd", both)).getMessage());
        assertEquals("sparsity 0.6 does not match pattern 2:4, which keeps 2 of every 4 weights (sparsity 0.5); leave sparsity out",
                assertThrows(OptionException.class, () -> PruneOptions.of(0.6, "2:4")).getMessage());
        assertEquals(new PruneOptions(0.5, new NM(2, 4)), PruneOptions.of(null, "2:4"));
        assertEquals(new PruneOptions(0.25, null), PruneOptions.of(0.25, "unstructured"));
        assertEquals(Map.of("bits", 4, "group_size", 128, "sym", true, "outliers", 0.0, "clip", true),
                new AwqOptions(QuantOptions.of(4, null, null, null), true).values());
        assertThrows(OptionException.class, () -> new SliceOptions(1.0));
        assertThrows(OptionException.class, () -> new QuantOptions(4, 0, true, 0));
    }

    @Test
    void kindsAreOpen() {
        Kind training = new Kind("training", Kind.Placement.ANY, false, Kind.Edit.NONE, "fine-tuning", "fine-tuning", null);
        assertNotEquals(Kind.PRUNE, training);
        assertThrows(IllegalArgumentException.class,
                () -> new Kind("x", Kind.Placement.FIRST, true, Kind.Edit.ROTATE, "x", "x", null));
    }
}
