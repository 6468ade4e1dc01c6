package dev.squish.methods;

import dev.squish.util.Lanes;
import dev.squish.util.Blas;
import dev.squish.util.Parallel;
import dev.squish.weights.QuantGrid;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.util.List;
import java.util.function.ToDoubleFunction;

/**
 * The two searches of AWQ (mit-han-lab/llm-awq {@code awq/quantize/auto_scale.py} and
 * {@code auto_clip.py}), on the {@link QuantGrid} quantizer. Losses on single linears are computed
 * exactly from the layer Hessian H (proportional to X^T X over all calibration tokens):
 * {@code ||X (W - W')^T||^2 / N = tr((W - W') H (W - W')^T) / 2}, so no activations are kept.
 */
final class AwqSearch {
    private AwqSearch() {}

    /** Grid points of the scale search (ratio = i / N_GRID, i < N_GRID), as the reference. */
    static final int N_GRID = 20;
    /** Clip search: max |w| shrunk by i / N_GRID for i < MAX_SHRINK * N_GRID, as the reference. */
    static final double MAX_SHRINK = 0.5;

    private static final VectorSpecies<Double> D = DoubleVector.SPECIES_PREFERRED;

    /**
     * The reference's scales for one grid point: {@code s = max(xMean^ratio, 1e-4)},
     * {@code s /= sqrt(max(s) * min(s))}.
     */
    static float[] scales(double[] xMean, double ratio) {
        double[] s = new double[xMean.length];
        double mx = Double.NEGATIVE_INFINITY, mn = Double.POSITIVE_INFINITY;
        for (int j = 0; j < s.length; j++) {
            s[j] = Math.max(Math.pow(xMean[j], ratio), 1e-4);
            mx = Math.max(mx, s[j]); mn = Math.min(mn, s[j]);
        }
        double norm = Math.sqrt(mx * mn);
        float[] out = new float[s.length];
        for (int j = 0; j < s.length; j++) out[j] = (float) (s[j] / norm);
        return out;
    }

    /** Quantize-dequantize of a rows x cols matrix on some grid (Squish's, or llama.cpp's blocks). */
    interface Fake {
        float[] apply(float[] w, int rows, int cols);

        /** The quantizer for weights whose input columns were multiplied by s (an importance-weighted one rescales its weights). */
        default Fake scaled(float[] s) { return this; }
    }

    /** Squish's grid: round to nearest with {@link dev.squish.weights.QuantGrid}. */
    static Fake grid(int bits, int groupSize, boolean sym) { return (w, rows, cols) -> Rtn.quantize(w, rows, cols, bits, groupSize, sym).weights(); }

    /** llama.cpp's grid: ggml's reference quantizer of {@code type}, decoded back. */
    static Fake ggml(dev.squish.formats.GgmlType type) {
        return (w, rows, cols) -> dev.squish.formats.GgufQuant.decode(type, java.lang.foreign.MemorySegment.ofArray(dev.squish.formats.GgufQuant.encode(type, w, cols)), w.length);
    }

    /**
     * llama.cpp's grid with an importance matrix: ggml's weighted quantizer of {@code type} with
     * {@code importance} (the unscaled inputs' mean x_j^2; for inputs scaled by 1/s_j it becomes
     * importance_j / s_j^2), decoded back.
     */
    static Fake ggml(dev.squish.formats.GgmlType type, float[] importance) {
        return new Fake() {
            @Override public float[] apply(float[] w, int rows, int cols) { return decodeWeighted(type, w, cols, importance); }

            @Override public Fake scaled(float[] s) {
                float[] imp = new float[importance.length];
                for (int j = 0; j < imp.length; j++) imp[j] = importance[j] / (s[j] * s[j]);
                return (w, rows, cols) -> decodeWeighted(type, w, cols, imp);
            }
        };
    }

    private static float[] decodeWeighted(dev.squish.formats.GgmlType type, float[] w, int cols, float[] imp) {
        return dev.squish.formats.GgufQuant.decode(type, java.lang.foreign.MemorySegment.ofArray(dev.squish.formats.GgufWeightedQuant.encode(type, w, cols, imp)), w.length);
    }

    /** {@code Q(W diag(s)) diag(1/s)}: the weight the scaled, quantized layer computes with on the original input. */
    static float[] scaledFake(float[] w, int rows, int cols, float[] s, int bits, int groupSize, boolean sym) {
        return scaledFake(w, rows, cols, s, grid(bits, groupSize, sym));
    }

    static float[] scaledFake(float[] w, int rows, int cols, float[] s, Fake fake) {
        float[] ws = new float[w.length];
        for (int r = 0; r < rows; r++) for (int j = 0; j < cols; j++) ws[r * cols + j] = w[r * cols + j] * s[j];
        float[] q = fake.scaled(s).apply(ws, rows, cols);
        for (int r = 0; r < rows; r++) for (int j = 0; j < cols; j++) q[r * cols + j] /= s[j];
        return q;
    }

    /** The result of a scale search: the best ratio, its scales and the loss at every grid point. */
    record Result(double ratio, float[] scales, double[] losses) {}

