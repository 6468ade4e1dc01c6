package dev.squish.methods;

import dev.squish.weights.QuantResult;

import dev.squish.methods.obs.ObsEngine;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static dev.squish.methods.QuantizationTest.*;
import static org.junit.jupiter.api.Assertions.*;

/** GPTQ/RTN under pruned-zero and outlier constraints (prune-then-quantize, dense-and-sparse). */
class QuantizerConstraintsTest {
    static Quantizer.Constraints prunedOnly(boolean[] p) { return new Quantizer.Constraints(p, null, null); }

    @Test
    void gptqKeepsPrunedZerosAndCompensatesForThem() {
        float[] w = weights(50);
        double[] h = hessian(51);
        double[] hh = h.clone();
        float[] pruned = SparseGpt.prune(w, ROWS, COLS, h, 0.5, 2, 4);
        boolean[] mask = Quantizer.zeros(pruned);
        assertNotNull(mask);
        for (boolean act : new boolean[]{false, true}) {
            QuantResult free = Gptq.quantize(pruned, ROWS, COLS, h, 4, 64, true, act);
            QuantResult kept = Gptq.quantize(pruned, ROWS, COLS, h, 4, 64, true, act, false,
                    ObsEngine.DEFAULT_BLOCK_SIZE, ObsEngine.DEFAULT_PERCDAMP, "t", prunedOnly(mask));
            assertConsistent(kept);
            int regrown = 0;
            for (int i = 0; i < w.length; i++) {
                if (mask[i]) assertEquals(0f, kept.weights()[i], "pruned entry " + i);
                if (mask[i] && free.weights()[i] != 0) regrown++;
            }
            assertTrue(regrown > 100, "without the constraint GPTQ's updates move pruned weights: " + regrown);
            double eKept = TestData.outputError(pruned, kept.weights(), ROWS, COLS, h);
            QuantResult rtn = Rtn.quantize(pruned, ROWS, COLS, 4, 64, true);
            double eRtn = TestData.outputError(pruned, rtn.weights(), ROWS, COLS, h);
            assertTrue(eKept < 0.8 * eRtn, "masked gptq " + eKept + " vs rtn " + eRtn);
        }
        assertArrayEquals(hh, h, "Hessian not modified");
    }

    @Test
    void outliersAreTakenOutKeptExactlyAndLowerTheError() {
        Random rnd = new Random(52);
        float[] w = weights(53);
        for (int i = 0; i < 60; i++) w[rnd.nextInt(w.length)] *= 20; // heavy tails widen the ranges
        double[] h = hessian(54);
        int k = (int) Math.round(0.005 * w.length);
        boolean[] out = Quantizer.largest(w, k);
        int n = 0;
        float minOut = Float.MAX_VALUE, maxIn = 0;
        for (int i = 0; i < w.length; i++) {
            if (out[i]) { n++; minOut = Math.min(minOut, Math.abs(w[i])); } else maxIn = Math.max(maxIn, Math.abs(w[i]));
        }
        assertEquals(k, n);
        assertTrue(minOut >= maxIn, "the largest magnitudes are taken");
        float[] rest = w.clone(), values = new float[w.length];
        for (int i = 0; i < w.length; i++) if (out[i]) { values[i] = w[i]; rest[i] = 0; }
        QuantResult g = Gptq.quantize(rest, ROWS, COLS, h, 4, 64, true, false, false,
                ObsEngine.DEFAULT_BLOCK_SIZE, ObsEngine.DEFAULT_PERCDAMP, "t", new Quantizer.Constraints(null, out, values));
        assertConsistent(g);
        float[] total = g.weights().clone();
        for (int i = 0; i < w.length; i++) {
            if (out[i]) assertEquals(0f, g.weights()[i], "the quantized part is 0 at an outlier");
            else assertEquals(0f, values[i]);
            total[i] += values[i];
        }
        double eOut = TestData.outputError(w, total, ROWS, COLS, h);
        double ePlain = TestData.outputError(w, Gptq.quantize(w, ROWS, COLS, h, 4, 64, true, false).weights(), ROWS, COLS, h);
        assertTrue(eOut < 0.7 * ePlain, "gptq+outliers " + eOut + " vs gptq " + ePlain);
        // RTN: the outliers are the original values (no updates), the rest rounds normally
        QuantResult r = Rtn.quantize(rest, ROWS, COLS, 4, 64, true);
        float[] rt = r.weights().clone();
        for (int i = 0; i < w.length; i++) rt[i] += out[i] ? w[i] : 0;
        double eRtnOut = TestData.outputError(w, rt, ROWS, COLS, h);
        double eRtn = TestData.outputError(w, Rtn.quantize(w, ROWS, COLS, 4, 64, true).weights(), ROWS, COLS, h);
        assertTrue(eRtnOut < 0.7 * eRtn, "rtn+outliers " + eRtnOut + " vs rtn " + eRtn);
    }

    @Test
    void largestBreaksTiesByPosition() {
        boolean[] m = Quantizer.largest(new float[]{1, -3, 3, 2, 3}, 2);
        assertArrayEquals(new boolean[]{false, true, true, false, false}, m);
        assertNull(Quantizer.zeros(new float[]{1, 2}));
    }
}
