package dev.squish.weights;

/**
 * The row-major bitmask the sparse formats share (bitmask sparse, sparse-int, N:M): each row has
 * {@link #words} 64-bit words, and bit {@code c & 63} of word {@code c >>> 6} is column c. The
 * kernels read the words directly; this is the one place that builds and tests single bits.
 */
final class Bitmask {
    private Bitmask() {}

    /** Words per row of {@code cols} columns. */
    static int words(int cols) { return (cols + 63) >>> 6; }

    static void set(long[] mask, int wpr, int r, int c) { mask[r * wpr + (c >>> 6)] |= 1L << (c & 63); }

    static boolean get(long[] mask, int wpr, int r, int c) { return (mask[r * wpr + (c >>> 6)] >>> (c & 63) & 1) != 0; }
}
