package dev.squish.formats;

import dev.squish.SquishException;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Encoding and decoding of ggml tensor data, bit-exact with ggml's reference code
 * ({@code ggml-quants.c}: {@code quantize_row_q8_0_ref}, {@code _q4_0_ref}, {@code _q4_1_ref},
 * {@code _q5_0_ref}, {@code _q5_1_ref} and the {@code dequantize_row_*} of each; the k-quants are in
 * {@link GgufKQuant}). Float-to-half conversion rounds to nearest even, as
 * {@code GGML_FP32_TO_FP16} does (F16C or the portable fallback).
 *
 * <p>Block layouts (32 values per block): Q8_0 = f16 scale d, then 32 int8 q (x = q * d);
 * Q4_0 = f16 scale d, then 16 bytes whose low nibbles hold values 0..15 and high nibbles values
 * 16..31 (x = (q - 8) * d); Q4_1 = f16 d, f16 m, 16 nibble bytes (x = q * d + m); Q5_0 = f16 d,
 * 32-bit qh holding the fifth bit of value j at bit j, 16 nibble bytes (x = (q - 16) * d); Q5_1 =
 * f16 d, f16 m, qh, 16 nibble bytes (x = q * d + m). Hand-written because no Java library
 * implements ggml's formats.
 */
public final class GgufQuant {
    private GgufQuant() {}

    /** Values per Q8_0 / Q4_0 block. */
    public static final int QK = 32;

