package dev.squish.methods;

/** An interval of allowed values of a numeric option, e.g. {@code [0, 1)} for a sparsity. */
public record Range(double lo, boolean loIncluded, double hi, boolean hiIncluded) {
    public static Range closedOpen(double lo, double hi) { return new Range(lo, true, hi, false); }

    public static Range openClosed(double lo, double hi) { return new Range(lo, false, hi, true); }

    public static Range closed(double lo, double hi) { return new Range(lo, true, hi, true); }

    public boolean contains(double d) {
        return (loIncluded ? d >= lo : d > lo) && (hiIncluded ? d <= hi : d < hi);
    }

    /** The value if it lies in the range, else an {@link OptionException} naming {@code key}. */
    public double check(String key, double d) {
        if (!contains(d)) throw new OptionException("{" + key + "} must be in " + this + ", got " + OptionReader.fmt(d));
        return d;
    }

    @Override public String toString() {
        return (loIncluded ? "[" : "(") + OptionReader.fmt(lo) + ", " + OptionReader.fmt(hi) + (hiIncluded ? "]" : ")");
    }
}
