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

    /**
     * Per row, max over groups of |scale| * (maxq + |zero|): the dense-layout kernels use
     * {@code sum s (q - z) x = s sum q x - s z sum x} (pruned weights sit at q = z), whose rounding
     * grows with this times sum |x| (as in {@link QuantizedLinearTest}).
     */
    static double[] zeroMag(float[] w, int rows, int cols, int bits, int g, boolean sym) {
        double[] mag = new double[rows];
        int maxq = QuantGrid.maxq(bits);
        for (int r = 0; r < rows; r++)
            for (int c0 = 0; c0 < cols; c0 += g) {
                float[] p = QuantGrid.params(w, r * cols + c0, Math.min(g, cols - c0), 1, bits, sym);
                mag[r] = Math.max(mag[r], Math.abs(p[0]) * (maxq + Math.abs(p[1])));
            }
        return mag;
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
                        double[] zm = zeroMag(w, rows, cols, bits, Math.min(g, cols), false);
                        LinearChecks.checkKernels(q, ref, 1e-5, rnd, o -> zm[o]);
                        long nnz = 0;
                        for (float f : w) if (f != 0) nnz++;
                        assertEquals(nnz, q.parameters());
                    }
    }

    /**
     * Shapes whose groups suit the dense interleaved layout (pruned weights stored as the zero
     * point) at every vector width: the layout is used, and it and the packed kernels (built with
     * the layout switched off) both match the reference, with identical codes and toDense.
     */
    @Test void denseLayoutMatchesPackedKernels() {
        Random rnd = new Random(45);
        for (int bits : new int[]{4, 8})
            for (int g : new int[]{128, 256})
                for (int[] s : new int[][]{{64, 256}, {9, 384}, {17, 1000}, {5, 128}})
                    for (double sp : new double[]{0.5, 0.8}) {
                        int rows = s[0], cols = s[1];
                        float[] w = LinearChecks.random(rnd, rows, cols, sp, 1);
                        SparseQuantizedLinear fast = SparseQuantizedLinear.quantizeRtn(w, rows, cols, bits, g, false);
                        SparseQuantizedLinear plain;
                        QuantizedLinear.interleave = false;
                        try { plain = SparseQuantizedLinear.quantizeRtn(w, rows, cols, bits, g, false); } finally { QuantizedLinear.interleave = true; }
                        String what = fast.format() + " " + rows + "x" + cols + " sparsity " + sp;
                        assertTrue(fast.interleaved() == InterleavedCodes.fits(bits, Math.min(g, cols)), what + " layout choice");
                        if (Kernels.L == 16 || Kernels.L == 8) assertTrue(fast.interleaved(), what + " should use the dense layout");
                        assertFalse(plain.interleaved(), what);
                        float[] ref = reference(w, rows, cols, bits, Math.min(g, cols), false);
                        LinearChecks.assertBitEqual(ref, fast.toDense(), what + " toDense");
                        LinearChecks.assertBitEqual(ref, plain.toDense(), what + " toDense (packed)");
                        double[] zm = zeroMag(w, rows, cols, bits, Math.min(g, cols), false);
                        LinearChecks.checkKernels(fast, ref, 1e-5, rnd, o -> zm[o]);
                        LinearChecks.checkKernels(plain, ref, rnd);
                        assertEquals(plain.bytes(), fast.bytes(), what + " bytes are the stored size");
                        LinearChecks.roundTrip(fast, dir, rnd);
                    }
    }

    @Test void allZeroAndRoundTrip() {
        Random rnd = new Random(42);
        for (int bits : new int[]{4, 8}) {
            SparseQuantizedLinear z = SparseQuantizedLinear.quantizeRtn(new float[17 * 33], 17, 33, bits, 16, true);
            double[] zm = zeroMag(new float[17 * 33], 17, 33, bits, 16, true);
            LinearChecks.checkKernels(z, new float[17 * 33], 1e-5, rnd, o -> zm[o]);
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
