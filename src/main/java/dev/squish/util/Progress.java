package dev.squish.util;

import java.io.PrintStream;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * Progress of one long step (tokenizing, calibration, compressing blocks, evaluation), always on
 * stderr and never on stdout.
 *
 * <pre>{@code
 * try (Progress p = Progress.start("calibrate", blocks)) {
 *     for (...) { ...; p.message("block " + i); p.step(); }
 * }
 * }</pre>
 *
 * When stderr is a terminal it shows an animated bar with ETA (the {@code me.tongfei:progressbar}
 * library); otherwise (logs, pipes, CI) it prints plain lines such as
 * {@code calibrate: 40% (4/10) 12.3s elapsed, ETA 18.5s} at most once per 10% of progress or
 * every {@value #PLAIN_INTERVAL_SECONDS} seconds, plus one line when done. {@link #setQuiet}
 * silences everything (for {@code --json} and tests). The environment variable
 * {@code SQUISH_PROGRESS=bar|plain|off} overrides the choice. {@link #step} and {@link #stepBy}
 * may be called from several threads at once. Use one Progress at a time: two live bars on one
 * terminal overwrite each other, so report an inner loop through {@link #message} instead.
 */
public final class Progress implements AutoCloseable {
    static final int PLAIN_INTERVAL_SECONDS = 5;
    private static volatile boolean quiet;

    private final String task;
    private final long total;
    private final AtomicLong done = new AtomicLong();
    private volatile String message;
    private final ProgressBar bar;          // terminal mode, or null
    private final PlainLines plain;         // plain-line mode, or null
    private volatile boolean closed;

    private Progress(String task, long total, ProgressBar bar, PlainLines plain) {
        this.task = task;
        this.total = total;
        this.bar = bar;
        this.plain = plain;
    }

    /** Silences all progress output from now on (e.g. for {@code --json} runs and tests). */
    public static void setQuiet(boolean q) { quiet = q; }

    public static boolean isQuiet() { return quiet; }

    /**
     * Starts reporting a step named {@code task} of {@code total} units; {@code total <= 0} means
     * unknown (lines then show the count and elapsed time only).
     */
    public static Progress start(String task, long total) {
        String mode = System.getenv("SQUISH_PROGRESS");
        mode = mode == null ? "" : mode.trim().toLowerCase(Locale.ROOT);
        if (quiet || mode.equals("off")) return new Progress(task, total, null, null);
        boolean useBar = switch (mode) {
            case "bar" -> true;
            case "plain" -> false;
            default -> Terminal.stderrIsTerminal() && !"dumb".equals(System.getenv("TERM"));
        };
        if (useBar) {
            ProgressBar bar = new ProgressBarBuilder()
                    .setTaskName(task)
                    .setInitialMax(total > 0 ? total : -1)
                    .setStyle(ProgressBarStyle.COLORFUL_UNICODE_BLOCK)
                    .setConsumer(new ConsoleProgressBarConsumer(System.err))
                    .setUpdateIntervalMillis(200)
                    .continuousUpdate()
                    .build();
            return new Progress(task, total, bar, null);
        }
        return startPlain(task, total, System.err, System::nanoTime);
    }

    /** Plain-line mode writing to {@code out} with the given clock (nanoseconds); for tests. */
    static Progress startPlain(String task, long total, PrintStream out, LongSupplier nanoClock) {
        return new Progress(task, total, null, new PlainLines(out, nanoClock));
    }

    public void step() { stepBy(1); }

    public void stepBy(long n) {
        if (n <= 0 || closed) return;
        long now = done.addAndGet(n);
        if (bar != null) bar.stepBy(n);
        else if (plain != null) plain.onProgress(task, total, now, message);
    }

    /** Short status shown next to the bar or on the next plain line, e.g. {@code "block 3"}. */
    public void message(String msg) {
        message = msg;
        if (bar != null) bar.setExtraMessage(msg == null ? "" : msg);
    }

    public long current() { return done.get(); }

    public long total() { return total; }

    public String task() { return task; }

    /** Ends the step: the bar is completed, or a final plain line is printed. Idempotent. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        if (bar != null) bar.close();
        else if (plain != null) plain.onClose(task, total, done.get());
    }

    /** Formats seconds as {@code 12.3s}, {@code 4m05s} or {@code 2h03m}. */
    static String duration(double seconds) {
        if (!(seconds >= 0) || Double.isInfinite(seconds)) return "?";
        if (seconds < 60) return String.format(Locale.ROOT, "%.1fs", seconds);
        long s = Math.round(seconds);
        if (s < 3600) return String.format(Locale.ROOT, "%dm%02ds", s / 60, s % 60);
        return String.format(Locale.ROOT, "%dh%02dm", s / 3600, (s % 3600) / 60);
    }

    /** Rate-limited plain lines for non-terminal stderr. */
    private static final class PlainLines {
        private final PrintStream out;
        private final LongSupplier clock;
        private final long startNanos;
        private long nextDecile = 1;      // next multiple of 10% that triggers a line
        private long nextTimeNanos;       // time after which any progress triggers a line
        private long lastPrinted = -1;

        PlainLines(PrintStream out, LongSupplier clock) {
            this.out = out;
            this.clock = clock;
            this.startNanos = clock.getAsLong();
            this.nextTimeNanos = startNanos + PLAIN_INTERVAL_SECONDS * 1_000_000_000L;
        }

        void onProgress(String task, long total, long now, String msg) {
            long t = clock.getAsLong();
            // Cheap unsynchronized pre-check; the decision is re-made under the lock.
            boolean maybe = t >= nextTimeNanos || (total > 0 && now * 10 >= nextDecile * total);
            if (!maybe) return;
            synchronized (this) {
                if (now <= lastPrinted) return;
                boolean decile = total > 0 && now * 10 >= nextDecile * total;
                if (!decile && t < nextTimeNanos) return;
                if (total > 0 && now >= total) return; // the final line comes from close()
                if (total > 0) nextDecile = Math.min(10, now * 10 / total) + 1;
                nextTimeNanos = t + PLAIN_INTERVAL_SECONDS * 1_000_000_000L;
                lastPrinted = now;
                out.println(line(task, total, now, (t - startNanos) / 1e9, msg));
                out.flush();
            }
        }

        synchronized void onClose(String task, long total, long now) {
            double elapsed = (clock.getAsLong() - startNanos) / 1e9;
            String count = total > 0 ? "(" + now + "/" + total + ")" : "(" + now + ")";
            out.println(task + ": done " + count + " in " + duration(elapsed));
            out.flush();
        }

        static String line(String task, long total, long now, double elapsed, String msg) {
            StringBuilder sb = new StringBuilder(task).append(": ");
            if (total > 0) {
                long pct = now * 100 / total;
                sb.append(pct).append("% (").append(now).append('/').append(total).append(") ")
                  .append(duration(elapsed)).append(" elapsed, ETA ")
                  .append(now > 0 ? duration(elapsed * (total - now) / now) : "?");
            } else {
                sb.append(now).append(" done, ").append(duration(elapsed)).append(" elapsed");
            }
            if (msg != null && !msg.isBlank()) sb.append(" - ").append(msg);
            return sb.toString();
        }
    }
}
