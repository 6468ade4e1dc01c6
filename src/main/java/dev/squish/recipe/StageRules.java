package dev.squish.recipe;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/** Which options each method takes, their ranges and defaults, and which orders of stages make sense. */
final class StageRules {
    private StageRules() {}

    static final int DEFAULT_GROUP_SIZE = 128;
    static final double MAX_OUTLIERS = 0.1;
    private static final Pattern NM = Pattern.compile("\\s*(\\d{1,3})\\s*:\\s*(\\d{1,3})\\s*");

    /** The option keys {@code m} accepts (besides {@code method}). */
    static List<String> keys(Method m) {
        List<String> k = new ArrayList<>(switch (m.kind()) {
            case PRUNE -> List.of("sparsity", "pattern");
            case LOW_RANK -> List.of("keep", "rank", "allocation");
            case SLICE -> List.of("slice");
            case QUANTIZE -> List.of("bits", "group_size", "sym");
        });
        if (m == Method.GPTQ) k.add("act_order");
        if (m.kind() == Method.Kind.QUANTIZE) k.add("outliers");
        if (m == Method.AWQ) k.add("clip");
        k.add("layers");
        return k;
    }

    /** Validates one stage's options and returns it with defaults filled in. */
    static Stage stage(Method m, OptionReader r) {
        r.rejectUnknown(keys(m), m.id());
        Map<String, Object> o = new LinkedHashMap<>();
        switch (m.kind()) {
            case PRUNE -> prune(r, o);
            case LOW_RANK -> lowRank(r, o);
            case SLICE -> o.put("slice", required(r, "slice", r.fraction("slice", 0, true, 1, false)));
            case QUANTIZE -> quantize(m, r, o);
        }
        return new Stage(m.id(), o, layers(r));
    }

    private static void prune(OptionReader r, Map<String, Object> o) {
        String pattern = r.string("pattern");
        Double sparsity = r.fraction("sparsity", 0, true, 1, false);
        if (pattern == null || pattern.equals("unstructured")) {
            o.put("sparsity", required(r, "sparsity", sparsity));
            o.put("pattern", "unstructured");
            return;
        }
        Matcher mm = NM.matcher(pattern);
        int n = mm.matches() ? Integer.parseInt(mm.group(1)) : -1, m = mm.matches() ? Integer.parseInt(mm.group(2)) : -1;
        if (!(n > 0 && n < m && m <= 32)) {
            throw r.error(r.name("pattern") + " must be 'unstructured' or N:M with 0 < N < M <= 32 (e.g. 2:4), got '"
                    + pattern + "'");
        }
        Stage.NM nm = new Stage.NM(n, m);
        if (sparsity != null && Math.abs(sparsity - nm.sparsity()) > 1e-9) {
            throw r.error(r.name("sparsity") + " " + OptionReader.fmt(sparsity) + " does not match "
                    + r.name("pattern") + " " + nm + ", which keeps " + n + " of every " + m + " weights (sparsity "
                    + OptionReader.fmt(nm.sparsity()) + "); leave " + r.name("sparsity") + " out");
        }
        o.put("sparsity", nm.sparsity());
        o.put("pattern", nm.toString());
    }

    private static void lowRank(OptionReader r, Map<String, Object> o) {
        Double keep = r.fraction("keep", 0, false, 1, true);
        Integer rank = r.integer("rank");
        if (keep == null && rank == null) throw r.error("needs " + r.name("keep") + " or " + r.name("rank"));
        if (keep != null && rank != null) {
            throw r.error("give " + r.name("keep") + " or " + r.name("rank") + ", not both");
        }
        if (rank != null && rank <= 0) throw r.error(r.name("rank") + " must be a positive integer, got " + rank);
        String allocation = r.choice("allocation", List.of("uniform", "spectrum"));
        if (rank != null && allocation != null && !allocation.equals("uniform")) {
            throw r.error(r.name("allocation") + " " + allocation + " shares a " + r.name("keep")
                    + " budget between layers; it does not apply to a fixed " + r.name("rank"));
        }
        if (keep != null) o.put("keep", keep);
        if (rank != null) o.put("rank", rank);
        o.put("allocation", allocation == null ? "uniform" : allocation);
    }

    private static void quantize(Method m, OptionReader r, Map<String, Object> o) {
        Integer bits = required(r, "bits", r.integer("bits"));
        if (bits != 4 && bits != 8) throw r.error(r.name("bits") + " must be 4 or 8, got " + bits);
        Integer group = r.integer("group_size");
        if (group != null && group <= 0 && group != -1) {
            throw r.error(r.name("group_size") + " must be a positive integer or -1 (one scale per output channel), got " + group);
        }
        Boolean sym = r.bool("sym");
        o.put("bits", bits);
        o.put("group_size", group == null ? DEFAULT_GROUP_SIZE : group);
        o.put("sym", sym == null || sym);
        if (m == Method.GPTQ) {
            Boolean actOrder = r.bool("act_order");
            o.put("act_order", actOrder != null && actOrder);
        }
        Double outliers = r.fraction("outliers", 0, true, MAX_OUTLIERS, true);
        o.put("outliers", outliers == null ? 0.0 : outliers);
        if (m == Method.AWQ) {
            Boolean clip = r.bool("clip");
            o.put("clip", clip == null || clip);
        }
    }

    private static Pattern layers(OptionReader r) {
        String re = r.string("layers");
        if (re == null) return null;
        if (re.isEmpty()) throw r.error(r.name("layers") + " is empty; leave it out to apply to every layer");
        try {
            return Pattern.compile(re);
        } catch (PatternSyntaxException e) {
            throw r.error(r.name("layers") + " is not a valid regular expression: " + e.getDescription()
                    + (e.getIndex() >= 0 ? " near index " + e.getIndex() : "") + " in '" + re + "'");
        }
    }

    private static <T> T required(OptionReader r, String key, T value) {
        if (value == null) throw r.error("missing " + r.name(key));
        return value;
    }

    /**
     * Checks the order of stages. SliceGPT rotates and cuts the hidden dimension, which would
     * undo pruning, factorization or quantization done before it, so it must come first (once).
     * Quantization must come last (once): pruning or factorizing quantized weights would leave
     * them off the quantization grid, and quantizing twice compounds rounding error.
     *
     * @return null if fine, else the problem (without prefix)
     */
    static String orderProblem(List<Stage> stages) {
        int quant = -1, slice = -1;
        for (int i = 0; i < stages.size(); i++) {
            Stage s = stages.get(i);
            String here = "stage " + (i + 1) + " (" + s.method() + ")";
            switch (s.kind()) {
                case SLICE -> {
                    if (slice >= 0) return here + ": slicegpt twice (also stage " + (slice + 1) + "); use one slicegpt stage";
                    if (quant >= 0) return here + ": slicegpt after quantization (stage " + (quant + 1) + ") makes no sense;"
                            + " slicegpt must be the first stage";
                    if (i > 0) return here + ": slicegpt rotates the weights, which undoes stage " + i
                            + " (" + stages.get(i - 1).method() + "); slicegpt must be the first stage";
                    slice = i;
                }
                case QUANTIZE -> {
                    if (quant >= 0) return here + ": quantizing twice (also stage " + (quant + 1) + " ("
                            + stages.get(quant).method() + ")); use one quantization stage";
                    quant = i;
                }
                default -> {
                    if (quant >= 0) return here + ": " + s.method() + " after quantization (stage " + (quant + 1)
                            + ") makes no sense; quantization must be the last stage";
                }
            }
        }
        return null;
    }
}
