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
    @SuppressWarnings("unchecked")
    private static final VectorShuffle<Float>[] FT = tree(F);
    private static final VectorSpecies<Double> D = DoubleVector.SPECIES_PREFERRED;
    @SuppressWarnings("unchecked")
    private static final VectorShuffle<Double>[] DT = tree(D);

    /** Sum of the lanes of v, in the fixed tree order. */
    public static float sum(FloatVector v) {
        VectorShuffle<Float>[] t = v.species() == F ? FT : tree(v.species());
        for (VectorShuffle<Float> s : t) v = v.add(v.rearrange(s));
        return v.lane(0);
    }

    /** Sum of the lanes of v, in the fixed tree order. */
    public static double sum(DoubleVector v) {
        VectorShuffle<Double>[] t = v.species() == D ? DT : tree(v.species());
        for (VectorShuffle<Double> s : t) v = v.add(v.rearrange(s));
        return v.lane(0);
    }
}
