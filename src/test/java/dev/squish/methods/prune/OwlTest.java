package dev.squish.methods.prune;

import dev.squish.model.Block;
import dev.squish.weights.DenseLinear;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class OwlTest {
    @Test void outlierRatioCountsScoresAboveMTimesTheMean() {
        // one 2x4 linear, unit input norms: scores = |W|; mean = (1*6 + 13 + 1) / 8 = 2.5; 5 x mean = 12.5
        Block b = new Block(0);
        b.linears.put("a", new DenseLinear(2, 4, new float[]{1, -1, 1, 1, 1, -13, 1, 1}));
        Moments mm = new Moments(4);
        mm.add(new float[]{1, 1, 1, 1}, 1);
        assertEquals(1.0 / 8, Owl.outlierRatio(b, List.of("a"), Map.of("a", mm), 5));
        assertEquals(0.0, Owl.outlierRatio(b, List.of("a"), Map.of("a", mm), 6));
    }

    @Test void layerSparsitiesFollowTheReferenceAndAverageToTheTarget() {
        double[] d = {0.01, 0.03, 0.02, 0.05};
        long[] p = {100, 100, 100, 100};
        double[] s = Owl.layerSparsities(d, p, 0.6, 0.08);
        // reference: r = (D - min)/(max - min) * 2 lambda = {0, 0.08, 0.04, 0.16}; mean 0.07; s_l = 0.6 - (r - 0.07)
        assertArrayEquals(new double[]{0.67, 0.59, 0.63, 0.51}, s, 1e-12);
        // more outliers, less pruning
        assertTrue(s[3] < s[1] && s[1] < s[2] && s[2] < s[0]);
        // equal ratios: uniform
        assertArrayEquals(new double[]{0.5, 0.5}, Owl.layerSparsities(new double[]{0.02, 0.02}, new long[]{1, 3}, 0.5, 0.08), 0);
    }

    @Test void parameterWeightedMeanIsExactlyTheTarget() {
        Random r = new Random(3);
        for (int trial = 0; trial < 200; trial++) {
            int layers = 1 + r.nextInt(12);
            double[] d = new double[layers];
            long[] p = new long[layers];
            long[][] sizes = new long[layers][];
            long total = 0;
            for (int l = 0; l < layers; l++) {
                d[l] = r.nextDouble() * 0.1;
                sizes[l] = new long[1 + r.nextInt(7)];
                for (int k = 0; k < sizes[l].length; k++) { sizes[l][k] = 1 + r.nextInt(5000); p[l] += sizes[l][k]; }
                total += p[l];
            }
            double s = r.nextDouble() * 0.9, lambda = r.nextDouble() * 0.1;
            double[] ls = Owl.layerSparsities(d, p, s, lambda);
            double wmean = 0;
            for (int l = 0; l < layers; l++) wmean += ls[l] * p[l];
            assertEquals(s, wmean / total, 1e-12);
            long[][] c = Owl.counts(ls, sizes, s);
            long pruned = 0;
            for (int l = 0; l < layers; l++) {
                long inLayer = 0;
                for (int k = 0; k < c[l].length; k++) {
                    assertTrue(c[l][k] >= 0 && c[l][k] <= sizes[l][k]);
                    inLayer += c[l][k];
                }
                // each block within one weight of its own share (when no share had to be clipped to [0, 1])
                if (java.util.Arrays.stream(ls).allMatch(v -> v >= 0 && v <= 1))
                    assertTrue(Math.abs(inLayer - ls[l] * p[l]) < 1 + 1e-9, "layer " + l + ": " + inLayer + " vs " + ls[l] * p[l]);
                pruned += inLayer;
            }
            assertEquals(Math.round(s * total), pruned, "the pruned total is exactly round(s * N)");
        }
    }

    /**
     * The reference's N:M rule (luuyin/OWL prune_wanda_outlier_structure), written out as there:
     * r = (D - min) / (max - min) * Lamda; r -= mean(r); r = np.round(r); prune_n_l = prune_n - r,
     * where prune_n counts pruned weights (M - N) and Lamda = 2 lambda M. Equal blocks.
     */
    static int[] referenceKeptN(double[] d, int n, int m, double lambda) {
        double min = java.util.Arrays.stream(d).min().orElseThrow(), max = java.util.Arrays.stream(d).max().orElseThrow();
        double[] r = new double[d.length];
        for (int i = 0; i < d.length; i++) r[i] = (d[i] - min) * (1 / (max - min) * (2 * lambda * m));
        double mean = java.util.Arrays.stream(r).average().orElseThrow();
        int[] kept = new int[d.length];
        for (int i = 0; i < d.length; i++) {
            double rounded = Math.rint(r[i] - mean);       // np.round: half to even
            int pruneN = (int) ((m - n) - rounded);         // all_layer_ratio = prune_n - all_layer_ratio
            kept[i] = m - pruneN;
        }
        return kept;
    }

    @Test void perLayerNFollowsTheReferenceRule() {
        // ratios of kjv-llama-tiny (docs/pruning.md), 4:8, lambda 0.125 (the reference README's Lamda 2 at M = 8):
        // r = (D - 0.266) / 0.174 * 2 = {0.506, 1.885, 2, 0.586, 0.253, 0}, mean 0.872 -> rounded {0, 1, 1, 0, -1, -1}
        double[] d = {0.310, 0.430, 0.440, 0.317, 0.288, 0.266};
        long[] p = {6, 6, 6, 6, 6, 6};
        assertArrayEquals(new int[]{4, 5, 5, 4, 3, 3}, Owl.layerN(d, p, 4, 8, 0.125));
        assertEquals(0.5, Owl.meanDensity(Owl.layerN(d, p, 4, 8, 0.125), p, 8), 1e-15);
        // the paper's lambda 0.08 at 2:4 spreads r over 0.64 of a weight: every block rounds to N = 2
        assertArrayEquals(new int[]{2, 2, 2, 2, 2, 2}, Owl.layerN(d, p, 2, 4, 0.08));
        // equal ratios: uniform
        assertArrayEquals(new int[]{3, 3}, Owl.layerN(new double[]{0.1, 0.1}, new long[]{1, 5}, 3, 8, 0.2));

        Random rnd = new Random(11);
        int differentMean = 0;
        for (int trial = 0; trial < 500; trial++) {
            int layers = 2 + rnd.nextInt(30), m = new int[]{4, 8, 16}[rnd.nextInt(3)], n = 1 + rnd.nextInt(m - 1);
            double lambda = rnd.nextDouble() * 0.3;
            double[] dd = new double[layers];
            for (int l = 0; l < layers; l++) dd[l] = rnd.nextDouble() * 0.05;
            long[] eq = new long[layers];
            java.util.Arrays.fill(eq, 1000);
            int[] got = Owl.layerN(dd, eq, n, m, lambda), want = referenceKeptN(dd, n, m, lambda);
            assertArrayEquals(want, got, "trial " + trial);
            double refMean = java.util.Arrays.stream(want).average().orElseThrow() / m;
            assertEquals(refMean, Owl.meanDensity(got, eq, m), 1e-12);
            if (Math.abs(refMean - (double) n / m) > 1e-12) differentMean++;
            // more outliers never keep fewer weights
            for (int a = 0; a < layers; a++) for (int b = 0; b < layers; b++) if (dd[a] > dd[b]) assertTrue(got[a] >= got[b]);
        }
        // the reference does not correct its rounding, and neither does the port: some means differ from n/M
        assertTrue(differentMean > 0);
    }
}
