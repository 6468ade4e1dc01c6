package dev.squish.formats;

import static dev.squish.formats.GgufKQuant.GROUP_MAX_EPS;
import static dev.squish.formats.GgufKQuant.QK_K;
import static dev.squish.formats.GgufKQuant.getHalf;
import static dev.squish.formats.GgufKQuant.makeQxQuants;
import static dev.squish.formats.GgufKQuant.minK4;
import static dev.squish.formats.GgufKQuant.nearestInt;
import static dev.squish.formats.GgufKQuant.putHalf;
import static dev.squish.formats.GgufKQuant.scaleK4;
import static dev.squish.formats.GgufKQuant.sqrtf;

/**
 * ggml's importance-weighted quantizers, the functions llama-quantize runs when it is given an
 * importance matrix ({@code --imatrix}): {@code quantize_row_q2_K_impl} .. {@code quantize_q6_K_impl},
 * {@code quantize_row_q4_0_impl}, {@code _q4_1_impl}, {@code _q5_0_impl}, {@code _q5_1_impl} with
 * their helpers {@code make_qkx3_quants}, {@code make_qp_quants} and {@code make_qx_quants} with
 * weights, transcribed line by line from ggml's {@code ggml-quants.c} under the same rules as
 * {@link GgufKQuant} (C's float operation order, no fused multiply-add, C's narrowing stores kept
 * as masks), so the bytes equal ggml's for the same {@code quant_weights}.
 *
 * <p>{@code quant_weights} has one entry per column of the row (llama-imatrix stores the mean of
 * {@code x_j^2} over the calibration tokens for input column j). The k-quants weight each value by
 * {@code qw[j] * sqrt(sigma2 + x_j^2)} with sigma2 from the value's own super-block (Q6_K uses
 * {@code qw} alone); the 32-value types take sigma2 from the whole row, which is why
 * {@link #quantizeBlock} takes it as an argument. Q8_0 has no weighted quantizer in ggml (its
 * {@code quantize_q8_0} ignores the weights) and IQ4_NL is not transcribed here: both fall back to
 * {@link GgufQuant#encode}.
 */
public final class GgufWeightedQuant {
    private GgufWeightedQuant() {}

    /** True for the types whose weighted quantizer is transcribed here. */
    public static boolean supports(GgmlType t) {
        return switch (t) {
            case Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K -> true;
            default -> false;
        };
    }

    /**
     * ggml's {@code ggml_quantize_chunk} with an importance matrix: every row of {@code rowLength}
     * values (row-major) quantized with {@code quantWeights} (length rowLength, one weight per
     * column). Types without a weighted quantizer ({@link #supports}), and a null
     * {@code quantWeights}, give {@link GgufQuant#encode}, as in ggml.
     */
    public static byte[] encode(GgmlType type, float[] values, int rowLength, float[] quantWeights) {
        if (quantWeights == null || !supports(type)) return GgufQuant.encode(type, values, rowLength);
        if (quantWeights.length != rowLength)
            throw new IllegalArgumentException("quant_weights has " + quantWeights.length + " entries for rows of " + rowLength);
        if (rowLength <= 0 || rowLength % type.blockSize != 0 || values.length % rowLength != 0)
            throw new IllegalArgumentException(type + " needs rows whose length is a multiple of " + type.blockSize + ", got " + rowLength);
        int rows = values.length / rowLength;
        long rowBytes = type.bytes(rowLength);
        byte[] out = new byte[Math.toIntExact(rows * rowBytes)];
        for (int r = 0; r < rows; r++) quantizeRow(type, values, r * rowLength, rowLength, quantWeights, 0, out, (int) (r * rowBytes));
        return out;
    }

