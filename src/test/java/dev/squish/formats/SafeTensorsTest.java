package dev.squish.formats;

import dev.squish.Fixtures;
import dev.squish.SquishException;
import dev.squish.model.Model;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class SafeTensorsTest {
    @TempDir Path tmp;

    static byte[] file(String header, int dataBytes) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        return b.array();
    }

    Path write(String name, byte[] bytes) throws IOException {
        Path p = tmp.resolve(name);
        Files.write(p, bytes);
        return p;
    }

    String error(Path p) {
        SquishException e = assertThrows(SquishException.class, () -> SafeTensors.open(p).close());
        return e.getMessage();
    }

    @Test
    void readsShardedFixtureThroughIndex() {
        try (SafeTensors st = SafeTensors.open(Fixtures.LLAMA)) {
            assertEquals(2, st.files().size());
            assertEquals(6 * 9 + 3, st.names().size());
            TensorInfo t = st.get("model.layers.5.mlp.down_proj.weight");
            assertArrayEquals(new long[]{256, 768}, t.shape());
            assertEquals(DType.F32, t.dtype());
        }
    }

    @Test
    void roundTripsAllFloatTypes() {
        Path p = tmp.resolve("x.safetensors");
        float[] v = {1.5f, -2.25f, 0f, 3e-3f};
        try (SafeTensorsWriter w = new SafeTensorsWriter(p)) {
            w.addF32("a", new long[]{2, 2}, v);
            short[] bf = new short[4], f16 = new short[4];
            for (int i = 0; i < 4; i++) { bf[i] = (short) (Float.floatToIntBits(v[i]) >>> 16); f16[i] = Float.floatToFloat16(v[i]); }
            w.addI16("b16", new long[]{4}, bf);
            w.addI32("i", new long[]{3}, new int[]{1, -2, 3});
            w.metadata("k", "v");
            w.finish();
        }
        try (SafeTensors st = SafeTensors.open(p)) {
            assertArrayEquals(v, st.get("a").toFloatArray());
            assertArrayEquals(new int[]{1, -2, 3}, st.get("i").toIntArray());
            assertEquals("v", st.metadata().get("k"));
        }
    }

    @Test
    void truncatedFile() throws IOException {
        byte[] good = file("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16);
        byte[] cut = java.util.Arrays.copyOf(good, good.length - 5);
        assertTrue(error(write("t.safetensors", cut)).contains("tensor a"), "names the tensor");
        assertTrue(error(write("t2.safetensors", new byte[5])).contains("truncated"));
    }

    @Test
    void headerLongerThanFile() throws IOException {
        ByteBuffer b = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(1000).putLong(0);
        String m = error(write("h.safetensors", b.array()));
        assertTrue(m.contains("h.safetensors") && m.contains("longer than the file"), m);
    }

    @Test
    void overlappingOffsets() throws IOException {
        String h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}";
        String m = error(write("o.safetensors", file(h, 24)));
        assertTrue(m.contains("overlap") && m.contains("a") && m.contains("b"), m);
    }

    @Test
    void unknownDtype() throws IOException {
        String m = error(write("d.safetensors", file("{\"a\":{\"dtype\":\"F31\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4)));
        assertTrue(m.contains("unknown dtype") && m.contains("tensor a"), m);
    }

    @Test
    void byteLengthMustMatchShape() throws IOException {
        String m = error(write("s.safetensors", file("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}}", 16)));
        assertTrue(m.contains("tensor a") && m.contains("expected 12"), m);
    }

    @Test
    void malformedJsonAndIndex() throws IOException {
        assertTrue(error(write("j.safetensors", file("{\"a\":", 0))).contains("malformed"));
        Path dir = Files.createDirectory(tmp.resolve("m"));
        Files.writeString(dir.resolve("model.safetensors.index.json"), "{\"weight_map\":{\"a\":\"missing.safetensors\"}}");
        assertTrue(error(dir).contains("missing"));
        Files.writeString(dir.resolve("model.safetensors.index.json"), "{\"weight_map\":{\"a\":\"../../etc/passwd\"}}");
        assertTrue(error(dir).contains("invalid file"));
    }

    @Test
    void tensorMissingForConfig() throws IOException {
        Path dir = copyFixture(Fixtures.GPT2, "gpt2");
        Path f = dir.resolve("model.safetensors");
        Map<String, float[]> values = new java.util.LinkedHashMap<>();
        Map<String, long[]> shapes = new java.util.LinkedHashMap<>();
        try (SafeTensors st = SafeTensors.open(f)) {
            for (TensorInfo t : st.tensors()) {
                if (t.name().equals("transformer.h.2.mlp.c_fc.weight")) continue;
                values.put(t.name(), t.toFloatArray());
                shapes.put(t.name(), t.shape());
            }
        }
        SafeTensorsWriter.write(f, values, shapes);
        SquishException e = assertThrows(SquishException.class, () -> Model.load(dir));
        assertTrue(e.getMessage().contains("transformer.h.2.mlp.c_fc.weight") && e.getMessage().contains("missing"), e.getMessage());
    }

    @Test
    void unsupportedModelTypeListsSupported() throws IOException {
        Path dir = copyFixture(Fixtures.GPT2, "bert");
        Files.writeString(dir.resolve("config.json"), "{\"model_type\":\"bert\"}");
        SquishException e = assertThrows(SquishException.class, () -> Model.load(dir));
        assertTrue(e.getMessage().contains("bert") && e.getMessage().contains("llama") && e.getMessage().contains("gpt2"), e.getMessage());
    }

    @Test
    void shapeThatDisagreesWithConfig() throws IOException {
        Path dir = copyFixture(Fixtures.GPT2, "shape");
        String cfg = Files.readString(dir.resolve("config.json")).replace("\"n_inner\": null", "\"n_inner\": 512");
        Files.writeString(dir.resolve("config.json"), cfg);
        SquishException e = assertThrows(SquishException.class, () -> Model.load(dir));
        assertTrue(e.getMessage().contains("c_fc") && e.getMessage().contains("config.json"), e.getMessage());
    }

    Path copyFixture(Path src, String name) throws IOException {
        Path dir = Files.createDirectory(tmp.resolve(name));
        try (var s = Files.list(src)) {
            for (Path p : s.toList()) Files.copy(p, dir.resolve(p.getFileName()));
        }
        return dir;
    }
}