    static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** C {@code roundf}: halfway cases away from zero (Java's Math.round rounds them up). */
    static float roundf(float v) {
        return Math.copySign((float) Math.round(Math.abs(v)), v);
    }

    /** quantize_row_q8_0_ref: n values from x[xOff] into n/32 blocks of 34 bytes at out[outOff]. */
    public static void quantizeQ8_0(float[] x, int xOff, int n, byte[] out, int outOff) {
        if (n % QK != 0) throw new IllegalArgumentException("Q8_0 needs a multiple of 32 values, got " + n);
        for (int b = 0; b < n / QK; b++) {
            int xb = xOff + b * QK, ob = outOff + b * 34;
            float amax = 0f;
            for (int j = 0; j < QK; j++) { float a = Math.abs(x[xb + j]); amax = amax > a ? amax : a; } // C's MAX(a, b)
            float d = amax / 127f;
            float id = d != 0f ? 1.0f / d : 0.0f;
            putF16(out, ob, Float.floatToFloat16(d));
            for (int j = 0; j < QK; j++) out[ob + 2 + j] = (byte) (int) roundf(x[xb + j] * id);
        }
    }

    /** quantize_row_q4_0_ref: n values from x[xOff] into n/32 blocks of 18 bytes at out[outOff]. */
    public static void quantizeQ4_0(float[] x, int xOff, int n, byte[] out, int outOff) {
        if (n % QK != 0) throw new IllegalArgumentException("Q4_0 needs a multiple of 32 values, got " + n);
        for (int b = 0; b < n / QK; b++) {
            int xb = xOff + b * QK, ob = outOff + b * 18;
            float amax = 0f, max = 0f;
            for (int j = 0; j < QK; j++) {
                float v = x[xb + j];
                if (amax < Math.abs(v)) { amax = Math.abs(v); max = v; }
            }
            float d = max / -8f;
            float id = d != 0f ? 1.0f / d : 0.0f;
            putF16(out, ob, Float.floatToFloat16(d));
            for (int j = 0; j < QK / 2; j++) {
                // (int8_t)(x + 8.5f) truncates toward zero; the argument lies in [0.5, 16.5]
                int q0 = Math.min(15, (int) (x[xb + j] * id + 8.5f));
                int q1 = Math.min(15, (int) (x[xb + QK / 2 + j] * id + 8.5f));
                out[ob + 2 + j] = (byte) (q0 | (q1 << 4));
            }
        }
    }

    /** quantize_row_q4_1_ref: n values into n/32 blocks of 20 bytes. */
    public static void quantizeQ4_1(float[] x, int xOff, int n, byte[] out, int outOff) {
        if (n % QK != 0) throw new IllegalArgumentException("Q4_1 needs a multiple of 32 values, got " + n);
        for (int b = 0; b < n / QK; b++) {
            int xb = xOff + b * QK, ob = outOff + b * 20;
            float min = Float.MAX_VALUE, max = -Float.MAX_VALUE;
            for (int j = 0; j < QK; j++) {
                float v = x[xb + j];
                if (v < min) min = v;
                if (v > max) max = v;
            }
            float d = (max - min) / 15;
            float id = d != 0f ? 1.0f / d : 0.0f;
            putF16(out, ob, Float.floatToFloat16(d));
            putF16(out, ob + 2, Float.floatToFloat16(min));
            for (int j = 0; j < QK / 2; j++) {
                // (int8_t)(x + 0.5f) truncates; the argument lies in [0.5, 15.5]
                int q0 = Math.min(15, (int) ((x[xb + j] - min) * id + 0.5f));
                int q1 = Math.min(15, (int) ((x[xb + QK / 2 + j] - min) * id + 0.5f));
                out[ob + 4 + j] = (byte) (q0 | (q1 << 4));
            }
        }
    }

    /** quantize_row_q5_0_ref: n values into n/32 blocks of 22 bytes. */
    public static void quantizeQ5_0(float[] x, int xOff, int n, byte[] out, int outOff) {
        if (n % QK != 0) throw new IllegalArgumentException("Q5_0 needs a multiple of 32 values, got " + n);
        for (int b = 0; b < n / QK; b++) {
            int xb = xOff + b * QK, ob = outOff + b * 22;
            float amax = 0f, max = 0f;
            for (int j = 0; j < QK; j++) {
                float v = x[xb + j];
                if (amax < Math.abs(v)) { amax = Math.abs(v); max = v; }
            }
            float d = max / -16f;
            float id = d != 0f ? 1.0f / d : 0.0f;
            putF16(out, ob, Float.floatToFloat16(d));
            int qh = 0;
            for (int j = 0; j < QK / 2; j++) {
                int q0 = Math.min(31, (int) (x[xb + j] * id + 16.5f));
                int q1 = Math.min(31, (int) (x[xb + QK / 2 + j] * id + 16.5f));
                out[ob + 6 + j] = (byte) ((q0 & 0x0F) | ((q1 & 0x0F) << 4));
                qh |= ((q0 & 0x10) >>> 4) << j;
                qh |= ((q1 & 0x10) >>> 4) << (j + QK / 2);
            }
            putI32(out, ob + 2, qh);
        }
    }

    /** quantize_row_q5_1_ref: n values into n/32 blocks of 24 bytes. */
    public static void quantizeQ5_1(float[] x, int xOff, int n, byte[] out, int outOff) {
        if (n % QK != 0) throw new IllegalArgumentException("Q5_1 needs a multiple of 32 values, got " + n);
        for (int b = 0; b < n / QK; b++) {
            int xb = xOff + b * QK, ob = outOff + b * 24;
            float min = Float.MAX_VALUE, max = -Float.MAX_VALUE;
            for (int j = 0; j < QK; j++) {
                float v = x[xb + j];
                if (v < min) min = v;
                if (v > max) max = v;
            }
            float d = (max - min) / 31;
            float id = d != 0f ? 1.0f / d : 0.0f;
            putF16(out, ob, Float.floatToFloat16(d));
            putF16(out, ob + 2, Float.floatToFloat16(min));
            int qh = 0;
            for (int j = 0; j < QK / 2; j++) {
                // (uint8_t)(x + 0.5f), no clamp in ggml: a value that rounds to 32 keeps only its fifth bit
                int q0 = (int) ((x[xb + j] - min) * id + 0.5f) & 0xff;
                int q1 = (int) ((x[xb + QK / 2 + j] - min) * id + 0.5f) & 0xff;
                out[ob + 8 + j] = (byte) ((q0 & 0x0F) | ((q1 & 0x0F) << 4));
                qh |= ((q0 & 0x10) >>> 4) << j;
                qh |= ((q1 & 0x10) >>> 4) << (j + QK / 2);
            }
            putI32(out, ob + 4, qh);
        }
    }

    /** ggml's kvalues_iq4nl: the 16 non-uniform levels of IQ4_NL. */
    static final byte[] IQ4NL_VALUES = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

    /** best_index_int8: index of the level nearest x (ties to the upper level), by bisection. */
    static int bestIndexInt8(byte[] val, float x) {
        int n = val.length;
        if (x <= val[0]) return 0;
        if (x >= val[n - 1]) return n - 1;
        int ml = 0, mu = n - 1;
        while (mu - ml > 1) {
            int mav = (ml + mu) / 2;
            if (x < val[mav]) mu = mav; else ml = mav;
        }
        return x - val[mu - 1] < val[mu] - x ? mu - 1 : mu;
    }

    /**
     * quantize_iq4_nl without an importance matrix, which is what llama-quantize runs (it calls
     * quantize_row_iq4_nl_impl with ntry = 7, where quantize_row_iq4_nl_ref passes -1): n values
     * into n/32 blocks of 18 bytes (f16 d, 16 nibble bytes indexing {@link #IQ4NL_VALUES}).
     * Squish writes it only where llama-quantize does: as the fallback of Q2_K and Q3_K for rows
     * that are not a multiple of 256.
     */
    public static void quantizeIQ4_NL(float[] x, int xOff, int n, byte[] out, int outOff) {
        if (n % QK != 0) throw new IllegalArgumentException("IQ4_NL needs a multiple of 32 values, got " + n);
        final int ntry = 7;
        byte[] values = IQ4NL_VALUES;
        int[] L = new int[QK];
        float[] weight = new float[QK];
        for (int b = 0; b < n / QK; b++) {
            int xb = xOff + b * QK, ob = outOff + b * 18;
            for (int j = 0; j < 16; j++) out[ob + 2 + j] = 0;
            float scale;
            for (int j = 0; j < QK; ++j) weight[j] = x[xb + j] * x[xb + j];
            float amax = 0, max = 0;
            for (int j = 0; j < QK; ++j) {
                float ax = Math.abs(x[xb + j]);
                if (ax > amax) { amax = ax; max = x[xb + j]; }
            }
            if (amax < 1e-15f) { // GROUP_MAX_EPS
                scale = 0;
            } else {
                float d = -max / values[0];
                float id = 1 / d;
                float sumqx = 0, sumq2 = 0;
                for (int j = 0; j < QK; ++j) {
                    float al = id * x[xb + j];
                    int l = bestIndexInt8(values, al);
                    L[j] = l;
                    float q = values[l];
                    float w = weight[j];
                    sumqx += w * q * x[xb + j];
                    sumq2 += w * q * q;
                }
                d = sumqx / sumq2;
                float best = d * sumqx;
                for (int itry = -ntry; itry <= ntry; ++itry) {
                    id = (itry + values[0]) / max;
                    sumqx = sumq2 = 0;
                    for (int j = 0; j < QK; ++j) {
                        float al = id * x[xb + j];
                        int l = bestIndexInt8(values, al);
                        float q = values[l];
                        float w = weight[j];
                        sumqx += w * q * x[xb + j];
                        sumq2 += w * q * q;
                    }
                    if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
                        d = sumqx / sumq2;
                        best = d * sumqx;
                    }
                }
                scale = d;
            }
            putF16(out, ob, Float.floatToFloat16(scale));
            float id = scale != 0 ? 1 / scale : 0;
            for (int j = 0; j < QK; ++j) L[j] = bestIndexInt8(values, id * x[xb + j]);
            for (int j = 0; j < 16; ++j) out[ob + 2 + j] = (byte) (L[j] | (L[16 + j] << 4));
        }
    }

