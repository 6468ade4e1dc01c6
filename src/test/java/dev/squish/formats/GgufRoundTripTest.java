package dev.squish.formats;

import dev.squish.SquishException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class GgufRoundTripTest {
    @TempDir Path dir;

    static float[] random(long seed, int n) {
        Random r = new Random(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) r.nextGaussian() * (i % 7 == 0 ? 3f : 0.2f);
        return x;
    }

    @Test void metadataOfEveryTypeRoundTrips() {
        Path f = dir.resolve("meta.gguf");
        GgufWriter w = new GgufWriter(f);
        w.put("u8", GgufValue.u8(255)).put("i8", GgufValue.i8(-128)).put("u16", GgufValue.u16(65535)).put("i16", GgufValue.i16(-32768))
                .put("u32", GgufValue.u32(4_000_000_000L)).put("i32", GgufValue.i32(-7)).put("u64", GgufValue.u64(-1L))
                .put("i64", GgufValue.i64(Long.MIN_VALUE)).put("f32", GgufValue.f32(1.5e-5f)).put("f64", GgufValue.f64(Math.PI))
                .put("bool", GgufValue.bool(true)).put("str", GgufValue.string("héllo ✓"))
                .put("strs", GgufValue.strings(List.of("a b", "", "Ġthe", "<|endoftext|>")))
                .put("i32s", GgufValue.i32s(new int[]{1, 3, -3}))
                .put("u8s", GgufValue.array(GgufValue.Type.UINT8, new byte[]{(byte) 200, 1}))
                .put("i16s", GgufValue.array(GgufValue.Type.INT16, new short[]{-2, 300}))
                .put("u64s", GgufValue.array(GgufValue.Type.UINT64, new long[]{Long.MAX_VALUE, 0}))
                .put("f32s", GgufValue.f32s(new float[]{0.25f, -1f}))
                .put("f64s", GgufValue.array(GgufValue.Type.FLOAT64, new double[]{1e300}))
                .put("bools", GgufValue.array(GgufValue.Type.BOOL, new boolean[]{true, false}))
                .put("nested", GgufValue.array(GgufValue.Type.ARRAY, List.of(GgufValue.i32s(new int[]{5}), GgufValue.strings(List.of("x")))))
                .put("empty", GgufValue.strings(List.of()));
        w.finish();
        try (GgufReader r = GgufReader.open(f)) {
            Map<String, GgufValue> m = r.metadata();
            assertEquals(3, r.version());
            assertEquals(22, m.size());
            assertEquals(255, r.get("u8").asLong());
            assertEquals(-128, r.get("i8").asLong());
            assertEquals(65535, r.get("u16").asLong());
            assertEquals(-32768, r.get("i16").asLong());
            assertEquals(4_000_000_000L, r.get("u32").asLong());
            assertEquals(-7, r.get("i32").asLong());
            assertEquals(-1L, r.get("u64").asLong());
            assertEquals(Long.MIN_VALUE, r.get("i64").asLong());
            assertEquals(GgufValue.Type.FLOAT32, r.get("f32").type());
            assertEquals(1.5e-5f, (float) r.get("f32").asDouble());
            assertEquals(Math.PI, r.get("f64").asDouble());
            assertTrue(r.get("bool").asBoolean());
            assertEquals("héllo ✓", r.get("str").asString());
            assertEquals(List.of("a b", "", "Ġthe", "<|endoftext|>"), r.get("strs").asStrings());
            GgufValue i32s = r.get("i32s");
            assertEquals(GgufValue.Type.INT32, i32s.elementType());
            assertEquals(3, i32s.length());
            assertEquals(-3, i32s.longAt(2));
            assertEquals(200, r.get("u8s").longAt(0));
            assertEquals(300, r.get("i16s").longAt(1));
            assertEquals(Long.MAX_VALUE, r.get("u64s").longAt(0));
            assertArrayEquals(new float[]{0.25f, -1f}, (float[]) r.get("f32s").value());
            assertArrayEquals(new double[]{1e300}, (double[]) r.get("f64s").value());
            assertArrayEquals(new boolean[]{true, false}, (boolean[]) r.get("bools").value());
            @SuppressWarnings("unchecked") List<GgufValue> nested = (List<GgufValue>) r.get("nested").value();
            assertEquals(5, nested.get(0).longAt(0));
            assertEquals(List.of("x"), nested.get(1).asStrings());
            assertEquals(0, r.get("empty").length());
            assertEquals(List.of("u8", "i8", "u16"), new ArrayList<>(m.keySet()).subList(0, 3), "insertion order kept");
        }
    }

    @Test void tensorsOfEveryTypeRoundTrip() {
        Path f = dir.resolve("t.gguf");
        float[] a = random(1, 64 * 96), b = random(2, 3 * 64), c = random(3, 5 * 32), d = random(4, 2 * 2 * 3 * 32), e = random(5, 7);
        GgufWriter w = new GgufWriter(f);
        w.put("general.architecture", GgufValue.string("test"));
        w.addTensor("f32", new long[]{64, 96}, GgmlType.F32, () -> a);
        w.addTensor("f16", new long[]{3, 64}, GgmlType.F16, () -> b);
        w.addTensor("q8", new long[]{5, 32}, GgmlType.Q8_0, () -> c);
        w.addTensor("q4.4d", new long[]{2, 2, 3, 32}, GgmlType.Q4_0, () -> d);
        w.addTensor("odd", new long[]{7}, GgmlType.F32, () -> e);
        w.finish();
        try (GgufReader r = GgufReader.open(f)) {
            assertEquals(5, r.tensors().size());
            assertEquals(32, r.alignment());
            assertEquals(0, r.dataStart() % 32);
            for (GgufTensor t : r.tensors()) assertEquals(0, t.offset() % 32, t.name());
            assertArrayEquals(new long[]{64, 96}, r.tensor("f32").shape());
            assertArrayEquals(a, r.tensor("f32").toFloatArray());
            float[] f16 = r.tensor("f16").toFloatArray();
            for (int i = 0; i < b.length; i++) assertEquals(GgmlReference.fp16ToFp32(GgmlReference.fp32ToFp16(b[i])), f16[i]);
            assertEquals(GgmlType.Q8_0, r.tensor("q8").type());
            assertArrayEquals(GgmlReference.dq8_0(GgmlReference.q8_0(c)), r.tensor("q8").toFloatArray());
            assertArrayEquals(new long[]{2, 2, 3, 32}, r.tensor("q4.4d").shape());
            assertArrayEquals(GgmlReference.dq4_0(GgmlReference.q4_0(d)), r.tensor("q4.4d").toFloatArray());
            assertArrayEquals(e, r.tensor("odd").toFloatArray());
        }
    }

    @Test void layoutFollowsTheSpecByteForByte() throws IOException {
        Path f = dir.resolve("one.gguf");
        float[] v = random(9, 64);
        GgufWriter w = new GgufWriter(f);
        w.put("k", GgufValue.u32(7));
        w.addTensor("w", new long[]{2, 32}, GgmlType.F32, () -> v);
        w.finish();
        RawGguf expect = new RawGguf().header(1, 1).str("k").u32(4).u32(7)
                .info("w", 0, 0, 32, 2) // dims in ggml order: row length first
                .padTo(32);
        ByteBuffer data = ByteBuffer.allocate(256).order(ByteOrder.LITTLE_ENDIAN);
        for (float x : v) data.putFloat(x);
        expect.raw(data.array());
        assertArrayEquals(expect.toBytes(), Files.readAllBytes(f));
    }

    @Test void customAlignmentIsRecordedAndUsed() {
        Path f = dir.resolve("al.gguf");
        GgufWriter w = new GgufWriter(f).alignment(64);
        w.addTensor("a", new long[]{3}, GgmlType.F32, () -> new float[]{1, 2, 3});
        w.addTensor("b", new long[]{5}, GgmlType.F32, () -> new float[]{4, 5, 6, 7, 8});
        w.finish();
        try (GgufReader r = GgufReader.open(f)) {
            assertEquals(64, r.alignment());
            assertEquals(64, r.get("general.alignment").asLong());
            assertEquals(0, r.dataStart() % 64);
            assertEquals(64, r.tensor("b").offset());
            assertArrayEquals(new float[]{4, 5, 6, 7, 8}, r.tensor("b").toFloatArray());
        }
        assertThrows(IllegalArgumentException.class, () -> new GgufWriter(f).alignment(48));
    }

    @Test void tensorDataIsProducedLazilyOneAtATime() {
        Path f = dir.resolve("lazy.gguf");
        List<String> calls = new ArrayList<>();
        GgufWriter w = new GgufWriter(f);
        for (String n : List.of("x", "y", "z"))
            w.addTensor(n, new long[]{32}, GgmlType.Q8_0, () -> { calls.add(n); return random(n.hashCode(), 32); });
        assertEquals(List.of(), calls, "nothing produced before finish()");
        w.finish();
        assertEquals(List.of("x", "y", "z"), calls);
    }

    @Test void blockTypesRefuseOddRowLengths() {
        GgufWriter w = new GgufWriter(dir.resolve("odd.gguf"));
        var e = assertThrows(SquishException.class, () -> w.addTensor("blk.0.bad", new long[]{4, 33}, GgmlType.Q8_0, () -> new float[132]));
        assertTrue(e.getMessage().contains("blk.0.bad") && e.getMessage().contains("multiple of 32"), e.getMessage());
        assertThrows(SquishException.class, () -> w.addTensor("q4", new long[]{40}, GgmlType.Q4_0, () -> new float[40]));
        assertThrows(SquishException.class, () -> w.addTensor("x".repeat(64), new long[]{1}, GgmlType.F32, () -> new float[1]));
    }

    @Test void failedWriteLeavesNoFileBehind() throws IOException {
        Path f = dir.resolve("fail.gguf");
        GgufWriter w = new GgufWriter(f);
        w.addTensor("ok", new long[]{32}, GgmlType.F32, () -> new float[32]);
        w.addTensor("short", new long[]{32}, GgmlType.F32, () -> new float[31]);
        assertThrows(IllegalStateException.class, w::finish);
        try (var s = Files.list(dir)) { assertEquals(0, s.count(), "no target and no temporary file"); }
    }

    @Test void existingTargetIsReplacedAtomically() throws IOException {
        Path f = dir.resolve("re.gguf");
        Files.writeString(f, "old");
        GgufWriter w = new GgufWriter(f);
        w.addTensor("t", new long[]{2}, GgmlType.F32, () -> new float[]{1, 2});
        w.finish();
        try (GgufReader r = GgufReader.open(f)) { assertArrayEquals(new float[]{1, 2}, r.tensor("t").toFloatArray()); }
        try (var s = Files.list(dir)) { assertEquals(1, s.count()); }
    }

    @Test void readsBf16AndRefusesToDequantizeUnsupportedTypes() throws IOException {
        // BF16 tensor [2] and an IQ4_XS tensor [256] (136 bytes) written by hand
        RawGguf g = new RawGguf().header(2, 0).info("bf", 30, 0, 2).info("k", 23, 32, 256).padTo(32);
        g.raw(new byte[]{(byte) 0x80, 0x3f, 0x00, (byte) 0xc0}).raw(new byte[28]).raw(new byte[136]);
        Path f = dir.resolve("bf.gguf");
        Files.write(f, g.toBytes());
        try (GgufReader r = GgufReader.open(f)) {
            assertArrayEquals(new float[]{1f, -2f}, r.tensor("bf").toFloatArray());
            var e = assertThrows(SquishException.class, () -> r.tensor("k").toFloatArray());
            assertTrue(e.getMessage().contains(f.toString()) && e.getMessage().contains("IQ4_XS"), e.getMessage());
        }
    }

    @Test void decodeOfSegmentHelper() {
        // decode reads from the segment start: a slice of a larger buffer decodes independently
        byte[] all = new byte[8 + 34];
        byte[] q = GgufQuant.encode(GgmlType.Q8_0, random(1, 32), 32);
        System.arraycopy(q, 0, all, 8, 34);
        assertArrayEquals(GgmlReference.dq8_0(q), GgufQuant.decode(GgmlType.Q8_0, MemorySegment.ofArray(all).asSlice(8), 32));
    }
}
