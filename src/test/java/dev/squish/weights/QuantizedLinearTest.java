package dev.squish.weights;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class QuantizedLinearTest {
    @TempDir Path dir;

    /** Independent RTN through QuantGrid: returns {dequantized, per-row max |scale| * maxq}. */
    static float[][] rtn(float[] w, int rows, int cols, int bits, int g, boolean sym) {
        int maxq = QuantGrid.maxq(bits);
        float[] dq = new float[w.length], mag = new float[rows];
        for (int r = 0; r < rows; r++)
            for (int c0 = 0; c0 < cols; c0 += g) {
                int c1 = Math.min(cols, c0 + g);
                float min = 0, max = 0;
                for (int c = c0; c < c1; c++) { min = Math.min(min, w[r * cols + c]); max = Math.max(max, w[r * cols + c]); }
                float[] p = QuantGrid.params(min, max, bits, sym);
                mag[r] = Math.max(mag[r], Math.abs(p[0]) * (maxq + Math.abs(p[1])));
                for (int c = c0; c < c1; c++) dq[r * cols + c] = QuantGrid.fake(w[r * cols + c], p[0], p[1], maxq);
            }
        return new float[][]{dq, mag};
    }

    @Test void rtnKernelsMatchDequantizedReference() {
        Random rnd = new Random(3);
        for (int bits : new int[]{4, 8})
            for (int g : new int[]{32, 128, 48, 7, Integer.MAX_VALUE})
                for (boolean sym : new boolean[]{false, true})
                    for (int[] s : LinearChecks.SHAPES) {
                        int rows = s[0], cols = s[1];
                        float[] w = LinearChecks.random(rnd, rows, cols, 0.05, 2);
                        QuantizedLinear q = QuantizedLinear.quantizeRtn(w, rows, cols, bits, g, sym);
                        float[][] ref = rtn(w, rows, cols, bits, Math.min(g, cols), sym);
                        LinearChecks.assertBitEqual(ref[0], q.toDense(), q.format() + " " + rows + "x" + cols + " toDense");
                        LinearChecks.checkKernels(q, ref[0], 1e-5, rnd, o -> ref[1][o]);
                        assertEquals((long) rows * cols, q.parameters());
                    }
    }

    /**
     * Shapes the interleaved layout takes (groups of whole blocks at every vector width) with rows
     * that are not a multiple of 4, several blocks per group, a partial last group and tail columns
     * after the last block: both layouts against the double reference, same codes, same dequantized
     * matrix, and a file round trip.
     */
    @Test void interleavedLayoutMatchesReferenceAndRowMajor() {
        Random rnd = new Random(8);
        int[][] shapes = {{1, 128}, {4, 128}, {13, 424}, {6, 1024}, {3, 2048 + 512 + 7}, {35, 640}};
        for (int bits : new int[]{4, 8})
            for (int g : new int[]{128, 256, Integer.MAX_VALUE})
                for (int[] s : shapes) {
                    int rows = s[0], cols = s[1];
                    float[] w = LinearChecks.random(rnd, rows, cols, 0.05, 1);
                    QuantizedLinear fast = QuantizedLinear.quantizeRtn(w, rows, cols, bits, g, false);
                    QuantizedLinear plain;
                    QuantizedLinear.interleave = false;
                    try { plain = QuantizedLinear.quantizeRtn(w, rows, cols, bits, g, false); } finally { QuantizedLinear.interleave = true; }
                    String what = fast.format() + " " + rows + "x" + cols;
                    assertFalse(plain.interleaved(), what);
                    if (Math.min(g, cols) % 128 == 0) assertTrue(fast.interleaved(), what + " should use the interleaved layout");
                    for (int r = 0; r < rows; r++)
                        for (int c = 0; c < cols; c++) assertEquals(plain.code(r, c), fast.code(r, c), what + " code");
                    float[][] ref = rtn(w, rows, cols, bits, Math.min(g, cols), false);
                    LinearChecks.assertBitEqual(ref[0], fast.toDense(), what + " toDense");
                    LinearChecks.checkKernels(fast, ref[0], 1e-5, rnd, o -> ref[1][o]);
                    LinearChecks.checkKernels(plain, ref[0], 1e-5, rnd, o -> ref[1][o]);
                    LinearChecks.roundTrip(fast, dir, rnd);
                }
    }

    @Test void roundTripIsExact() {
        Random rnd = new Random(4);
        for (int bits : new int[]{4, 8})
            for (int g : new int[]{64, 48, Integer.MAX_VALUE})
                for (int[] s : new int[][]{{1, 1}, {3, 5}, {17, 33}, {64, 130}}) {
                    float[] w = LinearChecks.random(rnd, s[0], s[1], 0.0);
                    LinearChecks.roundTrip(QuantizedLinear.quantizeRtn(w, s[0], s[1], bits, g, false), dir, rnd);
                }
    }

    @Test void fromCodesKeepsCodesAndArbitraryZeros() {
        Random rnd = new Random(5);
        int rows = 9, cols = 77, g = 32, groups = 3;
        for (int bits : new int[]{4, 8}) {
            int maxq = QuantGrid.maxq(bits);
            int[] codes = new int[rows * cols];
            for (int i = 0; i < codes.length; i++) codes[i] = rnd.nextInt(maxq + 1);
            float[] sc = new float[rows * groups], ze = new float[rows * groups];
            for (int i = 0; i < sc.length; i++) { sc[i] = (float) rnd.nextDouble() * 0.1f; ze[i] = (float) rnd.nextDouble() * maxq; }
            QuantizedLinear q = QuantizedLinear.fromCodes(rows, cols, bits, g, codes, sc, ze);
            float[] exp = new float[rows * cols];
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < cols; c++) {
                    assertEquals(codes[r * cols + c], q.code(r, c));
                    exp[r * cols + c] = QuantGrid.dequantize(codes[r * cols + c], sc[r * groups + c / g], ze[r * groups + c / g]);
                }
            LinearChecks.assertBitEqual(exp, q.toDense(), "fromCodes toDense");
            LinearChecks.checkKernels(q, exp, 1e-5, rnd, o -> 0.1 * 2 * maxq);
            // non-integer zeros are stored as F32: still exact after the round trip
            LinearChecks.roundTrip(q, dir, rnd);
            assertEquals((long) rows * (bits == 8 ? cols : (cols + 1) / 2) + rows * groups * 8L, q.bytes());
        }
        assertThrows(IllegalArgumentException.class, () -> QuantizedLinear.fromCodes(1, 2, 4, 2, new int[]{0, 16}, new float[1], new float[1]));
        assertThrows(IllegalArgumentException.class, () -> QuantizedLinear.fromCodes(1, 2, 3, 2, new int[]{0, 1}, new float[1], new float[1]));
    }

    @Test void allZeroAndEmptyRows() {
        Random rnd = new Random(6);
        for (int bits : new int[]{4, 8}) {
            float[] w = new float[17 * 33];
            QuantizedLinear q = QuantizedLinear.quantizeRtn(w, 17, 33, bits, 16, false);
            LinearChecks.assertBitEqual(w, q.toDense(), "zero matrix stays zero");
            float[][] ref = rtn(w, 17, 33, bits, 16, false);
            LinearChecks.checkKernels(q, w, 1e-5, rnd, o -> ref[1][o]);
        }
    }

    @Test void bytesMatchPackedSize() {
        float[] w = LinearChecks.random(new Random(7), 256, 256, 0.0);
        QuantizedLinear q4 = QuantizedLinear.quantizeRtn(w, 256, 256, 4, 128, false);
        assertEquals("int4-g128", q4.format());
        // codes: half a byte per weight; per (row, group): f32 scale + u8 zero
        assertEquals(256 * 128 + 256 * 2 * 5, q4.bytes());
        assertTrue(q4.bytes() < 4L * 256 * 256 / 7);
        QuantizedLinear q8 = QuantizedLinear.quantizeRtn(w, 256, 256, 8, 1 << 20, true);
        assertEquals("int8-pc", q8.format());
        assertEquals(256 * 256 + 256 * 5, q8.bytes());
    }
}
