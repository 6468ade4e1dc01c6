package dev.squish.weights;

import dev.squish.Fixtures;
import dev.squish.formats.DType;
import dev.squish.formats.SafeTensors;
import dev.squish.formats.SafeTensorsWriter;
import dev.squish.formats.TensorInfo;
import dev.squish.model.Block;
import dev.squish.model.Model;
import dev.squish.model.NonFinite;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * GPT-2's [in, out] weights served from the mapped file: kernels against the double-precision
 * reference on odd shapes in float32, float16 and bfloat16; the written [out, in] form; the
 * in-place non-finite scan; and whole GPT-2 checkpoints against the float32 heap transpose that
 * loading used to make.
 */
class TransposedDenseLinearTest {
    @TempDir Path dir;

    private static final DType[] TYPES = {DType.F32, DType.F16, DType.BF16};

    /** w rounded to dtype, as the kernels see it. */
    private static float[] rounded(float[] w, DType dtype) {
        float[] e = w.clone();
        for (int i = 0; i < e.length; i++)
            e[i] = switch (dtype) {
                case F16 -> Float.float16ToFloat(Float.floatToFloat16(w[i]));
                case BF16 -> Bf16DenseLinear.fromBf16(Bf16DenseLinear.toBf16(w[i]));
                default -> w[i];
            };
        return e;
    }

    @Test void kernelsMatchTheReferenceOnOddShapes() {
        Random rnd = new Random(11);
        int[][] shapes = Arrays.copyOf(LinearChecks.SHAPES, LinearChecks.SHAPES.length + 3);
        shapes[shapes.length - 3] = new int[]{37, 53};
        // more outputs than one prefill tile with a partial last tile; more inputs than one prefill chunk
        shapes[shapes.length - 2] = new int[]{3 * TransposedDenseLinear.RT + 5, TransposedDenseLinear.KC + 45};
        shapes[shapes.length - 1] = new int[]{53, 37};
        for (DType dtype : TYPES)
            for (int[] s : shapes) {
                float[] w = LinearChecks.random(rnd, s[0], s[1], 0.1);
                TransposedDenseLinear l = TransposedDenseLinear.of(w, s[0], s[1], dtype);
                float[] exp = rounded(w, dtype);
                LinearChecks.assertBitEqual(exp, l.toDense(), dtype + " toDense " + s[0] + "x" + s[1]);
                LinearChecks.checkKernels(l, exp, rnd);
                assertEquals((long) dtype.bytes * s[0] * s[1], l.bytes());
                assertEquals((long) s[0] * s[1], l.parameters());
            }
    }

    /** Decode splits inputs over threads (257 x 1000 is over the one-thread limit) and sums the parts in a fixed order: same bits every call. */
    @Test void decodeIsReproducible() {
        Random rnd = new Random(12);
        for (DType dtype : TYPES) {
            float[] w = LinearChecks.random(rnd, 257, 1000, 0);
            TransposedDenseLinear l = TransposedDenseLinear.of(w, 257, 1000, dtype);
            float[] x = LinearChecks.vector(rnd, 1000), y0 = new float[257], y1 = new float[257];
            l.matvec(x, y0);
            for (int k = 0; k < 20; k++) {
                Arrays.fill(y1, Float.NaN);
                l.matvec(x, y1);
                LinearChecks.assertBitEqual(y0, y1, dtype + " matvec call " + k);
            }
        }
    }

    /** write stores [out, in] as the row-major format of the same type, which reads back with the same values and format. */
    @Test void writesTheRowMajorWeight() {
        Random rnd = new Random(13);
        for (DType dtype : TYPES) {
            float[] w = LinearChecks.random(rnd, 70, 131, 0.1);
            TransposedDenseLinear l = TransposedDenseLinear.of(w, 70, 131, dtype);
            Path file = dir.resolve("t-" + dtype + ".safetensors");
            try (SafeTensorsWriter out = new SafeTensorsWriter(file)) {
                l.write("h.0.mlp.c_fc", out);
                out.finish();
            }
            try (SafeTensors st = SafeTensors.open(file)) {
                assertArrayEquals(new long[]{70, 131}, st.get("h.0.mlp.c_fc.weight").shape());
                Linear back = WeightFormats.read(st, "h.0.mlp.c_fc", false);
                assertEquals(switch (dtype) { case F32 -> DenseLinear.class; case F16 -> F16DenseLinear.class; default -> Bf16DenseLinear.class; },
                        back.getClass());
                assertEquals(l.format(), back.format());
                assertEquals(l.bytes(), back.bytes());
                LinearChecks.assertBitEqual(l.toDense(), back.toDense(), dtype + " after write");
            }
        }
    }

    @Test void nonFiniteWeightsAreFoundInPlaceAtTheirRowMajorIndex() {
        for (DType dtype : TYPES) {
            float[] w = new float[7 * 9];
            Arrays.fill(w, 0.5f);
            TransposedDenseLinear ok = TransposedDenseLinear.of(w, 7, 9, dtype);
            assertEquals(-1, ok.firstNonFinite());
            assertEquals(-1, NonFinite.find(ok));
            // [5, 1] comes first in storage ([in][out]: index 1*7+5 = 12), [2, 8] first in row-major order (26 < 46)
            w[5 * 9 + 1] = Float.NaN;
            w[2 * 9 + 8] = Float.NEGATIVE_INFINITY;
            TransposedDenseLinear bad = TransposedDenseLinear.of(w, 7, 9, dtype);
            assertEquals(2 * 9 + 8, bad.firstNonFinite(), dtype.toString());
            assertEquals(NonFinite.find(bad.toDense()), NonFinite.find(bad), dtype.toString());
        }
    }

