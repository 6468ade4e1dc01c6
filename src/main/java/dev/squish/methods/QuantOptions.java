package dev.squish.methods;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Options every weight quantizer takes.
 *
 * @param bits      4 or 8
 * @param groupSize consecutive input columns per scale, or -1 for one scale per output channel
 * @param sym       symmetric grid (zero point in the middle) or asymmetric (min/max)
 * @param outliers  fraction of each matrix kept in full precision (dense-and-sparse), in
 *                  {@link #OUTLIERS}. One limit for recipes, the command line and direct use: at
 *                  10% the sparse part (a 1-bit mask per weight plus 4 bytes per kept value, 0.525
 *                  bytes per weight) already outweighs the int4 codes of the whole matrix (0.5
 *                  bytes per weight), so more defeats quantization; SqueezeLLM keeps 0.05%-0.45%.
 */
public record QuantOptions(int bits, int groupSize, boolean sym, double outliers) implements MethodOptions {
    public static final int DEFAULT_GROUP_SIZE = 128;
    public static final Range OUTLIERS = Range.closed(0, 0.1);

    static final OptionSpec BITS = OptionSpec.integer("bits", "4 or 8 bits per weight.");
    static final OptionSpec GROUP_SIZE = OptionSpec.integer("group_size", "Input columns per scale (default 128), or -1: one scale per output channel.");
    static final OptionSpec SYM = OptionSpec.flag("sym", "Symmetric grid (default); --asym: asymmetric (min/max).", "asym");
    static final OptionSpec OUTLIERS_OPTION = OptionSpec.number("outliers", "Keep this fraction of each matrix in full precision (dense-and-sparse), at most 0.1.");
    static final List<OptionSpec> OPTIONS = List.of(BITS, GROUP_SIZE, SYM, OUTLIERS_OPTION);

    public QuantOptions {
        if (bits != 4 && bits != 8) throw new OptionException("{bits} must be 4 or 8, got " + bits);
        if (groupSize <= 0 && groupSize != -1) {
            throw new OptionException("{group_size} must be a positive integer or -1 (one scale per output channel), got " + groupSize);
        }
        OUTLIERS.check("outliers", outliers);
    }

    /** From the values as given (null = default; bits has none). */
    public static QuantOptions of(Integer bits, Integer groupSize, Boolean sym, Double outliers) {
        if (bits == null) throw new OptionException("missing {bits}");
        return new QuantOptions(bits, groupSize == null ? DEFAULT_GROUP_SIZE : groupSize, sym == null || sym, outliers == null ? 0 : outliers);
    }

    static QuantOptions read(OptionReader r) {
        Integer bits = r.integer("bits");
        Integer group = r.integer("group_size");
        Boolean sym = r.bool("sym");
        Double outliers = r.number("outliers", OUTLIERS);
        return r.build(() -> of(bits, group, sym, outliers));
    }

    @Override public Map<String, Object> values() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("bits", bits);
        m.put("group_size", groupSize);
        m.put("sym", sym);
        m.put("outliers", outliers);
        return m;
    }
}