    /** One row of n values at x[xOff], weights qw[qwOff ..], into y[yOff ..] ({@code quantize_q*} for one row). */
    public static void quantizeRow(GgmlType type, float[] x, int xOff, int n, float[] qw, int qwOff, byte[] y, int yOff) {
        int bs = type.blockSize;
        if (n % bs != 0) throw new IllegalArgumentException(type + " needs a multiple of " + bs + " values, got " + n);
        float sigma2 = type.blockSize == 32 ? rowSigma2(x, xOff, n) : 0;
        for (int b = 0; b < n / bs; b++)
            quantizeBlock(type, x, xOff + b * bs, qw, qwOff + b * bs, sigma2, y, yOff + b * type.blockBytes);
    }

    /**
     * The 32-value types' sigma2: {@code sum x^2 / n_per_row} over the whole row, summed left to
     * right in float as ggml does.
     */
    public static float rowSigma2(float[] x, int xOff, int n) {
        float sumX2 = 0;
        for (int j = 0; j < n; ++j) sumX2 += x[xOff + j] * x[xOff + j];
        return sumX2 / n;
    }

    /**
     * One block of {@code type} (32 values, or a 256-value super-block for the k-quants) with its
     * weights at qw[qwOff ..]. {@code rowSigma2} is used by the 32-value types only
     * ({@link #rowSigma2} of the block's row); the k-quants compute theirs from the super-block.
     */
    public static void quantizeBlock(GgmlType type, float[] x, int xOff, float[] qw, int qwOff, float rowSigma2, byte[] y, int yOff) {
        switch (type) {
            case Q4_0 -> q40(x, xOff, qw, qwOff, rowSigma2, y, yOff, 8);
            case Q5_0 -> q40(x, xOff, qw, qwOff, rowSigma2, y, yOff, 16);
            case Q4_1 -> q41(x, xOff, qw, qwOff, rowSigma2, y, yOff, 15);
            case Q5_1 -> q41(x, xOff, qw, qwOff, rowSigma2, y, yOff, 31);
            case Q2_K -> q2K(x, xOff, qw, qwOff, y, yOff);
            case Q3_K -> q3K(x, xOff, qw, qwOff, y, yOff);
            case Q4_K -> q45K(x, xOff, qw, qwOff, y, yOff, 15);
            case Q5_K -> q45K(x, xOff, qw, qwOff, y, yOff, 31);
            case Q6_K -> q6K(x, xOff, qw, qwOff, y, yOff);
            default -> throw new IllegalArgumentException("no weighted quantizer for " + type);
        }
    }

    /** quantize_row_q4_0_impl (nmax 8) and quantize_row_q5_0_impl (nmax 16), one block of 32. */
    private static void q40(float[] x, int xb, float[] qw, int qwOff, float sigma2, byte[] y, int yb, int nmax) {
        float[] weight = new float[32];
        byte[] L = new byte[32];
        for (int j = 0; j < 32; ++j) weight[j] = qw[qwOff + j] * sqrtf(sigma2 + x[xb + j] * x[xb + j]);
        float d = makeQxQuants(32, nmax, x, xb, L, 0, 1, weight, 0);
        putHalf(y, yb, d);
        GgufCodes.pack(nmax == 8 ? GgmlType.Q4_0 : GgmlType.Q5_0, ints(L, 32), y, yb);
    }

    /** quantize_row_q4_1_impl (nmax 15) and quantize_row_q5_1_impl (nmax 31), one block of 32. */
    private static void q41(float[] x, int xb, float[] qw, int qwOff, float sigma2, byte[] y, int yb, int nmax) {
        float[] weight = new float[32], min = new float[1];
        byte[] L = new byte[32], laux = new byte[32];
        for (int j = 0; j < 32; ++j) weight[j] = qw[qwOff + j] * sqrtf(sigma2 + x[xb + j] * x[xb + j]);
        float d = makeQkx3Quants(32, nmax, x, xb, weight, 0, L, 0, min, 0, laux, -0.9f, 0.05f, 36, false);
        putHalf(y, yb, d);
        putHalf(y, yb + 2, -min[0]);
        GgufCodes.pack(nmax == 15 ? GgmlType.Q4_1 : GgmlType.Q5_1, ints(L, 32), y, yb);
    }

