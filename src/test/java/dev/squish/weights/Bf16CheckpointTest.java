package dev.squish.weights;

import dev.squish.Fixtures;
import dev.squish.formats.DType;
import dev.squish.formats.SafeTensors;
import dev.squish.formats.SafeTensorsWriter;
import dev.squish.formats.TensorInfo;
import dev.squish.model.Model;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** A Hugging Face checkpoint with BF16 matrices is served from the mapped file as dense-bf16, not widened to float32. */
class Bf16CheckpointTest {
    @TempDir Path tmp;

    @Test
    void bf16MatricesLoadMappedAndComputeLikeTheirFloatValues() throws Exception {
        Path bf = tmp.resolve("bf16"), f32 = tmp.resolve("f32");
        Files.createDirectories(bf);
        Files.createDirectories(f32);
        for (String f : new String[]{"config.json", "tokenizer.json", "tokenizer_config.json"}) {
            Files.copy(Fixtures.LLAMA.resolve(f), bf.resolve(f));
            Files.copy(Fixtures.LLAMA.resolve(f), f32.resolve(f));
        }
        try (SafeTensors st = SafeTensors.open(Fixtures.LLAMA);
             SafeTensorsWriter wb = new SafeTensorsWriter(bf.resolve("model.safetensors"));
             SafeTensorsWriter wf = new SafeTensorsWriter(f32.resolve("model.safetensors"))) {
            for (TensorInfo t : st.tensors()) {
                float[] v = t.toFloatArray();
                if (t.rank() == 2 && t.name().contains(".layers.")) {
                    short[] h = new short[v.length];
                    for (int i = 0; i < v.length; i++) { h[i] = Bf16DenseLinear.toBf16(v[i]); v[i] = Bf16DenseLinear.fromBf16(h[i]); }
                    java.lang.foreign.MemorySegment seg = java.lang.foreign.MemorySegment.ofArray(new byte[2 * h.length]);
                    java.lang.foreign.MemorySegment.copy(h, 0, seg, java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN), 0, h.length);
                    wb.add(t.name(), DType.BF16, t.shape(), seg);
                } else {
                    wb.addF32(t.name(), t.shape(), v);
                }
                wf.addF32(t.name(), t.shape(), v);
            }
            wb.finish();
            wf.finish();
        }
        int[] tokens = {1, 5, 9, 200, 7, 3000};
        try (Model b = Model.load(bf); Model f = Model.load(f32)) {
            assertTrue(b.blocks.get(0).linear("self_attn.q_proj") instanceof Bf16DenseLinear);
            assertEquals("dense-bf16", b.blocks.get(0).linear("mlp.down_proj").format());
            float[] lb = b.forward(tokens, 0, b.newCache(tokens.length)), lf = f.forward(tokens, 0, f.newCache(tokens.length));
            for (int i = 0; i < lf.length; i++) assertEquals(lf[i], lb[i], 1e-4f * (1 + Math.abs(lf[i])), "logit " + i);
        }
    }
}
