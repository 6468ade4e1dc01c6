package dev.squish.weights;

import dev.squish.SquishException;
import dev.squish.formats.DType;
import dev.squish.formats.SafeTensors;
import dev.squish.formats.SafeTensorsWriter;
import dev.squish.formats.TensorInfo;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;

/** Reading and writing the tensors of the compact formats, with checks that name the tensor at fault. */
final class FormatIO {
    private FormatIO() {}

    static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** The tensor {@code name}, checked to have the given dtype and shape (a negative dim matches any). */
    static TensorInfo need(SafeTensors st, String name, DType dtype, long... shape) {
        TensorInfo t = st.get(name);
        boolean ok = t.dtype() == dtype && t.rank() == shape.length;
        for (int i = 0; ok && i < shape.length; i++) ok = shape[i] < 0 || shape[i] == t.shape()[i];
        if (!ok) throw new SquishException(t.file() + ": tensor " + name + " should be " + dtype + Arrays.toString(shape)
                + ", is " + t.dtype() + Arrays.toString(t.shape()));
        return t;
    }

    /** Reads {@code prefix.shape} (I32 [k]) written by {@link #writeShape}. */
    static int[] shape(SafeTensors st, String prefix, int k) {
        int[] s = need(st, prefix + ".shape", DType.I32, k).toIntArray();
        for (int v : s) if (v < 0) throw bad(st, prefix + ".shape", "has a negative entry " + Arrays.toString(s));
        return s;
    }

    /** Whether every zero point is an integer in [0, 255], so it can be stored as U8. */
    static boolean zerosFitU8(float[] zeros) {
        for (float z : zeros) if (!(z >= 0 && z <= 255 && z == Math.rint(z))) return false;
        return true;
    }

    /** Writes {@code PREFIX.zeros} [rows, groups]: U8 when {@code u8}, else F32. */
    static void writeZeros(SafeTensorsWriter out, String prefix, int rows, int groups, float[] zeros, boolean u8) {
        if (u8) {
            byte[] z = new byte[zeros.length];
            for (int i = 0; i < z.length; i++) z[i] = (byte) (int) zeros[i];
            out.addBytes(prefix + ".zeros", DType.U8, new long[]{rows, groups}, z);
        } else {
            out.addF32(prefix + ".zeros", new long[]{rows, groups}, zeros);
        }
    }

    /** Reads {@code PREFIX.zeros} [rows, groups], stored as U8 or F32. */
    static float[] readZeros(SafeTensors st, String prefix, int rows, int groups) {
        if (st.get(prefix + ".zeros").dtype() != DType.U8)
            return floats(need(st, prefix + ".zeros", DType.F32, rows, groups), 0);
        byte[] z = bytes(need(st, prefix + ".zeros", DType.U8, rows, groups), 0);
        float[] zeros = new float[z.length];
        for (int i = 0; i < z.length; i++) zeros[i] = z[i] & 0xff;
        return zeros;
    }

    static void writeShape(SafeTensorsWriter out, String prefix, int... dims) {
        out.addI32(prefix + ".shape", new long[]{dims.length}, dims);
    }

    static SquishException bad(SafeTensors st, String name, String why) {
        TensorInfo t = st.getOrNull(name);
        return new SquishException((t != null ? t.file().toString() : st.files().isEmpty() ? "checkpoint" : st.files().get(0).toString())
                + ": tensor " + name + " " + why);
    }

    static float[] floats(TensorInfo t, int pad) {
        float[] a = new float[Math.toIntExact(t.numel()) + pad];
        MemorySegment.copy(t.data(), ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0, a, 0, (int) t.numel());
        return a;
    }

    static byte[] bytes(TensorInfo t, int pad) {
        byte[] a = new byte[Math.toIntExact(t.numel() * t.dtype().bytes) + pad];
        MemorySegment.copy(t.data(), ValueLayout.JAVA_BYTE, 0, a, 0, (int) t.data().byteSize());
        return a;
    }

    static long[] longs(TensorInfo t) {
        long[] a = new long[Math.toIntExact(t.numel())];
        MemorySegment.copy(t.data(), I64, 0, a, 0, a.length);
        return a;
    }

    static short[] shorts(TensorInfo t) {
        short[] a = new short[Math.toIntExact(t.numel())];
        MemorySegment.copy(t.data(), I16, 0, a, 0, a.length);
        return a;
    }

    /** Writes the first n floats of a (arrays may carry kernel padding). */
    static void addF32(SafeTensorsWriter out, String name, long[] shape, float[] a, int n) {
        MemorySegment seg = MemorySegment.ofArray(new byte[n * 4]);
        MemorySegment.copy(a, 0, seg, ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0, n);
        out.add(name, DType.F32, shape, seg);
    }

    static void addBytes(SafeTensorsWriter out, String name, DType dtype, long[] shape, byte[] a, int n) {
        out.add(name, dtype, shape, MemorySegment.ofArray(a).asSlice(0, n));
    }

    static void addLongs(SafeTensorsWriter out, String name, long[] shape, long[] a) {
        MemorySegment seg = MemorySegment.ofArray(new byte[a.length * 8]);
        MemorySegment.copy(a, 0, seg, I64, 0, a.length);
        out.add(name, DType.I64, shape, seg);
    }

    static void addShorts(SafeTensorsWriter out, String name, DType dtype, long[] shape, short[] a) {
        MemorySegment seg = MemorySegment.ofArray(new byte[a.length * 2]);
        MemorySegment.copy(a, 0, seg, I16, 0, a.length);
        out.add(name, dtype, shape, seg);
    }

    static void checkDense(float[] w, int rows, int cols) {
        if (rows < 0 || cols < 0 || w.length != (long) rows * cols)
            throw new IllegalArgumentException("expected " + rows + "x" + cols + " floats, got " + w.length);
    }
}
