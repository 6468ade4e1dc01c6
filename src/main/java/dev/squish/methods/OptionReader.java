package dev.squish.methods;

import dev.squish.SquishException;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Reads typed values out of one mapping (a recipe stage, the calibration block, or the options of
 * the plain {@code --method} command line) and words errors for the user: each message starts
 * with a prefix naming the file and stage, and names the key ({@code bits}) or, for the command
 * line, the flag ({@code --bits}). It checks types only; the limits of each value are checked once,
 * by the method's options record ({@link #build}).
 */
public final class OptionReader {
    private final String prefix;
    private final boolean cli;
    private final Map<String, Object> values = new LinkedHashMap<>();

    /**
     * @param prefix e.g. {@code "recipe.yaml: stage 2 (gptq): "}; empty for the command line
     * @param cli    command-line mode: keys are shown as flags, null values mean "not given" and
     *               strings are accepted for numbers and flags
     */
    public OptionReader(String prefix, boolean cli, Map<?, ?> raw) {
        this.prefix = prefix;
        this.cli = cli;
        for (Map.Entry<?, ?> e : raw.entrySet()) {
            if (cli && e.getValue() == null) continue;
            values.put(String.valueOf(e.getKey()), e.getValue());
        }
    }

    /**
     * How the user wrote the key: {@code group_size} in a recipe, {@code --group-size} on the
     * command line (where the calibration {@code file} is {@code --calibration}).
     */
    public String name(String key) {
        if (!cli) return key;
        return "--" + (key.equals("file") ? "calibration" : key.replace('_', '-'));
    }

    public SquishException error(String message) {
        return new SquishException(prefix + message);
    }

    public boolean has(String key) {
        return values.containsKey(key);
    }

    /** Fails on the first key not in {@code allowed}, suggesting the nearest allowed one. */
    public void rejectUnknown(Collection<String> allowed, String owner) {
        for (String k : values.keySet()) {
            if (allowed.contains(k)) continue;
            String near = nearest(k, allowed);
            List<String> shown = new ArrayList<>();
            for (String a : allowed) shown.add(name(a));
            throw error((cli ? name(k) + " does not apply to " + owner : "unknown key '" + k + "'")
                    + (near != null ? " (did you mean '" + name(near) + "'?)" : "")
                    + "; " + owner + " takes " + String.join(", ", shown));
        }
    }

    private Object raw(String key) {
        Object v = values.get(key);
        if (v == null && values.containsKey(key)) throw error(name(key) + " has no value");
        return v;
    }

    /**
     * A number, or null if absent; {@code range} only words the message (the options record checks
     * the value against it).
     */
    public Double number(String key, Range range) {
        Object v = raw(key);
        if (v == null) return null;
        if (v instanceof Number n && !(v instanceof Double dd && dd.isNaN())) return n.doubleValue();
        if (cli && v instanceof String s && isDouble(s)) return Double.parseDouble(s.trim());
        throw error(name(key) + " must be a number in " + range + ", got " + describe(v));
    }

    /**
     * Builds an options record from values read here; its own checks ({@link OptionException})
     * come out worded for this reader (prefix, key or flag names).
     */
    public <T> T build(Supplier<T> make) {
        try {
            return make.get();
        } catch (OptionException e) {
            throw error(e.words(this::name));
        }
    }

    /** An int, or null if absent. */
    public Integer integer(String key) {
        Object v = raw(key);
        if (v == null) return null;
        BigInteger b = null;
        if (v instanceof Integer || v instanceof Long || v instanceof Short || v instanceof Byte) {
            b = BigInteger.valueOf(((Number) v).longValue());
        } else if (v instanceof BigInteger bi) {
            b = bi;
        } else if (cli && v instanceof String s && s.trim().matches("[-+]?\\d+")) {
            b = new BigInteger(s.trim());
        }
        if (b == null) throw error(name(key) + " must be an integer, got " + describe(v));
        if (b.bitLength() > 31) throw error(name(key) + " is out of range, got " + b);
        return b.intValue();
    }

    /** A long (e.g. a seed), or null if absent. */
    public Long longValue(String key) {
        Object v = raw(key);
        if (v == null) return null;
        BigInteger b = null;
        if (v instanceof Integer || v instanceof Long) b = BigInteger.valueOf(((Number) v).longValue());
        else if (v instanceof BigInteger bi) b = bi;
        else if (cli && v instanceof String s && s.trim().matches("[-+]?\\d+")) b = new BigInteger(s.trim());
        if (b == null) throw error(name(key) + " must be an integer, got " + describe(v));
        if (b.bitLength() > 63) throw error(name(key) + " is out of range, got " + b);
        return b.longValue();
    }

    public Boolean bool(String key) {
        Object v = raw(key);
        if (v == null) return null;
        if (v instanceof Boolean b) return b;
        if (cli && v instanceof String s && (s.equalsIgnoreCase("true") || s.equalsIgnoreCase("false"))) {
            return Boolean.parseBoolean(s);
        }
        throw error(name(key) + " must be true or false, got " + describe(v));
    }

    public String string(String key) {
        Object v = raw(key);
        if (v == null) return null;
        if (v instanceof String s) return s;
        throw error(name(key) + " must be a string, got " + describe(v));
    }

    /** One of {@code choices} (case-sensitive), or null if absent. */
    public String choice(String key, List<String> choices) {
        Object v = raw(key);
        if (v == null) return null;
        if (v instanceof String s && choices.contains(s)) return s;
        throw error(name(key) + " must be " + String.join(" or ", choices) + ", got " + describe(v));
    }

    public static String describe(Object v) {
        if (v == null) return "nothing";
        if (v instanceof String s) return "'" + s + "'";
        if (v instanceof Map) return "a mapping";
        if (v instanceof Collection) return "a list";
        if (v instanceof Double d) return fmt(d);
        return String.valueOf(v);
    }

    public static String fmt(double d) {
        if (d == Math.rint(d) && Math.abs(d) < 1e15) return Long.toString((long) d);
        return Double.toString(d);
    }

    private static boolean isDouble(String s) {
        try {
            return !Double.isNaN(Double.parseDouble(s.trim()));
        } catch (NumberFormatException e) {
            return false;
        }
    }

    /** The allowed word within edit distance 2 (or 1/3 of its length) of {@code word}, if any. */
    public static String nearest(String word, Collection<String> allowed) {
        String best = null;
        int bestD = Integer.MAX_VALUE;
        String w = word.toLowerCase(Locale.ROOT).replace('-', '_');
        for (String a : allowed) {
            int d = editDistance(w, a);
            if (d < bestD) { bestD = d; best = a; }
        }
        return best != null && bestD <= Math.max(2, word.length() / 3) ? best : null;
    }

    private static int editDistance(String a, String b) {
        int[] prev = new int[b.length() + 1], cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) prev[j] = j;
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int sub = prev[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
                cur[j] = Math.min(sub, Math.min(prev[j] + 1, cur[j - 1] + 1));
            }
            int[] t = prev; prev = cur; cur = t;
        }
        return prev[b.length()];
    }
}
