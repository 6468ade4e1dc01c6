package dev.squish.fuzz;

import java.util.Arrays;

/**
 * Splits a fuzz input into parts: each {@link #next()} is a 2-byte little-endian length followed by
 * that many bytes (clipped to what is left); {@link #rest()} is everything after. A plain byte
 * framing (rather than {@code FuzzedDataProvider}) keeps seed files easy to write by hand or script.
 */
final class Frames {
    private final byte[] data;
    private int pos;

    Frames(byte[] data) { this.data = data; }

    byte[] next() {
        if (pos + 2 > data.length) { pos = data.length; return new byte[0]; }
        int n = (data[pos] & 0xff) | (data[pos + 1] & 0xff) << 8;
        pos += 2;
        int end = (int) Math.min((long) pos + n, data.length);
        byte[] out = Arrays.copyOfRange(data, pos, end);
        pos = end;
        return out;
    }

    byte[] rest() {
        byte[] out = Arrays.copyOfRange(data, pos, data.length);
        pos = data.length;
        return out;
    }
}
