package dev.squish.methods;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** AWQ's options: the quantizer's, and whether to search a clipping threshold per group. */
public record AwqOptions(QuantOptions quant, boolean clip) implements MethodOptions {
    static final List<OptionSpec> OPTIONS = List.of(QuantOptions.BITS, QuantOptions.GROUP_SIZE, QuantOptions.SYM,
            QuantOptions.OUTLIERS_OPTION, QuantOptions.GGUF_TYPE,
            OptionSpec.flag("clip", "Search a clipping threshold per group (default on; --no-clip: skip).", "no-clip"));

    public AwqOptions { java.util.Objects.requireNonNull(quant, "quant"); }

    static AwqOptions read(OptionReader r) {
        QuantOptions q = QuantOptions.read(r);
        Boolean clip = r.bool("clip");
        return new AwqOptions(q, clip == null || clip);
    }

    @Override public Map<String, Object> values() {
        Map<String, Object> m = new LinkedHashMap<>(quant.values());
        m.put("clip", clip);
        return m;
    }
}
