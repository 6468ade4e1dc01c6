package dev.squish.util;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinWorkerThread;
import java.util.concurrent.RecursiveAction;

/**
 * Splits index ranges over all cores: on a persistent {@link Workers} team, or on the common
 * fork-join pool when the team is busy, when called from inside a fork-join pool (which then keeps
 * the work, e.g. a one-thread pool that measures single-core CPU time) or with
 * {@code -Dsquish.workers=false}.
 */
public final class Parallel {
    private Parallel() {}

    @FunctionalInterface
    public interface RangeBody { void run(int from, int to); }

    /** Work (multiply-adds) below which splitting a loop costs more than it saves. */
    static final int MIN_TASK_WORK = 1 << 16;

    /**
     * Rows per task for a loop over matrix rows of {@code cols} multiply-adds each: at least 16, and
     * enough that each task has {@link #MIN_TASK_WORK} (small decode matrices then run on one
     * thread instead of paying the fork-join hand-off for a few microseconds of work).
     */
    public static int rowGrain(int cols) { return Math.max(16, MIN_TASK_WORK / Math.max(1, cols)); }

    public static int threads() { return ForkJoinPool.getCommonPoolParallelism() + 1; }

    private static final boolean USE_WORKERS = !"false".equals(System.getProperty("squish.workers"));
    private static volatile Workers team;

    private static Workers team() {
        Workers t = team;
        if (t == null) synchronized (Parallel.class) {
            if ((t = team) == null) team = t = new Workers(threads() - 1);
        }
        return t;
    }

    /**
     * Runs body over [0, n) in contiguous chunks of at least {@code grain} indices, in parallel when
     * there is enough work. Chunks are about 4 per thread so that uneven rows still balance.
     */
    public static void forRange(int n, int grain, RangeBody body) {
        if (n <= 0) return;
        int threads = threads();
        int chunk = Math.max(Math.max(1, grain), (n + threads * 4 - 1) / (threads * 4));
        if (n <= chunk || threads == 1) { body.run(0, n); return; }
        if (USE_WORKERS && !(Thread.currentThread() instanceof ForkJoinWorkerThread) && team().run(n, chunk, body)) return;
        new Task(0, n, chunk, body).invoke();
    }

    private static final class Task extends RecursiveAction {
        final int lo, hi, chunk; final RangeBody body;
        Task(int lo, int hi, int chunk, RangeBody body) { this.lo = lo; this.hi = hi; this.chunk = chunk; this.body = body; }
        @Override protected void compute() {
            if (hi - lo <= chunk) { body.run(lo, hi); return; }
            int mid = lo + (hi - lo) / 2;
            invokeAll(new Task(lo, mid, chunk, body), new Task(mid, hi, chunk, body));
        }
    }
}
