package dev.squish.methods;

import dev.squish.methods.obs.ObsEngine;
import dev.squish.weights.QuantGrid;

import java.util.Arrays;

/**
 * Literal, unoptimized transliterations of the reference Python ({@code fasterprune},
 * {@code fasterquant}) on whole matrices, column-sliced as in PyTorch, used to check the fast
 * row-parallel implementations. Hinv comes from {@link ObsEngine} (tested on its own).
 */
final class ReferenceImpl {
    private ReferenceImpl() {}

    static double[][] matrix(float[] w, int rows, int cols) {
        double[][] m = new double[rows][cols];
        for (int r = 0; r < rows; r++) for (int c = 0; c < cols; c++) m[r][c] = w[r * cols + c];
        return m;
    }

    static double[] hinv(double[] h, int cols, double[][] W, double percdamp) {
        double[] hh = h.clone();
        double[] flat = new double[W.length * cols];
        ObsEngine.fixDeadColumns(hh, cols, flat, W.length); // W dead columns handled by caller (none in tests)
        ObsEngine.dampen(hh, cols, percdamp);
        return ObsEngine.inverseCholeskyUpper(hh, cols);
    }

    /** sparsegpt.py fasterprune; prunen/prunem as in the reference (prunen = number pruned per group). */
    static float[] sparseGpt(float[] w, int rows, int cols, double[] h, double sparsity, int prunen, int prunem, int blocksize) {
        double[][] W = matrix(w, rows, cols);
        double[] Hinv = hinv(h, cols, W, 0.01);
        for (int i1 = 0; i1 < cols; i1 += blocksize) {
            int i2 = Math.min(i1 + blocksize, cols), count = i2 - i1;
            double[][] W1 = new double[rows][count], Q1 = new double[rows][count], Err1 = new double[rows][count];
            for (int r = 0; r < rows; r++) for (int i = 0; i < count; i++) W1[r][i] = W[r][i1 + i];
            boolean[][] mask1 = new boolean[rows][count];
            if (prunen == 0) {
                double[] tmp = new double[rows * count];
                for (int r = 0; r < rows; r++) for (int i = 0; i < count; i++) {
                    double d = Hinv[(i1 + i) * cols + i1 + i];
                    tmp[r * count + i] = W1[r][i] * W1[r][i] / (d * d);
                }
                double[] sorted = tmp.clone();
                Arrays.sort(sorted);
                double thresh = sorted[(int) (tmp.length * sparsity)];
                for (int r = 0; r < rows; r++) for (int i = 0; i < count; i++) mask1[r][i] = tmp[r * count + i] <= thresh;
            }
            for (int i = 0; i < count; i++) {
                double d = Hinv[(i1 + i) * cols + i1 + i];
                if (prunen != 0 && i % prunem == 0) {
                    for (int r = 0; r < rows; r++) {
                        double[] tmp = new double[prunem];
                        for (int j = 0; j < prunem; j++) {
                            double dj = Hinv[(i1 + i + j) * cols + i1 + i + j];
                            tmp[j] = W1[r][i + j] * W1[r][i + j] / (dj * dj);
                        }
                        for (int p = 0; p < prunen; p++) { // topk(largest=False)
                            int best = -1;
                            for (int j = 0; j < prunem; j++) if (!mask1[r][i + j] && (best < 0 || tmp[j] < tmp[best])) best = j;
                            mask1[r][i + best] = true;
                        }
                    }
                }
                for (int r = 0; r < rows; r++) {
                    double wv = W1[r][i];
                    double q = mask1[r][i] ? 0 : wv;
                    Q1[r][i] = q;
                    double err1 = (wv - q) / d;
                    for (int j = i; j < count; j++) W1[r][j] -= err1 * Hinv[(i1 + i) * cols + i1 + j];
                    Err1[r][i] = err1;
                }
            }
            for (int r = 0; r < rows; r++) {
                for (int i = 0; i < count; i++) W[r][i1 + i] = Q1[r][i];
                for (int j = i2; j < cols; j++) {
                    double s = 0;
                    for (int k = 0; k < count; k++) s += Err1[r][k] * Hinv[(i1 + k) * cols + j];
                    W[r][j] -= s;
                }
            }
        }
        float[] out = new float[rows * cols];
        for (int r = 0; r < rows; r++) for (int c = 0; c < cols; c++) out[r * cols + c] = (float) W[r][c];
        return out;
    }

