package dev.squish.util;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

import java.util.concurrent.ConcurrentHashMap;

/**
 * Horizontal sums of a vector's lanes in one fixed order: a pairwise tree (lane i with lane
 * i + n/2, then i + n/4, ...), built from lane-wise adds, each of which rounds the same way
 * interpreted, in C1 and in C2.
 *
 * <p>Why not {@code reduceLanes(ADD)}: its order is unspecified, and HotSpot's Java fallback (used
 * until C2 compiles a kernel) and C2's intrinsic add the lanes in different orders. Measured on
 * the fixture: the first matrix-vector products of a run differed from later ones in the last bit
 * for 90-540 of each linear's outputs, so the same window gave a perplexity differing at 1e-8
 * from run to run, and GPTQ, whose rounding amplifies such differences, gave different weights
 * on Spark executors than on one machine. This costs the same log2(lanes) shuffle-and-add steps
 * as the intrinsic, once per dot product.
 */
public final class Lanes {
    private Lanes() {}

    private static final ConcurrentHashMap<VectorSpecies<?>, VectorShuffle<?>[]> TREES = new ConcurrentHashMap<>();

    /** The shuffles of the tree for species s: i -> i + n/2 (mod n), i -> i + n/4, ..., i -> i + 1. */
    @SuppressWarnings("unchecked")
    private static <E> VectorShuffle<E>[] tree(VectorSpecies<E> s) {
        return (VectorShuffle<E>[]) TREES.computeIfAbsent(s, k -> {
            int n = s.length(), steps = Integer.numberOfTrailingZeros(n);
            VectorShuffle<?>[] out = new VectorShuffle<?>[steps];
            for (int k2 = 0, h = n / 2; h >= 1; k2++, h /= 2) {
                int hh = h;
                out[k2] = VectorShuffle.fromOp(s, i -> (i + hh) % n);
            }
            return out;
        });
    }

    private static final VectorSpecies<Float> F = VectorWidth.FLOAT;
    private static final int FN = F.length();
    // One constant shuffle per level of the tree of the kernels' species, so that C2 folds them and
    // the method stays small enough to inline into every kernel: a loop over an array of shuffles
    // was not inlined into DenseLinear.dot, and its boxed vectors made a 2048 x 5632 matvec 3x slower.
    private static final VectorShuffle<Float> F8 = level(F, 8), F4 = level(F, 4), F2 = level(F, 2), F1 = level(F, 1);

    private static <E> VectorShuffle<E> level(VectorSpecies<E> s, int h) {
        int n = s.length();
        return h < n ? VectorShuffle.fromOp(s, i -> (i + h) % n) : null;
    }

    private static final VectorSpecies<Double> D = DoubleVector.SPECIES_PREFERRED;
    private static final int DN = D.length();
    private static final VectorShuffle<Double> D4 = level(D, 4), D2 = level(D, 2), D1 = level(D, 1);

    /** Sum of the lanes of v, in the fixed tree order (lane i with i + n/2, then i + n/4, ...). */
    public static float sum(FloatVector v) {
        if (v.species() != F) return sumAny(v);
        if (FN > 8) v = v.add(v.rearrange(F8));
        if (FN > 4) v = v.add(v.rearrange(F4));
        if (FN > 2) v = v.add(v.rearrange(F2));
        if (FN > 1) v = v.add(v.rearrange(F1));
        return v.lane(0);
    }

    private static float sumAny(FloatVector v) {
        for (VectorShuffle<Float> s : tree(v.species())) v = v.add(v.rearrange(s));
        return v.lane(0);
    }

    /** Sum of the lanes of v, in the fixed tree order (constant shuffles per level, as for floats). */
    public static double sum(DoubleVector v) {
        if (v.species() != D) {
            for (VectorShuffle<Double> s : tree(v.species())) v = v.add(v.rearrange(s));
            return v.lane(0);
        }
        if (DN > 4) v = v.add(v.rearrange(D4));
        if (DN > 2) v = v.add(v.rearrange(D2));
        if (DN > 1) v = v.add(v.rearrange(D1));
        return v.lane(0);
    }
}
