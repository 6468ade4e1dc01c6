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
public record QuantOptions(int bits, int groupSize, boolean sym, double outliers, dev.squish.formats.GgmlType ggufType) implements MethodOptions {
    public static final int DEFAULT_GROUP_SIZE = 128;
    public static final Range OUTLIERS = Range.closed(0, 0.1);

    static final OptionSpec BITS = OptionSpec.integer("bits", "4 or 8 bits per weight.");
    static final OptionSpec GROUP_SIZE = OptionSpec.integer("group_size", "Input columns per scale (default 128), or -1: one scale per output channel.");
    static final OptionSpec SYM = OptionSpec.flag("sym", "Symmetric grid (default); --asym: asymmetric (min/max).", "asym");
    static final OptionSpec OUTLIERS_OPTION = OptionSpec.number("outliers", "Keep this fraction of each matrix in full precision (dense-and-sparse), at most 0.1.");
    static final OptionSpec GGUF_TYPE = OptionSpec.text("gguf_type", "Quantize on llama.cpp's grid instead: Q8_0, Q6_K, Q5_1, Q5_0, Q5_K, Q4_1, Q4_0, Q4_K, Q3_K or Q2_K (export --gguf of that type copies the codes).");
    static final List<OptionSpec> OPTIONS = List.of(BITS, GROUP_SIZE, SYM, OUTLIERS_OPTION, GGUF_TYPE);
    /** The ggml types {@code gguf_type} accepts: every block type GPTQ can run on (GgufCodes). */
    public static final List<String> GGUF_TYPES = List.of("Q8_0", "Q6_K", "Q5_1", "Q5_0", "Q5_K", "Q4_1", "Q4_0", "Q4_K", "Q3_K", "Q2_K");

    public QuantOptions(int bits, int groupSize, boolean sym, double outliers) { this(bits, groupSize, sym, outliers, null); }

    public QuantOptions {
        if (bits != 4 && bits != 8) throw new OptionException("{bits} must be 4 or 8, got " + bits);
        if (groupSize <= 0 && groupSize != -1) {
            throw new OptionException("{group_size} must be a positive integer or -1 (one scale per output channel), got " + groupSize);
        }
        OUTLIERS.check("outliers", outliers);
        if (ggufType != null && outliers > 0) throw new OptionException("{outliers} does not combine with {gguf_type}: llama.cpp's blocks hold no full-precision outliers");
    }

    /** From the values as given (null = default; bits has none). */
    public static QuantOptions of(Integer bits, Integer groupSize, Boolean sym, Double outliers) { return of(bits, groupSize, sym, outliers, null); }

    /** With {@code ggufType} (a name from {@link #GGUF_TYPES}, any case) the grid is llama.cpp's, and bits, group size and sym are not taken. */
    public static QuantOptions of(Integer bits, Integer groupSize, Boolean sym, Double outliers, String ggufType) {
        if (ggufType != null) {
            String t = ggufType.toUpperCase(java.util.Locale.ROOT).replace('-', '_');
            if (!GGUF_TYPES.contains(t)) throw new OptionException("{gguf_type} must be one of " + String.join(", ", GGUF_TYPES) + ", got '" + ggufType + "'");
            if (bits != null || groupSize != null || sym != null)
                throw new OptionException("{gguf_type} sets the grid (bits, blocks, scales); give it without {bits}, {group_size} or {sym}");
            dev.squish.formats.GgmlType g = dev.squish.formats.GgmlType.valueOf(t);
            // bits/group: what the type's codes and blocks are closest to, for reports only
            return new QuantOptions(g == dev.squish.formats.GgmlType.Q8_0 ? 8 : 4, g.blockSize, true, outliers == null ? 0 : outliers, g);
        }
        if (bits == null) throw new OptionException("missing {bits}");
        return new QuantOptions(bits, groupSize == null ? DEFAULT_GROUP_SIZE : groupSize, sym == null || sym, outliers == null ? 0 : outliers, null);
    }

    static QuantOptions read(OptionReader r) {
        Integer bits = r.integer("bits");
        Integer group = r.integer("group_size");
        Boolean sym = r.bool("sym");
        Double outliers = r.number("outliers", OUTLIERS);
        String gguf = r.string("gguf_type");
        return r.build(() -> of(bits, group, sym, outliers, gguf));
    }

    @Override public Map<String, Object> values() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("bits", bits);
        m.put("group_size", groupSize);
        m.put("sym", sym);
        m.put("outliers", outliers);
        if (ggufType != null) m.put("gguf_type", ggufType.name());
        return m;
    }
}
