package dev.squish.util;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * A persistent team of worker threads for {@link Parallel#forRange}. A decode step runs about 115
 * parallel loops of 10-500 microseconds each (7 linears per block plus the head); through the
 * fork-join pool each paid a task split, a wake-up of a parked pool thread and a join. Here the
 * workers spin for a short while after each loop, so the next loop of the same step is picked up
 * from a volatile read instead of a wake-up, and chunks are handed out from one atomic counter
 * (the caller takes chunks too, so a worker that the OS has descheduled on a loaded machine delays
 * only the chunk it holds). Workers park after {@link #SPIN_NANOS} without work, so an idle JVM
 * does not burn a core.
 *
 * <p>One loop runs at a time: a call made while the team is busy (from another thread, or nested
 * inside a loop body) does not wait for it; {@link Parallel} then runs it the old way.
 */
final class Workers {
    /** How long an idle worker spins before parking: longer than the serial gaps of a decode step (norms, attention: tens of microseconds). */
    static final long SPIN_NANOS = 200_000;

    private static final class Job {
        final Parallel.RangeBody body;
        final int n, chunk, chunks;
        final AtomicInteger next = new AtomicInteger(), done = new AtomicInteger();
        volatile Throwable error;
        volatile Thread waiter;

        Job(Parallel.RangeBody body, int n, int chunk) {
            this.body = body; this.n = n; this.chunk = chunk;
            this.chunks = (n + chunk - 1) / chunk;
        }

        /** Runs chunks until none is left; true when this thread finished the last one. */
        boolean work() {
            boolean last = false;
            for (int c; (c = next.getAndIncrement()) < chunks; ) {
                try {
                    body.run(c * chunk, Math.min(n, (c + 1) * chunk));
                } catch (Throwable t) {
                    if (error == null) error = t;
                } finally {
                    last = done.incrementAndGet() == chunks;
                }
            }
            return last;
        }
    }

    private final Thread[] threads;
    private final AtomicBoolean busy = new AtomicBoolean();
    private volatile Job job;

    Workers(int workers) {
        threads = new Thread[workers];
        for (int i = 0; i < workers; i++) {
            Thread t = new Thread(this::loop, "squish-worker-" + i);
            t.setDaemon(true);
            threads[i] = t;
            t.start();
        }
    }

    int size() { return threads.length + 1; }

    private boolean isWorker(Thread t) {
        for (Thread w : threads) if (w == t) return true;
        return false;
    }

    /**
     * Runs body over [0, n) in chunks of {@code chunk} on the team and the calling thread, and
     * returns when all chunks are done (rethrowing the first failure). Returns false without running
     * anything when the team is busy or the caller is one of its workers.
     */
    boolean run(int n, int chunk, Parallel.RangeBody body) {
        Thread me = Thread.currentThread();
        if (isWorker(me) || !busy.compareAndSet(false, true)) return false;
        try {
            Job j = new Job(body, n, chunk);
            j.waiter = me;
            job = j;
            for (Thread t : threads) LockSupport.unpark(t);
            j.work();
            long spinUntil = System.nanoTime() + SPIN_NANOS;
            while (j.done.get() < j.chunks) {
                if (System.nanoTime() < spinUntil) Thread.onSpinWait();
                else LockSupport.parkNanos(this, 50_000);
            }
            Throwable e = j.error;
            if (e instanceof RuntimeException re) throw re;
            if (e instanceof Error er) throw er;
            if (e != null) throw new IllegalStateException(e);
            return true;
        } finally {
            busy.set(false);
        }
    }

    private void loop() {
        Job seen = null;
        while (true) {
            Job j = job;
            if (j == seen) {
                long spinUntil = System.nanoTime() + SPIN_NANOS;
                while ((j = job) == seen) {
                    if (System.nanoTime() < spinUntil) Thread.onSpinWait();
                    else LockSupport.park(this);
                }
            }
            seen = j;
            if (j.work()) LockSupport.unpark(j.waiter);
        }
    }
}
