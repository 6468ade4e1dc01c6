package dev.squish.formats;

import dev.squish.SquishException;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Encoding and decoding of ggml tensor data, bit-exact with ggml's reference code
 * ({@code ggml-quants.c}: {@code quantize_row_q8_0_ref}, {@code quantize_row_q4_0_ref},
 * {@code dequantize_row_q8_0}, {@code dequantize_row_q4_0}). Float-to-half conversion rounds to
 * nearest even, as {@code GGML_FP32_TO_FP16} does (F16C or the portable fallback).
 *
 * <p>Block layouts (32 values per block): Q8_0 = f16 scale d, then 32 int8 q (x = q * d);
 * Q4_0 = f16 scale d, then 16 bytes whose low nibbles hold values 0..15 and high nibbles values
 * 16..31 (x = (q - 8) * d). Hand-written because no Java library implements ggml's formats.
 */
public final class GgufQuant {
    private GgufQuant() {}

    /** Values per Q8_0 / Q4_0 block. */
    public static final int QK = 32;

    static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
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

    /**
     * Encodes values (row-major, rows of {@code rowLength}) as {@code type}. Block types need a row
     * length that is a multiple of 32 (ggml quantizes rows, blocks never span two rows).
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
            case Q8_0, Q4_0 -> {
                if (rowLength % QK != 0 || n % QK != 0)
                    throw new IllegalArgumentException(type + " needs rows whose length is a multiple of 32, got " + rowLength);
                byte[] out = new byte[Math.toIntExact(type.bytes(n))];
                if (type == GgmlType.Q8_0) quantizeQ8_0(values, 0, n, out, 0);
                else quantizeQ4_0(values, 0, n, out, 0);
                return out;
            }
            default -> throw new IllegalArgumentException("writing " + type + " is not supported (F32, F16, Q8_0, Q4_0)");
        }
    }

    /** True when {@link #decode} can convert {@code type} to float. */
    public static boolean canDecode(GgmlType type) {
        return type == GgmlType.F32 || type == GgmlType.F16 || type == GgmlType.BF16 || type == GgmlType.Q8_0 || type == GgmlType.Q4_0;
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
            default -> throw new SquishException("converting " + type + " tensors to float is not supported (F32, F16, BF16, Q8_0, Q4_0)");
        }
        return y;
    }

    private static void putF16(byte[] out, int off, short h) {
        out[off] = (byte) h;
        out[off + 1] = (byte) (h >>> 8);
    }
}