    /** quantize_row_q2_K_impl, one super-block of 256 values into 84 bytes. */
    private static void q2K(float[] x, int xb, float[] qw, int qwOff, byte[] y, int yb) {
        byte[] L = new byte[QK_K], laux = new byte[16];
        float[] mins = new float[16], scales = new float[16], sw = new float[16], weight = new float[16];
        int[] ls = new int[16], lm = new int[16];
        int sc = yb, dOff = yb + 80, dminOff = yb + 82;
        float sumx2 = 0;
        for (int j = 0; j < QK_K; ++j) sumx2 += x[xb + j] * x[xb + j];
        float sigma2 = sumx2 / QK_K;
        for (int j = 0; j < QK_K / 16; ++j) {
            for (int l = 0; l < 16; ++l) weight[l] = qw[qwOff + 16 * j + l] * sqrtf(sigma2 + x[xb + 16 * j + l] * x[xb + 16 * j + l]);
            for (int l = 0; l < QK_K / 16; ++l) sw[j] += weight[l];
            scales[j] = makeQkx3Quants(16, 3, x, xb + 16 * j, weight, 0, L, 16 * j, mins, j, laux, -0.9f, 0.05f, 36, false);
        }
        float dm = makeQpQuants(QK_K / 16, 15, scales, ls, sw);
        float mm = makeQpQuants(QK_K / 16, 15, mins, lm, sw);
        putHalf(y, dOff, dm);
        putHalf(y, dminOff, mm);
        dm = getHalf(y, dOff);
        mm = getHalf(y, dminOff);
        for (int j = 0; j < QK_K / 16; ++j) y[sc + j] = (byte) (ls[j] | (lm[j] << 4));
        for (int j = 0; j < QK_K / 16; ++j) {
            float d = dm * (y[sc + j] & 0xF);
            if (d == 0) continue;
            float m = mm * ((y[sc + j] & 0xff) >>> 4);
            for (int ii = 0; ii < 16; ++ii) {
                int l = nearestInt((x[xb + 16 * j + ii] + m) / d);
                L[16 * j + ii] = (byte) Math.max(0, Math.min(3, l));
            }
        }
        GgufCodes.pack(GgmlType.Q2_K, ints(L, QK_K), y, yb);
    }

    /** quantize_row_q3_K_impl with quant_weights, one super-block into 110 bytes. */
    private static void q3K(float[] x, int xb, float[] qw, int qwOff, byte[] y, int yb) {
        byte[] L = new byte[QK_K], ls = new byte[16];
        float[] scales = new float[16], weight = new float[16], sw = new float[16];
        int sc = yb + 96, dOff = yb + 108;
        float sumx2 = 0;
        for (int j = 0; j < QK_K; ++j) sumx2 += x[xb + j] * x[xb + j];
        float sigma2 = 2 * sumx2 / QK_K;
        for (int j = 0; j < QK_K / 16; ++j) {
            for (int l = 0; l < 16; ++l) weight[l] = qw[qwOff + 16 * j + l] * sqrtf(sigma2 + x[xb + 16 * j + l] * x[xb + 16 * j + l]);
            float sumw = 0;
            for (int l = 0; l < 16; ++l) sumw += weight[l];
            sw[j] = sumw;
            scales[j] = makeQxQuants(16, 4, x, xb + 16 * j, L, 16 * j, 1, weight, 0);
        }
        for (int j = 0; j < 12; j++) y[sc + j] = 0;
        float dBlock = makeQxQuants(QK_K / 16, 32, scales, 0, ls, 0, 1, sw, 0);
        for (int j = 0; j < QK_K / 16; ++j) {
            int l = ls[j];
            if (j < 8) y[sc + j] = (byte) (l & 0xF);
            else y[sc + j - 8] |= (byte) ((l & 0xF) << 4);
            l >>= 4;
            y[sc + j % 4 + 8] |= (byte) (l << (2 * (j / 4)));
        }
        putHalf(y, dOff, dBlock);
        for (int j = 0; j < QK_K / 16; ++j) {
            int s = j < 8 ? y[sc + j] & 0xF : (y[sc + j - 8] & 0xff) >>> 4;
            s = (byte) ((s | ((((y[sc + 8 + j % 4] & 0xff) >>> (2 * (j / 4))) & 3) << 4)) - 32); // int8_t sc
            float d = getHalf(y, dOff) * s;
            if (d == 0) continue;
            for (int ii = 0; ii < 16; ++ii) {
                int l = nearestInt(x[xb + 16 * j + ii] / d);
                l = Math.max(-4, Math.min(3, l));
                L[16 * j + ii] = (byte) (l + 4);
            }
        }
        GgufCodes.pack(GgmlType.Q3_K, ints(L, QK_K), y, yb);
    }

