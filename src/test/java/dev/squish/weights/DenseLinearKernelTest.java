package dev.squish.weights;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** The dense float32 kernels (including prefill through row tiles) against the scalar reference. */
class DenseLinearKernelTest {
    @TempDir Path dir;

    @Test void kernelsMatchReference() {
        Random rnd = new Random(61);
        for (int[] s : LinearChecks.SHAPES) {
            float[] w = LinearChecks.random(rnd, s[0], s[1], 0.2, 1);
            DenseLinear l = new DenseLinear(s[0], s[1], w);
            LinearChecks.assertBitEqual(w, l.toDense(), "dense toDense");
            LinearChecks.checkKernels(l, w, rnd);
            assertEquals(4L * s[0] * s[1], l.bytes());
            LinearChecks.roundTrip(l, dir, rnd);
        }
    }
}
