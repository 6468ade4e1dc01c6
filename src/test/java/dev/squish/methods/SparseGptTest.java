package dev.squish.methods;

import dev.squish.calibration.HessianAccumulator;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class SparseGptTest {
    static final int ROWS = 48, COLS = 320, TOKENS = 1200;

    record Problem(float[] w, double[] h, double[] normSq) {}

    static Problem problem(long seed) {
        Random rnd = new Random(seed);
        float[] x = TestData.correlatedInputs(rnd, TOKENS, COLS, 24);
        HessianAccumulator acc = TestData.accumulate(x, TOKENS, COLS, 256);
        return new Problem(TestData.gaussian(rnd, ROWS * COLS, 0.05), acc.hessian(), acc.columnNormsSquared());
    }

    @Test
    void zeroSparsityReturnsWUnchanged() {
        Problem p = problem(20);
        assertArrayEquals(p.w(), SparseGpt.prune(p.w(), ROWS, COLS, p.h(), 0.0, 0, 0));
    }

    @Test
    void exactCountPerMatrixIncludingAPartialBlock() {
        Problem p = problem(21);
        for (double s : new double[]{0.5, 0.37, 0.9}) {
            float[] out = SparseGpt.prune(p.w(), ROWS, COLS, p.h(), s, 0, 0);
            assertEquals(Math.round(s * ROWS * COLS), TestData.zeros(out), "sparsity " + s);
        }
    }

    @Test
    void nmPatternHoldsInEveryGroup() {
        Problem p = problem(22);
        float[] out = SparseGpt.prune(p.w(), ROWS, COLS, p.h(), 0, 2, 4);
        for (int g = 0; g < out.length; g += 4) {
            int z = 0;
            for (int j = 0; j < 4; j++) if (out[g + j] == 0) z++;
            assertEquals(2, z, "group at " + g);
        }
    }

    @Test
    void matchesALiteralTransliterationOfTheReference() {
        Problem p = problem(23);
        float[] ref = ReferenceImpl.sparseGpt(p.w(), ROWS, COLS, p.h(), 0.5, 0, 0, 128);
        float[] fast = SparseGpt.prune(p.w(), ROWS, COLS, p.h(), 0.5, 0, 0, 128, 0.01, true, "t");
        assertClose(ref, fast);
        // reference threshold semantics: int(numel*s) + 1 entries per block
        int expected = 0;
        for (int i1 = 0; i1 < COLS; i1 += 128) expected += (int) (ROWS * Math.min(128, COLS - i1) * 0.5) + 1;
        assertEquals(expected, TestData.zeros(fast));
        float[] refNm = ReferenceImpl.sparseGpt(p.w(), ROWS, COLS, p.h(), 0, 2, 4, 128);
        assertClose(refNm, SparseGpt.prune(p.w(), ROWS, COLS, p.h(), 0, 2, 4));
        float[] refNm2 = ReferenceImpl.sparseGpt(p.w(), ROWS, COLS, p.h(), 0, 4, 8, 64);
        assertClose(refNm2, SparseGpt.prune(p.w(), ROWS, COLS, p.h(), 0, 4, 8, 64, 0.01));
    }

    static void assertClose(float[] ref, float[] got) {
        double scale = 0;
        for (float v : ref) scale = Math.max(scale, Math.abs(v));
        for (int i = 0; i < ref.length; i++) {
            assertEquals(ref[i] == 0, got[i] == 0, "same mask at " + i);
            assertEquals(ref[i], got[i], 1e-5 * scale, "entry " + i);
        }
    }

    @Test
    void compensationBeatsMagnitudeAndWandaAtTheSameSparsity() {
        Problem p = problem(24);
        for (int[] nm : new int[][]{{0, 0}, {2, 4}}) {
            float[] sg = SparseGpt.prune(p.w(), ROWS, COLS, p.h(), 0.5, nm[0], nm[1]);
            float[] mag = Magnitude.prune(p.w(), ROWS, COLS, 0.5, nm[0], nm[1]);
            float[] wan = Wanda.prune(p.w(), ROWS, COLS, p.normSq(), 0.5, nm[0], nm[1]);
            assertEquals(TestData.zeros(mag), TestData.zeros(sg));
            assertEquals(TestData.zeros(wan), TestData.zeros(sg));
            double eSg = TestData.outputError(p.w(), sg, ROWS, COLS, p.h());
            double eMag = TestData.outputError(p.w(), mag, ROWS, COLS, p.h());
            double eWan = TestData.outputError(p.w(), wan, ROWS, COLS, p.h());
            assertTrue(eSg < eWan && eWan < eMag, nm[0] + ":" + nm[1] + " errors sparsegpt " + eSg + " wanda " + eWan + " magnitude " + eMag);
        }
    }

    @Test
    void deadInputsArePrunedFirst() {
        Problem p = problem(25);
        double[] h = p.h().clone();
        for (int k = 0; k < COLS; k++) { h[7 * COLS + k] = 0; h[k * COLS + 7] = 0; }
        float[] out = SparseGpt.prune(p.w(), ROWS, COLS, h, 0.5, 0, 0);
        for (int r = 0; r < ROWS; r++) assertEquals(0f, out[r * COLS + 7]);
        assertEquals(Math.round(0.5 * ROWS * COLS), TestData.zeros(out));
    }
}