    /** quantize_row_q4_K_impl (nmax 15) and quantize_row_q5_K_impl (nmax 31) with quant_weights. */
    private static void q45K(float[] x, int xb, float[] qw, int qwOff, byte[] y, int yb, int nmax) {
        boolean five = nmax == 31;
        byte[] L = new byte[QK_K], laux = new byte[32];
        int[] ls = new int[8], lm = new int[8];
        float[] weights = new float[32], sw = new float[8], mins = new float[8], scales = new float[8];
        int dOff = yb, dminOff = yb + 2, sc = yb + 4;
        float sumX2 = 0;
        for (int l = 0; l < QK_K; ++l) sumX2 += x[xb + l] * x[xb + l];
        float sigma2 = 2 * sumX2 / QK_K;
        for (int j = 0; j < QK_K / 32; ++j) {
            for (int l = 0; l < 32; ++l) weights[l] = qw[qwOff + 32 * j + l] * sqrtf(sigma2 + x[xb + 32 * j + l] * x[xb + 32 * j + l]);
            float sumw = 0;
            for (int l = 0; l < 32; ++l) sumw += weights[l];
            sw[j] = sumw;
            scales[j] = makeQkx3Quants(32, nmax, x, xb + 32 * j, weights, 0, L, 32 * j, mins, j, laux, -0.9f, 0.05f, 36, false);
        }
        float dBlock = makeQpQuants(QK_K / 32, 63, scales, ls, sw);
        float mBlock = makeQpQuants(QK_K / 32, 63, mins, lm, sw);
        for (int j = 0; j < QK_K / 32; ++j) {
            int a = ls[j], m = lm[j];               // uint8_t ls = Ls[j]
            if (five) { a = Math.min(63, a); m = Math.min(63, m); } // only the Q5_K code clamps
            if (j < 4) {
                y[sc + j] = (byte) a;
                y[sc + j + 4] = (byte) m;
            } else {
                y[sc + j + 4] = (byte) ((a & 0xF) | ((m & 0xF) << 4));
                y[sc + j - 4] |= (byte) ((a >> 4) << 6);
                y[sc + j] |= (byte) ((m >> 4) << 6);
            }
        }
        putHalf(y, dOff, dBlock);
        putHalf(y, dminOff, mBlock);
        for (int j = 0; j < QK_K / 32; ++j) {
            float d = getHalf(y, dOff) * scaleK4(j, y, sc);
            if (d == 0) continue;
            float dm = getHalf(y, dminOff) * minK4(j, y, sc);
            for (int ii = 0; ii < 32; ++ii) {
                int l = nearestInt((x[xb + 32 * j + ii] + dm) / d);
                L[32 * j + ii] = (byte) Math.max(0, Math.min(nmax, l));
            }
        }
        GgufCodes.pack(five ? GgmlType.Q5_K : GgmlType.Q4_K, ints(L, QK_K), y, yb);
    }

