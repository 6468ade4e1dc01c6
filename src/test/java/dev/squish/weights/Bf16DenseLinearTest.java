package dev.squish.weights;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class Bf16DenseLinearTest {
    @TempDir Path dir;

    /** Independent bf16 rounding through BigDecimal-free bit logic: nearest of the two neighbours, ties to even. */
    static float roundBf16(float f) {
        int b = Float.floatToRawIntBits(f);
        float down = Float.intBitsToFloat(b & 0xffff0000);
        float up = Float.intBitsToFloat((b & 0xffff0000) + 0x10000);
        double dd = Math.abs((double) f - down), du = Math.abs((double) up - f);
        if (dd < du) return down;
        if (du < dd) return up;
        return ((b >>> 16) & 1) == 0 ? down : up;
    }

    @Test void kernelsMatchReference() {
        Random rnd = new Random(1);
        for (int[] s : LinearChecks.SHAPES) {
            float[] w = LinearChecks.random(rnd, s[0], s[1], 0.1, 1);
            Bf16DenseLinear l = Bf16DenseLinear.fromDense(w, s[0], s[1]);
            float[] exp = new float[w.length];
            for (int i = 0; i < w.length; i++) exp[i] = roundBf16(w[i]);
            LinearChecks.assertBitEqual(exp, l.toDense(), "bf16 toDense");
            LinearChecks.checkKernels(l, exp, rnd);
            assertEquals(2L * s[0] * s[1], l.bytes());
            assertEquals((long) s[0] * s[1], l.parameters());
            assertEquals("dense-bf16", l.format());
            LinearChecks.roundTrip(l, dir, rnd);
        }
    }

    @Test void allZeroAndSpecialValues() {
        Random rnd = new Random(2);
        Bf16DenseLinear z = Bf16DenseLinear.fromDense(new float[17 * 33], 17, 33);
        LinearChecks.checkKernels(z, new float[17 * 33], rnd);
        assertEquals(1.0f, Bf16DenseLinear.fromBf16(Bf16DenseLinear.toBf16(1.0f)));
        assertTrue(Float.isNaN(Bf16DenseLinear.fromBf16(Bf16DenseLinear.toBf16(Float.NaN))));
        assertEquals(Float.POSITIVE_INFINITY, Bf16DenseLinear.fromBf16(Bf16DenseLinear.toBf16(Float.POSITIVE_INFINITY)));
        assertThrows(IllegalArgumentException.class, () -> Bf16DenseLinear.fromDense(new float[5], 2, 3));
    }
}
