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
public record PruneOptions(double sparsity, NM pattern) implements MethodOptions {
    public static final Range SPARSITY = Range.closedOpen(0, 1);
    private static final Pattern NM_TEXT = Pattern.compile("\\s*(\\d{1,3})\\s*:\\s*(\\d{1,3})\\s*");

    static final List<OptionSpec> OPTIONS = List.of(
            OptionSpec.number("sparsity", "Fraction of weights pruned, in [0, 1) (implied by an N:M --pattern)."),
            OptionSpec.text("pattern", "unstructured (default) or N:M, e.g. 2:4: keep N of every M consecutive input weights."));

    public PruneOptions {
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
        return r.build(() -> of(sparsity, pattern));
    }

    public String patternName() { return pattern == null ? "unstructured" : pattern.toString(); }

    @Override public Map<String, Object> values() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("sparsity", sparsity);
        m.put("pattern", patternName());
        return m;
    }
}
