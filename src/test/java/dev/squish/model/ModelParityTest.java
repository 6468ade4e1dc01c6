package dev.squish.model;

import dev.squish.Fixtures;
import dev.squish.formats.SafeTensors;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** The forward pass reproduces the reference implementation's logits on both fixtures. */
class ModelParityTest {
    static float maxAbsDiff(float[] a, float[] b) {
        assertEquals(a.length, b.length);
        float m = 0;
        for (int i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
        return m;
    }

    @ParameterizedTest
    @ValueSource(strings = {"kjv-llama-tiny", "kjv-gpt2-tiny"})
    void prefillLogitsMatchReference(String name) {
        Path dir = Fixtures.ROOT.resolve("models").resolve(name);
        try (SafeTensors ref = SafeTensors.open(dir.resolve("reference_logits.safetensors"));
             Model m = Model.load(dir)) {
            int[] ids = ref.get("input_ids").toIntArray();
            float[] want = ref.get("logits").toFloatArray();
            float[] got = m.forward(ids, 0, m.newCache(ids.length));
            float diff = maxAbsDiff(got, want);
            assertTrue(diff < 1e-3, name + ": max |logit diff| = " + diff);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"kjv-llama-tiny", "kjv-gpt2-tiny"})
    void decodeWithCacheMatchesPrefill(String name) {
        Path dir = Fixtures.ROOT.resolve("models").resolve(name);
        try (SafeTensors ref = SafeTensors.open(dir.resolve("reference_logits.safetensors"));
             Model m = Model.load(dir)) {
            int[] ids = java.util.Arrays.copyOf(ref.get("input_ids").toIntArray(), 40);
            float[] want = ref.get("logits").toFloatArray();
            KVCache cache = m.newCache(64);
            // Prefill 30 tokens, then decode the remaining 10 one at a time through the cache.
            m.forward(java.util.Arrays.copyOf(ids, 30), 0, cache);
            int v = m.vocab();
            for (int t = 30; t < 40; t++) {
                float[] got = m.forwardLast(new int[]{ids[t]}, t, cache);
                float[] w = java.util.Arrays.copyOfRange(want, t * v, (t + 1) * v);
                float diff = maxAbsDiff(got, w);
                assertTrue(diff < 1e-3, name + " position " + t + ": max |logit diff| = " + diff);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"kjv-llama-tiny", "kjv-gpt2-tiny"})
    void parameterCountMatchesReference(String name) throws Exception {
        Path dir = Fixtures.ROOT.resolve("models").resolve(name);
        var json = new com.fasterxml.jackson.databind.ObjectMapper().readTree(dir.resolve("reference.json").toFile());
        try (Model m = Model.load(dir)) {
            assertEquals(json.get("parameters").asLong(), m.parameters());
        }
    }
}
