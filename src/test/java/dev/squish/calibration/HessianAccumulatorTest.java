package dev.squish.calibration;

import org.junit.jupiter.api.Test;

import java.util.*;

import static org.junit.jupiter.api.Assertions.*;

class HessianAccumulatorTest {

    /** The reference's running average, literally, in float64. */
    private static double[] referenceRunningAverage(float[] x, int cols, int[] batches) {
        double[] h = new double[cols * cols];
        long nsamples = 0;
        int t0 = 0;
        for (int n : batches) {
            double f = (double) nsamples / (nsamples + n);
            for (int i = 0; i < h.length; i++) h[i] *= f;
            nsamples += n;
            double s = Math.sqrt(2.0 / nsamples);
            for (int t = t0; t < t0 + n; t++)
                for (int i = 0; i < cols; i++)
                    for (int j = 0; j < cols; j++) h[i * cols + j] += (s * x[t * cols + i]) * (s * x[t * cols + j]);
            t0 += n;
        }
        return h;
    }

    @Test
    void matchesReferenceRunningAverageAcrossBufferBoundaries() {
        Random rnd = new Random(1);
        for (int cols : new int[]{1, 5, 13, 40}) {
            int[] batches = {3, 300, 700, 1, 511, 129};
            int tokens = 0;
            for (int b : batches) tokens += b;
            float[] x = new float[tokens * cols];
            for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
            HessianAccumulator acc = new HessianAccumulator(cols);
            int off = 0;
            for (int b : batches) { acc.add(x, off * cols, b); off += b; }
            double[] h = acc.hessian();
            double[] ref = referenceRunningAverage(x, cols, batches);
            for (int i = 0; i < h.length; i++) assertEquals(ref[i], h[i], 1e-12 * (1 + Math.abs(ref[i])), "cols " + cols + " entry " + i);
            double[] norms = acc.columnNormsSquared();
            for (int j = 0; j < cols; j++) {
                double s = 0;
                for (int t = 0; t < tokens; t++) s += (double) x[t * cols + j] * x[t * cols + j];
                assertEquals(s, norms[j], 1e-12 * s);
            }
            assertEquals(tokens, acc.tokens());
            // symmetric
            for (int i = 0; i < cols; i++) for (int j = 0; j < cols; j++) assertEquals(h[i * cols + j], h[j * cols + i]);
        }
    }

    @Test
    void readingDoesNotDisturbFurtherAccumulation() {
        Random rnd = new Random(2);
        int cols = 9;
        float[] x = new float[20 * cols];
        for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
        HessianAccumulator a = new HessianAccumulator(cols), b = new HessianAccumulator(cols);
        a.add(x, 0, 7); a.hessian(); a.add(x, 7 * cols, 13);
        b.add(x, 20);
        assertArrayEquals(b.hessian(), a.hessian(), 1e-12);
    }

    @Test
    void emptyAccumulatorIsZeroAndInputIsChecked() {
        HessianAccumulator a = new HessianAccumulator(3);
        assertArrayEquals(new double[9], a.hessian());
        assertEquals(0, a.tokens());
        assertThrows(IllegalArgumentException.class, () -> a.add(new float[5], 2));
    }

    @Test
    void partitionsMergedEqualOnePass() {
        Random rnd = new Random(3);
        int cols = 37, tokens = 1300;
        float[] x = new float[tokens * cols];
        for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
        HessianAccumulator one = new HessianAccumulator(cols), p1 = new HessianAccumulator(cols), p2 = new HessianAccumulator(cols);
        one.add(x, tokens);
        int split = 555;
        p1.add(x, 0, split);
        p2.add(x, split * cols, tokens - split);
        p1.merge(p2);
        assertEquals(tokens, p1.tokens());
        double[] a = one.hessian(), b = p1.hessian();
        // the same sums in another order: equal to float64 rounding (entries are O(1), sums of 1300 terms)
        for (int i = 0; i < a.length; i++) assertEquals(a[i], b[i], 1e-13 * (1 + Math.abs(a[i])), "entry " + i);
        assertThrows(IllegalArgumentException.class, () -> p1.merge(new HessianAccumulator(cols + 1)));
    }

    /**
     * Sample by sample (one add call each, as the pipeline adds them), partial accumulators over
     * any split of the samples, merged in any order, give the one-pass Hessian and column norms bit
     * for bit: what makes compress --spark give the single-machine weights.
     */
    @Test
    void samplePartitionsMergeBitForBitInAnyOrder() {
        Random rnd = new Random(5);
        int cols = 41, L = 70, samples = 9;
        float[][] x = new float[samples][L * cols];
        for (float[] s : x) for (int i = 0; i < s.length; i++) s[i] = (float) (rnd.nextGaussian() * Math.exp(3 * rnd.nextGaussian()));
        HessianAccumulator one = new HessianAccumulator(cols);
        for (float[] s : x) one.add(s, L);
        int[][] splits = {{0, 4, 9}, {0, 1, 2, 9}, {0, 3, 6, 9}, {0, 8, 9}};
        for (int[] sp : splits) {
            List<HessianAccumulator> parts = new ArrayList<>();
            for (int p = 0; p + 1 < sp.length; p++) {
                HessianAccumulator a = new HessianAccumulator(cols);
                for (int i = sp[p]; i < sp[p + 1]; i++) a.add(x[i], L);
                // through the sums a worker sends
                double[][] packed = a.packedSums();
                parts.add(HessianAccumulator.ofPackedSums(cols, packed[0], packed[1], a.tokens()));
            }
            for (boolean reversed : new boolean[]{false, true}) {
                List<HessianAccumulator> order = new ArrayList<>(parts);
                if (reversed) Collections.reverse(order);
                HessianAccumulator m = new HessianAccumulator(cols);
                for (HessianAccumulator a : order) m.merge(a);
                assertEquals(one.tokens(), m.tokens());
                assertArrayEquals(one.hessian(), m.hessian(), Arrays.toString(sp) + (reversed ? " reversed" : ""));
                assertArrayEquals(one.columnNormsSquared(), m.columnNormsSquared());
            }
        }
    }
}
