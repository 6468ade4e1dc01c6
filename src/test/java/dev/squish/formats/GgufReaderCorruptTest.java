package dev.squish.formats;

import dev.squish.SquishException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.*;

/** Malformed GGUF files: every problem is a SquishException naming the file; nothing else escapes. */
class GgufReaderCorruptTest {
    @TempDir Path dir;
    int counter;

    Path write(byte[] b) throws IOException {
        Path f = dir.resolve("bad-" + (counter++) + ".gguf");
        Files.write(f, b);
        return f;
    }

    /** Asserts that opening (and, if it opens, dequantizing every tensor) fails with a message naming the file. */
    void assertRejected(byte[] bytes, String expectedFragment) throws IOException {
        Path f = write(bytes);
        SquishException e = assertThrows(SquishException.class, () -> {
            try (GgufReader r = GgufReader.open(f)) { for (GgufTensor t : r.tensors()) t.toFloatArray(); }
        });
        assertTrue(e.getMessage().startsWith(f.toString()), e.getMessage());
        if (expectedFragment != null) assertTrue(e.getMessage().contains(expectedFragment), e.getMessage());
    }

    static RawGguf valid(Consumer<RawGguf> kvs, int nKv) {
        RawGguf g = new RawGguf().header(2, nKv);
        kvs.accept(g);
        g.info("a", 0, 0, 4).info("b", 8, 32, 32, 2).padTo(32);
        g.raw(new byte[32]);       // a: 4 floats + padding
        g.raw(new byte[68]);       // b: 2 Q8_0 blocks
        return g;
    }

    static byte[] validBytes() {
        return valid(g -> g.str("general.architecture").u32(8).str("llama").str("arr").u32(9).u32(5).u64(2).u32(1).u32(2), 2).toBytes();
    }

    @Test void theBaseFileIsValid() throws IOException {
        try (GgufReader r = GgufReader.open(write(validBytes()))) {
            assertEquals(2, r.tensors().size());
            assertEquals(64, r.tensor("b").numel());
            assertEquals(64, r.tensor("b").toFloatArray().length);
        }
    }

    @Test void everyTruncationIsRejected() throws IOException {
        byte[] full = validBytes();
        for (int n = 0; n < full.length; n++) {
            byte[] cut = java.util.Arrays.copyOf(full, n);
            assertRejected(cut, null);
        }
    }

    @Test void headerProblems() throws IOException {
        byte[] b = validBytes();
        b[0] = 'X';
        assertRejected(b, "not a GGUF file");
        assertRejected(new RawGguf().u32(0x46554747).u32(1).u64(0).u64(0).toBytes(), "version 1");
        assertRejected(new RawGguf().u32(0x46554747).u32(4).u64(0).u64(0).toBytes(), "version 4");
        assertRejected(new RawGguf().header(1L << 40, 0).toBytes(), "tensor count");
        assertRejected(new RawGguf().header(-1L, 0).toBytes(), "tensor count");
        assertRejected(new RawGguf().header(0, 1L << 50).toBytes(), "metadata count");
        assertRejected(new byte[10], "truncated");
        assertRejected(new byte[0], "truncated");
    }

    @Test void metadataProblems() throws IOException {
        byte[] junk = new byte[32];
        assertRejected(new RawGguf().header(0, 1).u64(1L << 40).raw(junk).toBytes(), "length");
        assertRejected(new RawGguf().header(0, 1).u64(-5).raw(junk).toBytes(), "length");
        assertRejected(new RawGguf().header(0, 1).str("k").u32(13).u32(0).toBytes(), "unknown value type 13");
        assertRejected(new RawGguf().header(0, 1).str("k").u32(7).u8(2).toBytes(), "bool");
        assertRejected(new RawGguf().header(0, 1).str("k").u32(8).u64(1L << 33).toBytes(), "length");
        assertRejected(new RawGguf().header(0, 1).str("k").u32(9).u32(4).u64(1L << 40).toBytes(), "array length");
        assertRejected(new RawGguf().header(0, 1).str("k").u32(9).u32(8).u64(1L << 30).u64(0).toBytes(), "array length");
        assertRejected(new RawGguf().header(0, 1).str("k").u32(9).u32(77).u64(1).toBytes(), "unknown type 77");
        assertRejected(new RawGguf().header(0, 2).str("k").u32(4).u32(1).str("k").u32(4).u32(2).toBytes(), "twice");
        assertRejected(new RawGguf().header(0, 1).bytes(new byte[]{(byte) 0xc3, 0x28}).u32(4).u32(1).toBytes(), "UTF-8");
        RawGguf deep = new RawGguf().header(0, 1).str("deep").u32(9);
        for (int i = 0; i < 20; i++) deep.u32(9).u64(1);
        deep.u32(4).u64(0);
        assertRejected(deep.toBytes(), "nests arrays");
    }

