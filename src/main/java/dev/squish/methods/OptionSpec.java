package dev.squish.methods;

/**
 * One option a method takes: its recipe key (e.g. {@code group_size}; on the command line
 * {@code --group-size}), its type and a one-line help. The command line's flags and help are made
 * from these.
 *
 * @param negation for a flag: a second flag that sets it false (e.g. {@code asym} for {@code sym},
 *                 {@code no-clip} for {@code clip}); null if none
 */
public record OptionSpec(String key, Type type, String help, String negation) {
    public enum Type { NUMBER, INTEGER, FLAG, TEXT }

    public static OptionSpec number(String key, String help) { return new OptionSpec(key, Type.NUMBER, help, null); }

    public static OptionSpec integer(String key, String help) { return new OptionSpec(key, Type.INTEGER, help, null); }

    public static OptionSpec text(String key, String help) { return new OptionSpec(key, Type.TEXT, help, null); }

    public static OptionSpec flag(String key, String help, String negation) { return new OptionSpec(key, Type.FLAG, help, negation); }

    /** {@code --group-size} for {@code group_size}. */
    public String flagName() { return "--" + key.replace('_', '-'); }
}
