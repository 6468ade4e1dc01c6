package dev.squish.formats;

/**
 * An independent transcription of ggml's reference code for the tests: quantize_row_q8_0_ref,
 * quantize_row_q4_0_ref, the dequantizers, and ggml_compute_fp32_to_fp16 (round to nearest even,
 * by bit manipulation, not the JDK's Float.floatToFloat16). C's roundf is computed in double
 * (floor(|x| + 0.5) is exact there for float inputs).
 */
final class GgmlReference {
    private GgmlReference() {}

    static short fp32ToFp16(float f) {
        int b = Float.floatToRawIntBits(f);
        int sign = (b >>> 16) & 0x8000, exp = (b >>> 23) & 0xff, mant = b & 0x7fffff;
        if (exp == 255) return (short) (sign | 0x7c00 | (mant != 0 ? 0x200 : 0));
        int e = exp - 127 + 15;
        if (e >= 31) return (short) (sign | 0x7c00);
        if (e <= 0) {
            if (e < -10) return (short) sign;
            mant |= 0x800000;
            int shift = 14 - e;
            int h = mant >> shift, rem = mant & ((1 << shift) - 1), half = 1 << (shift - 1);
            if (rem > half || (rem == half && (h & 1) != 0)) h++;
            return (short) (sign | h);
        }
        int h = (e << 10) | (mant >> 13), rem = mant & 0x1fff;
        if (rem > 0x1000 || (rem == 0x1000 && (h & 1) != 0)) h++;
        return (short) (sign | h);
    }

    static float fp16ToFp32(short h) {
        int sign = (h >>> 15) & 1, exp = (h >>> 10) & 0x1f, mant = h & 0x3ff;
        double v;
        if (exp == 0) v = mant * Math.pow(2, -24);
        else if (exp == 31) v = mant == 0 ? Double.POSITIVE_INFINITY : Double.NaN;
        else v = (1024 + mant) * Math.pow(2, exp - 25);
        return (float) (sign == 1 ? -v : v);
    }

    static float roundf(float x) {
        double r = Math.floor(Math.abs((double) x) + 0.5);
        return (float) (x < 0 ? -r : r);
    }

    /** One Q8_0 block (34 bytes) per 32 values. */
    static byte[] q8_0(float[] x) {
        int nb = x.length / 32;
        byte[] y = new byte[nb * 34];
        for (int i = 0; i < nb; i++) {
            float amax = 0.0f;
            for (int j = 0; j < 32; j++) {
                float v = Math.abs(x[i * 32 + j]);
                amax = amax > v ? amax : v;
            }
            float d = amax / ((1 << 7) - 1);
            float id = d != 0 ? 1.0f / d : 0.0f;
            short h = fp32ToFp16(d);
            y[i * 34] = (byte) h;
            y[i * 34 + 1] = (byte) (h >> 8);
            for (int j = 0; j < 32; j++) y[i * 34 + 2 + j] = (byte) (int) roundf(x[i * 32 + j] * id);
        }
        return y;
    }

    /** One Q4_0 block (18 bytes) per 32 values. */
    static byte[] q4_0(float[] x) {
        int nb = x.length / 32;
        byte[] y = new byte[nb * 18];
        for (int i = 0; i < nb; i++) {
            float amax = 0.0f, max = 0.0f;
            for (int j = 0; j < 32; j++) {
                float v = x[i * 32 + j];
                if (amax < Math.abs(v)) { amax = Math.abs(v); max = v; }
            }
            float d = max / -8;
            float id = d != 0 ? 1.0f / d : 0.0f;
            short h = fp32ToFp16(d);
            y[i * 18] = (byte) h;
            y[i * 18 + 1] = (byte) (h >> 8);
            for (int j = 0; j < 16; j++) {
                float x0 = x[i * 32 + j] * id, x1 = x[i * 32 + 16 + j] * id;
                int xi0 = Math.min(15, (byte) (int) (x0 + 8.5f)), xi1 = Math.min(15, (byte) (int) (x1 + 8.5f));
                y[i * 18 + 2 + j] = (byte) (xi0 | (xi1 << 4));
            }
        }
        return y;
    }

    static float[] dq8_0(byte[] y) {
        float[] x = new float[y.length / 34 * 32];
        for (int i = 0; i < y.length / 34; i++) {
            float d = fp16ToFp32((short) ((y[i * 34] & 0xff) | (y[i * 34 + 1] << 8)));
            for (int j = 0; j < 32; j++) x[i * 32 + j] = y[i * 34 + 2 + j] * d;
        }
        return x;
    }

    static float[] dq4_0(byte[] y) {
        float[] x = new float[y.length / 18 * 32];
        for (int i = 0; i < y.length / 18; i++) {
            float d = fp16ToFp32((short) ((y[i * 18] & 0xff) | (y[i * 18 + 1] << 8)));
            for (int j = 0; j < 16; j++) {
                int q = y[i * 18 + 2 + j] & 0xff;
                x[i * 32 + j] = ((q & 0x0f) - 8) * d;
                x[i * 32 + 16 + j] = ((q >> 4) - 8) * d;
            }
        }
        return x;
    }
}
