package dev.squish.util;

/**
 * Minimal progress reporting (a fuller implementation with a terminal bar replaces this).
 * Prints nothing unless enabled; never writes to stdout.
 */
public final class Progress implements AutoCloseable {
    private static volatile boolean quiet = true;
    private final String task;
    private final long total;
    private long done;

    private Progress(String task, long total) { this.task = task; this.total = total; }

    public static void setQuiet(boolean q) { quiet = q; }

    public static Progress start(String task, long total) { return new Progress(task, total); }

    public synchronized void step() { stepBy(1); }

    public synchronized void stepBy(long n) { done += n; }

    public void message(String m) { if (!quiet) System.err.println(task + ": " + m); }

    @Override public void close() { }
}