    /** dequantize_row_iq4_nl. */
    public static void dequantizeIQ4_NL(MemorySegment src, long srcOff, float[] y, int yOff, int n) {
        for (int b = 0; b < n / QK; b++) {
            long sb = srcOff + 18L * b;
            float d = Float.float16ToFloat(src.get(I16, sb));
            int yb = yOff + b * QK;
            for (int j = 0; j < QK / 2; j++) {
                int q = src.get(ValueLayout.JAVA_BYTE, sb + 2 + j) & 0xff;
                y[yb + j] = d * IQ4NL_VALUES[q & 0x0f];
                y[yb + j + QK / 2] = d * IQ4NL_VALUES[q >>> 4];
            }
        }
    }

    /** dequantize_row_q8_0: n values from the blocks at src[srcOff] into y[yOff..]. */
    public static void dequantizeQ8_0(MemorySegment src, long srcOff, float[] y, int yOff, int n) {
        for (int b = 0; b < n / QK; b++) {
            long sb = srcOff + 34L * b;
            float d = Float.float16ToFloat(src.get(I16, sb));
            for (int j = 0; j < QK; j++) y[yOff + b * QK + j] = src.get(ValueLayout.JAVA_BYTE, sb + 2 + j) * d;
        }
    }

    /** dequantize_row_q4_0: n values from the blocks at src[srcOff] into y[yOff..]. */
    public static void dequantizeQ4_0(MemorySegment src, long srcOff, float[] y, int yOff, int n) {
        for (int b = 0; b < n / QK; b++) {
            long sb = srcOff + 18L * b;
            float d = Float.float16ToFloat(src.get(I16, sb));
            int yb = yOff + b * QK;
            for (int j = 0; j < QK / 2; j++) {
                int q = src.get(ValueLayout.JAVA_BYTE, sb + 2 + j) & 0xff;
                y[yb + j] = ((q & 0x0f) - 8) * d;
                y[yb + j + QK / 2] = ((q >>> 4) - 8) * d;
            }
        }
    }

