package dev.squish.weights;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class SparseLinearTest {
    @TempDir Path dir;

    @Test void kernelsMatchReferenceAtManySparsities() {
        Random rnd = new Random(11);
        for (double sp : new double[]{0.0, 0.5, 0.7, 0.97, 1.0})
            for (int[] s : LinearChecks.SHAPES) {
                float[] w = LinearChecks.random(rnd, s[0], s[1], sp, 0, 2, s[0] - 1);
                SparseLinear l = SparseLinear.fromDense(w, s[0], s[1]);
                LinearChecks.assertBitEqual(w, l.toDense(), "sparse toDense");
                LinearChecks.checkKernels(l, w, rnd);
                long nnz = 0;
                for (float f : w) if (f != 0) nnz++;
                assertEquals(nnz, l.parameters());
                assertEquals(nnz * 4 + 8L * s[0] * ((s[1] + 63) / 64), l.bytes());
                assertEquals("sparse", l.format());
            }
    }

    @Test void roundTripIsExact() {
        Random rnd = new Random(12);
        for (int[] s : LinearChecks.SHAPES) {
            float[] w = LinearChecks.random(rnd, s[0], s[1], 0.6, 1);
            LinearChecks.roundTrip(SparseLinear.fromDense(w, s[0], s[1]), dir, rnd);
        }
        LinearChecks.roundTrip(SparseLinear.fromDense(new float[12], 3, 4), dir, rnd);
    }

    @Test void keepsTinyAndNegativeValuesExactly() {
        float[] w = {0, Float.MIN_VALUE, -3.5f, 0, 1e-30f, 0};
        SparseLinear l = SparseLinear.fromDense(w, 2, 3);
        LinearChecks.assertBitEqual(w, l.toDense(), "exact non-zeros");
        assertEquals(3, l.parameters());
    }

    @Test void halfSparseStoresLessThanDense() {
        float[] w = LinearChecks.random(new Random(13), 256, 256, 0.5);
        SparseLinear l = SparseLinear.fromDense(w, 256, 256);
        assertTrue(l.bytes() < 0.6 * 4 * 256 * 256, "bytes " + l.bytes());
    }
}
