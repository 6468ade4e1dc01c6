package dev.squish.formats;

import dev.squish.SquishException;

import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * One tensor of a GGUF file. {@code shape} is row-major (slowest-varying first, like safetensors
 * and PyTorch); the file stores the reverse (ggml's ne[0] is the row length). {@code offset} is
 * relative to the data section; {@code data} is a read-only view of the tensor's bytes.
 */
public record GgufTensor(String name, long[] shape, GgmlType type, long offset, MemorySegment data, Path file) {

    public long numel() {
        long n = 1;
        for (long d : shape) n *= d;
        return n;
    }

    /** Row length (the last row-major dimension, ggml's ne[0]). */
    public long rowLength() { return shape[shape.length - 1]; }

    /** Dimension i as an int; one too large for Java arrays is an input error naming the tensor. */
    public int dim(int i) {
        if (shape[i] > Integer.MAX_VALUE) throw new SquishException(file + ": tensor " + name + " dimension " + shape[i] + " is too large");
        return (int) shape[i];
    }

    /** Dequantizes the whole tensor to float32 on the heap (BF16 and every type {@link GgufQuant} writes). */
    public float[] toFloatArray() {
        long n = numel();
        if (n > Integer.MAX_VALUE - 8) throw new SquishException(file + ": tensor " + name + " is too large for one array (" + n + " values)");
        if (!GgufQuant.canDecode(type))
            throw new SquishException(file + ": tensor " + name + " has type " + type + "; converting it to float is not supported (BF16, " + GgufQuant.SUPPORTED + ")");
        return GgufQuant.decode(type, data, (int) n);
    }

    @Override public String toString() { return name + " " + type + Arrays.toString(shape); }
}
