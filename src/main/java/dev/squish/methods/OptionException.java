package dev.squish.methods;

import dev.squish.SquishException;

import java.util.function.UnaryOperator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A bad option value found by an options record's own check. The message names options as
 * {@code {key}} placeholders, so that the same check words the error for a recipe
 * ({@code group_size}) and for the command line ({@code --group-size}); see
 * {@link OptionReader#build}. Used directly (e.g. {@code new Rtn(3, ...)}), keys stay bare.
 */
public final class OptionException extends SquishException {
    private static final Pattern KEY = Pattern.compile("\\{([a-z_]+)}");
    private final String template;

    public OptionException(String template) {
        super(words(template, k -> k));
        this.template = template;
    }

    /** The message with each {@code {key}} replaced by {@code name(key)}. */
    public String words(UnaryOperator<String> name) { return words(template, name); }

    private static String words(String template, UnaryOperator<String> name) {
        Matcher m = KEY.matcher(template);
        StringBuilder sb = new StringBuilder();
        while (m.find()) m.appendReplacement(sb, Matcher.quoteReplacement(name.apply(m.group(1))));
        m.appendTail(sb);
        return sb.toString();
    }
}
