package dev.squish.methods;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Options of the pruning methods (magnitude, wanda, sparsegpt).
 *
 * @param sparsity fraction of weights pruned, in {@link #SPARSITY}; for an N:M pattern the one it implies
 * @param pattern  the N:M pattern, or null for unstructured sparsity
 */
public record PruneOptions(double sparsity, NM pattern, Owl owl) implements MethodOptions {
    public static final Range SPARSITY = Range.closedOpen(0, 1);
    /** OWL's outlier multiple M: a score counts as an outlier above M times its layer's mean. */
    public static final Range OWL_M = Range.openClosed(0, 1000);
    /**
     * OWL's lambda: layer sparsities spread over about s - lambda .. s + lambda (at most 2 lambda
     * either side of s), so lambda below 0.5 keeps them meaningful.
     */
    public static final Range OWL_LAMBDA = Range.closedOpen(0, 0.5);

    /** OWL allocation (methods.prune.Owl): outlier multiple M and spread lambda; null = uniform. */
    public record Owl(double m, double lambda) {}

    /** Uniform allocation. */
    public PruneOptions(double sparsity, NM pattern) { this(sparsity, pattern, null); }
    private static final Pattern NM_TEXT = Pattern.compile("\\s*(\\d{1,3})\\s*:\\s*(\\d{1,3})\\s*");

    static final List<OptionSpec> OPTIONS = List.of(
            OptionSpec.number("sparsity", "Fraction of weights pruned, in [0, 1) (implied by an N:M --pattern)."),
            OptionSpec.text("pattern", "unstructured (default) or N:M, e.g. 2:4: keep N of every M consecutive input weights."),
            OptionSpec.text("allocation", "uniform (default) or owl: per-layer sparsities by outlier ratio (OWL), same overall sparsity; with N:M, a per-layer N of the same M."),
            OptionSpec.number("owl_m", "OWL: a score is an outlier above this many times its layer's mean (default 5)."),
            OptionSpec.number("owl_lambda", "OWL: layer sparsities range over about sparsity +- lambda (default 0.08)."));

    public PruneOptions {
        if (owl != null) {
            OWL_M.check("owl_m", owl.m());
            OWL_LAMBDA.check("owl_lambda", owl.lambda());
            // With an N:M pattern OWL gives each block its own N (M fixed; Pruner.plan, Owl.layerN).
        }
        if (pattern == null) SPARSITY.check("sparsity", sparsity);
        else if (sparsity != pattern.sparsity()) {
            throw new OptionException("{sparsity} " + OptionReader.fmt(sparsity) + " does not match {pattern} " + pattern
                    + ", which keeps " + pattern.n() + " of every " + pattern.m() + " weights (sparsity "
                    + OptionReader.fmt(pattern.sparsity()) + "); leave {sparsity} out");
        }
    }

    /**
     * From the values as given: {@code pattern} null or {@code unstructured} needs a sparsity; an
     * N:M pattern implies one (a given sparsity must match it within 1e-9).
     */
    public static PruneOptions of(Double sparsity, String pattern) {
        if (sparsity != null) SPARSITY.check("sparsity", sparsity);
        if (pattern == null || pattern.equals("unstructured")) {
            if (sparsity == null) throw new OptionException("missing {sparsity}");
            return new PruneOptions(sparsity, null);
        }
        NM nm = parsePattern(pattern);
        if (sparsity != null && Math.abs(sparsity - nm.sparsity()) > 1e-9) return new PruneOptions(sparsity, nm); // throws
        return new PruneOptions(nm.sparsity(), nm);
    }

    /** {@code N:M} with 0 < N < M <= 32. */
    public static NM parsePattern(String pattern) {
        Matcher mm = NM_TEXT.matcher(pattern);
        int n = mm.matches() ? Integer.parseInt(mm.group(1)) : -1, m = mm.matches() ? Integer.parseInt(mm.group(2)) : -1;
        if (!(n > 0 && n < m && m <= 32)) {
            throw new OptionException("{pattern} must be 'unstructured' or N:M with 0 < N < M <= 32 (e.g. 2:4), got '" + pattern + "'");
        }
        return new NM(n, m);
    }

    static PruneOptions read(OptionReader r) {
        String pattern = r.string("pattern");
        Double sparsity = r.number("sparsity", SPARSITY);
        String allocation = r.choice("allocation", List.of("uniform", "owl"));
        Double m = r.number("owl_m", OWL_M), lambda = r.number("owl_lambda", OWL_LAMBDA);
        return r.build(() -> {
            PruneOptions o = of(sparsity, pattern);
            boolean owl = "owl".equals(allocation);
            if (!owl && (m != null || lambda != null))
                throw new OptionException("{" + (m != null ? "owl_m" : "owl_lambda") + "} applies only with {allocation} owl");
            return owl ? new PruneOptions(o.sparsity(), o.pattern(), new Owl(m != null ? m : 5, lambda != null ? lambda : 0.08)) : o;
        });
    }

    public String patternName() { return pattern == null ? "unstructured" : pattern.toString(); }

    @Override public Map<String, Object> values() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("sparsity", sparsity);
        m.put("pattern", patternName());
        if (owl != null) {
            m.put("allocation", "owl");
            m.put("owl_m", owl.m());
            m.put("owl_lambda", owl.lambda());
        }
        return m;
    }
}
