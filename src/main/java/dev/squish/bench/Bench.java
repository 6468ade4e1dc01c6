package dev.squish.bench;
import dev.squish.eval.Generator;

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

    /**
     * What to measure. reps = timed repetitions per measurement (median reported); llamaBench = a
     * llama.cpp {@code llama-bench} binary for the llama.cpp rows, or null.
     */
    public record Options(List<BenchFormat> formats, int tokens, int prefill, int reps, boolean denseHead,
                          boolean peer, long bandwidthBytes, java.nio.file.Path llamaBench) {}

    /** One line of the table. Speeds are tokens per second; NaN where not measured. */
    public record Row(String engine, String format, long weightBytes, double decodeTps, double prefillTps,
                      double speedup, double boundTps, double percentOfBound, double decodeCpuTps, double cpuSpeedup,
                      double cpuPercentOfBound) {
        Row withSpeedup(Row dense) {
            return new Row(engine, format, weightBytes, decodeTps, prefillTps, decodeTps / dense.decodeTps, boundTps, percentOfBound,
                    decodeCpuTps, decodeCpuTps / dense.decodeCpuTps, cpuPercentOfBound);
        }
    }

    public record Result(String model, int threads, double bandwidthGBs, double bandwidthCpuGBs, int tokens, int prefill, int reps,
                         boolean denseHead, List<Row> rows, List<String> notes) {}

    /** Speed of one built model: decode and prefill tokens per second (wall clock), decode from CPU time. */
    public record Speed(double decodeTps, double prefillTps, double decodeCpuTps) {}

    /**
     * A model being measured, Squish's or the peer's, behind the same two calls so that both are
     * timed by the same code: start a fresh sequence with a prompt (prefill), then decode one
     * greedy token at a time.
     */
    public interface Engine {
        void start(int[] prompt);

        void step();

        /** The greedy token chosen after the last start or step (what the next step feeds in). */
        int lastToken();
    }

    public static Result run(BenchModel src, Options o, PrintWriter log) {
        int threads = threads();
        log.printf("bench: %s, %d threads%n", src.name(), threads);
        // best of many passes: on a shared machine single passes are often slowed by other processes
        MemoryBandwidth.Result bwr = MemoryBandwidth.measure(o.bandwidthBytes(), o.bandwidthBytes() >= (1L << 30) ? 20 : 5, threads);
        double bw = bwr.wall();
        log.printf("memory read bandwidth: %.1f GB/s (%.1f GB/s from CPU time)%n", bw / 1e9, bwr.cpu() / 1e9);
        List<Row> rows = new ArrayList<>();
        List<String> notes = new ArrayList<>();
        int vocab = src.config().vocab();
        for (BenchFormat f : o.formats()) {
            long t0 = System.nanoTime();
            try (Model m = src.build(f, o.denseHead())) {
                long bytes = bytesPerToken(m);
                log.printf("%s: built in %.1f s, %.1f MB of weights per token; measuring...%n", f.id, (System.nanoTime() - t0) / 1e9, bytes / 1e6);
                Speed s = measure(squish(m), vocab, o);
                rows.add(row("squish", f.id, bytes, s, bwr));
                log.printf("%s: decode %.2f tokens/s (%.2f from CPU time), prefill %.1f tokens/s%n", f.id, s.decodeTps(), s.decodeCpuTps(), s.prefillTps());
            }
        }
        if (o.peer()) rows.addAll(JlamaPeer.run(src, o, bwr, notes, log));
        if (o.llamaBench() != null) rows.addAll(LlamaCppPeer.run(src.folder(), o.llamaBench(), o, threads, bwr, notes, log));
        else notes.add(LlamaCppPeer.HOW_TO);
        Row dense = rows.stream().filter(r -> r.engine().equals("squish") && r.format().equals(BenchFormat.DENSE_F32.id)).findFirst().orElseThrow();
        rows.replaceAll(r -> r.withSpeedup(dense));
        notes.addAll(LlamaCppPeer.ratios(rows));
        return new Result(src.name(), threads, bw / 1e9, bwr.cpu() / 1e9, o.tokens(), o.prefill(), o.reps(), o.denseHead(), rows, notes);
    }

    static Row row(String engine, String format, long bytes, Speed s, MemoryBandwidth.Result bw) {
        double bound = bw.wall() / bytes, cpuBound = bw.cpu() / bytes;
        return new Row(engine, format, bytes, s.decodeTps(), s.prefillTps(), Double.NaN, bound, 100 * s.decodeTps() / bound,
                s.decodeCpuTps(), Double.NaN, 100 * s.decodeCpuTps() / cpuBound);
    }

    /** Weight bytes one decode step reads: every linear of every block and the head. */
    public static long bytesPerToken(Model m) {
        long n = m.head.bytes();
        for (Block b : m.blocks) for (Linear l : b.linears.values()) n += l.bytes();
        return n;
    }

    /** Squish's generation loop: prefill with forwardLast, then greedy single-token steps through the KV cache. */
    public static Engine squish(Model m) {
        return new Engine() {
            KVCache cache;
            float[] logits;
            int pos;

            @Override public void start(int[] prompt) {
                cache = m.newCache(prompt.length + 1024);
                logits = m.forwardLast(prompt, 0, cache);
                pos = prompt.length;
            }

            @Override public void step() { logits = m.forwardLast(new int[]{Generator.argmax(logits)}, pos++, cache); }

            @Override public int lastToken() { return Generator.argmax(logits); }
        };
    }

    /**
     * Warm-up, then the median of o.reps() decode runs (an 8-token prompt, then o.tokens() steps)
     * and of o.reps() prefills of o.prefill() tokens. Decode is also timed in process CPU time
     * (all threads), which a shared machine's other processes inflate far less than wall time:
     * tokens / (CPU seconds / threads) estimates the speed on an otherwise idle machine.
     */
    public static Speed measure(Engine e, int vocab, Options o) {
        int[] shortPrompt = prompt(8, vocab, 1), longPrompt = prompt(o.prefill(), vocab, 2);
        int threads = threads();
        e.start(shortPrompt);                                // warm-up: compile the decode path
        for (int i = 0; i < Math.min(4, o.tokens()); i++) e.step();
        e.start(prompt(Math.min(o.prefill(), 32), vocab, 3)); // and the prefill path
        double[] decode = new double[o.reps()], cpu = new double[o.reps()], prefill = new double[o.reps()];
        for (int r = 0; r < o.reps(); r++) {
            e.start(shortPrompt);
            long c0 = cpuNanos(), t0 = System.nanoTime();
            for (int i = 0; i < o.tokens(); i++) e.step();
            long t1 = System.nanoTime(), c1 = cpuNanos();
            decode[r] = o.tokens() / ((t1 - t0) / 1e9);
            cpu[r] = c1 > c0 ? o.tokens() / ((c1 - c0) / 1e9 / threads) : Double.NaN;
            long p0 = System.nanoTime();
            e.start(longPrompt);
            prefill[r] = o.prefill() / ((System.nanoTime() - p0) / 1e9);
        }
        return new Speed(median(decode), median(prefill), median(cpu));
    }

    static int threads() {
        // inside a dedicated pool (--threads) the kernels fork into that pool
        return java.util.concurrent.ForkJoinTask.inForkJoinPool()
                ? java.util.concurrent.ForkJoinTask.getPool().getParallelism() : dev.squish.util.Parallel.threads();
    }

    private static long cpuNanos() { return MemoryBandwidth.cpuNanos(); }

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
