package dev.squish.methods;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Options of SliceGPT: the fraction of the hidden dimension removed, in {@link #SLICE}. */
public record SliceOptions(double slice) implements MethodOptions {
    public static final Range SLICE = Range.closedOpen(0, 1);

    static final List<OptionSpec> OPTIONS = List.of(OptionSpec.number("slice", "Fraction of the hidden dimension removed, in [0, 1)."));

    public SliceOptions { SLICE.check("slice", slice); }

    static SliceOptions read(OptionReader r) {
        Double slice = r.number("slice", SLICE);
        return r.build(() -> {
            if (slice == null) throw new OptionException("missing {slice}");
            return new SliceOptions(slice);
        });
    }

    @Override public Map<String, Object> values() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("slice", slice);
        return m;
    }
}
