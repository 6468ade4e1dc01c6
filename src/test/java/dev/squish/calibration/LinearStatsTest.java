package dev.squish.calibration;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class LinearStatsTest {
    @Test
    void relativeErrorEqualsDirectComputationOnTheTokens() {
        Random rnd = new Random(5);
        int cols = 23, tokens = 90;
        // more rows than one error GEMM takes, so the chunking is exercised
        int rows = 256 + 37;  // Blas.QUAD_ROWS + 37
        float[] x = new float[tokens * cols], w = new float[rows * cols], w2 = new float[rows * cols];
        for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
        for (int i = 0; i < w.length; i++) { w[i] = (float) rnd.nextGaussian(); w2[i] = w[i] + (float) (0.1 * rnd.nextGaussian()); }
        LinearStats st = new LinearStats(cols);
        st.add(x, tokens);
        double num = 0, den = 0;
        for (int t = 0; t < tokens; t++)
            for (int r = 0; r < rows; r++) {
                double y = 0, y2 = 0;
                for (int j = 0; j < cols; j++) { y += (double) w[r * cols + j] * x[t * cols + j]; y2 += (double) w2[r * cols + j] * x[t * cols + j]; }
                num += (y - y2) * (y - y2);
                den += y * y;
            }
        // float32 products (the report's error): H and the weights rounded to float32, 6e-8 relative each
        assertEquals(Math.sqrt(num / den), st.relativeError(w, w2, rows), 1e-6 * Math.sqrt(num / den));
        assertEquals(0, st.relativeError(w, w, rows), 1e-12);
    }
}
