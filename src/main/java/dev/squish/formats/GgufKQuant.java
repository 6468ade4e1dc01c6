package dev.squish.formats;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * ggml's k-quants (super-blocks of 256 values), transcribed line by line from ggml's
 * {@code ggml-quants.c}: {@code quantize_row_q2_K_ref} .. {@code quantize_row_q6_K_ref} with their
 * helpers {@code nearest_int}, {@code make_qx_quants}, {@code make_q3_quants},
 * {@code make_qkx2_quants}, and the matching {@code dequantize_row_*}. These are the functions
 * {@code llama-quantize} runs when no importance matrix is given, so the bytes are identical.
 *
 * <p>Bit-exactness needs the C code's float operation order: every sum is accumulated
 * left to right in float, {@code a*b*c} is {@code (a*b)*c}, and no multiply-add is fused (ggml's
 * reference code is compiled without FMA contraction on the x86-64 baseline; Java never fuses).
 * C's implicit narrowing stores ({@code uint8_t ls = nearest_int(..)}) are kept as explicit
 * {@code & 0xff} / {@code (byte)} casts.
 *
 * <p>Block layouts (bytes): Q2_K = scales[16] (low nibble scale, high nibble min), qs[64], f16 d,
 * f16 dmin (84); Q3_K = hmask[32], qs[64], scales[12] (6-bit, packed), f16 d (110); Q4_K = f16 d,
 * f16 dmin, scales[12] (6-bit scales and mins), qs[128] (144); Q5_K = as Q4_K plus qh[32] before
 * qs (176); Q6_K = ql[128], qh[64], int8 scales[16], f16 d (210).
 */
public final class GgufKQuant {
    private GgufKQuant() {}

    /** Values per super-block (ggml's QK_K). */
    public static final int QK_K = 256;
    /** ggml's GROUP_MAX_EPS: a group whose largest magnitude is below this is all zero. */
    static final float GROUP_MAX_EPS = 1e-15f;

    private static final ValueLayout.OfShort I16 = GgufQuant.I16;

    /** nearest_int: round to nearest (ties to even) by the 1.5 * 2^23 trick, valid for |v| <= 4194303. */
    static int nearestInt(float fval) {
        float val = fval + 12582912.f;
        int i = Float.floatToRawIntBits(val);
        return (i & 0x007fffff) - 0x00400000;
    }

    static float sqrtf(float v) { return (float) Math.sqrt(v); } // sqrt in double then round: correctly rounded

    static float h(short half) { return Float.float16ToFloat(half); }

    static short half(float v) { return Float.floatToFloat16(v); }

    static void putHalf(byte[] out, int off, float v) {
        short s = half(v);
        out[off] = (byte) s;
        out[off + 1] = (byte) (s >>> 8);
    }

    static float getHalf(byte[] b, int off) {
        return h((short) ((b[off] & 0xff) | (b[off + 1] << 8)));
    }

    /** make_qx_quants with qw == NULL: L[lOff..] gets values in 0..2*nmax-1; returns the scale. */
    static float makeQxQuants(int n, int nmax, float[] x, int xOff, byte[] L, int lOff, int rmseType) {
        return makeQxQuants(n, nmax, x, xOff, L, lOff, rmseType, null, 0);
    }

