package dev.squish.methods;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * MoE-ification's options: {@code experts} K (all of them, shared included), {@code top_k} routed
 * experts per token, {@code shared} experts that every token runs. Needs
 * {@code 1 <= top_k <= experts - shared}; that K is at most an MLP's channel count is checked
 * against the model.
 */
public record MoefyOptions(int experts, int topK, int shared) implements MethodOptions {
    static final List<OptionSpec> OPTIONS = List.of(
            OptionSpec.integer("experts", "Experts each MLP's channels are split into, shared ones included (moefy)."),
            OptionSpec.integer("top_k", "Routed experts each token runs (moefy)."),
            OptionSpec.integer("shared", "Experts every token runs, from the most often active channels (moefy; default 0)."));

    public MoefyOptions {
        if (experts < 1) throw new OptionException("{experts} must be at least 1, got " + experts);
        if (shared < 0 || shared >= experts) throw new OptionException("{shared} must be in [0, " + (experts - 1) + "] for " + experts + " experts, got " + shared);
        if (topK < 1 || topK > experts - shared)
            throw new OptionException("{top_k} must be in [1, " + (experts - shared) + "] (the routed experts: {experts} minus {shared}), got " + topK);
    }

    static MoefyOptions read(OptionReader r) {
        Integer k = r.integer("experts"), t = r.integer("top_k"), s = r.integer("shared");
        return r.build(() -> {
            if (k == null) throw new OptionException("missing {experts}");
            if (t == null) throw new OptionException("missing {top_k}");
            return new MoefyOptions(k, t, s == null ? 0 : s);
        });
    }

    @Override public Map<String, Object> values() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("experts", experts);
        m.put("top_k", topK);
        m.put("shared", shared);
        return m;
    }
}
