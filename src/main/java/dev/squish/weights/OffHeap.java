package dev.squish.weights;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Memory for weights repacked at load, outside the Java heap. A compressed model's packed codes
 * and sparse values are most of its bytes (800 MB for the 1B-shaped model at int8-g128, 1.5 GB at
 * 50% unstructured sparsity); held on the heap they made {@code eval} of such a model fail under
 * {@code -Xmx512m}, so the heap would have had to grow with the model. Segments come from
 * {@link Arena#ofAuto()}: zeroed, 64-byte aligned (whole cache lines for vector loads), freed by
 * the garbage collector when the weight that owns them is unreachable.
 *
 * <p>The JVM caps such memory with {@code -XX:MaxDirectMemorySize}, which defaults to the heap
 * limit; {@code bin/squish} raises it, and programs that embed Squish with a small {@code -Xmx}
 * should raise it too (docs/robustness.md).
 */
final class OffHeap {
    private OffHeap() {}

    static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(LE);

    /** {@code bytes} zeroed bytes, 64-byte aligned. */
    static MemorySegment allocate(long bytes) {
        return Arena.ofAuto().allocate(bytes, 64);
    }

    /** The first n floats of a, then zeros up to {@code length} floats. */
    static MemorySegment copy(float[] a, int n, int length) {
        MemorySegment dst = allocate(4L * length);
        MemorySegment.copy(a, 0, dst, F32, 0, n);
        return dst;
    }

    /** A copy of {@code src} followed by {@code pad} zero bytes (so vector loads near the end stay in bounds). */
    static MemorySegment copy(MemorySegment src, long pad) {
        MemorySegment dst = allocate(src.byteSize() + pad);
        MemorySegment.copy(src, 0, dst, 0, src.byteSize());
        return dst;
    }
}
