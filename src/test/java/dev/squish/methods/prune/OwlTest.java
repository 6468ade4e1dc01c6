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
}
