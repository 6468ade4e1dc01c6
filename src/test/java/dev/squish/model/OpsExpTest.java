package dev.squish.model;

import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** The reproducible exp of the vector loops: accurate to float precision, lanes equal to the scalar twin. */
class OpsExpTest {
    @Test
    void expIsAccurateAndLanesMatchTheScalar() {
        var s = dev.squish.util.VectorWidth.FLOAT;
        Random rnd = new Random(2);
        float[] x = new float[s.length() * 4096], y = new float[x.length];
        for (int i = 0; i < x.length; i++) x[i] = i < 8 ? new float[]{0f, -0f, 1f, -1f, -87f, 88f, -200f, 1e-8f}[i] : (float) (rnd.nextDouble() * 170 - 86);
        for (int i = 0; i < x.length; i += s.length()) Ops.exp(FloatVector.fromArray(s, x, i)).intoArray(y, i);
        double worst = 0;
        for (int i = 0; i < x.length; i++) {
            assertEquals(Float.floatToIntBits(Ops.exp(x[i])), Float.floatToIntBits(y[i]), "lane vs scalar at " + x[i]);
            double want = Math.exp(Math.max(-87, Math.min(88, x[i])));
            worst = Math.max(worst, Math.abs(y[i] - want) / want);
        }
        assertTrue(worst < 3e-7, "relative error " + worst);
        assertEquals(1f, Ops.exp(0f));
    }
}