    /** quantize_row_q6_K_impl with quant_weights (the raw weights, no sigma2 term), one super-block into 210 bytes. */
    private static void q6K(float[] x, int xb, float[] qw, int qwOff, byte[] y, int yb) {
        byte[] L = new byte[QK_K];
        float[] scales = new float[16];
        int sc = yb + 192, dOff = yb + 208;
        float maxScale = 0, maxAbsScale = 0;
        for (int ib = 0; ib < QK_K / 16; ++ib) {
            float scale = makeQxQuants(16, 32, x, xb + 16 * ib, L, 16 * ib, 1, qw, qwOff + 16 * ib);
            scales[ib] = scale;
            float absScale = Math.abs(scale);
            if (absScale > maxAbsScale) { maxAbsScale = absScale; maxScale = scale; }
        }
        if (maxAbsScale < GROUP_MAX_EPS) {
            java.util.Arrays.fill(y, yb, yb + 210, (byte) 0);
            putHalf(y, dOff, 0.f);
            return;
        }
        float iscale = -128.f / maxScale;
        putHalf(y, dOff, 1 / iscale);
        for (int ib = 0; ib < QK_K / 16; ++ib) y[sc + ib] = (byte) Math.min(127, nearestInt(iscale * scales[ib]));
        for (int j = 0; j < QK_K / 16; ++j) {
            float d = getHalf(y, dOff) * y[sc + j];
            if (d == 0) continue;
            for (int ii = 0; ii < 16; ++ii) {
                int l = nearestInt(x[xb + 16 * j + ii] / d);
                l = Math.max(-32, Math.min(31, l));
                L[16 * j + ii] = (byte) (l + 32);
            }
        }
        GgufCodes.pack(GgmlType.Q6_K, ints(L, QK_K), y, yb);
    }

    private static int[] ints(byte[] L, int n) {
        int[] out = new int[n];
        for (int i = 0; i < n; i++) out[i] = L[i] & 0xff;
        return out;
    }

    /**
     * make_qkx3_quants with weights: affine quantization of n values to 0..nmax, searching
     * 1 + nstep ranges by weighted least squares; L[lOff..] gets the levels, theMin[minIdx] the
     * (non-negative) minimum; returns the scale.
     */
    static float makeQkx3Quants(int n, int nmax, float[] x, int xOff, float[] weights, int wOff, byte[] L, int lOff,
                                float[] theMin, int minIdx, byte[] laux, float rmin, float rdelta, int nstep, boolean useMad) {
        float min = x[xOff], max = x[xOff];
        float sumW = weights[wOff];
        float sumX = sumW * x[xOff];
        for (int i = 1; i < n; ++i) {
            float xi = x[xOff + i];
            if (xi < min) min = xi;
            if (xi > max) max = xi;
            float w = weights[wOff + i];
            sumW += w;
            sumX += w * xi;
        }
        if (min > 0) min = 0;
        if (max <= min) {
            for (int i = 0; i < n; ++i) L[lOff + i] = 0;
            theMin[minIdx] = -min;
            return 0.f;
        }
        float iscale = nmax / (max - min);
        float scale = 1 / iscale;
        float bestMad = 0;
        for (int i = 0; i < n; ++i) {
            int l = nearestInt(iscale * (x[xOff + i] - min));
            int li = Math.max(0, Math.min(nmax, l));
            L[lOff + i] = (byte) li;
            float diff = scale * li + min - x[xOff + i];
            diff = useMad ? Math.abs(diff) : diff * diff;
            bestMad += weights[wOff + i] * diff;
        }
        if (nstep < 1) {
            theMin[minIdx] = -min;
            return scale;
        }
        for (int is = 0; is <= nstep; ++is) {
            iscale = (rmin + rdelta * is + nmax) / (max - min);
            float sumL = 0, sumL2 = 0, sumXl = 0;
            for (int i = 0; i < n; ++i) {
                int l = nearestInt(iscale * (x[xOff + i] - min));
                l = Math.max(0, Math.min(nmax, l));
                laux[i] = (byte) l;
                float w = weights[wOff + i];
                sumL += w * l;
                sumL2 += w * l * l;
                sumXl += w * l * x[xOff + i];
            }
            float D = sumW * sumL2 - sumL * sumL;
            if (D > 0) {
                float thisScale = (sumW * sumXl - sumX * sumL) / D;
                float thisMin = (sumL2 * sumX - sumL * sumXl) / D;
                if (thisMin > 0) {
                    thisMin = 0;
                    thisScale = sumXl / sumL2;
                }
                float mad = 0;
                for (int i = 0; i < n; ++i) {
                    float diff = thisScale * (laux[i] & 0xff) + thisMin - x[xOff + i];
                    diff = useMad ? Math.abs(diff) : diff * diff;
                    mad += weights[wOff + i] * diff;
                }
                if (mad < bestMad) {
                    System.arraycopy(laux, 0, L, lOff, n);
                    bestMad = mad;
                    scale = thisScale;
                    min = thisMin;
                }
            }
        }
        theMin[minIdx] = -min;
        return scale;
    }

