package dev.squish.weights;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class LoraLinearTest {
    @TempDir Path dir;

    @Test void kernelsAndRoundTripOverSparseBases() {
        Random rnd = new Random(11);
        int rows = 17, cols = 32, r = 3;
        float[] w = LinearChecks.random(rnd, rows, cols, 0);
        for (int i = 0; i < w.length; i += 4) { w[i] = 0; w[i + 1] = 0; }
        for (Linear base : new Linear[]{NMSparseLinear.fromDense(w, rows, cols, 2, 4), SparseLinear.fromDense(w, rows, cols)}) {
            float[] a = LinearChecks.random(rnd, r, cols, 0), b = LinearChecks.random(rnd, rows, r, 0);
            LoraLinear l = new LoraLinear(base, new DenseLinear(r, cols, a), new DenseLinear(rows, r, b));
            float[] ref = base.toDense();
            for (int o = 0; o < rows; o++)
                for (int c = 0; c < cols; c++) {
                    double s = ref[o * cols + c];
                    for (int j = 0; j < r; j++) s += (double) b[o * r + j] * a[j * cols + c];
                    ref[o * cols + c] = (float) s;
                }
            assertEquals("lora+" + base.format(), l.format());
            LinearChecks.checkKernels(l, ref, 1e-5, rnd, null);
            LinearChecks.roundTrip(l, dir, rnd);
        }
    }

    @Test void adapterMustFit() {
        DenseLinear base = new DenseLinear(4, 6, new float[24]);
        assertThrows(IllegalArgumentException.class, () -> new LoraLinear(base, new DenseLinear(2, 5, new float[10]), new DenseLinear(4, 2, new float[8])));
    }
}
