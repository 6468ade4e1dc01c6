package dev.squish.formats;

import org.junit.jupiter.api.Test;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.zip.GZIPInputStream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Bit-exactness of {@link GgufWeightedQuant} against ggml's own compiled importance-weighted
 * quantizers ({@code ggml_quantize_chunk} with an importance matrix, which runs
 * {@code quantize_row_q*_impl}; llama.cpp commit c392e50, libggml-base as its CMake build compiles
 * it, x86-64). {@code ggml-impl-vectors.bin.gz}: 16 rows of 1024 inputs (rows 0-11 are the 48
 * corner-case super-blocks of {@code ggml-quants-vectors.bin.gz}, rows 12-15 Gaussian with 1%
 * outliers x20) and five sets of per-column weights: all 1, log-normal (spread e^(2 N(0,1))),
 * imatrix-like (1e-3 e^(N(0,1)) with 2% of columns x1000), uniform with 10% exact zeros, all 0.37.
 * For each set and each of Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q4_0, Q4_1, Q5_0, Q5_1: the FNV-1a hash
 * of every row's bytes, and for the imatrix-like set the bytes themselves (so a failure there
 * names the byte). Layout (little-endian): int32 magic "SGGW", int32 rows, int32 cols,
 * float[rows*cols]; int32 sets; per set float[cols] weights, int32 types; per type int32 ggml id,
 * int32 row bytes, int64[rows] hashes, int32 full, byte[rows*rowBytes] when full is 1.
 */
class GgmlWeightedVectorsTest {

    record Case(int set, GgmlType type, long[] rowHashes, byte[] bytes) {}

    static float[] input;
    static int rows, cols;
    static final List<float[]> WEIGHTS = new ArrayList<>();
    static final List<Case> CASES = new ArrayList<>();

    static synchronized void load() throws IOException {
        if (input != null) return;
        try (InputStream raw = GgmlWeightedVectorsTest.class.getResourceAsStream("ggml-impl-vectors.bin.gz")) {
            assertNotNull(raw, "vector file missing");
            DataInputStream in = new DataInputStream(new GZIPInputStream(raw));
            assertEquals(0x57474753, le(in.readInt()), "magic");
            rows = le(in.readInt());
            cols = le(in.readInt());
            float[] x = GgmlVectorsTest.floats(in, rows * cols);
            int sets = le(in.readInt());
            for (int s = 0; s < sets; s++) {
                WEIGHTS.add(GgmlVectorsTest.floats(in, cols));
                int types = le(in.readInt());
                for (int t = 0; t < types; t++) {
                    GgmlType type = GgmlType.fromId(le(in.readInt()));
                    int rowBytes = le(in.readInt());
                    long[] h = new long[rows];
                    for (int r = 0; r < rows; r++) h[r] = Long.reverseBytes(in.readLong());
                    byte[] full = null;
                    if (le(in.readInt()) == 1) {
                        full = new byte[rows * rowBytes];
                        in.readFully(full);
                    }
                    CASES.add(new Case(s, type, h, full));
                }
            }
            input = x;
        }
    }

    static int le(int v) { return Integer.reverseBytes(v); }

    static long fnv1a(byte[] b, int off, int n) {
        long h = 0xcbf29ce484222325L;
        for (int i = off; i < off + n; i++) { h ^= b[i] & 0xff; h *= 0x100000001b3L; }
        return h;
    }

    void check(GgmlType type) throws IOException {
        load();
        int checked = 0;
        for (Case c : CASES) {
            if (c.type != type) continue;
            byte[] ours = GgufWeightedQuant.encode(type, input, cols, WEIGHTS.get(c.set));
            int rowBytes = ours.length / rows;
            assertEquals(type.bytes(cols), rowBytes, type + " row size");
            if (c.bytes != null) {
                for (int i = 0; i < ours.length; i++) {
                    if (ours[i] != c.bytes[i]) {
                        int block = i / type.blockBytes;
                        fail(type + " weight set " + c.set + ": byte " + i + " (row " + i / rowBytes + ", block " + block
                                + ", offset " + (i % type.blockBytes) + ") is " + (ours[i] & 0xff) + ", ggml wrote " + (c.bytes[i] & 0xff));
                    }
                }
            }
            for (int r = 0; r < rows; r++)
                assertEquals(c.rowHashes[r], fnv1a(ours, r * rowBytes, rowBytes), type + " weight set " + c.set + ": row " + r + " differs from ggml");
            checked++;
        }
        assertEquals(5, checked, "weight sets for " + type);
    }

