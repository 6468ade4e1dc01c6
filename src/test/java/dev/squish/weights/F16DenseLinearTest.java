package dev.squish.weights;

import dev.squish.Fixtures;
import dev.squish.formats.DType;
import dev.squish.formats.SafeTensors;
import dev.squish.formats.SafeTensorsWriter;
import dev.squish.formats.TensorInfo;
import dev.squish.model.Model;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class F16DenseLinearTest {
    @TempDir Path dir;

    /** The vector widening equals Float.float16ToFloat bit for bit on all 65,536 halves (NaN payloads, subnormals, signed zeros, infinities). */
    @Test void everyHalfWidensExactly() {
        short[] all = new short[1 << 16];
        for (int i = 0; i < all.length; i++) all[i] = (short) i;
        // 256 rows of 256: the vector path covers whole rows; a 7-column view checks the scalar tail too
        F16DenseLinear l = F16DenseLinear.fromBits(all, 256, 256);
        float[] d = l.toDense();
        for (int i = 0; i < all.length; i++)
            assertEquals(Float.floatToRawIntBits(Float.float16ToFloat(all[i])), Float.floatToRawIntBits(d[i]), "half 0x" + Integer.toHexString(i));
        short[] part = java.util.Arrays.copyOf(all, 7 * 9000);
        float[] e = F16DenseLinear.fromBits(part, 9000, 7).toDense();
        for (int i = 0; i < part.length; i++)
            assertEquals(Float.floatToRawIntBits(Float.float16ToFloat(part[i])), Float.floatToRawIntBits(e[i]), "tail half " + i);
    }

    @Test void kernelsMatchReference() {
        Random rnd = new Random(1);
        for (int[] s : LinearChecks.SHAPES) {
            float[] w = LinearChecks.random(rnd, s[0], s[1], 0.1, 1);
            F16DenseLinear l = F16DenseLinear.fromDense(w, s[0], s[1]);
            float[] exp = new float[w.length];
            for (int i = 0; i < w.length; i++) exp[i] = Float.float16ToFloat(Float.floatToFloat16(w[i]));
            LinearChecks.assertBitEqual(exp, l.toDense(), "f16 toDense");
            LinearChecks.checkKernels(l, exp, rnd);
            assertEquals(2L * s[0] * s[1], l.bytes());
            assertEquals("dense-f16", l.format());
            LinearChecks.roundTrip(l, dir, rnd);
        }
    }

    /** A Hugging Face checkpoint with F16 matrices is served from the mapped file, not widened to float32 on the heap. */
    @Test void f16CheckpointLoadsMappedAndComputesLikeItsFloatValues() throws Exception {
        Path hf = dir.resolve("f16"), f32 = dir.resolve("f32");
        Files.createDirectories(hf);
        Files.createDirectories(f32);
        for (String f : new String[]{"config.json", "tokenizer.json", "tokenizer_config.json"}) {
            Files.copy(Fixtures.LLAMA.resolve(f), hf.resolve(f));
            Files.copy(Fixtures.LLAMA.resolve(f), f32.resolve(f));
        }
        var LE16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        try (SafeTensors st = SafeTensors.open(Fixtures.LLAMA);
             SafeTensorsWriter wh = new SafeTensorsWriter(hf.resolve("model.safetensors"));
             SafeTensorsWriter wf = new SafeTensorsWriter(f32.resolve("model.safetensors"))) {
            for (TensorInfo t : st.tensors()) {
                float[] v = t.toFloatArray();
                if (t.rank() == 2 && t.name().contains(".layers.")) {
                    MemorySegment seg = MemorySegment.ofArray(new byte[2 * v.length]);
                    for (int i = 0; i < v.length; i++) {
                        short h = Float.floatToFloat16(v[i]);
                        seg.setAtIndex(LE16, i, h);
                        v[i] = Float.float16ToFloat(h);
                    }
                    wh.add(t.name(), DType.F16, t.shape(), seg);
                } else {
                    wh.addF32(t.name(), t.shape(), v);
                }
                wf.addF32(t.name(), t.shape(), v);
            }
            wh.finish();
            wf.finish();
        }
        int[] tokens = {1, 5, 9, 200, 7, 3000};
        try (Model h = Model.load(hf); Model f = Model.load(f32)) {
            assertTrue(h.blocks.get(0).linear("self_attn.q_proj") instanceof F16DenseLinear);
            assertEquals("dense-f16", h.blocks.get(0).linear("mlp.down_proj").format());
            float[] lh = h.forward(tokens, 0, h.newCache(tokens.length)), lf = f.forward(tokens, 0, f.newCache(tokens.length));
            for (int i = 0; i < lf.length; i++) assertEquals(lf[i], lh[i], 1e-4f * (1 + Math.abs(lf[i])), "logit " + i);
        }
    }
}
