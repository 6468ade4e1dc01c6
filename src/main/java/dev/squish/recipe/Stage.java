package dev.squish.recipe;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * One validated step of a recipe: a method, its options with defaults filled in, and which linear
 * layers it applies to.
 *
 * <p>Options use the recipe's key names ({@code sparsity}, {@code pattern}, {@code keep},
 * {@code rank}, {@code allocation}, {@code slice}, {@code bits}, {@code group_size}, {@code sym},
 * {@code act_order}, {@code outliers}). After validation, fractions are {@link Double}, counts
 * {@link Integer}, flags {@link Boolean} and choices {@link String}; defaults are present, so
 * {@code stage.intOpt("group_size")} always works for a quantizer. For an N:M pattern the implied
 * {@code sparsity} is filled in too.
 *
 * @param method the method id, e.g. {@code "gptq"} (see {@link Method})
 * @param layers regular expression searched ({@link java.util.regex.Matcher#find()}) in each
 *               linear's name within its block, e.g. {@code self_attn.q_proj}; {@code .*} when the
 *               recipe gives none
 */
public record Stage(String method, Map<String, Object> options, Pattern layers) {
    public static final Pattern ALL_LAYERS = Pattern.compile(".*");

    public Stage {
        Objects.requireNonNull(method, "method");
        options = Collections.unmodifiableMap(new LinkedHashMap<>(options));
        layers = layers == null ? ALL_LAYERS : layers;
    }

    public Method methodEnum() {
        return Method.byId(method).orElseThrow(() -> new IllegalStateException("unknown method " + method));
    }

    public Method.Kind kind() { return methodEnum().kind(); }

    /** Whether this stage applies to the linear named e.g. {@code mlp.down_proj}. */
    public boolean appliesTo(String linearName) { return layers.matcher(linearName).find(); }

    public boolean has(String key) { return options.containsKey(key); }

    public double doubleOpt(String key) { return ((Number) require(key)).doubleValue(); }

    public double doubleOpt(String key, double dflt) { return has(key) ? doubleOpt(key) : dflt; }

    public int intOpt(String key) { return ((Number) require(key)).intValue(); }

    public int intOpt(String key, int dflt) { return has(key) ? intOpt(key) : dflt; }

    public boolean boolOpt(String key) { return (Boolean) require(key); }

    public boolean boolOpt(String key, boolean dflt) { return has(key) ? boolOpt(key) : dflt; }

    public String stringOpt(String key) { return (String) require(key); }

    public String stringOpt(String key, String dflt) { return has(key) ? stringOpt(key) : dflt; }

    /** The N:M pattern of a pruning stage, or null for unstructured sparsity. */
    public NM nm() {
        String p = stringOpt("pattern", "unstructured");
        return p.equals("unstructured") ? null : NM.parse(p);
    }

    private Object require(String key) {
        Object v = options.get(key);
        if (v == null) throw new IllegalStateException("stage " + method + " has no option '" + key + "'");
        return v;
    }

    /** E.g. {@code gptq bits=4 group_size=128 sym=true act_order=false outliers=0.0}. */
    public String describe() {
        StringBuilder sb = new StringBuilder(method);
        options.forEach((k, v) -> sb.append(' ').append(k).append('=').append(v));
        if (layers != ALL_LAYERS) sb.append(" layers=").append(layers.pattern());
        return sb.toString();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Stage s && s.method.equals(method) && s.options.equals(options)
                && s.layers.pattern().equals(layers.pattern());
    }

    @Override
    public int hashCode() { return Objects.hash(method, options, layers.pattern()); }

    /**
     * Semi-structured sparsity: in every group of {@code m} consecutive weights along the input
     * dimension, at most {@code n} stay non-zero (NVIDIA's convention; {@code 2:4} keeps 2 of 4).
     */
    public record NM(int n, int m) {
        public NM {
            if (!(n > 0 && n < m && m <= 32)) throw new IllegalArgumentException("need 0 < N < M <= 32: " + n + ":" + m);
        }

        /** Weights set to zero in each group of {@code m}. */
        public int zerosPerGroup() { return m - n; }

        public double sparsity() { return (double) (m - n) / m; }

        static NM parse(String s) {
            int c = s.indexOf(':');
            return new NM(Integer.parseInt(s.substring(0, c).trim()), Integer.parseInt(s.substring(c + 1).trim()));
        }

        @Override
        public String toString() { return n + ":" + m; }
    }
}