    /** The bundled GPT-2's Conv1D weights come from the map and give the logits of the float32 heap transpose loading used to make. */
    @Test void gpt2LogitsMatchTheHeapTranspose() {
        int[] tokens = {1, 5, 9, 200, 7, 3000, 42, 11};
        try (Model mapped = Model.load(Fixtures.GPT2); Model heap = Model.load(Fixtures.GPT2)) {
            for (Block b : heap.blocks) {
                String p = heap.arch.blockPrefix(b.index);
                for (Map.Entry<String, Linear> e : b.linears.entrySet()) {
                    assertInstanceOf(TransposedDenseLinear.class, mapped.blocks.get(b.index).linear(e.getKey()));
                    DenseLinear d = WeightFormats.readDense(heap.weights, p + e.getKey() + ".weight", true);
                    LinearChecks.assertBitEqual(d.toDense(), e.getValue().toDense(), p + e.getKey());
                    e.setValue(d);
                }
            }
            assertEquals("dense-f32", mapped.blocks.get(0).linear("attn.c_attn").format());
            float[] lm = mapped.forward(tokens, 0, mapped.newCache(tokens.length)), lh = heap.forward(tokens, 0, heap.newCache(tokens.length));
            assertLogitsClose(lh, lm, "prefill");
            // decode: one token at a time through the matvec kernels
            var cm = mapped.newCache(tokens.length);
            var ch = heap.newCache(tokens.length);
            for (int t = 0; t < tokens.length; t++) {
                float[] dm = mapped.forward(new int[]{tokens[t]}, t, cm), dh = heap.forward(new int[]{tokens[t]}, t, ch);
                assertLogitsClose(dh, dm, "decode " + t);
            }
        }
    }

    /**
     * Differences come from the summation order only. Measured on this model: prefill bit-identical
     * (both prefill kernels add each output's inputs in order), decode at most 4.1e-6 of 1 + |logit|
     * (the row-major decode sums a row in vector lanes, this one an input at a time).
     */
    private static void assertLogitsClose(float[] expected, float[] actual, String what) {
        assertEquals(expected.length, actual.length);
        for (int i = 0; i < expected.length; i++)
            assertEquals(expected[i], actual[i], 1e-5f * (1 + Math.abs(expected[i])), what + " logit " + i);
    }

    /** F16 and BF16 GPT-2 checkpoints are served from the map too and compute like float32 copies of their values. */
    @Test void halfPrecisionGpt2CheckpointsLoadMapped() throws Exception {
        var LE16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        for (DType dtype : new DType[]{DType.F16, DType.BF16}) {
            Path half = dir.resolve("gpt2-" + dtype), f32 = dir.resolve("gpt2-f32-" + dtype);
            Files.createDirectories(half);
            Files.createDirectories(f32);
            for (String f : new String[]{"config.json", "tokenizer.json", "tokenizer_config.json"}) {
                if (!Files.exists(Fixtures.GPT2.resolve(f))) continue;
                Files.copy(Fixtures.GPT2.resolve(f), half.resolve(f));
                Files.copy(Fixtures.GPT2.resolve(f), f32.resolve(f));
            }
            int converted = 0;
            try (SafeTensors st = SafeTensors.open(Fixtures.GPT2);
                 SafeTensorsWriter wh = new SafeTensorsWriter(half.resolve("model.safetensors"));
                 SafeTensorsWriter wf = new SafeTensorsWriter(f32.resolve("model.safetensors"))) {
                for (TensorInfo t : st.tensors()) {
                    float[] v = t.toFloatArray();
                    if (t.rank() == 2 && t.name().contains(".h.")) {
                        MemorySegment seg = MemorySegment.ofArray(new byte[2 * v.length]);
                        for (int i = 0; i < v.length; i++) {
                            short h = dtype == DType.F16 ? Float.floatToFloat16(v[i]) : Bf16DenseLinear.toBf16(v[i]);
                            seg.setAtIndex(LE16, i, h);
                            v[i] = dtype == DType.F16 ? Float.float16ToFloat(h) : Bf16DenseLinear.fromBf16(h);
                        }
                        wh.add(t.name(), dtype, t.shape(), seg);
                        converted++;
                    } else {
                        wh.addF32(t.name(), t.shape(), v);
                    }
                    wf.addF32(t.name(), t.shape(), v);
                }
                wh.finish();
                wf.finish();
            }
            assertTrue(converted >= 4, "block matrices converted: " + converted);
            int[] tokens = {1, 5, 9, 200, 7, 3000};
            try (Model h = Model.load(half); Model f = Model.load(f32)) {
                Linear q = h.blocks.get(0).linear("attn.c_attn");
                assertInstanceOf(TransposedDenseLinear.class, q);
                assertEquals(dtype, ((TransposedDenseLinear) q).dtype());
                assertEquals(dtype == DType.F16 ? "dense-f16" : "dense-bf16", q.format());
                float[] lh = h.forward(tokens, 0, h.newCache(tokens.length)), lf = f.forward(tokens, 0, f.newCache(tokens.length));
                assertLogitsClose(lf, lh, dtype + " prefill");
                float[] dh = h.forward(new int[]{tokens[0]}, 0, h.newCache(1)), df = f.forward(new int[]{tokens[0]}, 0, f.newCache(1));
                assertLogitsClose(df, dh, dtype + " decode");
            }
        }
    }
}
