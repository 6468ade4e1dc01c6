package dev.squish.cli;

import dev.squish.SquishException;
import dev.squish.methods.MethodDescriptor;
import dev.squish.methods.Methods;
import dev.squish.methods.OptionSpec;
import picocli.CommandLine.Model.CommandSpec;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The method flags of {@code compress} ({@code --sparsity}, {@code --bits}, ...), made from the
 * registered methods' option declarations: one flag per option key, shared by the methods that
 * take it, with the method list in the help. A new method's options appear here by themselves.
 */
final class MethodFlags {
    private MethodFlags() {}

    /** Adds every method option as a flag, and the list of methods to the help. */
    static void addTo(CommandSpec spec) {
        for (OptionSpec o : Methods.allOptions()) {
            var b = picocli.CommandLine.Model.OptionSpec.builder(o.flagName())
                    .description(o.help() + " (" + String.join(", ", Methods.taking(o.key())) + ")");
            switch (o.type()) {
                case NUMBER -> b.type(Double.class).paramLabel("F");
                case INTEGER -> b.type(Integer.class).paramLabel("N");
                case FLAG -> b.type(Boolean.class);
                case TEXT -> b.type(String.class).paramLabel("TEXT");
            }
            spec.addOption(b.build());
            if (o.negation() != null) {
                spec.addOption(picocli.CommandLine.Model.OptionSpec.builder("--" + o.negation()).type(Boolean.class)
                        .description("The opposite of " + o.flagName() + ".").build());
            }
        }
        List<String> footer = new ArrayList<>(List.of("", "Methods (--method):"));
        int w = Methods.ids().stream().mapToInt(String::length).max().orElse(0);
        for (MethodDescriptor<?> d : Methods.all()) footer.add(String.format("  %-" + w + "s  %s", d.id(), d.help()));
        spec.usageMessage().footer(footer.toArray(String[]::new));
    }

    /** The given method flags under their recipe keys (absent ones left out). */
    static Map<String, Object> values(CommandSpec spec) {
        Map<String, Object> o = new LinkedHashMap<>();
        for (OptionSpec s : Methods.allOptions()) {
            Object v = spec.findOption(s.flagName()).getValue();
            if (s.negation() != null) {
                Boolean neg = spec.findOption("--" + s.negation()).getValue();
                if (neg != null) {
                    if (v != null) throw new SquishException("give at most one of " + s.flagName() + " and --" + s.negation());
                    v = !neg;
                }
            }
            if (v != null) o.put(s.key(), v);
        }
        return o;
    }
}
