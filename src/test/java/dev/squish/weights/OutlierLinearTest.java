package dev.squish.weights;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class OutlierLinearTest {
    @TempDir Path dir;

    @Test void outliersStayExactAndKernelsMatch() {
        Random rnd = new Random(51);
        for (int[] s : LinearChecks.SHAPES) {
            int rows = s[0], cols = s[1];
            float[] w = LinearChecks.random(rnd, rows, cols, 0.0, 1);
            if (w.length > 10) w[w.length / 2] = 1000f;   // a clear outlier
            OutlierLinear l = OutlierLinear.fromDense(w, rows, cols, 4, 32, false, 0.01);
            int k = (int) Math.round(0.01 * w.length);
            assertEquals(k, l.outliers().parameters());
            float[] dense = l.toDense();
            if (w.length > 10 && k > 0) assertEquals(1000f, dense[w.length / 2]);
            // independent reference: Q.toDense() + O.toDense(), each checked by their own tests
            float[] q = l.quantized().toDense(), o = l.outliers().toDense();
            for (int i = 0; i < w.length; i++) {
                assertEquals(q[i] + o[i], dense[i]);
                if (o[i] != 0) { assertEquals(w[i], o[i]); assertEquals(0f, q[i]); }
            }
            LinearChecks.checkKernels(l, dense, 1e-5, rnd, r -> 16 * 0.2 * 2);
            assertEquals(l.quantized().bytes() + l.outliers().bytes(), l.bytes());
            assertEquals("outlier-" + l.quantized().format(), l.format());
            LinearChecks.roundTrip(l, dir, rnd);
        }
    }
}