    /**
     * make_qx_quants: L[lOff..] gets values in 0..2*nmax-1; returns the scale. With {@code qw}
     * (the importance-weighted quantizers) the search weights are qw[qwOff + i] instead of the
     * rmse_type's function of x.
     */
    static float makeQxQuants(int n, int nmax, float[] x, int xOff, byte[] L, int lOff, int rmseType, float[] qw, int qwOff) {
        float max = 0, amax = 0;
        for (int i = 0; i < n; ++i) {
            float ax = Math.abs(x[xOff + i]);
            if (ax > amax) { amax = ax; max = x[xOff + i]; }
        }
        if (amax < GROUP_MAX_EPS) {
            for (int i = 0; i < n; ++i) L[lOff + i] = 0;
            return 0.f;
        }
        float iscale = -nmax / max;
        if (rmseType == 0) {
            for (int i = 0; i < n; ++i) {
                int l = nearestInt(iscale * x[xOff + i]);
                L[lOff + i] = (byte) (nmax + Math.max(-nmax, Math.min(nmax - 1, l)));
            }
            return 1 / iscale;
        }
        boolean returnEarly = false;
        if (rmseType < 0) { rmseType = -rmseType; returnEarly = true; }
        float sumlx = 0, suml2 = 0;
        for (int i = 0; i < n; ++i) {
            float xi = x[xOff + i];
            int l = nearestInt(iscale * xi);
            l = Math.max(-nmax, Math.min(nmax - 1, l));
            L[lOff + i] = (byte) (l + nmax);
            float w = qw != null ? qw[qwOff + i] : weight(rmseType, xi);
            sumlx += w * xi * l;
            suml2 += w * l * l;
        }
        float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
        if (returnEarly) return suml2 > 0 ? 0.5f * (scale + 1 / iscale) : 1 / iscale;
        float best = scale * sumlx;
        for (int is = -9; is <= 9; ++is) {
            if (is == 0) continue;
            iscale = -(nmax + 0.1f * is) / max;
            sumlx = suml2 = 0;
            for (int i = 0; i < n; ++i) {
                float xi = x[xOff + i];
                int l = nearestInt(iscale * xi);
                l = Math.max(-nmax, Math.min(nmax - 1, l));
                float w = qw != null ? qw[qwOff + i] : weight(rmseType, xi);
                sumlx += w * xi * l;
                suml2 += w * l * l;
            }
            if (suml2 > 0 && sumlx * sumlx > best * suml2) {
                for (int i = 0; i < n; ++i) {
                    int l = nearestInt(iscale * x[xOff + i]);
                    L[lOff + i] = (byte) (nmax + Math.max(-nmax, Math.min(nmax - 1, l)));
                }
                scale = sumlx / suml2;
                best = scale * sumlx;
            }
        }
        return scale;
    }

    private static float weight(int rmseType, float x) {
        return rmseType == 1 ? x * x : rmseType == 2 ? 1 : rmseType == 3 ? Math.abs(x) : sqrtf(Math.abs(x));
    }