    /** Tries every ratio, keeping the first with the smallest loss (ratio 0 = plain RTN). */
    static Result search(double[] xMean, ToDoubleFunction<float[]> loss) {
        double best = Double.POSITIVE_INFINITY, bestRatio = 0;
        float[] bestS = null;
        double[] hist = new double[N_GRID];
        for (int i = 0; i < N_GRID; i++) {
            double ratio = (double) i / N_GRID;
            float[] s = scales(xMean, ratio);
            double l = loss.applyAsDouble(s);
            hist[i] = l;
            if (l < best) { best = l; bestRatio = ratio; bestS = s; }
        }
        if (bestS == null) bestS = scales(xMean, 0);  // all losses NaN: no scaling
        return new Result(bestRatio, bestS, hist);
    }

    /** Loss of a group of linears that share one input: the summed output MSE of each, from the shared H. */
    static double linearsLoss(List<float[]> ws, List<Integer> rows, int cols, double[] h, float[] s, int bits, int groupSize, boolean sym) {
        return linearsLoss(ws, rows, cols, h, s, grid(bits, groupSize, sym));
    }

    static double linearsLoss(List<float[]> ws, List<Integer> rows, int cols, double[] h, float[] s, Fake fake) {
        double total = 0;
        for (int k = 0; k < ws.size(); k++) {
            float[] w = ws.get(k);
            int n = rows.get(k);
            float[] q = scaledFake(w, n, cols, s, fake);
            for (int i = 0; i < q.length; i++) q[i] = w[i] - q[i];
            total += quadRows(h, cols, q, n);
        }
        return total;
    }

    /**
     * sum over rows r of d_r^T H d_r (H cols x cols row-major), over H's upper triangle with float32
     * products and float64 sums beyond 256 products ({@link Blas#quadFormsFloat}: 0.11-0.13 CPU s
     * against 0.27-0.31 for the float64 triangle at n = 2048 x 512 rows). The reference computes this loss as the
     * float32 MSE of the block's outputs; on the fixture the float64 and float32 forms picked the
     * same ratios (outputs byte-identical with 32 and 128 windows of 256 tokens).
     */
    static double quadRows(double[] h, int cols, float[] d, int rows) {
        return Blas.quadFormsFloat(h, cols, rows, (r, dst, off) -> {
            for (int j = 0; j < cols; j++) dst[off + j] = d[r * cols + j];
        });
    }

    /** v^T H[c0..c0+n, c0..c0+n] v. */
    static double quad(double[] h, int cols, int c0, double[] v, int n) {
        double s = 0;
        int bound = D.loopBound(n);
        for (int i = 0; i < n; i++) {
            if (v[i] == 0) continue;
            int o = (c0 + i) * cols + c0;
            DoubleVector acc = DoubleVector.zero(D);
            int j = 0;
            for (; j < bound; j += D.length()) acc = DoubleVector.fromArray(D, h, o + j).fma(DoubleVector.fromArray(D, v, j), acc);
            double row = Lanes.sum(acc);
            for (; j < n; j++) row += h[o + j] * v[j];
            s += v[i] * row;
        }
        return s;
    }

    /**
     * Clip search ({@code auto_clip_layer}): for each (row, group), the threshold
     * {@code max|w| * (1 - i / N_GRID)}, {@code i < MAX_SHRINK * N_GRID}, whose clamped-then-quantized
     * group gives the smallest output error on the group's inputs, {@code d^T H_gg d} with
     * {@code d = Q(clamp(w)) - w} (the reference's {@code (x_g . (q - w))^2} averaged over 512
     * sampled tokens; here exact over all tokens). Returns the clamped weights.
     */
    static float[] clip(float[] w, int rows, int cols, double[] h, int bits, int groupSize, boolean sym) {
        float[] out = w.clone();
        int g = groupSize <= 0 ? cols : Math.min(groupSize, cols), groups = (cols + g - 1) / g, maxq = QuantGrid.maxq(bits);
        int steps = (int) (MAX_SHRINK * N_GRID);
        Parallel.forRange(rows, 4, (r0, r1) -> {
            float[] cur = new float[g];
            double[] d = new double[g];
            for (int r = r0; r < r1; r++)
                for (int gi = 0; gi < groups; gi++) {
                    int c0 = gi * g, n = Math.min(g, cols - c0), off = r * cols + c0;
                    float orgMax = 0;
                    for (int k = 0; k < n; k++) orgMax = Math.max(orgMax, Math.abs(w[off + k]));
                    if (orgMax == 0) continue;
                    double best = Double.POSITIVE_INFINITY;
                    float bestMax = orgMax;
                    for (int i = 0; i < steps; i++) {
                        float mv = orgMax * (1 - (float) i / N_GRID);
                        for (int k = 0; k < n; k++) cur[k] = Math.max(-mv, Math.min(mv, w[off + k]));
                        float[] p = QuantGrid.params(cur, 0, n, 1, bits, sym);
                        for (int k = 0; k < n; k++) d[k] = QuantGrid.fake(cur[k], p[0], p[1], maxq) - w[off + k];
                        double e = quad(h, cols, c0, d, n);
                        if (e < best) { best = e; bestMax = mv; }
                    }
                    for (int k = 0; k < n; k++) out[off + k] = Math.max(-bestMax, Math.min(bestMax, w[off + k]));
                }
        });
        return out;
    }
}
