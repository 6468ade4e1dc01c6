package dev.squish.methods;

import dev.squish.Fixtures;
import dev.squish.model.Architecture;
import dev.squish.model.Block;
import dev.squish.calibration.BlockContext;
import dev.squish.model.LinearObserver;
import dev.squish.model.Model;
import dev.squish.calibration.HessianAccumulator;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class AwqTest {
    @Test
    void scalesAreNormalizedAndRatioZeroIsPlainRounding() {
        double[] x = {0.01, 0.5, 2, 7, 0};
        for (float s : AwqSearch.scales(x, 0)) assertEquals(1f, s);
        float[] s = AwqSearch.scales(x, 0.5);
        float mx = 0, mn = Float.MAX_VALUE;
        for (float v : s) { mx = Math.max(mx, v); mn = Math.min(mn, v); }
        assertEquals(1.0, Math.sqrt((double) mx * mn), 1e-5);
        assertTrue(s[3] > s[2] && s[2] > s[1] && s[1] > s[0], "larger activations get larger scales");
        assertEquals(mn, s[4], "dead channel clamped to the smallest scale");
    }

    /** Inputs where a few channels are much larger than the rest: AWQ's premise. */
    static float[] salientInputs(Random rnd, int tokens, int cols) {
        float[] x = TestData.correlatedInputs(rnd, tokens, cols, 20);
        for (int t = 0; t < tokens; t++) for (int j = 0; j < cols; j += 37) x[t * cols + j] *= 30;
        return x;
    }

    @Test
    void scaleSearchLowersTheOutputErrorOnSalientChannels() {
        Random rnd = new Random(60);
        int rows = 48, cols = 256, tokens = 2000;
        float[] x = salientInputs(rnd, tokens, cols);
        HessianAccumulator acc = TestData.accumulate(x, tokens, cols, 128);
        double[] h = acc.hessian();
        double[] mean = new double[cols];
        for (int t = 0; t < tokens; t++) for (int j = 0; j < cols; j++) mean[j] += Math.abs(x[t * cols + j]) / tokens;
        float[] w = TestData.gaussian(rnd, rows * cols, 0.05);
        AwqSearch.Result r = AwqSearch.search(mean, s -> AwqSearch.linearsLoss(List.of(w), List.of(rows), cols, h, s, 4, 128, false));
        assertTrue(r.ratio() > 0, "a non-trivial scaling wins: " + r.ratio());
        double plain = r.losses()[0], best = r.losses()[(int) Math.round(r.ratio() * AwqSearch.N_GRID)];
        for (double l : r.losses()) assertTrue(l >= best);
        assertTrue(best < 0.8 * plain, "awq " + best + " vs rtn " + plain);
        // the loss is the actual output error of the scaled-quantized weight
        float[] q = AwqSearch.scaledFake(w, rows, cols, r.scales(), 4, 128, false);
        assertEquals(TestData.outputError(w, q, rows, cols, h), best, 1e-6 * best);
    }

    @Test
    void clippingNeverLosesToPlainRoundingPerGroup() {
        Random rnd = new Random(61);
        int rows = 40, cols = 256, tokens = 1500;
        float[] x = TestData.correlatedInputs(rnd, tokens, cols, 20);
        double[] h = TestData.accumulate(x, tokens, cols, 128).hessian();
        float[] w = TestData.gaussian(rnd, rows * cols, 0.05);
        for (int i = 0; i < w.length; i += 53) w[i] *= 6;
        for (boolean sym : new boolean[]{false, true}) {
            float[] c = AwqSearch.clip(w, rows, cols, h, 4, 128, sym);
            int clipped = 0;
            for (int i = 0; i < w.length; i++) {
                assertTrue(Math.abs(c[i]) <= Math.abs(w[i]));
                if (c[i] != w[i]) clipped++;
            }
            assertTrue(clipped > 0);
            double eClip = TestData.outputError(w, Rtn.quantize(c, rows, cols, 4, 128, sym).weights(), rows, cols, h);
            double ePlain = TestData.outputError(w, Rtn.quantize(w, rows, cols, 4, 128, sym).weights(), rows, cols, h);
            assertTrue(eClip < ePlain, "clip " + eClip + " vs plain " + ePlain);
        }
    }

    /** Folding random scales into every group leaves each block's function unchanged. */
    @Test
    void foldingKeepsTheBlockFunction() {
        for (Path dir : new Path[]{Fixtures.LLAMA, Fixtures.GPT2})
            try (Model m = Model.load(dir)) {
                Random rnd = new Random(62);
                int[] tokens = new int[40];
                for (int i = 0; i < tokens.length; i++) tokens[i] = rnd.nextInt(m.vocab());
                Block b = m.blocks.get(1);
                float[] x = m.embed(tokens, 0);
                float[] before = m.arch.forwardBlock(b, x.clone(), tokens.length, 0, m.newCache(64), LinearObserver.NONE);
                List<Architecture.ScalingGroup> groups = m.arch.scalingGroups(b);
                assertEquals(dir == Fixtures.LLAMA ? 3 : 3, groups.size(), "Llama GQA: v->o skipped; GPT-2: c_attn.v->c_proj used");
                BlockContext ctx = new BlockContext(m, b, null, 0, null, new java.util.ArrayList<>());
                for (Architecture.ScalingGroup g : groups) {
                    int n = b.linear(g.linears().get(0)).cols();
                    float[] s = new float[n];
                    for (int j = 0; j < n; j++) s[j] = (float) Math.exp(rnd.nextGaussian());
                    Awq.fold(ctx, g, s);
                }
                float[] after = m.arch.forwardBlock(b, x.clone(), tokens.length, 0, m.newCache(64), LinearObserver.NONE);
                double num = 0, den = 0;
                for (int i = 0; i < before.length; i++) { num += Math.pow(before[i] - after[i], 2); den += before[i] * before[i]; }
                assertTrue(Math.sqrt(num / den) < 1e-5, dir + ": relative change " + Math.sqrt(num / den));
            }
    }
}
