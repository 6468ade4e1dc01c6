package dev.squish.recipe;

import dev.squish.methods.CompressionMethod;
import dev.squish.methods.Kind;
import dev.squish.methods.MethodDescriptor;
import dev.squish.methods.MethodOptions;
import dev.squish.methods.NM;
import dev.squish.methods.PruneOptions;

import java.util.Map;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * One validated step of a recipe: a method (its {@link MethodDescriptor}), its typed options with
 * defaults filled in, and which linear layers it applies to.
 *
 * <p>{@link #options()} shows the typed options under the recipe's key names ({@code sparsity},
 * {@code group_size}, ...): fractions are {@link Double}, counts {@link Integer}, flags
 * {@link Boolean} and choices {@link String}; defaults are present, so
 * {@code stage.intOpt("group_size")} always works for a quantizer. For an N:M pattern the implied
 * {@code sparsity} is there too.
 */
public final class Stage {
    public static final Pattern ALL_LAYERS = Pattern.compile(".*");

    private final MethodDescriptor<?> descriptor;
    private final MethodOptions settings;
    private final Pattern layers;

    /**
     * @param layers regular expression searched ({@link java.util.regex.Matcher#find()}) in each
     *               linear's name within its block, e.g. {@code self_attn.q_proj}; null (or
     *               {@link #ALL_LAYERS}) for every linear
     */
    public Stage(MethodDescriptor<?> descriptor, MethodOptions settings, Pattern layers) {
        this.descriptor = Objects.requireNonNull(descriptor, "descriptor");
        this.settings = descriptor.optionsType().cast(Objects.requireNonNull(settings, "settings"));
        this.layers = layers == null ? ALL_LAYERS : layers;
    }

    /** The method id, e.g. {@code "gptq"}. */
    public String method() { return descriptor.id(); }

    public MethodDescriptor<?> descriptor() { return descriptor; }

    /** The typed options record (e.g. {@code GptqOptions}). */
    public MethodOptions settings() { return settings; }

    /** The options under their recipe keys (see the class comment). */
    public Map<String, Object> options() { return java.util.Collections.unmodifiableMap(settings.values()); }

    public Pattern layers() { return layers; }

    public Kind kind() { return descriptor.kind(); }

    /** A fresh method object for this stage. */
    public CompressionMethod create() { return descriptor.createFrom(settings); }

    /** Whether this stage applies to the linear named e.g. {@code mlp.down_proj}. */
    public boolean appliesTo(String linearName) { return layers.matcher(linearName).find(); }

    public boolean has(String key) { return options().containsKey(key); }

    public double doubleOpt(String key) { return ((Number) require(key)).doubleValue(); }

    public double doubleOpt(String key, double dflt) { return has(key) ? doubleOpt(key) : dflt; }

    public int intOpt(String key) { return ((Number) require(key)).intValue(); }

    public int intOpt(String key, int dflt) { return has(key) ? intOpt(key) : dflt; }

    public boolean boolOpt(String key) { return (Boolean) require(key); }

    public boolean boolOpt(String key, boolean dflt) { return has(key) ? boolOpt(key) : dflt; }

    public String stringOpt(String key) { return (String) require(key); }

    public String stringOpt(String key, String dflt) { return has(key) ? stringOpt(key) : dflt; }

    /** The N:M pattern of a pruning stage, or null for unstructured sparsity or another kind of method. */
    public NM nm() { return settings instanceof PruneOptions p ? p.pattern() : null; }

    private Object require(String key) {
        Object v = options().get(key);
        if (v == null) throw new IllegalStateException("stage " + method() + " has no option '" + key + "'");
        return v;
    }

    /** E.g. {@code gptq bits=4 group_size=128 sym=true act_order=false outliers=0.0}. */
    public String describe() {
        StringBuilder sb = new StringBuilder(method());
        options().forEach((k, v) -> sb.append(' ').append(k).append('=').append(v));
        if (layers != ALL_LAYERS) sb.append(" layers=").append(layers.pattern());
        return sb.toString();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Stage s && s.method().equals(method()) && s.settings.equals(settings)
                && s.layers.pattern().equals(layers.pattern());
    }

    @Override
    public int hashCode() { return Objects.hash(method(), settings, layers.pattern()); }

    @Override
    public String toString() { return describe(); }
}
