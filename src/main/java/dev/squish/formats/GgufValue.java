package dev.squish.formats;

import java.util.List;

/**
 * One GGUF metadata value: a scalar, a string, or an array. Scalars hold {@code Long} for every
 * integer type (UINT64 values above {@code Long.MAX_VALUE} keep their bit pattern), {@code Float},
 * {@code Double}, {@code Boolean} or {@code String}. Arrays keep their elements compactly:
 * {@code byte[]} (UINT8/INT8), {@code short[]} (UINT16/INT16), {@code int[]} (UINT32/INT32),
 * {@code long[]} (UINT64/INT64), {@code float[]}, {@code double[]}, {@code boolean[]},
 * {@code List<String>} or, for nested arrays, {@code List<GgufValue>}.
 */
public record GgufValue(Type type, Type elementType, Object value) {

    /** GGUF value types, numbered as in the file. */
    public enum Type {
        UINT8(1), INT8(1), UINT16(2), INT16(2), UINT32(4), INT32(4), FLOAT32(4), BOOL(1), STRING(8), ARRAY(12),
        UINT64(8), INT64(8), FLOAT64(8);

        /** Smallest encoding in bytes (a string's length prefix, an array's type and count). */
        public final int minBytes;

        Type(int minBytes) { this.minBytes = minBytes; }

        public int id() { return ordinal(); }

        public static Type fromId(long id) {
            return id >= 0 && id < values().length ? values()[(int) id] : null;
        }

        public boolean isInteger() { return this == UINT8 || this == INT8 || this == UINT16 || this == INT16 || this == UINT32 || this == INT32 || this == UINT64 || this == INT64; }
    }

    public static GgufValue u32(long v) { return new GgufValue(Type.UINT32, null, v); }
    public static GgufValue i32(long v) { return new GgufValue(Type.INT32, null, v); }
    public static GgufValue u64(long v) { return new GgufValue(Type.UINT64, null, v); }
    public static GgufValue i64(long v) { return new GgufValue(Type.INT64, null, v); }
    public static GgufValue u8(long v) { return new GgufValue(Type.UINT8, null, v); }
    public static GgufValue i8(long v) { return new GgufValue(Type.INT8, null, v); }
    public static GgufValue u16(long v) { return new GgufValue(Type.UINT16, null, v); }
    public static GgufValue i16(long v) { return new GgufValue(Type.INT16, null, v); }
    public static GgufValue f32(float v) { return new GgufValue(Type.FLOAT32, null, v); }
    public static GgufValue f64(double v) { return new GgufValue(Type.FLOAT64, null, v); }
    public static GgufValue bool(boolean v) { return new GgufValue(Type.BOOL, null, v); }
    public static GgufValue string(String v) { return new GgufValue(Type.STRING, null, v); }
    public static GgufValue strings(List<String> v) { return new GgufValue(Type.ARRAY, Type.STRING, List.copyOf(v)); }
    public static GgufValue i32s(int[] v) { return new GgufValue(Type.ARRAY, Type.INT32, v.clone()); }
    public static GgufValue u32s(int[] v) { return new GgufValue(Type.ARRAY, Type.UINT32, v.clone()); }
    public static GgufValue f32s(float[] v) { return new GgufValue(Type.ARRAY, Type.FLOAT32, v.clone()); }

    /**
     * A typed array: {@code values} must be the Java array type (or list) listed in the class comment
     * for {@code elementType}.
     */
    public static GgufValue array(Type elementType, Object values) {
        GgufValue v = new GgufValue(Type.ARRAY, elementType, values);
        v.length(); // validates the pairing
        return v;
    }

    public GgufValue {
        if (type == null) throw new IllegalArgumentException("type is null");
        if ((type == Type.ARRAY) != (elementType != null)) throw new IllegalArgumentException("elementType is for arrays only");
        if (value == null) throw new IllegalArgumentException("value is null");
        if (type != Type.ARRAY) {
            boolean ok = switch (type) {
                case FLOAT32 -> value instanceof Float;
                case FLOAT64 -> value instanceof Double;
                case BOOL -> value instanceof Boolean;
                case STRING -> value instanceof String;
                default -> value instanceof Long;
            };
            if (!ok) throw new IllegalArgumentException(type + " value cannot be a " + value.getClass().getSimpleName());
        }
    }

    /** Number of elements of an array value. */
    public int length() {
        if (type != Type.ARRAY) throw new IllegalStateException("not an array: " + type);
        return switch (elementType) {
            case UINT8, INT8 -> ((byte[]) value).length;
            case UINT16, INT16 -> ((short[]) value).length;
            case UINT32, INT32 -> ((int[]) value).length;
            case UINT64, INT64 -> ((long[]) value).length;
            case FLOAT32 -> ((float[]) value).length;
            case FLOAT64 -> ((double[]) value).length;
            case BOOL -> ((boolean[]) value).length;
            case STRING, ARRAY -> ((List<?>) value).size();
        };
    }

    /** An integer scalar as a long (unsigned types zero-extended; UINT64 keeps its bits). */
    public long asLong() {
        if (!type.isInteger()) throw new IllegalStateException("not an integer: " + type);
        return (Long) value;
    }

    /** A float scalar (FLOAT32 or FLOAT64) or an integer, as a double. */
    public double asDouble() {
        return switch (type) {
            case FLOAT32 -> (Float) value;
            case FLOAT64 -> (Double) value;
            default -> asLong();
        };
    }

    public String asString() {
        if (type != Type.STRING) throw new IllegalStateException("not a string: " + type);
        return (String) value;
    }

    public boolean asBoolean() {
        if (type != Type.BOOL) throw new IllegalStateException("not a bool: " + type);
        return (Boolean) value;
    }

    @SuppressWarnings("unchecked")
    public List<String> asStrings() {
        if (type != Type.ARRAY || elementType != Type.STRING) throw new IllegalStateException("not an array of strings");
        return (List<String>) value;
    }

    /** Element i of an integer array (unsigned types zero-extended). */
    public long longAt(int i) {
        return switch (elementType == null ? Type.ARRAY : elementType) {
            case UINT8 -> ((byte[]) value)[i] & 0xffL;
            case INT8 -> ((byte[]) value)[i];
            case UINT16 -> ((short[]) value)[i] & 0xffffL;
            case INT16 -> ((short[]) value)[i];
            case UINT32 -> ((int[]) value)[i] & 0xffffffffL;
            case INT32 -> ((int[]) value)[i];
            case UINT64, INT64 -> ((long[]) value)[i];
            default -> throw new IllegalStateException("not an integer array");
        };
    }

    @Override public String toString() {
        if (type != Type.ARRAY) return type == Type.STRING ? '"' + (String) value + '"' : String.valueOf(value);
        return "[" + elementType + " x " + length() + "]";
    }
}
