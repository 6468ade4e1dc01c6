package dev.squish.recipe;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/** The compression methods a recipe stage may name, with what kind of change each makes. */
public enum Method {
    MAGNITUDE(Kind.PRUNE, false),
    WANDA(Kind.PRUNE, true),
    SPARSEGPT(Kind.PRUNE, true),
    SVD(Kind.LOW_RANK, false),
    ASVD(Kind.LOW_RANK, true),
    SLICEGPT(Kind.SLICE, true),
    RTN(Kind.QUANTIZE, false),
    GPTQ(Kind.QUANTIZE, true),
    AWQ(Kind.QUANTIZE, true);

    /** What a method does to the weights; recipes are checked for sensible orders of kinds. */
    public enum Kind { PRUNE, LOW_RANK, SLICE, QUANTIZE }

    private final Kind kind;
    private final boolean needsCalibration;

    Method(Kind kind, boolean needsCalibration) {
        this.kind = kind;
        this.needsCalibration = needsCalibration;
    }

    /** The name used in recipes and on the command line, e.g. {@code "sparsegpt"}. */
    public String id() { return name().toLowerCase(Locale.ROOT); }

    public Kind kind() { return kind; }

    /** Whether the method needs calibration activations (magnitude, svd and rtn do not). */
    public boolean needsCalibration() { return needsCalibration; }

    public static Optional<Method> byId(String id) {
        for (Method m : values()) if (m.id().equals(id)) return Optional.of(m);
        return Optional.empty();
    }

    public static List<String> ids() {
        return Arrays.stream(values()).map(Method::id).toList();
    }
}
