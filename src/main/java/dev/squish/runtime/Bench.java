package dev.squish.runtime;

import dev.squish.model.Block;
import dev.squish.model.KVCache;
import dev.squish.model.Model;
import dev.squish.weights.Linear;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * {@code squish bench}: memory bandwidth, then decode and prefill speed of one model in every
 * requested {@link BenchFormat}, each built from the same dense weights, one at a time.
 *
 * <p>Decode: after a short prompt, N single-token steps through the KV cache
 * ({@link Model#forwardLast}), timed as a whole; prefill: {@link Model#forwardLast} over a prompt of
 * P tokens into an empty cache. Each is the median of several repetitions after a warm-up run.
 * The bandwidth bound of decode is bandwidth / bytes of weights read per token (every linear
 * and the head; the embedding is a row lookup, the KV cache of a short context is negligible).
 */
public final class Bench {
    private Bench() {}

    /** What to measure. reps = timed repetitions per measurement (median reported). */
    public record Options(List<BenchFormat> formats, int tokens, int prefill, int reps, boolean denseHead,
                          boolean peer, long bandwidthBytes) {}

    /** One line of the table. Speeds are tokens per second; NaN where not measured. */
    public record Row(String engine, String format, long weightBytes, double decodeTps, double prefillTps,
                      double speedup, double boundTps, double percentOfBound, String note) {
        Row withSpeedup(double dense) { return new Row(engine, format, weightBytes, decodeTps, prefillTps, decodeTps / dense, boundTps, percentOfBound, note); }
    }

    public record Result(String model, int threads, double bandwidthGBs, int tokens, int prefill, int reps,
                         boolean denseHead, List<Row> rows, List<String> notes) {}

    /** Speed of one built model: decode and prefill tokens per second. */
    public record Speed(double decodeTps, double prefillTps) {}

    /** Prompt and decode measurement shared by Squish and the peer: token ids and repetitions. */
    public interface Engine {
        /** Runs a prefill of prompt, then decodes steps tokens greedily; returns seconds of the decode part, and stores the prefill seconds in prefillSeconds[0]. */
        double run(int[] prompt, int steps, double[] prefillSeconds);
    }

    public static Result run(BenchModel src, Options o, PrintWriter log) {
        // inside a dedicated pool (--threads) the kernels fork into that pool
        int threads = java.util.concurrent.ForkJoinTask.inForkJoinPool()
                ? java.util.concurrent.ForkJoinTask.getPool().getParallelism() : dev.squish.util.Parallel.threads();
        log.printf("bench: %s, %d threads%n", src.name(), threads);
        double bw = MemoryBandwidth.measure(o.bandwidthBytes(), 5);
        log.printf("memory read bandwidth: %.1f GB/s%n", bw / 1e9);
        List<Row> rows = new ArrayList<>();
        List<String> notes = new ArrayList<>();
        int vocab = src.config().vocab();
        for (BenchFormat f : o.formats()) {
            long t0 = System.nanoTime();
            try (Model m = src.build(f, o.denseHead())) {
                long bytes = bytesPerToken(m);
                log.printf("%s: built in %.1f s, %.1f MB of weights per token; measuring...%n", f.id, (System.nanoTime() - t0) / 1e9, bytes / 1e6);
                Speed s = measure(squish(m), vocab, o);
                rows.add(row("squish", f.id, bytes, s, bw, ""));
                log.printf("%s: decode %.2f tokens/s, prefill %.1f tokens/s%n", f.id, s.decodeTps(), s.prefillTps());
            }
        }
        if (o.peer()) rows.addAll(JlamaPeer.run(src, o, bw, notes, log));
        double dense = rows.stream().filter(r -> r.engine().equals("squish") && r.format().equals(BenchFormat.DENSE_F32.id))
                .mapToDouble(Row::decodeTps).findFirst().orElse(Double.NaN);
        rows.replaceAll(r -> r.withSpeedup(dense));
        return new Result(src.name(), threads, bw / 1e9, o.tokens(), o.prefill(), o.reps(), o.denseHead(), rows, notes);
    }

    static Row row(String engine, String format, long bytes, Speed s, double bandwidth, String note) {
        double bound = bandwidth / bytes;
        return new Row(engine, format, bytes, s.decodeTps(), s.prefillTps(), Double.NaN, bound, 100 * s.decodeTps() / bound, note);
    }

    /** Weight bytes one decode step reads: every linear of every block and the head. */
    public static long bytesPerToken(Model m) {
        long n = m.head.bytes();
        for (Block b : m.blocks) for (Linear l : b.linears.values()) n += l.bytes();
        return n;
    }

    /** Squish's decode loop: prefill with forwardLast, then greedy single-token steps. */
    public static Engine squish(Model m) {
        return (prompt, steps, prefillSeconds) -> {
            KVCache cache = m.newCache(prompt.length + steps + 1);
            long t0 = System.nanoTime();
            float[] logits = m.forwardLast(prompt, 0, cache);
            long t1 = System.nanoTime();
            int pos = prompt.length;
            for (int i = 0; i < steps; i++) logits = m.forwardLast(new int[]{Generator.argmax(logits)}, pos++, cache);
            long t2 = System.nanoTime();
            prefillSeconds[0] = (t1 - t0) / 1e9;
            return (t2 - t1) / 1e9;
        };
    }

    /**
     * Warm-up, then the median of o.reps() decode runs (a short prompt, then o.tokens() steps) and
     * of o.reps() prefills of o.prefill() tokens.
     */
    public static Speed measure(Engine e, int vocab, Options o) {
        int[] shortPrompt = prompt(8, vocab, 1), longPrompt = prompt(o.prefill(), vocab, 2);
        double[] pre = new double[1];
        e.run(shortPrompt, Math.min(4, o.tokens()), pre);       // warm-up: compile the decode path
        e.run(prompt(Math.min(o.prefill(), 32), vocab, 3), 1, pre);  // and the prefill path
        double[] decode = new double[o.reps()], prefill = new double[o.reps()];
        for (int r = 0; r < o.reps(); r++) {
            decode[r] = o.tokens() / e.run(shortPrompt, o.tokens(), pre);
            e.run(longPrompt, 0, pre);
            prefill[r] = o.prefill() / pre[0];
        }
        return new Speed(median(decode), median(prefill));
    }

    static int[] prompt(int n, int vocab, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] p = new int[n];
        for (int i = 0; i < n; i++) p[i] = 3 + r.nextInt(Math.max(1, vocab - 3));
        return p;
    }

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        int n = s.length;
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }
}
