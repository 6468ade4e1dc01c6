package dev.squish.methods;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Options of the factorizing methods (svd, asvd): exactly one of {@code keep} (each matrix's
 * factors hold that fraction of its parameters, or with {@code spectrum} allocation that fraction
 * of all selected matrices' parameters together) and {@code rank} (every matrix gets
 * min(rank, rows, cols)).
 */
public record LowRankOptions(Double keep, Integer rank, String allocation) implements MethodOptions {
    public static final Range KEEP = Range.openClosed(0, 1);

    static final List<OptionSpec> OPTIONS = List.of(
            OptionSpec.number("keep", "Fraction of each matrix's parameters kept, in (0, 1]."),
            OptionSpec.integer("rank", "Fixed rank of every factorized matrix (instead of --keep)."),
            OptionSpec.text("allocation", "uniform (default) or spectrum: one --keep budget spent by the singular-value tail."));

    public LowRankOptions {
        if (allocation == null) allocation = "uniform";
        if (keep == null && rank == null) throw new OptionException("needs {keep} or {rank}");
        if (keep != null && rank != null) throw new OptionException("give {keep} or {rank}, not both");
        if (keep != null) KEEP.check("keep", keep);
        if (rank != null && rank <= 0) throw new OptionException("{rank} must be a positive integer, got " + rank);
        if (!RankAllocation.NAMES.contains(allocation))
            throw new OptionException("{allocation} must be " + String.join(" or ", RankAllocation.NAMES) + ", got '" + allocation + "'");
        if (rank != null && !allocation.equals("uniform")) {
            throw new OptionException("{allocation} " + allocation + " shares a {keep} budget between layers; it does not apply to a fixed {rank}");
        }
    }

    static LowRankOptions read(OptionReader r) {
        Double keep = r.number("keep", KEEP);
        Integer rank = r.integer("rank");
        String allocation = r.string("allocation");
        return r.build(() -> new LowRankOptions(keep, rank, allocation));
    }

    /** Whether ranks come from one budget over the singular values of several matrices. */
    public boolean spectrum() { return rank == null && allocation.equals("spectrum"); }

    @Override public Map<String, Object> values() {
        Map<String, Object> m = new LinkedHashMap<>();
        if (keep != null) m.put("keep", keep);
        if (rank != null) m.put("rank", rank);
        m.put("allocation", allocation);
        return m;
    }
}