    /** dequantize_row_q4_1. */
    public static void dequantizeQ4_1(MemorySegment src, long srcOff, float[] y, int yOff, int n) {
        for (int b = 0; b < n / QK; b++) {
            long sb = srcOff + 20L * b;
            float d = Float.float16ToFloat(src.get(I16, sb)), m = Float.float16ToFloat(src.get(I16, sb + 2));
            int yb = yOff + b * QK;
            for (int j = 0; j < QK / 2; j++) {
                int q = src.get(ValueLayout.JAVA_BYTE, sb + 4 + j) & 0xff;
                y[yb + j] = (q & 0x0f) * d + m;
                y[yb + j + QK / 2] = (q >>> 4) * d + m;
            }
        }
    }

    /** dequantize_row_q5_0 and dequantize_row_q5_1 (which adds the minimum instead of subtracting 16). */
    private static void dequantizeQ5(MemorySegment src, long srcOff, float[] y, int yOff, int n, boolean withMin) {
        int bytes = withMin ? 24 : 22, qhOff = withMin ? 4 : 2;
        for (int b = 0; b < n / QK; b++) {
            long sb = srcOff + (long) bytes * b;
            float d = Float.float16ToFloat(src.get(I16, sb));
            float m = withMin ? Float.float16ToFloat(src.get(I16, sb + 2)) : 0f;
            int qh = src.get(I32, sb + qhOff);
            int yb = yOff + b * QK;
            for (int j = 0; j < QK / 2; j++) {
                int q = src.get(ValueLayout.JAVA_BYTE, sb + qhOff + 4 + j) & 0xff;
                int xh0 = ((qh >>> j) << 4) & 0x10, xh1 = (qh >>> (j + 12)) & 0x10;
                int x0 = (q & 0x0f) | xh0, x1 = (q >>> 4) | xh1;
                if (withMin) {
                    y[yb + j] = x0 * d + m;
                    y[yb + j + QK / 2] = x1 * d + m;
                } else {
                    y[yb + j] = (x0 - 16) * d;
                    y[yb + j + QK / 2] = (x1 - 16) * d;
                }
            }
        }
    }

