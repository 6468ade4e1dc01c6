package dev.squish.methods;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** CATS's option: the fraction of MLP channels whose |SiLU(gate)| falls under the threshold, in [0, 1). */
public record CatsOptions(double activationSparsity) implements MethodOptions {
    static final List<OptionSpec> OPTIONS = List.of(TealOptions.SPARSITY_OPTION);

    public CatsOptions { TealOptions.SPARSITY.check("activation_sparsity", activationSparsity); }

    static CatsOptions read(OptionReader r) {
        Double s = r.number("activation_sparsity", TealOptions.SPARSITY);
        return r.build(() -> {
            if (s == null) throw new OptionException("missing {activation_sparsity}");
            return new CatsOptions(s);
        });
    }

    @Override public Map<String, Object> values() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("activation_sparsity", activationSparsity);
        return m;
    }
}
