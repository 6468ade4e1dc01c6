package dev.squish.formats;

import org.junit.jupiter.api.Test;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPInputStream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Bit-exactness against vectors produced by ggml's own compiled code (ggml-base's
 * {@code quantize_row_*_ref} and {@code dequantize_row_*}, llama.cpp commit c392e50, x86-64, the
 * flags llama.cpp's CMake build uses; IQ4_NL from {@code quantize_iq4_nl} with no importance
 * matrix, the function llama-quantize calls). The file {@code ggml-quants-vectors.bin.gz} holds 48
 * super-blocks of 256 inputs in 24 kinds chosen to reach the quantizers' corners (all-zero blocks,
 * values below GROUP_MAX_EPS, all-positive and all-negative blocks, constant groups, exact
 * integers and halves, isolated spikes, tiny values whose scales underflow in half precision,
 * large magnitudes), then for each type its ggml id, the quantized bytes and the FNV-1a 64-bit
 * hash of ggml's dequantized floats (their little-endian bytes; a hash keeps the file under 100 KB).
 * Layout (little-endian): int32 magic "SGGQ", int32 n, float[n]; int32 types; per type int32 id,
 * int32 nbytes, byte[nbytes], int64 hash.
 */
class GgmlVectorsTest {

    record Case(GgmlType type, byte[] quant, long dequantHash) {}

    static float[] input;
    static final List<Case> CASES = new ArrayList<>();

    static synchronized void load() throws IOException {
        if (input != null) return;
        try (InputStream raw = GgmlVectorsTest.class.getResourceAsStream("ggml-quants-vectors.bin.gz")) {
            assertNotNull(raw, "vector file missing");
            DataInputStream in = new DataInputStream(new GZIPInputStream(raw));
            assertEquals(0x51474753, le(in.readInt()), "magic");
            int n = le(in.readInt());
            float[] x = floats(in, n);
            int types = le(in.readInt());
            for (int t = 0; t < types; t++) {
                GgmlType type = GgmlType.fromId(le(in.readInt()));
                byte[] q = new byte[le(in.readInt())];
                in.readFully(q);
                CASES.add(new Case(type, q, Long.reverseBytes(in.readLong())));
            }
            input = x;
        }
    }

    static int le(int v) { return Integer.reverseBytes(v); }

    static float[] floats(DataInputStream in, int n) throws IOException {
        byte[] b = new byte[4 * n];
        in.readFully(b);
        float[] f = new float[n];
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(f);
        return f;
    }

    void check(GgmlType type) throws IOException {
        load();
        Case c = CASES.stream().filter(k -> k.type == type).findFirst().orElseThrow(() -> new AssertionError("no vectors for " + type));
        byte[] ours = GgufQuant.encode(type, input, 256);
        assertEquals(c.quant.length, ours.length, type + " size");
        for (int i = 0; i < ours.length; i++) {
            if (ours[i] != c.quant[i]) {
                int block = i / type.blockBytes;
                fail(type + ": byte " + i + " (block " + block + ", offset " + (i % type.blockBytes) + ", input kind "
                        + (block * type.blockSize / 256 % 24) + ") is " + (ours[i] & 0xff) + ", ggml wrote " + (c.quant[i] & 0xff));
            }
        }
        float[] back = GgufQuant.decode(type, MemorySegment.ofArray(c.quant), input.length);
        assertEquals(c.dequantHash, fnv1a(back), type + ": dequantized floats differ from ggml's");
    }

    static long fnv1a(float[] v) {
        long h = 0xcbf29ce484222325L;
        for (float f : v) {
            int bits = Float.floatToRawIntBits(f);
            for (int k = 0; k < 4; k++) { h ^= (bits >>> (8 * k)) & 0xff; h *= 0x100000001b3L; }
        }
        return h;
    }

    @Test void hashDetectsASingleFlippedBit() throws IOException {
        load();
        float[] back = GgufQuant.decode(GgmlType.Q4_K, MemorySegment.ofArray(CASES.stream().filter(k -> k.type == GgmlType.Q4_K).findFirst().orElseThrow().quant), input.length);
        long h = fnv1a(back);
        back[1234] = Float.intBitsToFloat(Float.floatToRawIntBits(back[1234]) ^ 1);
        assertNotEquals(h, fnv1a(back));
    }

    @Test void q8_0() throws IOException { check(GgmlType.Q8_0); }
    @Test void q4_0() throws IOException { check(GgmlType.Q4_0); }
    @Test void q4_1() throws IOException { check(GgmlType.Q4_1); }
    @Test void q5_0() throws IOException { check(GgmlType.Q5_0); }
    @Test void q5_1() throws IOException { check(GgmlType.Q5_1); }
    @Test void q2_K() throws IOException { check(GgmlType.Q2_K); }
    @Test void q3_K() throws IOException { check(GgmlType.Q3_K); }
    @Test void q4_K() throws IOException { check(GgmlType.Q4_K); }
    @Test void q5_K() throws IOException { check(GgmlType.Q5_K); }
    @Test void q6_K() throws IOException { check(GgmlType.Q6_K); }
    /** IQ4_NL as llama-quantize writes it (quantize_iq4_nl with no importance matrix). */
    @Test void iq4_nl() throws IOException { check(GgmlType.IQ4_NL); }

    @Test void vectorsCoverEveryWrittenBlockType() throws IOException {
        load();
        for (GgmlType t : GgmlType.values())
            if (t.isBlockQuantized() && GgufQuant.canEncode(t))
                assertTrue(CASES.stream().anyMatch(c -> c.type == t), "no ggml vectors for " + t);
    }
}