    public static void dequantizeQ5_0(MemorySegment src, long srcOff, float[] y, int yOff, int n) { dequantizeQ5(src, srcOff, y, yOff, n, false); }

    public static void dequantizeQ5_1(MemorySegment src, long srcOff, float[] y, int yOff, int n) { dequantizeQ5(src, srcOff, y, yOff, n, true); }

    /** Types {@link #encode} writes. */
    public static boolean canEncode(GgmlType type) {
        return switch (type) {
            case F32, F16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL -> true;
            default -> false;
        };
    }

    /**
     * Encodes values (row-major, rows of {@code rowLength}) as {@code type}. Block types need a row
     * length that is a multiple of the block size (32, or 256 for the k-quants; ggml quantizes rows,
     * blocks never span two rows).
     */
    public static byte[] encode(GgmlType type, float[] values, long rowLength) {
        int n = values.length;
        switch (type) {
            case F32 -> {
                byte[] out = new byte[Math.multiplyExact(n, 4)];
                MemorySegment.copy(values, 0, MemorySegment.ofArray(out), F32, 0, n);
                return out;
            }
            case F16 -> {
                byte[] out = new byte[Math.multiplyExact(n, 2)];
                for (int i = 0; i < n; i++) putF16(out, 2 * i, Float.floatToFloat16(values[i]));
                return out;
            }
            case Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL -> {
                if (rowLength % type.blockSize != 0 || n % type.blockSize != 0)
                    throw new IllegalArgumentException(type + " needs rows whose length is a multiple of " + type.blockSize + ", got " + rowLength);
                byte[] out = new byte[Math.toIntExact(type.bytes(n))];
                switch (type) {
                    case Q8_0 -> quantizeQ8_0(values, 0, n, out, 0);
                    case Q4_0 -> quantizeQ4_0(values, 0, n, out, 0);
                    case Q4_1 -> quantizeQ4_1(values, 0, n, out, 0);
                    case Q5_0 -> quantizeQ5_0(values, 0, n, out, 0);
                    case Q5_1 -> quantizeQ5_1(values, 0, n, out, 0);
                    case Q2_K -> GgufKQuant.quantizeQ2_K(values, 0, n, out, 0);
                    case Q3_K -> GgufKQuant.quantizeQ3_K(values, 0, n, out, 0);
                    case Q4_K -> GgufKQuant.quantizeQ4_K(values, 0, n, out, 0);
                    case Q5_K -> GgufKQuant.quantizeQ5_K(values, 0, n, out, 0);
                    case IQ4_NL -> quantizeIQ4_NL(values, 0, n, out, 0);
                    default -> GgufKQuant.quantizeQ6_K(values, 0, n, out, 0);
                }
                return out;
            }
            default -> throw new IllegalArgumentException("writing " + type + " is not supported (" + SUPPORTED + ")");
        }
    }

    /** True when {@link #decode} can convert {@code type} to float. */
    public static boolean canDecode(GgmlType type) {
        return type == GgmlType.BF16 || canEncode(type);
    }

    /** Decodes n values of {@code type} stored at the start of {@code data}. */
    public static float[] decode(GgmlType type, MemorySegment data, int n) {
        float[] y = new float[n];
        switch (type) {
            case F32 -> MemorySegment.copy(data, F32, 0, y, 0, n);
            case F16 -> { for (int i = 0; i < n; i++) y[i] = Float.float16ToFloat(data.get(I16, 2L * i)); }
            case BF16 -> { for (int i = 0; i < n; i++) y[i] = Float.intBitsToFloat((data.get(I16, 2L * i) & 0xffff) << 16); }
            case Q8_0 -> dequantizeQ8_0(data, 0, y, 0, n);
            case Q4_0 -> dequantizeQ4_0(data, 0, y, 0, n);
            case Q4_1 -> dequantizeQ4_1(data, 0, y, 0, n);
            case Q5_0 -> dequantizeQ5_0(data, 0, y, 0, n);
            case Q5_1 -> dequantizeQ5_1(data, 0, y, 0, n);
            case Q2_K -> GgufKQuant.dequantizeQ2_K(data, 0, y, 0, n);
            case Q3_K -> GgufKQuant.dequantizeQ3_K(data, 0, y, 0, n);
            case Q4_K -> GgufKQuant.dequantizeQ4_K(data, 0, y, 0, n);
            case Q5_K -> GgufKQuant.dequantizeQ5_K(data, 0, y, 0, n);
            case Q6_K -> GgufKQuant.dequantizeQ6_K(data, 0, y, 0, n);
            case IQ4_NL -> dequantizeIQ4_NL(data, 0, y, 0, n);
            default -> throw new SquishException("converting " + type + " tensors to float is not supported (BF16, " + SUPPORTED + ")");
        }
        return y;
    }