    /**
     * make_qp_quants: n non-negative values (sub-block scales or minimums) to 0..nmax with one
     * scale, weighted by quantWeights, 8 extra candidate scales then up to 5 rounds of coordinate
     * refinement; L gets the levels as C's {@code uint8_t} (0..255); returns the scale.
     */
    static float makeQpQuants(int n, int nmax, float[] x, int[] L, float[] quantWeights) {
        float max = 0;
        for (int i = 0; i < n; ++i) max = max > x[i] ? max : x[i]; // MAX(max, x[i])
        if (max == 0) {
            for (int i = 0; i < n; ++i) L[i] = 0;
            return 0.f;
        }
        float iscale = nmax / max;
        for (int i = 0; i < n; ++i) L[i] = nearestInt(iscale * x[i]) & 0xff;
        float scale = 1 / iscale;
        float bestMse = 0;
        for (int i = 0; i < n; ++i) {
            float diff = x[i] - scale * L[i];
            float w = quantWeights[i];
            bestMse += w * diff * diff;
        }
        for (int is = -4; is <= 4; ++is) {
            if (is == 0) continue;
            float iscaleIs = (0.1f * is + nmax) / max;
            float scaleIs = 1 / iscaleIs;
            float mse = 0;
            for (int i = 0; i < n; ++i) {
                int l = nearestInt(iscaleIs * x[i]);
                l = Math.min(nmax, l);
                float diff = x[i] - scaleIs * l;
                float w = quantWeights[i];
                mse += w * diff * diff;
            }
            if (mse < bestMse) {
                bestMse = mse;
                iscale = iscaleIs;
            }
        }
        float sumlx = 0, suml2 = 0;
        for (int i = 0; i < n; ++i) {
            int l = nearestInt(iscale * x[i]);
            l = Math.min(nmax, l);
            L[i] = l & 0xff;
            float w = quantWeights[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        for (int itry = 0; itry < 5; ++itry) {
            int nChanged = 0;
            for (int i = 0; i < n; ++i) {
                float w = quantWeights[i];
                float slx = sumlx - w * x[i] * L[i];
                float sl2 = suml2 - w * L[i] * L[i];
                if (slx > 0 && sl2 > 0) {
                    int newL = nearestInt(x[i] * sl2 / slx);
                    newL = Math.min(nmax, newL);
                    if (newL != L[i]) {
                        slx += w * x[i] * newL;
                        sl2 += w * newL * newL;
                        if (slx * slx * suml2 > sumlx * sumlx * sl2) {
                            L[i] = newL & 0xff;
                            sumlx = slx;
                            suml2 = sl2;
                            ++nChanged;
                        }
                    }
                }
            }
            if (nChanged == 0) break;
        }
        return sumlx / suml2;
    }
}
