package dev.squish.util;

import org.junit.jupiter.api.Test;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.atomic.AtomicIntegerArray;

import static org.junit.jupiter.api.Assertions.*;

class ParallelTest {
    /** Every index in [0, n) is visited exactly once, ranges are within bounds and non-empty. */
    private static void coversOnce(int n, int grain) {
        AtomicIntegerArray hits = new AtomicIntegerArray(Math.max(n, 1));
        Parallel.forRange(n, grain, (a, b) -> {
            assertTrue(0 <= a && a < b && b <= n, a + ".." + b + " of " + n);
            for (int i = a; i < b; i++) hits.incrementAndGet(i);
        });
        for (int i = 0; i < n; i++) assertEquals(1, hits.get(i), "index " + i + " of n=" + n + " grain=" + grain);
    }

    @Test void everyIndexOnceManyTimes() {
        for (int rep = 0; rep < 200; rep++)
            for (int[] c : new int[][]{{0, 1}, {1, 1}, {7, 1}, {64, 1}, {1000, 3}, {5632, 16}, {33, 100}})
                coversOnce(c[0], c[1]);
    }

    @Test void failureReachesTheCallerAndTheTeamKeepsWorking() {
        for (int rep = 0; rep < 20; rep++) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> Parallel.forRange(1000, 1, (a, b) -> {
                if (a <= 500 && 500 < b) throw new IllegalStateException("boom");
            }));
            assertEquals("boom", e.getMessage());
            coversOnce(1000, 1);
        }
    }

    @Test void nestedAndConcurrentCallsAreAllRun() throws Exception {
        // nested: the inner loops run while the team is busy with the outer one
        AtomicIntegerArray hits = new AtomicIntegerArray(64 * 64);
        Parallel.forRange(64, 1, (a, b) -> {
            for (int i = a; i < b; i++) {
                int row = i;
                Parallel.forRange(64, 1, (c, d) -> { for (int j = c; j < d; j++) hits.incrementAndGet(row * 64 + j); });
            }
        });
        for (int i = 0; i < hits.length(); i++) assertEquals(1, hits.get(i), "nested index " + i);
        // concurrent callers: one gets the team, the others fall back; none waits forever or loses work
        Thread[] ts = new Thread[4];
        Throwable[] err = new Throwable[ts.length];
        for (int t = 0; t < ts.length; t++) {
            int id = t;
            ts[t] = new Thread(() -> {
                try { for (int rep = 0; rep < 200; rep++) coversOnce(3000, 7); } catch (Throwable x) { err[id] = x; }
            });
            ts[t].start();
        }
        for (Thread t : ts) t.join(60_000);
        for (int t = 0; t < ts.length; t++) { assertFalse(ts[t].isAlive()); assertNull(err[t]); }
        // inside a fork-join pool the pool keeps the work
        try (ForkJoinPool pool = new ForkJoinPool(1)) {
            pool.submit(() -> coversOnce(5000, 1)).get();
        }
    }
}