    /** gptq.py fasterquant with quant.py replaced by QuantGrid. */
    static float[] gptq(float[] w, int rows, int cols, double[] h, int bits, int groupsize, boolean sym,
                        boolean actorder, boolean staticGroups, int blocksize) {
        int maxq = QuantGrid.maxq(bits);
        double[][] W = matrix(w, rows, cols);
        float[][] scale = new float[rows][], zero = new float[rows][];
        float[] sc = new float[rows], ze = new float[rows];
        findParams(W, 0, cols, bits, sym, sc, ze); // quantizer.find_params(W) before the sweep
        float[][] groupS = null, groupZ = null;
        if (staticGroups) {
            int ng = (cols + groupsize - 1) / groupsize;
            groupS = new float[ng][rows]; groupZ = new float[ng][rows];
            for (int g = 0; g < ng; g++) findParams(W, g * groupsize, Math.min(cols, g * groupsize + groupsize), bits, sym, groupS[g], groupZ[g]);
        }
        double[] H = h.clone();
        int[] perm = null;
        if (actorder) {
            perm = ObsEngine.actOrder(H, cols);
            double[][] Wp = new double[rows][cols];
            for (int r = 0; r < rows; r++) for (int c = 0; c < cols; c++) Wp[r][c] = W[r][perm[c]];
            W = Wp;
            H = ObsEngine.permuteSymmetric(H, cols, perm);
        }
        double[] Hinv = hinv(H, cols, W, 0.01);
        double[][] Q = new double[rows][cols];
        for (int i1 = 0; i1 < cols; i1 += blocksize) {
            int i2 = Math.min(i1 + blocksize, cols), count = i2 - i1;
            double[][] W1 = new double[rows][count], Err1 = new double[rows][count];
            for (int r = 0; r < rows; r++) for (int i = 0; i < count; i++) W1[r][i] = W[r][i1 + i];
            for (int i = 0; i < count; i++) {
                double d = Hinv[(i1 + i) * cols + i1 + i];
                if (groupsize != -1) {
                    if (!staticGroups) {
                        if ((i1 + i) % groupsize == 0) findParams(W, i1 + i, Math.min(cols, i1 + i + groupsize), bits, sym, sc, ze);
                    } else {
                        int idx = i1 + i;
                        if (actorder) idx = perm[idx];
                        sc = groupS[idx / groupsize]; ze = groupZ[idx / groupsize];
                    }
                }
                for (int r = 0; r < rows; r++) {
                    double wv = W1[r][i];
                    double q = QuantGrid.fake((float) wv, sc[r], ze[r], maxq);
                    Q[r][i1 + i] = q;
                    double err1 = (wv - q) / d;
                    for (int j = i; j < count; j++) W1[r][j] -= err1 * Hinv[(i1 + i) * cols + i1 + j];
                    Err1[r][i] = err1;
                }
            }
            for (int r = 0; r < rows; r++) for (int j = i2; j < cols; j++) {
                double s = 0;
                for (int k = 0; k < count; k++) s += Err1[r][k] * Hinv[(i1 + k) * cols + j];
                W[r][j] -= s;
            }
        }
        float[] out = new float[rows * cols];
        for (int r = 0; r < rows; r++) for (int c = 0; c < cols; c++) out[r * cols + (actorder ? perm[c] : c)] = (float) Q[r][c];
        return out;
    }

    private static void findParams(double[][] W, int c0, int c1, int bits, boolean sym, float[] sc, float[] ze) {
        for (int r = 0; r < W.length; r++) {
            float min = 0, max = 0;
            for (int c = c0; c < c1; c++) { float v = (float) W[r][c]; min = Math.min(min, v); max = Math.max(max, v); }
            float[] p = QuantGrid.params(min, max, bits, sym);
            sc[r] = p[0]; ze[r] = p[1];
        }
    }
}
