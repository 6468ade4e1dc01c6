package dev.squish.util;

import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class ProgressTest {
    private final ByteArrayOutputStream buf = new ByteArrayOutputStream();
    private final PrintStream out = new PrintStream(buf, true, StandardCharsets.UTF_8);
    private final AtomicLong clock = new AtomicLong(1_000_000_000L);

    private List<String> lines() {
        String s = buf.toString(StandardCharsets.UTF_8);
        return s.isEmpty() ? List.of() : List.of(s.split("\n"));
    }

    private void advanceSeconds(double s) { clock.addAndGet((long) (s * 1e9)); }

    @AfterEach
    void unquiet() { Progress.setQuiet(false); }

    @Test
    void printsAtMostOnePerTenPercentWithEtaAndFinalLine() {
        try (Progress p = Progress.startPlain("calibrate", 100, out, clock::get)) {
            for (int i = 0; i < 100; i++) { advanceSeconds(0.01); p.step(); }
        }
        List<String> l = lines();
        // 10%, 20%, ..., 90% then "done"
        assertEquals(10, l.size(), String.join("\n", l));
        for (int k = 1; k <= 9; k++) assertTrue(l.get(k - 1).startsWith("calibrate: " + (k * 10) + "% (" + (k * 10) + "/100) "), l.get(k - 1));
        assertEquals("calibrate: done (100/100) in 1.0s", l.get(9));
    }

    @Test
    void etaIsProportionalToRemainingWork() {
        try (Progress p = Progress.startPlain("eval", 10, out, clock::get)) {
            advanceSeconds(12.3);
            p.stepBy(4);
            assertEquals(List.of("eval: 40% (4/10) 12.3s elapsed, ETA 18.5s"), lines());
        }
    }

    @Test
    void timeBasedLinesForSlowProgressAndUnknownTotal() {
        try (Progress p = Progress.startPlain("tokenize", 0, out, clock::get)) {
            p.stepBy(5);                 // too early: nothing
            assertEquals(0, lines().size());
            advanceSeconds(Progress.PLAIN_INTERVAL_SECONDS + 0.5);
            p.message("train.txt");
            p.stepBy(5);
            assertEquals(List.of("tokenize: 10 done, 5.5s elapsed - train.txt"), lines());
            p.step();                    // within the interval again: nothing
            assertEquals(1, lines().size());
        }
        assertEquals("tokenize: done (11) in 5.5s", lines().get(1));
    }

    @Test
    void slowStepsWithinOneDecileStillReportEveryFewSeconds() {
        try (Progress p = Progress.startPlain("blocks", 1000, out, clock::get)) {
            for (int i = 0; i < 50; i++) { advanceSeconds(1); p.step(); }
        }
        List<String> l = lines();
        // 50 s of steps with no decile crossed: a line every 5 s (10), plus the final line
        assertEquals(11, l.size(), String.join("\n", l));
        assertTrue(l.get(0).startsWith("blocks: 0% (5/1000) 5.0s elapsed, ETA 16m35s"), l.get(0));
    }

    @Test
    void bigJumpsPrintOnlyOnce() {
        try (Progress p = Progress.startPlain("x", 10, out, clock::get)) {
            p.stepBy(7);
            p.stepBy(1);
            p.stepBy(2);
        }
        assertEquals(List.of("x: 70% (7/10) 0.0s elapsed, ETA 0.0s", "x: 80% (8/10) 0.0s elapsed, ETA 0.0s",
                "x: done (10/10) in 0.0s"), lines());
    }

    @Test
    void closeIsIdempotentAndStepsAfterCloseAreIgnored() {
        Progress p = Progress.startPlain("x", 4, out, clock::get);
        p.stepBy(4);
        p.close();
        p.close();
        p.step();
        assertEquals(List.of("x: done (4/4) in 0.0s"), lines());
        assertEquals(4, p.current());
    }

    @Test
    void concurrentStepsCountExactlyAndLinesAreMonotonic() throws Exception {
        int threads = 8, per = 5_000;
        Progress p = Progress.startPlain("par", (long) threads * per, out, System::nanoTime);
        List<Thread> ts = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            Thread th = new Thread(() -> { for (int i = 0; i < per; i++) p.step(); });
            ts.add(th);
            th.start();
        }
        for (Thread th : ts) th.join();
        p.close();
        assertEquals((long) threads * per, p.current());
        List<String> l = lines();
        assertTrue(l.size() <= 11, String.join("\n", l));
        assertEquals("par: done (40000/40000)", l.get(l.size() - 1).replaceAll(" in .*", ""));
        Pattern count = Pattern.compile("\\((\\d+)/40000\\)");
        long prev = -1;
        for (String s : l.subList(0, l.size() - 1)) {
            Matcher m = count.matcher(s);
            assertTrue(m.find(), s);
            long c = Long.parseLong(m.group(1));
            assertTrue(c > prev, "lines out of order: " + l);
            prev = c;
        }
    }

    @Test
    void quietPrintsNothingButStillCounts() {
        Progress.setQuiet(true);
        PrintStream saved = System.err;
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try (Progress p = Progress.start("quiet", 3)) {
            p.step(); p.step(); p.message("m"); p.step();
            assertEquals(3, p.current());
        } finally {
            System.setErr(saved);
        }
        assertEquals("", err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void durationFormatting() {
        assertEquals("0.0s", Progress.duration(0));
        assertEquals("59.9s", Progress.duration(59.94));
        assertEquals("1m00s", Progress.duration(60));
        assertEquals("4m05s", Progress.duration(245));
        assertEquals("2h03m", Progress.duration(2 * 3600 + 3 * 60 + 7));
        assertEquals("?", Progress.duration(Double.NaN));
        assertEquals("?", Progress.duration(Double.POSITIVE_INFINITY));
    }
}
