package dev.squish.methods;

import dev.squish.SquishException;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.ServiceLoader;

/**
 * The registry of compression methods: every {@link MethodDescriptor} listed in
 * {@code META-INF/services/dev.squish.methods.MethodDescriptor}, in the order listed (the order of
 * help texts and "known methods" messages).
 */
public final class Methods {
    private Methods() {}

    private static final Map<String, MethodDescriptor<?>> ALL = load();

    private static Map<String, MethodDescriptor<?>> load() {
        Map<String, MethodDescriptor<?>> m = new LinkedHashMap<>();
        Map<String, OptionSpec> keys = new LinkedHashMap<>();
        for (MethodDescriptor<?> d : ServiceLoader.load(MethodDescriptor.class, Methods.class.getClassLoader())) {
            if (m.putIfAbsent(d.id(), d) != null) throw new IllegalStateException("two methods named " + d.id());
            for (OptionSpec o : d.options()) {
                // one key, one type: the command line declares each flag once for all methods
                OptionSpec seen = keys.putIfAbsent(o.key(), o);
                if (seen != null && (seen.type() != o.type() || !java.util.Objects.equals(seen.negation(), o.negation())))
                    throw new IllegalStateException("option " + o.key() + " of " + d.id() + " differs in type from another method's");
                if (o.key().equals("layers")) throw new IllegalStateException("'layers' is every stage's key, not a method option");
            }
        }
        if (m.isEmpty()) throw new IllegalStateException("no compression methods registered");
        return Collections.unmodifiableMap(m);
    }

    public static List<MethodDescriptor<?>> all() { return List.copyOf(ALL.values()); }

    public static List<String> ids() { return List.copyOf(ALL.keySet()); }

    public static Optional<MethodDescriptor<?>> byId(String id) { return Optional.ofNullable(ALL.get(id)); }

    /** The descriptor, or a {@link SquishException} naming the known methods. */
    public static MethodDescriptor<?> get(String id) {
        MethodDescriptor<?> d = ALL.get(id);
        if (d != null) return d;
        String near = OptionReader.nearest(id, ALL.keySet());
        throw new SquishException("unknown method '" + id + "'" + (near != null ? " (did you mean '" + near + "'?)" : "")
                + "; known methods: " + String.join(", ", ALL.keySet()));
    }

    /** Every option key of every method, each once, in first-seen order (the command line's flags). */
    public static List<OptionSpec> allOptions() {
        Map<String, OptionSpec> keys = new LinkedHashMap<>();
        for (MethodDescriptor<?> d : ALL.values()) for (OptionSpec o : d.options()) keys.putIfAbsent(o.key(), o);
        return new ArrayList<>(keys.values());
    }

    /** The ids of the methods that take option {@code key}. */
    public static List<String> taking(String key) {
        return ALL.values().stream().filter(d -> d.optionKeys().contains(key)).map(MethodDescriptor::id).toList();
    }

    /**
     * A method from recipe-style options (keys as in a recipe, values typed or, as on a command
     * line, strings), checked by the method's descriptor exactly as a recipe stage is.
     */
    public static CompressionMethod create(String id, Map<String, ?> options) {
        MethodDescriptor<?> d = get(id);
        OptionReader r = new OptionReader(id + ": ", true, options);
        r.rejectUnknown(d.optionKeys(), id);
        return d.createFrom(d.parse(r));
    }
}
