package dev.squish.formats;

import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class GgufQuantTest {

    /** Blocks that exercise the corners: zeros, ties, negative/positive extremes, tiny and huge scales. */
    static float[] testData(long seed, int blocks) {
        Random r = new Random(seed);
        float[] x = new float[blocks * 32];
        for (int b = 0; b < blocks; b++) {
            int kind = b % 8;
            double scale = Math.pow(10, r.nextInt(9) - 6);
            for (int j = 0; j < 32; j++) {
                int i = b * 32 + j;
                x[i] = switch (kind) {
                    case 0 -> 0f;                                         // all-zero block: d = 0
                    case 1 -> j == 0 ? 127f : (j - 16) + 0.5f;            // d = 1 exactly: ties at .5, incl. negative
                    case 2 -> j == 0 ? -8f : (float) r.nextGaussian();    // largest magnitude negative
                    case 3 -> (float) (r.nextGaussian() * 1e-7);          // subnormal half scales
                    case 4 -> (float) (r.nextGaussian() * 6e4);           // near the half range limit
                    default -> (float) (r.nextGaussian() * scale);
                };
            }
        }
        return x;
    }

    @Test void referenceHalfConversionAgreesWithJdk() {
        Random r = new Random(1);
        for (int i = 0; i < 200_000; i++) {
            float f = Float.intBitsToFloat(r.nextInt());
            if (Float.isNaN(f)) continue;
            assertEquals(GgmlReference.fp32ToFp16(f), Float.floatToFloat16(f), "half of " + f);
        }
    }

    @Test void q8_0MatchesGgmlBitForBit() {
        float[] x = testData(7, 64);
        byte[] ours = GgufQuant.encode(GgmlType.Q8_0, x, 256);
        byte[] ref = GgmlReference.q8_0(x);
        assertArrayEquals(ref, ours);
        assertArrayEquals(GgmlReference.dq8_0(ref), GgufQuant.decode(GgmlType.Q8_0, MemorySegment.ofArray(ours), x.length));
    }

    @Test void q4_0MatchesGgmlBitForBit() {
        float[] x = testData(11, 64);
        byte[] ours = GgufQuant.encode(GgmlType.Q4_0, x, 64);
        byte[] ref = GgmlReference.q4_0(x);
        assertArrayEquals(ref, ours);
        assertArrayEquals(GgmlReference.dq4_0(ref), GgufQuant.decode(GgmlType.Q4_0, MemorySegment.ofArray(ours), x.length));
    }

    @Test void q8_0RoundsHalfwayAwayFromZero() {
        float[] x = new float[32];
        x[0] = 127f; // d = 1, id = 1
        x[1] = -2.5f;
        x[2] = 2.5f;
        x[3] = -0.5f;
        byte[] q = GgufQuant.encode(GgmlType.Q8_0, x, 32);
        assertEquals(0x3c00, (q[0] & 0xff) | ((q[1] & 0xff) << 8), "d = 1.0 in half");
        assertEquals(127, q[2]);
        assertEquals(-3, q[3]); // roundf(-2.5) = -3 (Java's Math.round would give -2)
        assertEquals(3, q[4]);
        assertEquals(-1, q[5]);
    }

    @Test void q4_0PacksLowNibblesFirstHalf() {
        float[] x = new float[32];
        x[0] = -8f;  // max (signed) = -8 -> d = 1, q = 0
        x[16] = 7f;  // q = (int)(7 * 1 + 8.5) = 15
        x[1] = 3f;   // q = 11
        byte[] q = GgufQuant.encode(GgmlType.Q4_0, x, 32);
        assertEquals(0x3c00, (q[0] & 0xff) | ((q[1] & 0xff) << 8));
        assertEquals(0x00 | (15 << 4), q[2] & 0xff);
        assertEquals(11 | (8 << 4), q[3] & 0xff);
        float[] back = GgufQuant.decode(GgmlType.Q4_0, MemorySegment.ofArray(q), 32);
        assertEquals(-8f, back[0]);
        assertEquals(7f, back[16]);
        assertEquals(3f, back[1]);
        assertEquals(0f, back[2]);
    }

    @Test void f16AndF32Encode() {
        float[] x = testData(3, 4);
        float[] f32 = GgufQuant.decode(GgmlType.F32, MemorySegment.ofArray(GgufQuant.encode(GgmlType.F32, x, 32)), x.length);
        assertArrayEquals(x, f32);
        float[] f16 = GgufQuant.decode(GgmlType.F16, MemorySegment.ofArray(GgufQuant.encode(GgmlType.F16, x, 32)), x.length);
        for (int i = 0; i < x.length; i++) assertEquals(GgmlReference.fp16ToFp32(GgmlReference.fp32ToFp16(x[i])), f16[i]);
    }

    @Test void blockTypesRefuseRowsThatAreNotMultiplesOf32() {
        float[] x = new float[66];
        var e = assertThrows(IllegalArgumentException.class, () -> GgufQuant.encode(GgmlType.Q8_0, x, 33));
        assertTrue(e.getMessage().contains("multiple of 32"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> GgufQuant.encode(GgmlType.Q4_0, new float[40], 40));
    }
}
