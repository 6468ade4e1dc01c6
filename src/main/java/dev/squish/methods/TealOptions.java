package dev.squish.methods;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * TEAL's options: the fraction of each linear input's entries zeroed, in {@link #SPARSITY}, and
 * how that target is spread over a block's inputs: {@code uniform} (every input at the target) or
 * {@code greedy} (TEAL's block-wise greedy allocation: the block's weight reads skip the target
 * fraction, the inputs whose sparsity hurts the block's output least get more).
 */
public record TealOptions(double activationSparsity, String allocation) implements MethodOptions {
    public static final Range SPARSITY = Range.closedOpen(0, 1);
    static final List<String> ALLOCATIONS = List.of("uniform", "greedy");
    static final OptionSpec SPARSITY_OPTION = OptionSpec.number("activation_sparsity",
            "Fraction of each linear input's entries zeroed at run time, in [0, 1) (teal, cats).");

    static final List<OptionSpec> OPTIONS = List.of(SPARSITY_OPTION,
            OptionSpec.text("allocation", "teal: uniform (every input at the target) or greedy (TEAL's block-wise allocation); svd: uniform or spectrum."));

    public TealOptions {
        SPARSITY.check("activation_sparsity", activationSparsity);
        if (allocation == null) allocation = "uniform";
        if (!ALLOCATIONS.contains(allocation)) throw new OptionException("{allocation} must be uniform or greedy, got '" + allocation + "'");
    }

    static TealOptions read(OptionReader r) {
        Double s = r.number("activation_sparsity", SPARSITY);
        String a = r.string("allocation");
        return r.build(() -> {
            if (s == null) throw new OptionException("missing {activation_sparsity}");
            return new TealOptions(s, a);
        });
    }

    @Override public Map<String, Object> values() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("activation_sparsity", activationSparsity);
        m.put("allocation", allocation);
        return m;
    }
}
