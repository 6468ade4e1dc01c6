package dev.squish.weights;

import dev.squish.util.Lanes;
import dev.squish.util.Parallel;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The run-time side of activation sparsity: finding the entries of an input that survive a
 * threshold (the cost TEAL counts in its kernels) and computing only some rows of a product (the
 * channels CATS and an MoE-ified MLP keep).
 */
public final class ColumnSkip {
    private ColumnSkip() {}

    static final VectorSpecies<Float> S = dev.squish.util.VectorWidth.FLOAT;
    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private static final ThreadLocal<int[]> SCRATCH = ThreadLocal.withInitial(() -> new int[0]);

    /** A per-thread index buffer of at least n entries (reused: one decode step would otherwise allocate ~100 of them). */
    static int[] scratch(int n) {
        int[] a = SCRATCH.get();
        if (a.length < n) SCRATCH.set(a = new int[n]);
        return a;
    }

    /**
     * Writes the indices j (relative to {@code off}) with {@code |x[off + j]| > threshold} into
     * idx, in increasing order, and returns how many. A scalar scan: 5,632 compares cost about
     * 3 us, against ~2 ms to read the 46 MB of a 1B model's down_proj that they decide about.
     */
    public static int select(float[] x, int off, int n, float threshold, int[] idx) {
        int c = 0;
        for (int j = 0; j < n; j++) if (Math.abs(x[off + j]) > threshold) idx[c++] = j;
        return c;
    }

    /**
     * y[rows[k]] = (W x)[rows[k]] for k < count; other entries of y are left as they are. A dense
     * row-major weight reads only the listed rows; other formats compute the whole product (right,
     * but no faster).
     */
    public static void matvecRows(Linear l, float[] x, int[] rows, int count, float[] y) {
        if (l instanceof DenseLinear d) {
            int cols = d.cols();
            MemorySegment w = d.segment();
            Parallel.forRange(count, Parallel.rowGrain(cols), (k0, k1) -> {
                for (int k = k0; k < k1; k++) y[rows[k]] = dot(w, 4L * rows[k] * cols, x, cols);
            });
            return;
        }
        float[] full = new float[l.rows()];
        l.matvec(x, full);
        for (int k = 0; k < count; k++) y[rows[k]] = full[rows[k]];
    }

    private static float dot(MemorySegment w, long base, float[] x, int cols) {
        int bound = S.loopBound(cols);
        FloatVector acc = FloatVector.zero(S);
        int i = 0;
        for (; i < bound; i += S.length())
            acc = FloatVector.fromMemorySegment(S, w, base + 4L * i, ByteOrder.LITTLE_ENDIAN).fma(FloatVector.fromArray(S, x, i), acc);
        float s = Lanes.sum(acc);
        for (; i < cols; i++) s += w.get(F32, base + 4L * i) * x[i];
        return s;
    }
}