    /**
     * Decodes n values of a block type ({@link #canEncode}, not F32/F16) stored at byte {@code off}
     * of {@code data} into {@code y[yOff ..]}, without allocating (a row at a time, for weights kept
     * in ggml's blocks).
     */
    public static void decodeInto(GgmlType type, MemorySegment data, long off, float[] y, int yOff, int n) {
        switch (type) {
            case Q8_0 -> dequantizeQ8_0(data, off, y, yOff, n);
            case Q4_0 -> dequantizeQ4_0(data, off, y, yOff, n);
            case Q4_1 -> dequantizeQ4_1(data, off, y, yOff, n);
            case Q5_0 -> dequantizeQ5_0(data, off, y, yOff, n);
            case Q5_1 -> dequantizeQ5_1(data, off, y, yOff, n);
            case Q2_K -> GgufKQuant.dequantizeQ2_K(data, off, y, yOff, n);
            case Q3_K -> GgufKQuant.dequantizeQ3_K(data, off, y, yOff, n);
            case Q4_K -> GgufKQuant.dequantizeQ4_K(data, off, y, yOff, n);
            case Q5_K -> GgufKQuant.dequantizeQ5_K(data, off, y, yOff, n);
            case Q6_K -> GgufKQuant.dequantizeQ6_K(data, off, y, yOff, n);
            case IQ4_NL -> dequantizeIQ4_NL(data, off, y, yOff, n);
            default -> throw new IllegalArgumentException("decodeInto supports block types, not " + type);
        }
    }

    /**
     * The type llama-quantize ({@code llama_tensor_get_type}, src/llama-quant.cpp) stores a tensor
     * of {@code type} with rows of {@code cols} values in: {@code type} when its blocks divide the
     * rows; else the k-quants' fallbacks (Q2_K, Q3_K to IQ4_NL; Q4_K to Q5_0; Q5_K to Q5_1; Q6_K to
     * Q8_0), F16 when the fallback's 32-value blocks do not fit either; null for a 32-value type
     * that does not fit (llama-quantize refuses it).
     */
    public static GgmlType forRows(GgmlType type, long cols) {
        if (!type.isBlockQuantized() || cols % type.blockSize == 0) return type;
        GgmlType fallback = switch (type) {
            case Q2_K, Q3_K -> GgmlType.IQ4_NL;
            case Q4_K -> GgmlType.Q5_0;
            case Q5_K -> GgmlType.Q5_1;
            case Q6_K -> GgmlType.Q8_0;
            default -> null;
        };
        if (fallback == null) return null;
        return cols % fallback.blockSize == 0 ? fallback : GgmlType.F16;
    }

    /** The types written and read, for messages. */
    public static final String SUPPORTED = "F32, F16, Q8_0, Q5_0, Q5_1, Q4_0, Q4_1, Q6_K, Q5_K, Q4_K, Q3_K, Q2_K, IQ4_NL";

    private static void putI32(byte[] out, int off, int v) {
        out[off] = (byte) v;
        out[off + 1] = (byte) (v >>> 8);
        out[off + 2] = (byte) (v >>> 16);
        out[off + 3] = (byte) (v >>> 24);
    }

    private static void putF16(byte[] out, int off, short h) {
        out[off] = (byte) h;
        out[off + 1] = (byte) (h >>> 8);
    }
}
