package dev.squish.formats;

import java.util.Locale;

/** Element types of safetensors (and the subset Squish writes). */
public enum DType {
    F64(8), F32(4), F16(2), BF16(2), I64(8), I32(4), I16(2), I8(1), U8(1), BOOL(1), U16(2), U32(4), U64(8),
    F8_E4M3(1), F8_E5M2(1);

    public final int bytes;
    DType(int bytes) { this.bytes = bytes; }

    /** Parses a safetensors dtype name; returns null when unknown. */
    public static DType parse(String s) {
        if (s == null) return null;
        try { return DType.valueOf(s.toUpperCase(Locale.ROOT)); } catch (IllegalArgumentException e) { return null; }
    }

    public boolean isFloat() { return this == F64 || this == F32 || this == F16 || this == BF16; }
}