    @Test void alignmentProblems() throws IOException {
        assertRejected(valid(g -> g.str("general.alignment").u32(4).u32(48), 1).toBytes(), "power of two");
        assertRejected(valid(g -> g.str("general.alignment").u32(4).u32(0), 1).toBytes(), "power of two");
        assertRejected(valid(g -> g.str("general.alignment").u32(5).u32(32), 1).toBytes(), "UINT32");
    }

    @Test void tensorInfoProblems() throws IOException {
        List<byte[]> cases = List.of(
                new RawGguf().header(1, 0).info("t", 0, 0).toBytes(),                      // 0 dims
                new RawGguf().header(1, 0).info("t", 0, 0, 1, 1, 1, 1, 1).toBytes(),       // 5 dims
                new RawGguf().header(1, 0).info("t", 99, 0, 4).toBytes(),                  // unknown type
                new RawGguf().header(1, 0).info("t", 4, 0, 4).toBytes(),                   // removed type id 4
                new RawGguf().header(1, 0).info("t", 0, 0, -1).toBytes(),                  // negative dim
                new RawGguf().header(1, 0).info("t", 0, 0, 1L << 62, 1).toBytes(),         // byte size overflow
                new RawGguf().header(1, 0).info("t", 0, 0, 1L << 32, 1L << 32).toBytes(),  // numel overflow
                new RawGguf().header(1, 0).info("t", 8, 0, 33).padTo(32).raw(new byte[64]).toBytes(),   // row not a block multiple
                new RawGguf().header(1, 0).info("t", 0, 3, 4).padTo(32).raw(new byte[64]).toBytes(),    // misaligned offset
                new RawGguf().header(1, 0).info("t", 0, 1L << 40, 4).padTo(32).raw(new byte[64]).toBytes(), // offset past end
                new RawGguf().header(1, 0).info("t", 0, 0, 100).padTo(32).raw(new byte[64]).toBytes(), // data runs past end
                new RawGguf().header(2, 0).info("t", 0, 0, 16).info("u", 0, 32, 4).padTo(32).raw(new byte[96]).toBytes(), // overlap
                new RawGguf().header(2, 0).info("t", 0, 0, 4).info("t", 0, 32, 4).padTo(32).raw(new byte[64]).toBytes(), // duplicate
                new RawGguf().header(1, 0).info("x".repeat(64), 0, 0, 4).padTo(32).raw(new byte[32]).toBytes()           // name too long
        );
        String[] fragments = {"dimensions", "dimensions", "unknown ggml type 99", "unknown ggml type 4", "negative", "too large",
                "too many elements", "block size", "alignment", "past the end", "past the end", "overlap", "twice", "longer than"};
        for (int i = 0; i < cases.size(); i++) assertRejected(cases.get(i), fragments[i]);
    }

    @Test void missingFileAndLookups() throws IOException {
        Path none = dir.resolve("none.gguf");
        var e = assertThrows(SquishException.class, () -> GgufReader.open(none));
        assertTrue(e.getMessage().contains(none.toString()));
        Path f = write(validBytes());
        try (GgufReader r = GgufReader.open(f)) {
            assertTrue(assertThrows(SquishException.class, () -> r.tensor("zzz")).getMessage().contains("zzz"));
            assertTrue(assertThrows(SquishException.class, () -> r.get("zzz")).getMessage().contains("zzz"));
        }
    }

    /** Random byte flips and splices over a real file: only SquishException (or success) may come out. */
    @Test void fuzzedFilesNeverEscapeWithAnythingElse() throws IOException {
        byte[] base = validBytes();
        Random rnd = new Random(42);
        int rejected = 0;
        for (int it = 0; it < 3000; it++) {
            byte[] b = base.clone();
            int flips = 1 + rnd.nextInt(4);
            for (int k = 0; k < flips; k++) {
                int p = rnd.nextInt(Math.min(b.length, 140)); // mostly header, metadata and tensor infos
                b[p] = switch (rnd.nextInt(4)) {
                    case 0 -> (byte) rnd.nextInt(256);
                    case 1 -> (byte) 0xff;
                    case 2 -> 0;
                    default -> (byte) (b[p] ^ (1 << rnd.nextInt(8)));
                };
            }
            if (rnd.nextInt(5) == 0) b = java.util.Arrays.copyOf(b, rnd.nextInt(b.length + 1));
            Path f = dir.resolve("fuzz.gguf");
            Files.write(f, b);
            try (GgufReader r = GgufReader.open(f)) {
                for (GgufTensor t : r.tensors()) if (GgufQuant.canDecode(t.type())) t.toFloatArray();
                r.metadata().values().forEach(GgufValue::toString);
            } catch (SquishException e) {
                rejected++;
                assertTrue(e.getMessage().startsWith(f.toString()), e.getMessage());
            } catch (Throwable t) {
                fail("iteration " + it + " escaped with " + t, t);
            }
        }
        assertTrue(rejected > 1000, "most mutations should be caught, got " + rejected);
    }
}
