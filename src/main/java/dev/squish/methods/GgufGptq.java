package dev.squish.methods;

import dev.squish.SquishException;
import dev.squish.formats.GgmlType;
import dev.squish.formats.GgufCodes;
import dev.squish.formats.GgufQuant;
import dev.squish.formats.GgufWeightedQuant;
import dev.squish.methods.obs.ObsEngine;
import dev.squish.util.Parallel;

/**
 * GPTQ on llama.cpp's grid: the weights of one linear layer are quantized to a ggml block type
 * with GPTQ's error feedback (IST-DASLab/gptq {@code fasterquant}: column by column, each column's
 * error {@code (w - q) / U[j][j]} pushed into the later columns through the upper Cholesky factor U
 * of {@code H^-1}), so the file llama.cpp loads holds calibrated codes on exactly its own grid.
 *
 * <p>Scales follow GPTQ's dynamic groups: when the sweep reaches the first column of a ggml block
 * (32 values, or a 256-value super-block for the k-quants), ggml's own reference quantizer runs on
 * that block's current values (the original weights plus the error fed in from earlier columns)
 * and its header (f16 scales, 6-bit sub-block scales and minimums) is kept. Each column of the
 * block then takes the nearest code on that block's affine grid ({@link GgufCodes#affine}), and
 * its error moves on. Without error feedback (H = identity) this reduces to ggml's header with
 * round-to-nearest codes, which for most types equals ggml's own codes.
 */
public final class GgufGptq {
    private GgufGptq() {}

    /** GPTQ's default dampening: 1% of the mean diagonal of H. */
    public static final double PERCDAMP = 0.01;

    /**
     * Quantizes {@code w} (rows x cols, row-major, not modified) to ggml blocks of {@code type}.
     *
     * @param h the layer's Hessian {@code 2/N sum x x^T}, cols x cols row-major (not modified)
     * @return the tensor's bytes as ggml stores them (rows x cols/blockSize blocks)
     */
    public static byte[] quantize(GgmlType type, float[] w, int rows, int cols, double[] h, String name) {
        return quantize(type, w, rows, cols, h, name, null);
    }

    /**
     * As {@link #quantize(GgmlType, float[], int, int, double[], String)}, with each block's header
     * (scales, minimums) chosen by ggml's importance-weighted search ({@link GgufWeightedQuant},
     * llama-quantize's {@code --imatrix} quantizers) with {@code importance} (cols entries, e.g.
     * the Hessian's diagonal, proportional to llama-imatrix's mean {@code x_j^2}) on the block's
     * current values; null (or a type without a weighted quantizer) keeps ggml's reference search.
     * The 32-value types take their sigma2 from the original row (the sweep has not reached the
     * later blocks' updated values yet).
     */
    public static byte[] quantize(GgmlType type, float[] w, int rows, int cols, double[] h, String name, float[] importance) {
        if (importance != null && importance.length != cols) throw new IllegalArgumentException(name + ": " + importance.length + " importance weights for rows of " + cols);
        float[] imp = importance != null && GgufWeightedQuant.supports(type) ? importance : null;
        if (!GgufCodes.supports(type)) throw new IllegalArgumentException("GPTQ on the ggml grid does not support " + type);
        if (cols % type.blockSize != 0) throw new IllegalArgumentException(name + ": rows of " + cols + " do not fit " + type);
        double[] hd = h.clone();
        boolean[] dead = new boolean[cols];
        for (int j = 0; j < cols; j++) if (hd[j * cols + j] == 0) { dead[j] = true; hd[j * cols + j] = 1; }
        ObsEngine.dampen(hd, cols, PERCDAMP);
        double[] u = ObsEngine.inverseCholeskyUpper(hd, cols);
        if (u == null) throw new SquishException(name + ": the calibration Hessian is not positive definite after dampening");
        int bs = type.blockSize, blocks = cols / bs, rowBytes = blocks * type.blockBytes, maxCode = GgufCodes.maxCode(type);
        byte[] out = new byte[Math.multiplyExact(rows, rowBytes)];
        Parallel.forRange(rows, cols * cols, (r0, r1) -> {
            double[] x = new double[cols];
            float[] cur = new float[bs], a = new float[bs], b = new float[bs];
            int[] L = new int[bs];
            for (int r = r0; r < r1; r++) {
                for (int j = 0; j < cols; j++) x[j] = dead[j] ? 0 : w[r * cols + j];
                float sigma2 = imp != null && bs == 32 ? GgufWeightedQuant.rowSigma2(w, r * cols, cols) : 0;
                for (int g = 0; g < blocks; g++) {
                    int j0 = g * bs, off = r * rowBytes + g * type.blockBytes;
                    for (int p = 0; p < bs; p++) cur[p] = (float) x[j0 + p];
                    byte[] blk;
                    if (imp == null) blk = GgufQuant.encode(type, cur, bs);
                    else GgufWeightedQuant.quantizeBlock(type, cur, 0, imp, j0, sigma2, blk = new byte[type.blockBytes], 0);
                    GgufCodes.affine(type, blk, 0, a, b);
                    for (int p = 0; p < bs; p++) {
                        int j = j0 + p;
                        double v = x[j];
                        int q = 0;
                        if (a[p] != 0) q = (int) Math.max(0, Math.min(maxCode, Math.rint((v - b[p]) / a[p])));
                        L[p] = q;
                        double err = (v - ((double) a[p] * q + b[p])) / u[j * cols + j];
                        int ur = j * cols;
                        for (int k = j + 1; k < cols; k++) x[k] -= err * u[ur + k];
                    }
                    GgufCodes.pack(type, L, blk, 0);
                    System.arraycopy(blk, 0, out, off, type.blockBytes);
                }
            }
        });
        return out;
    }
}
