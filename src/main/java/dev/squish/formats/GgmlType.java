package dev.squish.formats;

/**
 * ggml tensor element types as numbered in GGUF files (ggml.h {@code enum ggml_type}; block sizes
 * and block byte sizes from gguf-py {@code GGML_QUANT_SIZES}). The reader knows the layout of all
 * of them (to validate a file's tensor sizes); {@link GgufQuant} writes F32, F16, Q8_0, Q5_0, Q5_1,
 * Q4_0, Q4_1 and the k-quants Q2_K..Q6_K, and converts those and BF16 to float.
 */
public enum GgmlType {
    F32(0, 1, 4), F16(1, 1, 2), Q4_0(2, 32, 18), Q4_1(3, 32, 20), Q5_0(6, 32, 22), Q5_1(7, 32, 24),
    Q8_0(8, 32, 34), Q8_1(9, 32, 40), Q2_K(10, 256, 84), Q3_K(11, 256, 110), Q4_K(12, 256, 144),
    Q5_K(13, 256, 176), Q6_K(14, 256, 210), Q8_K(15, 256, 292), IQ2_XXS(16, 256, 66), IQ2_XS(17, 256, 74),
    IQ3_XXS(18, 256, 98), IQ1_S(19, 256, 50), IQ4_NL(20, 32, 18), IQ3_S(21, 256, 110), IQ2_S(22, 256, 82),
    IQ4_XS(23, 256, 136), I8(24, 1, 1), I16(25, 1, 2), I32(26, 1, 4), I64(27, 1, 8), F64(28, 1, 8),
    IQ1_M(29, 256, 56), BF16(30, 1, 2), TQ1_0(34, 256, 54), TQ2_0(35, 256, 66), MXFP4(39, 32, 17);

    /** The number stored in a GGUF tensor info. */
    public final int id;
    /** Elements per block (1 for plain types). */
    public final int blockSize;
    /** Bytes per block. */
    public final int blockBytes;

    GgmlType(int id, int blockSize, int blockBytes) {
        this.id = id; this.blockSize = blockSize; this.blockBytes = blockBytes;
    }

    private static final GgmlType[] BY_ID = new GgmlType[64];
    static { for (GgmlType t : values()) BY_ID[t.id] = t; }

    /** The type numbered {@code id}, or null when unknown. */
    public static GgmlType fromId(long id) {
        return id >= 0 && id < BY_ID.length ? BY_ID[(int) id] : null;
    }

    public boolean isBlockQuantized() { return blockSize > 1; }

    /** Bytes of {@code n} elements (n must be a multiple of {@link #blockSize}). */
    public long bytes(long n) { return Math.multiplyExact(n / blockSize, (long) blockBytes); }
}
