package dev.squish.methods;

import dev.squish.SquishException;

import java.util.List;
import java.util.Map;

/**
 * Creates a method from its name and options (from the command line or a recipe stage). Option
 * keys are the recipe's: sparsity, pattern, keep, rank, allocation, slice, bits, group_size, sym,
 * act_order, outliers, clip.
 */
public final class Methods {
    private Methods() {}

    public static final List<String> NAMES = List.of("magnitude", "wanda", "sparsegpt", "svd", "asvd", "slicegpt", "rtn", "gptq", "awq");

    public static CompressionMethod create(String method, Map<String, Object> o) {
        return switch (method) {
            case "magnitude" -> new Magnitude(dbl(o, "sparsity", 0.5), str(o, "pattern", "unstructured"));
            case "wanda" -> new Wanda(dbl(o, "sparsity", 0.5), str(o, "pattern", "unstructured"));
            case "sparsegpt" -> new SparseGpt(dbl(o, "sparsity", 0.5), str(o, "pattern", "unstructured"));
            case "svd" -> new Svd(nullableDbl(o, "keep"), nullableInt(o, "rank"), str(o, "allocation", "uniform"));
            case "asvd" -> new Asvd(nullableDbl(o, "keep"), nullableInt(o, "rank"), str(o, "allocation", "uniform"));
            case "slicegpt" -> new SliceGpt(dbl(o, "slice", 0.25));
            case "rtn" -> new Rtn(integer(o, "bits", 8), integer(o, "group_size", 128), bool(o, "sym", true), dbl(o, "outliers", 0));
            case "gptq" -> new Gptq(integer(o, "bits", 4), integer(o, "group_size", 128), bool(o, "sym", true), bool(o, "act_order", false), dbl(o, "outliers", 0));
            case "awq" -> new Awq(integer(o, "bits", 4), integer(o, "group_size", 128), bool(o, "sym", true), dbl(o, "outliers", 0), bool(o, "clip", true));
            default -> throw new SquishException("unknown or unavailable method '" + method + "' (known: " + String.join(", ", NAMES) + ")");
        };
    }

    static double dbl(Map<String, Object> o, String k, double d) {
        Object v = o.get(k);
        return v == null ? d : ((Number) v).doubleValue();
    }

    static Double nullableDbl(Map<String, Object> o, String k) {
        Object v = o.get(k);
        return v == null ? null : ((Number) v).doubleValue();
    }

    static Integer nullableInt(Map<String, Object> o, String k) {
        Object v = o.get(k);
        return v == null ? null : ((Number) v).intValue();
    }

    static int integer(Map<String, Object> o, String k, int d) {
        Object v = o.get(k);
        return v == null ? d : ((Number) v).intValue();
    }

    static boolean bool(Map<String, Object> o, String k, boolean d) {
        Object v = o.get(k);
        return v == null ? d : (Boolean) v;
    }

    static String str(Map<String, Object> o, String k, String d) {
        Object v = o.get(k);
        return v == null ? d : v.toString();
    }
}
