package dev.squish.weights;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class SparseQuantizedLinearTest {
    @TempDir Path dir;

    /** Independent reference: survivors fake-quantized through QuantGrid per (row, group), pruned entries 0. */
    static float[] reference(float[] w, int rows, int cols, int bits, int g, boolean sym) {
        float[] out = new float[w.length];
        for (int r = 0; r < rows; r++)
            for (int c0 = 0; c0 < cols; c0 += g) {
                int c1 = Math.min(cols, c0 + g);
                float[] p = QuantGrid.params(w, r * cols + c0, c1 - c0, 1, bits, sym);
                for (int c = c0; c < c1; c++) {
                    float v = w[r * cols + c];
                    out[r * cols + c] = v == 0 ? 0f : QuantGrid.fake(v, p[0], p[1], QuantGrid.maxq(bits));
                }
            }
        return out;
    }

    @Test void kernelsMatchReference() {
        Random rnd = new Random(41);
        for (int bits : new int[]{4, 8})
            for (int g : new int[]{64, 128, 48, Integer.MAX_VALUE})
                for (double sp : new double[]{0.5, 0.8})
                    for (int[] s : LinearChecks.SHAPES) {
                        int rows = s[0], cols = s[1];
                        float[] w = LinearChecks.random(rnd, rows, cols, sp, 0, rows - 1);
                        SparseQuantizedLinear q = SparseQuantizedLinear.quantizeRtn(w, rows, cols, bits, g, false);
                        float[] ref = reference(w, rows, cols, bits, Math.min(g, cols), false);
                        LinearChecks.assertBitEqual(ref, q.toDense(), q.format() + " " + rows + "x" + cols + " toDense");
                        LinearChecks.checkKernels(q, ref, rnd);
                        long nnz = 0;
                        for (float f : w) if (f != 0) nnz++;
                        assertEquals(nnz, q.parameters());
                    }
    }

    @Test void allZeroAndRoundTrip() {
        Random rnd = new Random(42);
        for (int bits : new int[]{4, 8}) {
            SparseQuantizedLinear z = SparseQuantizedLinear.quantizeRtn(new float[17 * 33], 17, 33, bits, 16, true);
            LinearChecks.checkKernels(z, new float[17 * 33], rnd);
            assertEquals(0, z.parameters());
            for (int[] s : new int[][]{{1, 1}, {3, 5}, {17, 33}, {64, 130}}) {
                float[] w = LinearChecks.random(rnd, s[0], s[1], 0.6, 1);
                LinearChecks.roundTrip(SparseQuantizedLinear.quantizeRtn(w, s[0], s[1], bits, 32, false), dir, rnd);
            }
        }
    }

    @Test void fromCodesWithArbitraryZerosRoundTrips() {
        Random rnd = new Random(43);
        int rows = 7, cols = 70, g = 32, groups = 3;
        boolean[] keep = new boolean[rows * cols];
        int[] codes = new int[rows * cols];
        float[] sc = new float[rows * groups], ze = new float[rows * groups];
        for (int i = 0; i < keep.length; i++) { keep[i] = rnd.nextBoolean(); codes[i] = rnd.nextInt(16); }
        for (int i = 0; i < sc.length; i++) { sc[i] = 0.01f + (float) rnd.nextDouble(); ze[i] = (float) rnd.nextDouble() * 15; }
        SparseQuantizedLinear q = SparseQuantizedLinear.fromCodes(rows, cols, 4, g, keep, codes, sc, ze);
        float[] exp = new float[rows * cols];
        for (int i = 0; i < exp.length; i++)
            if (keep[i]) exp[i] = QuantGrid.dequantize(codes[i], sc[(i / cols) * groups + (i % cols) / g], ze[(i / cols) * groups + (i % cols) / g]);
        LinearChecks.assertBitEqual(exp, q.toDense(), "fromCodes toDense");
        LinearChecks.checkKernels(q, exp, rnd);
        LinearChecks.roundTrip(q, dir, rnd);
        assertThrows(IllegalArgumentException.class, () -> SparseQuantizedLinear.fromCodes(1, 1, 4, 1, new boolean[]{true}, new int[]{16}, new float[1], new float[1]));
    }

    @Test void bytesCountOnlySurvivors() {
        float[] w = LinearChecks.random(new Random(44), 256, 256, 0.5);
        SparseQuantizedLinear q = SparseQuantizedLinear.quantizeRtn(w, 256, 256, 4, 128, false);
        assertEquals("sparse-int4-g128", q.format());
        long nnz = q.parameters();
        assertEquals(256L * 4 * 8 + (nnz * 4 + 7) / 8 + 256L * 2 * 5, q.bytes());
        assertTrue(q.bytes() < 4L * 256 * 256 / 8, "bytes " + q.bytes());
    }
}
