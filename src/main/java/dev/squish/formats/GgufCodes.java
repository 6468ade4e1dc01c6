package dev.squish.formats;

import java.lang.foreign.MemorySegment;

/**
 * Writes the integer codes of one ggml block without touching its scales, so a calibrated
 * quantizer (GPTQ on llama.cpp's grid) can keep the block header ggml's reference quantizer chose
 * and pick each value's code itself. Every supported type dequantizes position p of a block as an
 * affine function of its code, {@code y = a[p] * code + b[p]} (code 0..{@link #maxCode}); {@link
 * #affine} recovers a and b from the type's own dequantizer (all codes 0, then all codes 1), so
 * the grid is exactly the one llama.cpp reads. The packing mirrors the last loop of each
 * {@code quantize_row_*_ref}.
 */
public final class GgufCodes {
    private GgufCodes() {}

    /** True for the types {@link #pack} handles. */
    public static boolean supports(GgmlType t) {
        return switch (t) {
            case Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K -> true;
            default -> false;
        };
    }

    /** Largest code (codes run from 0). Q8_0's code c stores the int8 value c - 128. */
    public static int maxCode(GgmlType t) {
        return switch (t) {
            case Q8_0 -> 255;
            case Q4_0, Q4_1, Q4_K -> 15;
            case Q5_0, Q5_1, Q5_K -> 31;
            case Q2_K -> 3;
            case Q3_K -> 7;
            case Q6_K -> 63;
            default -> throw new IllegalArgumentException("no codes for " + t);
        };
    }

    /** Writes codes L[0..blockSize) into the block of type t at blk[off], leaving its scales as they are. */
    public static void pack(GgmlType t, int[] L, byte[] blk, int off) {
        switch (t) {
            case Q8_0 -> { for (int j = 0; j < 32; j++) blk[off + 2 + j] = (byte) (L[j] - 128); }
            case Q4_0 -> nibbles(L, blk, off + 2);
            case Q4_1 -> nibbles(L, blk, off + 4);
            case Q5_0 -> fiveBit(L, blk, off + 2);
            case Q5_1 -> fiveBit(L, blk, off + 4);
            case Q2_K -> twoBit(L, blk, off + 16);
            case Q3_K -> {
                for (int j = 0; j < 32; j++) blk[off + j] = 0;
                int[] low = new int[256];
                int m = 0, hm = 1;
                for (int j = 0; j < 256; ++j) {
                    low[j] = L[j];
                    if (L[j] > 3) { blk[off + m] |= (byte) hm; low[j] -= 4; }
                    if (++m == 32) { m = 0; hm <<= 1; }
                }
                twoBit(low, blk, off + 32);
            }
            case Q4_K -> {
                int q = off + 16;
                for (int j = 0; j < 256; j += 64) {
                    for (int l = 0; l < 32; ++l) blk[q + l] = (byte) (L[j + l] | (L[j + l + 32] << 4));
                    q += 32;
                }
            }
            case Q5_K -> {
                int qh = off + 16, ql = off + 48;
                for (int j = 0; j < 32; j++) blk[qh + j] = 0;
                int m1 = 1, m2 = 2;
                for (int n = 0; n < 256; n += 64) {
                    for (int j = 0; j < 32; ++j) {
                        int l1 = L[n + j], l2 = L[n + j + 32];
                        if (l1 > 15) { l1 -= 16; blk[qh + j] |= (byte) m1; }
                        if (l2 > 15) { l2 -= 16; blk[qh + j] |= (byte) m2; }
                        blk[ql + j] = (byte) (l1 | (l2 << 4));
                    }
                    m1 <<= 2; m2 <<= 2;
                    ql += 32;
                }
            }
            case Q6_K -> {
                int ql = off, qh = off + 128;
                for (int j = 0; j < 256; j += 128) {
                    for (int l = 0; l < 32; ++l) {
                        blk[ql + l] = (byte) ((L[j + l] & 0xF) | ((L[j + l + 64] & 0xF) << 4));
                        blk[ql + l + 32] = (byte) ((L[j + l + 32] & 0xF) | ((L[j + l + 96] & 0xF) << 4));
                        blk[qh + l] = (byte) ((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6));
                    }
                    ql += 64;
                    qh += 32;
                }
            }
            default -> throw new IllegalArgumentException("no codes for " + t);
        }
    }

    private static void nibbles(int[] L, byte[] blk, int qs) {
        for (int j = 0; j < 16; j++) blk[qs + j] = (byte) (L[j] | (L[j + 16] << 4));
    }

    private static void fiveBit(int[] L, byte[] blk, int qhOff) {
        int qh = 0;
        for (int j = 0; j < 16; j++) {
            blk[qhOff + 4 + j] = (byte) ((L[j] & 0x0F) | ((L[j + 16] & 0x0F) << 4));
            qh |= ((L[j] & 0x10) >>> 4) << j;
            qh |= ((L[j + 16] & 0x10) >>> 4) << (j + 16);
        }
        for (int k = 0; k < 4; k++) blk[qhOff + k] = (byte) (qh >>> (8 * k));
    }

    private static void twoBit(int[] L, byte[] blk, int qs) {
        for (int j = 0; j < 256; j += 128)
            for (int l = 0; l < 32; ++l)
                blk[qs + j / 4 + l] = (byte) (L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
    }

    /**
     * The affine grid of one block: {@code a[p]} and {@code b[p]} with dequantized value
     * {@code a[p] * code + b[p]}, read back through the type's dequantizer (a copy of the block with
     * all codes 0, then all codes 1).
     */
    public static void affine(GgmlType t, byte[] blk, int off, float[] a, float[] b) {
        int n = t.blockSize;
        byte[] tmp = java.util.Arrays.copyOfRange(blk, off, off + t.blockBytes);
        int[] L = new int[n];
        pack(t, L, tmp, 0);
        float[] y0 = GgufQuant.decode(t, MemorySegment.ofArray(tmp), n);
        java.util.Arrays.fill(L, 1);
        pack(t, L, tmp, 0);
        float[] y1 = GgufQuant.decode(t, MemorySegment.ofArray(tmp), n);
        for (int p = 0; p < n; p++) { b[p] = y0[p]; a[p] = y1[p] - y0[p]; }
    }
}
