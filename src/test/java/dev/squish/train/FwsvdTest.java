package dev.squish.train;

import dev.squish.calibration.ModelContext;
import dev.squish.methods.BlockPipeline;
import dev.squish.methods.LowRank;
import dev.squish.methods.Methods;
import dev.squish.model.Block;
import dev.squish.model.Model;
import dev.squish.util.Svds;
import dev.squish.weights.LowRankLinear;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

class FwsvdTest {
    static float[] random(long seed, int n) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] w = new float[n];
        for (int i = 0; i < n; i++) w[i] = (float) r.nextGaussian();
        return w;
    }

    /** ||(W - A B) diag(s)||_F in double. */
    static double weightedError(float[] w, float[] approx, int rows, int cols, double[] s) {
        double e = 0;
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                double d = ((double) w[r * cols + c] - approx[r * cols + c]) * s[c];
                e += d * d;
            }
        return Math.sqrt(e);
    }

    @Test void equalImportanceIsPlainTruncatedSvd() {
        int rows = 13, cols = 21, k = 5;
        float[] w = random(1, rows * cols);
        double[] ones = new double[cols];
        java.util.Arrays.fill(ones, 1.0);
        float[] f = Fwsvd.factorize(w, rows, cols, ones, k).toDense();
        float[] p = LowRank.truncate(LowRank.svd(LowRank.matrix(w, rows, cols)), k, null).toDense();
        for (int i = 0; i < f.length; i++) assertEquals(p[i], f[i], 1e-4, "entry " + i);
    }

    /**
     * Eckart-Young in the weighted norm: the weighted error is exactly the tail of W diag(s)'s
     * singular values, and no other rank-k matrix (plain SVD's) does better in that norm.
     */
    @Test void weightedErrorIsTheWeightedSpectrumTail() {
        int rows = 17, cols = 12, k = 4;
        float[] w = random(2, rows * cols);
        double[] imp = new double[cols];
        SplittableRandom r = new SplittableRandom(3);
        for (int j = 0; j < cols; j++) imp[j] = Math.pow(r.nextDouble(), 3);
        imp[5] = 1;
        double[] s = Fwsvd.scales(imp);
        LowRankLinear f = Fwsvd.factorize(w, rows, cols, imp, k);
        assertEquals(k, f.rank());
        double got = weightedError(w, f.toDense(), rows, cols, s);
        var ws = LowRank.matrix(w, rows, cols);
        for (int i = 0; i < rows; i++) for (int j = 0; j < cols; j++) ws.set(i, j, ws.get(i, j) * s[j]);
        double[] sv = Svds.singularValues(ws);
        double tail = 0;
        for (int i = k; i < sv.length; i++) tail += sv[i] * sv[i];
        assertEquals(Math.sqrt(tail), got, 1e-4 * Math.sqrt(tail));
        float[] plain = LowRank.truncate(LowRank.svd(LowRank.matrix(w, rows, cols)), k, null).toDense();
        assertTrue(got < weightedError(w, plain, rows, cols, s) - 1e-6, "plain SVD should be worse in the Fisher-weighted norm");
    }

    /**
     * The importance is the column sum of squared per-window gradients: checked against central
     * finite differences of the loss in double (independent of the backward pass), as the ratio of
     * two columns (the importance is max-normalized).
     */
    @Test void importanceIsColumnSumOfSquaredGradients() {
        Model m = TinyModels.llama(5, false);
        int[][] windows = TinyModels.batch(6, 2, 9, m.vocab());
        Map<String, double[]> imp = Fwsvd.fisher(new ModelContext(m, null, windows, new ArrayList<>()), windows);
        double[] got = imp.get("1/mlp.down_proj");
        assertNotNull(got);
        TrainModel tm = new TrainModel(m, 0, 0, 0);
        DenseTrain d = (DenseTrain) tm.linears.get(1).get("mlp.down_proj");
        int c1 = 3, c2 = 17;
        double[] fd = new double[2];
        double h = 1e-5;
        for (int t = 0; t < 2; t++) {
            int c = t == 0 ? c1 : c2;
            for (int[] win : windows) {
                for (int row = 0; row < d.rows; row++) {
                    int i = row * d.cols + c;
                    double keep = d.w.w[i];
                    d.w.w[i] = keep + h;
                    double up = tm.loss(new int[][]{win}, false);
                    d.w.w[i] = keep - h;
                    double dn = tm.loss(new int[][]{win}, false);
                    d.w.w[i] = keep;
                    double g = (up - dn) / (2 * h);
                    fd[t] += g * g;
                }
            }
        }
        assertEquals(fd[0] / fd[1], got[c1] / got[c2], 1e-5 * fd[0] / fd[1]);
        double max = 0;
        for (double v : got) max = Math.max(max, v);
        assertEquals(1.0, max, 0);
    }

    @Test void pipelineFactorizesEverySelectedLinear() {
        Model m = TinyModels.llama(7, false);
        int[][] windows = TinyModels.batch(8, 3, 10, m.vocab());
        var stage = new BlockPipeline.Stage(Methods.create("fwsvd", Map.of("rank", 3)), java.util.regex.Pattern.compile("mlp\\."));
        var reports = new BlockPipeline(m, List.of(stage)).run(windows);
        for (Block b : m.blocks) {
            for (var e : b.linears.entrySet()) {
                boolean mlp = e.getKey().startsWith("mlp.");
                assertEquals(mlp, e.getValue() instanceof LowRankLinear, e.getKey());
                if (mlp) assertEquals(3, ((LowRankLinear) e.getValue()).rank());
            }
        }
        assertEquals(2 * 3, reports.size());
        for (var r : reports) assertTrue(r.relativeError() > 0 && r.relativeError() < 1, r.toString());
    }
}
