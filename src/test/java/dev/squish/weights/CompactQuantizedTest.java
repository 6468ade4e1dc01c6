package dev.squish.weights;

import dev.squish.methods.Rtn;
import dev.squish.weights.QuantResult;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class CompactQuantizedTest {
    @TempDir Path dir;

    /** Quantizes a sparse matrix with RTN (zeros stay 0) and stores it without its zeros. */
    static Linear sparseQuantized(float[] w, int rows, int cols, int bits, int group) {
        QuantResult q = Rtn.quantize(w, rows, cols, bits, group, false);
        boolean[] pruned = new boolean[w.length];
        for (int i = 0; i < w.length; i++) pruned[i] = w[i] == 0;
        Linear l = Compact.quantized(q, pruned, null);
        LinearChecks.assertBitEqual(q.weights(), l.toDense(), "dequantized weights");
        return l;
    }

    @Test void kernelsAndRoundTripAcrossShapesBitsAndSparsities() {
        Random rnd = new Random(21);
        for (int bits : new int[]{4, 8})
            for (double sp : new double[]{0.5, 0.8})
                for (int[] s : LinearChecks.SHAPES) {
                    float[] w = LinearChecks.random(rnd, s[0], s[1], sp, 0);
                    Linear l = sparseQuantized(w, s[0], s[1], bits, 32);
                    if (!(l instanceof SparseQuantizedLinear sq)) continue; // tiny shapes: the mask costs more than it saves
                    // the dense-layout kernel computes s * (sum q x - z sum x): rounding relative to |s z| sum |x|
                    LinearChecks.checkKernels(l, l.toDense(), 1e-5, rnd, row -> {
                        double m = 0;
                        for (int g = 0; g < sq.groups(); g++) m = Math.max(m, Math.abs(sq.scale(row, g) * sq.zero(row, g)));
                        return m;
                    });
                    long nnz = 0;
                    for (float f : w) if (f != 0) nnz++;
                    assertEquals(nnz, sq.nonZeros());
                    assertEquals("sparse-int" + bits + (s[1] <= 32 ? "-pc" : "-g32"), l.format());
                    LinearChecks.roundTrip(l, dir, rnd);
                }
    }

    @Test void twoFourInt4CostsThreeQuartersOfDenseInt4() {
        Random rnd = new Random(22);
        int rows = 256, cols = 512;
        float[] w = LinearChecks.random(rnd, rows, cols, 0);
        for (int r = 0; r < rows; r++) for (int g = 0; g < cols; g += 4) { w[r * cols + g + (r % 4)] = 0; w[r * cols + g + (r + 1) % 4] = 0; }
        Linear l = sparseQuantized(w, rows, cols, 4, 128);
        assertInstanceOf(SparseQuantizedLinear.class, l);
        long groups = (long) rows * (cols / 128);
        assertEquals((long) rows * cols / 8 + (long) rows * cols / 4 + 5 * groups, l.bytes()); // mask + codes + scales/zeros
        assertTrue(l.bytes() < 0.8 * QuantizedLinear.quantizeRtn(w, rows, cols, 4, 128, false).bytes());
    }

    @Test void denseMatrixStaysDenselyQuantized() {
        Random rnd = new Random(23);
        float[] w = LinearChecks.random(rnd, 64, 256, 0.05, 0);
        assertInstanceOf(QuantizedLinear.class, sparseQuantized(w, 64, 256, 4, 128));
    }

    @Test void rejectsNonZeroAtPrunedPosition() {
        float[] w = {1, 2, 3, 4};
        QuantResult q = Rtn.quantize(w, 1, 4, 4, -1, true);
        assertThrows(IllegalStateException.class, () -> Compact.quantized(q, new boolean[]{true, false, false, false}, null));
    }

    @Test void outlierLinearAddsItsPartsAndRoundTrips() {
        Random rnd = new Random(24);
        int rows = 33, cols = 130;
        float[] w = LinearChecks.random(rnd, rows, cols, 0, 0);  // row 0 empty
        float[] out = new float[w.length];
        for (int i = 0; i < w.length; i += 37) { out[i] = 10 * w[i]; w[i] = 0; }
        QuantResult q = Rtn.quantize(w, rows, cols, 4, 64, true);
        Linear l = Compact.quantized(q, null, out);
        OutlierLinear o = assertInstanceOf(OutlierLinear.class, l);
        assertEquals("outlier-int4-g64", l.format());
        float[] want = q.weights().clone();
        for (int i = 0; i < want.length; i++) want[i] += out[i];
        LinearChecks.assertBitEqual(want, l.toDense(), "outlier toDense");
        assertEquals(o.quantized().bytes() + o.outliers().bytes(), l.bytes());
        // the int4 kernel computes s * (sum q x - z sum x): allow rounding relative to |s z| sum |x|
        LinearChecks.checkKernels(l, want, 1e-5, rnd, row -> {
            double m = 0;
            for (int g = 0; g < q.groups(); g++) m = Math.max(m, Math.abs(q.scale(row, g) * q.zero(row, g)));
            return m;
        });
        LinearChecks.roundTrip(l, dir, rnd);
    }
}
