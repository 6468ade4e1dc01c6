package dev.squish.formats;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Arrays;

/** One tensor of a safetensors file: its name, dtype, shape and a (memory-mapped) view of its bytes. */
public record TensorInfo(String name, DType dtype, long[] shape, MemorySegment data, Path file) {
    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    public long numel() {
        long n = 1;
        for (long d : shape) n *= d;
        return n;
    }

    public int rank() { return shape.length; }

    /** Dimension i as an int; a dimension too large for Java arrays is an input error naming the tensor. */
    public int dim(int i) {
        if (shape[i] > Integer.MAX_VALUE)
            throw new dev.squish.SquishException(file + ": tensor " + name + " dimension " + shape[i] + " is too large");
        return (int) shape[i];
    }

    /** Reads the whole tensor as float32 (converting F16/BF16/F64) onto the heap. */
    public float[] toFloatArray() {
        long n = numel();
        if (n > Integer.MAX_VALUE - 8) throw new dev.squish.SquishException(file + ": tensor " + name + " too large for one array");
        float[] out = new float[(int) n];
        switch (dtype) {
            case F32 -> MemorySegment.copy(data, F32, 0, out, 0, out.length);
            case F16 -> { for (int i = 0; i < out.length; i++) out[i] = Float.float16ToFloat(data.get(I16, 2L * i)); }
            case BF16 -> { for (int i = 0; i < out.length; i++) out[i] = Float.intBitsToFloat((data.get(I16, 2L * i) & 0xffff) << 16); }
            case F64 -> { for (int i = 0; i < out.length; i++) out[i] = (float) data.get(F64, 8L * i); }
            case I8 -> { for (int i = 0; i < out.length; i++) out[i] = data.get(ValueLayout.JAVA_BYTE, i); }
            case I32 -> { for (int i = 0; i < out.length; i++) out[i] = data.get(I32, 4L * i); }
            default -> throw new dev.squish.SquishException(file + ": tensor " + name + " has dtype " + dtype + ", expected a float type");
        }
        return out;
    }

    public int[] toIntArray() {
        long count = numel();
        if (count > Integer.MAX_VALUE - 8) throw new dev.squish.SquishException(file + ": tensor " + name + " too large for one array");
        int n = (int) count;
        int[] out = new int[n];
        switch (dtype) {
            case I32 -> MemorySegment.copy(data, I32, 0, out, 0, n);
            case I64 -> {
                for (int i = 0; i < n; i++) {
                    long v = data.get(I64, 8L * i);
                    if (v != (int) v) throw new dev.squish.SquishException(file + ": tensor " + name + " holds " + v + ", outside the 32-bit range");
                    out[i] = (int) v;
                }
            }
            case I16 -> { for (int i = 0; i < n; i++) out[i] = data.get(I16, 2L * i); }
            case U16 -> { for (int i = 0; i < n; i++) out[i] = data.get(I16, 2L * i) & 0xffff; }
            case I8 -> { for (int i = 0; i < n; i++) out[i] = data.get(ValueLayout.JAVA_BYTE, i); }
            case U8, BOOL -> { for (int i = 0; i < n; i++) out[i] = data.get(ValueLayout.JAVA_BYTE, i) & 0xff; }
            default -> throw new dev.squish.SquishException(file + ": tensor " + name + " has dtype " + dtype + ", expected an integer type");
        }
        return out;
    }

    public byte[] toByteArray() {
        return data.toArray(ValueLayout.JAVA_BYTE);
    }

    @Override public String toString() { return name + " " + dtype + Arrays.toString(shape); }
}