    /** make_q3_quants: L[lOff..] gets values in 0..2*nmax-1; returns the scale. */
    static float makeQ3Quants(int n, int nmax, float[] x, int xOff, byte[] L, int lOff, boolean doRmse) {
        float max = 0, amax = 0;
        for (int i = 0; i < n; ++i) {
            float ax = Math.abs(x[xOff + i]);
            if (ax > amax) { amax = ax; max = x[xOff + i]; }
        }
        if (amax < GROUP_MAX_EPS) {
            for (int i = 0; i < n; ++i) L[lOff + i] = 0;
            return 0.f;
        }
        float iscale = -nmax / max;
        if (doRmse) {
            float sumlx = 0, suml2 = 0;
            for (int i = 0; i < n; ++i) {
                float xi = x[xOff + i];
                int l = nearestInt(iscale * xi);
                l = Math.max(-nmax, Math.min(nmax - 1, l));
                L[lOff + i] = (byte) l;
                float w = xi * xi;
                sumlx += w * xi * l;
                suml2 += w * l * l;
            }
            for (int itry = 0; itry < 5; ++itry) {
                int nChanged = 0;
                for (int i = 0; i < n; ++i) {
                    float xi = x[xOff + i];
                    int li = L[lOff + i];
                    float w = xi * xi;
                    float slx = sumlx - w * xi * li;
                    if (slx > 0) {
                        float sl2 = suml2 - w * li * li;
                        int newL = nearestInt(xi * sl2 / slx);
                        newL = Math.max(-nmax, Math.min(nmax - 1, newL));
                        if (newL != li) {
                            slx += w * xi * newL;
                            sl2 += w * newL * newL;
                            if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                                L[lOff + i] = (byte) newL;
                                sumlx = slx;
                                suml2 = sl2;
                                ++nChanged;
                            }
                        }
                    }
                }
                if (nChanged == 0) break;
            }
            for (int i = 0; i < n; ++i) L[lOff + i] += (byte) nmax;
            return sumlx / suml2;
        }
        for (int i = 0; i < n; ++i) {
            int l = nearestInt(iscale * x[xOff + i]);
            l = Math.max(-nmax, Math.min(nmax - 1, l));
            L[lOff + i] = (byte) (l + nmax);
        }
        return 1 / iscale;
    }

    /**
     * make_qkx2_quants: affine quantization of n values to 0..nmax with a search over 1 + nstep
     * scales; L[lOff..] gets the levels, theMin[minIdx] the (non-negative) minimum; returns the scale.
     */
    static float makeQkx2Quants(int n, int nmax, float[] x, int xOff, float[] weights, byte[] L, int lOff,
                                float[] theMin, int minIdx, byte[] laux, float rmin, float rdelta, int nstep, boolean useMad) {
        float min = x[xOff], max = x[xOff];
        float sumW = weights[0];
        float sumX = sumW * x[xOff];
        for (int i = 1; i < n; ++i) {
            float xi = x[xOff + i];
            if (xi < min) min = xi;
            if (xi > max) max = xi;
            float w = weights[i];
            sumW += w;
            sumX += w * xi;
        }
        if (min > 0) min = 0;
        if (max == min) {
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
            bestMad += weights[i] * diff;
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
                float w = weights[i];
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
                    mad += weights[i] * diff;
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

    /** get_scale_min_k4: the j-th 6-bit scale (result >> 8 == 0) and min of a Q4_K/Q5_K scales array. */
    static int scaleK4(int j, byte[] q, int off) {
        if (j < 4) return q[off + j] & 63;
        return (q[off + j + 4] & 0xF) | (((q[off + j - 4] & 0xff) >>> 6) << 4);
    }

    static int minK4(int j, byte[] q, int off) {
        if (j < 4) return q[off + j + 4] & 63;
        return ((q[off + j + 4] & 0xff) >>> 4) | (((q[off + j] & 0xff) >>> 6) << 4);
    }

    private static void check(int n, String type) {
        if (n % QK_K != 0) throw new IllegalArgumentException(type + " needs a multiple of 256 values, got " + n);
    }

    /** quantize_row_q2_K_ref: n values from x[xOff] into n/256 blocks of 84 bytes at y[yOff]. */
    public static void quantizeQ2_K(float[] x, int xOff, int n, byte[] y, int yOff) {
        check(n, "Q2_K");
        byte[] L = new byte[QK_K], laux = new byte[16];
        float[] weights = new float[16], mins = new float[QK_K / 16], scales = new float[QK_K / 16];
        final float q4scale = 15.f;
        for (int i = 0; i < n / QK_K; i++) {
            int xb = xOff + i * QK_K, yb = yOff + i * 84;
            int sc = yb, qs = yb + 16, dOff = yb + 80, dminOff = yb + 82;
            float maxScale = 0, maxMin = 0;
            for (int j = 0; j < QK_K / 16; ++j) {
                for (int l = 0; l < 16; ++l) weights[l] = Math.abs(x[xb + 16 * j + l]);
                scales[j] = makeQkx2Quants(16, 3, x, xb + 16 * j, weights, L, 16 * j, mins, j, laux, -0.5f, 0.1f, 15, true);
                if (scales[j] > maxScale) maxScale = scales[j];
                if (mins[j] > maxMin) maxMin = mins[j];
            }
            if (maxScale > 0) {
                float iscale = q4scale / maxScale;
                for (int j = 0; j < QK_K / 16; ++j) y[sc + j] = (byte) nearestInt(iscale * scales[j]);
                putHalf(y, dOff, maxScale / q4scale);
            } else {
                for (int j = 0; j < QK_K / 16; ++j) y[sc + j] = 0;
                putHalf(y, dOff, 0.f);
            }
            if (maxMin > 0) {
                float iscale = q4scale / maxMin;
                for (int j = 0; j < QK_K / 16; ++j) y[sc + j] |= (byte) (nearestInt(iscale * mins[j]) << 4);
                putHalf(y, dminOff, maxMin / q4scale);
            } else {
                putHalf(y, dminOff, 0.f);
            }
            for (int j = 0; j < QK_K / 16; ++j) {
                float d = getHalf(y, dOff) * (y[sc + j] & 0xF);
                if (d == 0) continue;
                float dm = getHalf(y, dminOff) * ((y[sc + j] & 0xff) >>> 4);
                for (int ii = 0; ii < 16; ++ii) {
                    int l = nearestInt((x[xb + 16 * j + ii] + dm) / d);
                    L[16 * j + ii] = (byte) Math.max(0, Math.min(3, l));
                }
            }
            for (int j = 0; j < QK_K; j += 128)
                for (int l = 0; l < 32; ++l)
                    y[qs + j / 4 + l] = (byte) (L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
        }
    }

    /** quantize_row_q3_K_ref: n values into n/256 blocks of 110 bytes. */
    public static void quantizeQ3_K(float[] x, int xOff, int n, byte[] y, int yOff) {
        check(n, "Q3_K");
        byte[] L = new byte[QK_K];
        float[] scales = new float[QK_K / 16];
        for (int i = 0; i < n / QK_K; i++) {
            int xb = xOff + i * QK_K, yb = yOff + i * 110;
            int hmask = yb, qs = yb + 32, sc = yb + 96, dOff = yb + 108;
            float maxScale = 0, amax = 0;
            for (int j = 0; j < QK_K / 16; ++j) {
                scales[j] = makeQ3Quants(16, 4, x, xb + 16 * j, L, 16 * j, true);
                float scale = Math.abs(scales[j]);
                if (scale > amax) { amax = scale; maxScale = scales[j]; }
            }
            for (int j = 0; j < 12; j++) y[sc + j] = 0;
            if (maxScale != 0) {
                float iscale = -32.f / maxScale;
                for (int j = 0; j < QK_K / 16; ++j) {
                    int l = (byte) nearestInt(iscale * scales[j]); // int8_t l = nearest_int(..)
                    l = Math.max(-32, Math.min(31, l)) + 32;
                    if (j < 8) y[sc + j] = (byte) (l & 0xF);
                    else y[sc + j - 8] |= (byte) ((l & 0xF) << 4);
                    l >>= 4;
                    y[sc + j % 4 + 8] |= (byte) (l << (2 * (j / 4)));
                }
                putHalf(y, dOff, 1 / iscale);
            } else {
                putHalf(y, dOff, 0.f);
            }
            for (int j = 0; j < QK_K / 16; ++j) {
                int s = j < 8 ? y[sc + j] & 0xF : (y[sc + j - 8] & 0xff) >>> 4;
                s = (byte) ((s | ((((y[sc + 8 + j % 4] & 0xff) >>> (2 * (j / 4))) & 3) << 4)) - 32);
                float d = getHalf(y, dOff) * s;
                if (d == 0) continue;
                for (int ii = 0; ii < 16; ++ii) {
                    int l = nearestInt(x[xb + 16 * j + ii] / d);
                    l = Math.max(-4, Math.min(3, l));
                    L[16 * j + ii] = (byte) (l + 4);
                }
            }
            for (int j = 0; j < QK_K / 8; j++) y[hmask + j] = 0;
            int m = 0, hm = 1;
            for (int j = 0; j < QK_K; ++j) {
                if (L[j] > 3) {
                    y[hmask + m] |= (byte) hm;
                    L[j] -= 4;
                }
                if (++m == QK_K / 8) { m = 0; hm <<= 1; }
            }
            for (int j = 0; j < QK_K; j += 128)
                for (int l = 0; l < 32; ++l)
                    y[qs + j / 4 + l] = (byte) (L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
        }
    }

    /** quantize_row_q4_K_ref (nmax 15, 20 search steps) and quantize_row_q5_K_ref (nmax 31, 15 steps). */
    private static void quantizeQ45_K(float[] x, int xOff, int n, byte[] y, int yOff, boolean five) {
        check(n, five ? "Q5_K" : "Q4_K");
        int nmax = five ? 31 : 15, blockBytes = five ? 176 : 144;
        byte[] L = new byte[QK_K], laux = new byte[32];
        float[] weights = new float[32], mins = new float[QK_K / 32], scales = new float[QK_K / 32];
        for (int i = 0; i < n / QK_K; i++) {
            int xb = xOff + i * QK_K, yb = yOff + i * blockBytes;
            int dOff = yb, dminOff = yb + 2, sc = yb + 4;
            float maxScale = 0, maxMin = 0;
            for (int j = 0; j < QK_K / 32; ++j) {
                float sumX2 = 0;
                for (int l = 0; l < 32; ++l) sumX2 += x[xb + 32 * j + l] * x[xb + 32 * j + l];
                float avX = sqrtf(sumX2 / 32);
                for (int l = 0; l < 32; ++l) weights[l] = avX + Math.abs(x[xb + 32 * j + l]);
                scales[j] = five
                        ? makeQkx2Quants(32, 31, x, xb + 32 * j, weights, L, 32 * j, mins, j, laux, -0.5f, 0.1f, 15, false)
                        : makeQkx2Quants(32, 15, x, xb + 32 * j, weights, L, 32 * j, mins, j, laux, -1.f, 0.1f, 20, false);
                if (scales[j] > maxScale) maxScale = scales[j];
                if (mins[j] > maxMin) maxMin = mins[j];
            }
            float invScale = maxScale > 0 ? 63.f / maxScale : 0.f;
            float invMin = maxMin > 0 ? 63.f / maxMin : 0.f;
            for (int j = 0; j < QK_K / 32; ++j) {
                int ls = Math.min(63, nearestInt(invScale * scales[j]) & 0xff); // uint8_t ls = nearest_int(..)
                int lm = Math.min(63, nearestInt(invMin * mins[j]) & 0xff);
                if (j < 4) {
                    y[sc + j] = (byte) ls;
                    y[sc + j + 4] = (byte) lm;
                } else {
                    y[sc + j + 4] = (byte) ((ls & 0xF) | ((lm & 0xF) << 4));
                    y[sc + j - 4] |= (byte) ((ls >> 4) << 6);
                    y[sc + j] |= (byte) ((lm >> 4) << 6);
                }
            }
            putHalf(y, dOff, maxScale / 63.f);
            putHalf(y, dminOff, maxMin / 63.f);
            for (int j = 0; j < QK_K / 32; ++j) {
                float d = getHalf(y, dOff) * scaleK4(j, y, sc);
                if (d == 0) continue;
                float dm = getHalf(y, dminOff) * minK4(j, y, sc);
                for (int ii = 0; ii < 32; ++ii) {
                    int l = nearestInt((x[xb + 32 * j + ii] + dm) / d);
                    L[32 * j + ii] = (byte) Math.max(0, Math.min(nmax, l));
                }
            }
            if (!five) {
                int q = yb + 16;
                for (int j = 0; j < QK_K; j += 64) {
                    for (int l = 0; l < 32; ++l) y[q + l] = (byte) (L[j + l] | (L[j + l + 32] << 4));
                    q += 32;
                }
            } else {
                int qh = yb + 16, ql = yb + 48;
                for (int j = 0; j < QK_K / 8; j++) y[qh + j] = 0;
                int m1 = 1, m2 = 2;
                for (int nn = 0; nn < QK_K; nn += 64) {
                    for (int j = 0; j < 32; ++j) {
                        int l1 = L[nn + j];
                        if (l1 > 15) { l1 -= 16; y[qh + j] |= (byte) m1; }
                        int l2 = L[nn + j + 32];
                        if (l2 > 15) { l2 -= 16; y[qh + j] |= (byte) m2; }
                        y[ql + j] = (byte) (l1 | (l2 << 4));
                    }
                    m1 <<= 2; m2 <<= 2;
                    ql += 32;
                }
            }
        }
    }

    /** quantize_row_q4_K_ref: n values into n/256 blocks of 144 bytes. */
    public static void quantizeQ4_K(float[] x, int xOff, int n, byte[] y, int yOff) { quantizeQ45_K(x, xOff, n, y, yOff, false); }

    /** quantize_row_q5_K_ref: n values into n/256 blocks of 176 bytes. */
    public static void quantizeQ5_K(float[] x, int xOff, int n, byte[] y, int yOff) { quantizeQ45_K(x, xOff, n, y, yOff, true); }

    /** quantize_row_q6_K_ref: n values into n/256 blocks of 210 bytes. */
    public static void quantizeQ6_K(float[] x, int xOff, int n, byte[] y, int yOff) {
        check(n, "Q6_K");
        byte[] L = new byte[QK_K];
        float[] scales = new float[QK_K / 16];
        for (int i = 0; i < n / QK_K; i++) {
            int xb = xOff + i * QK_K, yb = yOff + i * 210;
            int qlBase = yb, qhBase = yb + 128, sc = yb + 192, dOff = yb + 208;
            float maxScale = 0, maxAbsScale = 0;
            for (int ib = 0; ib < QK_K / 16; ++ib) {
                float scale = makeQxQuants(16, 32, x, xb + 16 * ib, L, 16 * ib, 1);
                scales[ib] = scale;
                float absScale = Math.abs(scale);
                if (absScale > maxAbsScale) { maxAbsScale = absScale; maxScale = scale; }
            }
            if (maxAbsScale < GROUP_MAX_EPS) {
                java.util.Arrays.fill(y, yb, yb + 210, (byte) 0);
                putHalf(y, dOff, 0.f);
                continue;
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
            int ql = qlBase, qh = qhBase;
            for (int j = 0; j < QK_K; j += 128) {
                for (int l = 0; l < 32; ++l) {
                    int q1 = L[j + l] & 0xF, q2 = L[j + l + 32] & 0xF, q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
                    y[ql + l] = (byte) (q1 | (q3 << 4));
                    y[ql + l + 32] = (byte) (q2 | (q4 << 4));
                    y[qh + l] = (byte) ((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6));
                }
                ql += 64;
                qh += 32;
            }
        }
    }

    private static int u8(MemorySegment s, long off) { return s.get(ValueLayout.JAVA_BYTE, off) & 0xff; }

    private static float half(MemorySegment s, long off) { return h(s.get(I16, off)); }

    /** dequantize_row_q2_K. */
    public static void dequantizeQ2_K(MemorySegment src, long srcOff, float[] y, int yOff, int n) {
        int yi = yOff;
        for (int i = 0; i < n / QK_K; i++) {
            long b = srcOff + 84L * i;
            float d = half(src, b + 80), min = half(src, b + 82);
            long q = b + 16;
            int is = 0;
            for (int nn = 0; nn < QK_K; nn += 128) {
                int shift = 0;
                for (int j = 0; j < 4; ++j) {
                    int sc = u8(src, b + is++);
                    float dl = d * (sc & 0xF), ml = min * (sc >>> 4);
                    for (int l = 0; l < 16; ++l) y[yi++] = dl * ((u8(src, q + l) >>> shift) & 3) - ml;
                    sc = u8(src, b + is++);
                    dl = d * (sc & 0xF); ml = min * (sc >>> 4);
                    for (int l = 0; l < 16; ++l) y[yi++] = dl * ((u8(src, q + l + 16) >>> shift) & 3) - ml;
                    shift += 2;
                }
                q += 32;
            }
        }
    }

    /** dequantize_row_q3_K. */
    public static void dequantizeQ3_K(MemorySegment src, long srcOff, float[] y, int yOff, int n) {
        int yi = yOff;
        int[] scales = new int[16];
        for (int i = 0; i < n / QK_K; i++) {
            long b = srcOff + 110L * i, hm = b, sc = b + 96;
            float dAll = half(src, b + 108);
            for (int j = 0; j < 16; j++) {
                int lo = j < 8 ? u8(src, sc + j) & 0xF : u8(src, sc + j - 8) >>> 4;
                int hi = (u8(src, sc + 8 + j % 4) >>> (2 * (j / 4))) & 3;
                scales[j] = (lo | (hi << 4)) - 32;
            }
            long q = b + 32;
            int m = 1, is = 0;
            for (int nn = 0; nn < QK_K; nn += 128) {
                int shift = 0;
                for (int j = 0; j < 4; ++j) {
                    float dl = dAll * scales[is++];
                    for (int l = 0; l < 16; ++l)
                        y[yi++] = dl * (((u8(src, q + l) >>> shift) & 3) - ((u8(src, hm + l) & m) != 0 ? 0 : 4));
                    dl = dAll * scales[is++];
                    for (int l = 0; l < 16; ++l)
                        y[yi++] = dl * (((u8(src, q + l + 16) >>> shift) & 3) - ((u8(src, hm + l + 16) & m) != 0 ? 0 : 4));
                    shift += 2;
                    m <<= 1;
                }
                q += 32;
            }
        }
    }

    private static int scaleK4(MemorySegment s, long sc, int j) {
        if (j < 4) return u8(s, sc + j) & 63;
        return (u8(s, sc + j + 4) & 0xF) | ((u8(s, sc + j - 4) >>> 6) << 4);
    }

    private static int minK4(MemorySegment s, long sc, int j) {
        if (j < 4) return u8(s, sc + j + 4) & 63;
        return (u8(s, sc + j + 4) >>> 4) | ((u8(s, sc + j) >>> 6) << 4);
    }

    /** dequantize_row_q4_K. */
    public static void dequantizeQ4_K(MemorySegment src, long srcOff, float[] y, int yOff, int n) {
        int yi = yOff;
        for (int i = 0; i < n / QK_K; i++) {
            long b = srcOff + 144L * i, sc = b + 4, q = b + 16;
            float d = half(src, b), min = half(src, b + 2);
            int is = 0;
            for (int j = 0; j < QK_K; j += 64) {
                float d1 = d * scaleK4(src, sc, is), m1 = min * minK4(src, sc, is);
                float d2 = d * scaleK4(src, sc, is + 1), m2 = min * minK4(src, sc, is + 1);
                for (int l = 0; l < 32; ++l) y[yi++] = d1 * (u8(src, q + l) & 0xF) - m1;
                for (int l = 0; l < 32; ++l) y[yi++] = d2 * (u8(src, q + l) >>> 4) - m2;
                q += 32;
                is += 2;
            }
        }
    }

    /** dequantize_row_q5_K. */
    public static void dequantizeQ5_K(MemorySegment src, long srcOff, float[] y, int yOff, int n) {
        int yi = yOff;
        for (int i = 0; i < n / QK_K; i++) {
            long b = srcOff + 176L * i, sc = b + 4, qh = b + 16, ql = b + 48;
            float d = half(src, b), min = half(src, b + 2);
            int is = 0, u1 = 1, u2 = 2;
            for (int j = 0; j < QK_K; j += 64) {
                float d1 = d * scaleK4(src, sc, is), m1 = min * minK4(src, sc, is);
                float d2 = d * scaleK4(src, sc, is + 1), m2 = min * minK4(src, sc, is + 1);
                for (int l = 0; l < 32; ++l) y[yi++] = d1 * ((u8(src, ql + l) & 0xF) + ((u8(src, qh + l) & u1) != 0 ? 16 : 0)) - m1;
                for (int l = 0; l < 32; ++l) y[yi++] = d2 * ((u8(src, ql + l) >>> 4) + ((u8(src, qh + l) & u2) != 0 ? 16 : 0)) - m2;
                ql += 32;
                is += 2;
                u1 <<= 2;
                u2 <<= 2;
            }
        }
    }

    /** dequantize_row_q6_K. */
    public static void dequantizeQ6_K(MemorySegment src, long srcOff, float[] y, int yOff, int n) {
        for (int i = 0; i < n / QK_K; i++) {
            long b = srcOff + 210L * i, ql = b, qh = b + 128, sc = b + 192;
            float d = half(src, b + 208);
            int yb = yOff + i * QK_K;
            for (int nn = 0; nn < QK_K; nn += 128) {
                for (int l = 0; l < 32; ++l) {
                    int is = l / 16;
                    int h = u8(src, qh + l);
                    int q1 = ((u8(src, ql + l) & 0xF) | (((h >>> 0) & 3) << 4)) - 32;
                    int q2 = ((u8(src, ql + l + 32) & 0xF) | (((h >>> 2) & 3) << 4)) - 32;
                    int q3 = ((u8(src, ql + l) >>> 4) | (((h >>> 4) & 3) << 4)) - 32;
                    int q4 = ((u8(src, ql + l + 32) >>> 4) | (((h >>> 6) & 3) << 4)) - 32;
                    y[yb + l] = d * src.get(ValueLayout.JAVA_BYTE, sc + is) * q1;
                    y[yb + l + 32] = d * src.get(ValueLayout.JAVA_BYTE, sc + is + 2) * q2;
                    y[yb + l + 64] = d * src.get(ValueLayout.JAVA_BYTE, sc + is + 4) * q3;
                    y[yb + l + 96] = d * src.get(ValueLayout.JAVA_BYTE, sc + is + 6) * q4;
                }
                yb += 128;
                ql += 64;
                qh += 32;
                sc += 8;
            }
        }
    }
}
