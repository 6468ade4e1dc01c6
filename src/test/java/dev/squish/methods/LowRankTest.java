package dev.squish.methods;

import dev.squish.SquishException;
import dev.squish.weights.LowRankLinear;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** The factorization math on random problems: ranks, exactness at full rank, whitening, allocation. */
class LowRankTest {
    static final int ROWS = 48, COLS = 64, TOKENS = 800;

    static double[] hessian(long seed) {
        float[] x = TestData.correlatedInputs(new Random(seed), TOKENS, COLS, 12);
        return TestData.accumulate(x, TOKENS, COLS, 100).hessian();
    }

    static double frobenius(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) { double d = (double) a[i] - b[i]; s += d * d; }
        return s;
    }

    @Test
    void rankForKeepIsTheParameterShare() {
        assertEquals(102, LowRank.rankForKeep(0.8, 256, 256));   // floor(0.8 * 65536 / 512) = 102.4
        assertEquals(153, LowRank.rankForKeep(0.8, 768, 256));   // floor(0.8 * 196608 / 1024) = 153.6
        assertEquals(64, LowRank.rankForKeep(0.5, 256, 256));
        assertEquals(1, LowRank.rankForKeep(1e-6, 256, 256));
        for (double keep : new double[]{0.1, 0.5, 0.8, 1.0}) {
            int k = LowRank.rankForKeep(keep, ROWS, COLS);
            assertTrue((long) k * (ROWS + COLS) <= keep * ROWS * COLS + 1e-9);
            assertTrue((long) (k + 1) * (ROWS + COLS) > keep * ROWS * COLS);
        }
    }

    @Test
    void plainSvdIsExactAtFullRankAndBestInFrobenius() {
        float[] w = TestData.gaussian(new Random(1), ROWS * COLS, 0.05);
        var d = LowRank.svd(LowRank.matrix(w, ROWS, COLS));
        LowRankLinear full = LowRank.truncate(d, ROWS, null);
        assertEquals(ROWS, full.rank());
        assertTrue(frobenius(w, full.toDense()) < 1e-10 * frobenius(w, new float[w.length]));
        // Eckart-Young: the error of the rank-k truncation is the sum of the dropped squared singular values.
        int k = 20;
        double tail = 0;
        for (int j = k; j < d.fullRank(); j++) tail += d.s()[j] * d.s()[j];
        assertEquals(tail, frobenius(w, LowRank.truncate(d, k, null).toDense()), 1e-5 * tail);
        for (int j = 1; j < d.fullRank(); j++) assertTrue(d.s()[j] <= d.s()[j - 1]);
        assertArrayEquals(d.s(), LowRank.singularValues(LowRank.matrix(w, ROWS, COLS)), 1e-9);
    }

    @Test
    void whitenedTruncationMinimizesTheOutputError() {
        float[] w = TestData.gaussian(new Random(2), ROWS * COLS, 0.05);
        double[] h = hessian(3);
        LowRankLinear exact = Asvd.factorize(w, ROWS, COLS, h, ROWS);
        assertTrue(frobenius(w, exact.toDense()) < 1e-8 * frobenius(w, new float[w.length]), "full rank reproduces W");
        for (int k : new int[]{4, 12, 24}) {
            float[] plain = LowRank.truncate(LowRank.svd(LowRank.matrix(w, ROWS, COLS)), k, null).toDense();
            float[] white = Asvd.factorize(w, ROWS, COLS, h, k).toDense();
            double ePlain = TestData.outputError(w, plain, ROWS, COLS, h), eWhite = TestData.outputError(w, white, ROWS, COLS, h);
            assertTrue(eWhite < ePlain, "rank " + k + ": whitened output error " + eWhite + " vs plain " + ePlain);
            assertTrue(frobenius(w, plain) <= frobenius(w, white) * (1 + 1e-9), "plain SVD is best in weight space");
        }
    }

    @Test
    void whiteningSurvivesASingularSecondMoment() {
        float[] x = TestData.correlatedInputs(new Random(4), TOKENS, COLS, 12);
        for (int t = 0; t < TOKENS; t++) x[t * COLS + 5] = 0; // a dead input
        double[] h = TestData.accumulate(x, TOKENS, COLS, 100).hessian();
        float[] w = TestData.gaussian(new Random(5), ROWS * COLS, 0.05);
        float[] full = Asvd.factorize(w, ROWS, COLS, h, ROWS).toDense();
        assertTrue(frobenius(w, full) < 1e-8 * frobenius(w, new float[w.length]));
        for (float v : Asvd.factorize(w, ROWS, COLS, h, 8).toDense()) assertTrue(Float.isFinite(v));
    }

    @Test
    void spectrumAllocationSpendsOneBudgetWhereTheSpectrumIsFlat() {
        int n = 64;
        double[] flat = new double[n], steep = new double[n];
        for (int j = 0; j < n; j++) { flat[j] = 1.0 - 0.005 * j; steep[j] = Math.pow(0.8, j); }
        List<RankAllocation.Item> items = List.of(new RankAllocation.Item(n, n, steep), new RankAllocation.Item(n, n, flat));
        double keep = 0.5;
        int[] k = RankAllocation.allocate("spectrum", keep, items);
        int[] u = RankAllocation.allocate("uniform", keep, items);
        assertEquals(16, u[0]);
        assertEquals(16, u[1]);
        long spent = (long) (k[0] + k[1]) * 2 * n;
        assertTrue(spent <= keep * 2 * n * n, "within the budget");
        assertTrue(spent > keep * 2 * n * n - 2 * n, "the budget is spent up to one component");
        assertTrue(k[1] > k[0], "the flat spectrum gets the larger rank: " + k[0] + " vs " + k[1]);
        // The global threshold: nothing kept in one matrix is below anything dropped in the other.
        assertTrue(steep[k[0] - 1] >= flat[k[1]] && flat[k[1] - 1] >= steep[k[0]]);
        assertTrue(k[1] <= LowRank.breakEvenRank(n, n));
    }

    @Test
    void optionsAreChecked() {
        assertThrows(SquishException.class, () -> new Svd(0.5, 8, "uniform"));
        assertThrows(SquishException.class, () -> new Svd(1.5, null, "uniform"));
        assertThrows(SquishException.class, () -> new Svd(null, 0, "uniform"));
        assertThrows(SquishException.class, () -> new Asvd(0.5, null, "greedy"));
        assertThrows(SquishException.class, () -> new Asvd(null, 8, "spectrum"));
        assertThrows(SquishException.class, () -> new SliceGpt(1.0));
        assertEquals(224, SliceGpt.keptWidth(256, 0.1));   // int(230.4) = 230 -> multiple of 8
        assertEquals(192, SliceGpt.keptWidth(256, 0.25));
        assertEquals(176, SliceGpt.keptWidth(256, 0.3));
        assertEquals(256, SliceGpt.keptWidth(256, 0));
    }
}