    @Test void q2_K() throws IOException { check(GgmlType.Q2_K); }
    @Test void q3_K() throws IOException { check(GgmlType.Q3_K); }
    @Test void q4_K() throws IOException { check(GgmlType.Q4_K); }
    @Test void q5_K() throws IOException { check(GgmlType.Q5_K); }
    @Test void q6_K() throws IOException { check(GgmlType.Q6_K); }
    @Test void q4_0() throws IOException { check(GgmlType.Q4_0); }
    @Test void q4_1() throws IOException { check(GgmlType.Q4_1); }
    @Test void q5_0() throws IOException { check(GgmlType.Q5_0); }
    @Test void q5_1() throws IOException { check(GgmlType.Q5_1); }

    /** The vectors' first set is all-equal weights, and it is not ggml's unweighted reference: the weighted search is its own. */
    @Test void equalWeightsAreNotTheReferenceQuantizer() throws IOException {
        load();
        assertTrue(allEqual(WEIGHTS.get(0)) && allEqual(WEIGHTS.get(4)));
        int differ = 0;
        for (GgmlType t : new GgmlType[]{GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q4_0})
            if (!Arrays.equals(GgufWeightedQuant.encode(t, input, cols, WEIGHTS.get(0)), GgufQuant.encode(t, input, cols))) differ++;
        assertEquals(4, differ);
    }

    static boolean allEqual(float[] w) {
        for (float v : w) if (v != w[0]) return false;
        return true;
    }

    /** Null weights and types without a weighted quantizer are ggml's reference quantization, as in ggml_quantize_chunk. */
    @Test void nullWeightsAndQ8_0AreTheReference() throws IOException {
        load();
        assertArrayEquals(GgufQuant.encode(GgmlType.Q4_K, input, cols), GgufWeightedQuant.encode(GgmlType.Q4_K, input, cols, null));
        assertArrayEquals(GgufQuant.encode(GgmlType.Q8_0, input, cols), GgufWeightedQuant.encode(GgmlType.Q8_0, input, cols, WEIGHTS.get(1)));
        assertThrows(IllegalArgumentException.class, () -> GgufWeightedQuant.encode(GgmlType.Q4_K, input, cols, new float[cols - 1]));
    }

    /**
     * What the weights are for: on Gaussian rows with a log-normal importance per column, the
     * weighted quantizer's importance-weighted squared error is below the reference quantizer's
     * for every type (measured on the rows, not hard-coded).
     */
    @Test void weightedErrorBelowReference() {
        int n = 2048, r = 8;
        Random rnd = new Random(7);
        float[] x = new float[r * n], w = new float[n];
        for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian() * 0.02f;
        for (int j = 0; j < n; j++) w[j] = (float) Math.exp(2 * rnd.nextGaussian());
        for (GgmlType t : new GgmlType[]{GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K,
                GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1}) {
            double ref = err(x, GgufQuant.decode(t, MemorySegment.ofArray(GgufQuant.encode(t, x, n)), x.length), w, n);
            double wq = err(x, GgufQuant.decode(t, MemorySegment.ofArray(GgufWeightedQuant.encode(t, x, n, w)), x.length), w, n);
            assertTrue(wq < ref, t + ": weighted error " + wq + " not below the reference's " + ref);
        }
    }

    static double err(float[] x, float[] q, float[] w, int n) {
        double s = 0;
        for (int i = 0; i < x.length; i++) { double d = x[i] - q[i]; s += w[i % n] * d * d; }
        return s;
    }
}
