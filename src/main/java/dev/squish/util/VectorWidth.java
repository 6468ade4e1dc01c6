package dev.squish.util;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.util.function.IntSupplier;

/**
 * The float vector species every kernel uses: the machine's preferred one, or a narrower one with
 * {@code -Dsquish.vectorBits=128|256|512} (llama3.java found 256-bit Q8_0 kernels faster than
 * 512-bit on Zen 4; this makes such comparisons one flag instead of {@code -XX:MaxVectorSize},
 * which also changes what C2 may use elsewhere). A width above the machine's is lowered to it with
 * a warning: the Vector API would run it without intrinsics, two orders of magnitude slower.
 *
 * <p>The choice is a {@code static final} so that C2 compiles the kernels for one constant
 * species. Tests that need every width in one JVM load the kernel classes again in a class loader
 * that implements {@link IntSupplier}; its value is taken as the width as given (see the
 * weights tests' {@code VectorWidthsTest}).
 */
public final class VectorWidth {
    private VectorWidth() {}

    public static final VectorSpecies<Float> FLOAT = choose();

    private static VectorSpecies<Float> choose() {
        if (VectorWidth.class.getClassLoader() instanceof IntSupplier forced)
            return VectorSpecies.of(float.class, VectorShape.forBitSize(forced.getAsInt()));
        int preferred = FloatVector.SPECIES_PREFERRED.vectorBitSize();
        int bits = bits(System.getProperty("squish.vectorBits"), preferred, System.err::println);
        return bits == preferred ? FloatVector.SPECIES_PREFERRED : VectorSpecies.of(float.class, VectorShape.forBitSize(bits));
    }

    /** The width for a {@code squish.vectorBits} value (null: not set) on a CPU with {@code preferred}-bit vectors. */
    static int bits(String property, int preferred, java.util.function.Consumer<String> warn) {
        if (property == null || property.isBlank()) return preferred;
        int bits = switch (property.trim()) {
            case "128" -> 128;
            case "256" -> 256;
            case "512" -> 512;
            default -> {
                warn.accept("warning: -Dsquish.vectorBits=" + property + " is not 128, 256 or 512; using " + preferred);
                yield preferred;
            }
        };
        if (bits > preferred) {
            warn.accept("warning: -Dsquish.vectorBits=" + bits + " is wider than this CPU's " + preferred + "-bit vectors; using " + preferred);
            return preferred;
        }
        return bits;
    }
}
