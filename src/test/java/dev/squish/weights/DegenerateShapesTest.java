package dev.squish.weights;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** Matrices with no rows or no columns work in every format (y is all zeros / empty). */
class DegenerateShapesTest {
    @TempDir Path dir;

    static List<Linear> all(float[] w, int rows, int cols) {
        return List.of(new DenseLinear(rows, cols, w), Bf16DenseLinear.fromDense(w, rows, cols), SparseLinear.fromDense(w, rows, cols),
                NMSparseLinear.fromDense(w, rows, cols, 2, 4), QuantizedLinear.quantizeRtn(w, rows, cols, 4, 128, false),
                QuantizedLinear.quantizeRtn(w, rows, cols, 8, 32, true), SparseQuantizedLinear.quantizeRtn(w, rows, cols, 4, 64, false),
                OutlierLinear.fromDense(w, rows, cols, 4, 128, false, 0.0));
    }

    @Test void zeroRowsOrColumns() {
        Random rnd = new Random(71);
        for (int[] s : new int[][]{{0, 5}, {3, 0}, {0, 0}}) {
            for (Linear l : all(new float[0], s[0], s[1])) {
                assertEquals(s[0], l.rows());
                assertEquals(s[1], l.cols());
                assertEquals(0, l.toDense().length);
                float[] y = new float[3 * s[0]];
                java.util.Arrays.fill(y, Float.NaN);
                l.matmul(new float[3 * s[1]], 3, y);
                for (float v : y) assertEquals(0f, v, l.format());
                l.matvec(new float[s[1]], new float[s[0]]);
                LinearChecks.roundTrip(l, dir, rnd);
            }
        }
    }
}
