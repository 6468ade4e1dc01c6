package dev.squish.cli;

import dev.squish.SquishException;
import dev.squish.bench.Bench;
import dev.squish.bench.BenchFormat;
import dev.squish.bench.BenchModel;
import dev.squish.bench.SyntheticWeights;
import dev.squish.util.Parallel;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ForkJoinPool;

@Command(name = "bench", mixinStandardHelpOptions = true, description = {
        "Memory bandwidth, then decode and prefill tokens/s of a model in every weight format (and Jlama's, as a peer).",
        "Synthetic models: " + "llama-1b, llama-300m, tiny (random weights in those shapes)."})
final class BenchCommand implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin Common.Verbose verbose;

    static final class Source {
        @Parameters(index = "0", paramLabel = "MODEL_DIR", description = "A model folder.") Path model;
        @Option(names = "--synthetic", paramLabel = "NAME", description = "Random weights in a named shape: llama-1b, llama-300m, tiny.") String synthetic;
    }

    @ArgGroup(exclusive = true, multiplicity = "1") Source source;
    @Option(names = "--formats", split = ",", paramLabel = "LIST", description = "Formats to measure (default: all): dense-f32, dense-bf16, sparse-50, sparse-70, 2:4, int8-g128, int4-g128, sparse-50-int4, lowrank-0.5; and, for a folder, on request only: stored (its own formats and run-time activation sparsity, as compressed).") List<String> formats;
    @Option(names = "--tokens", paramLabel = "N", description = "Decode steps per run (default 16; 4 with --quick).") Integer tokens;
    @Option(names = "--prefill", paramLabel = "N", description = "Prompt length for prefill (default 128; 16 with --quick).") Integer prefill;
    @Option(names = "--reps", paramLabel = "N", description = "Timed runs per measurement, median reported (default 3; 1 with --quick).") Integer reps;
    @Option(names = "--threads", paramLabel = "N", description = "Worker threads (default: all cores).") Integer threads;
    @Option(names = "--dense-head", description = "Keep the output head in float32 in every format (default: the head is in the format too).") boolean denseHead;
    @Option(names = "--no-peer", description = "Skip the Jlama rows.") boolean noPeer;
    @Option(names = "--quick", description = "Few tokens, one run, small bandwidth array: a smoke test, not a measurement.") boolean quick;
    @Option(names = "--json", description = "Print one JSON object on stdout.") boolean json;
    @Option(names = "--llama-bench", paramLabel = "PATH", description = "A llama.cpp llama-bench binary: adds its rows for Squish's GGUF export (F32, Q8_0, Q4_0) of MODEL_DIR, with ratios.") Path llamaBench;

    @Override public Integer call() throws Exception {
        List<BenchFormat> fs = new ArrayList<>();
        if (formats == null || formats.isEmpty()) fs.addAll(BenchFormat.defaults());
        else for (String f : formats) { BenchFormat b = BenchFormat.parse(f); if (!fs.contains(b)) fs.add(b); }
        if (!fs.contains(BenchFormat.DENSE_F32)) fs.addFirst(BenchFormat.DENSE_F32);   // the baseline of every speedup
        else { fs.remove(BenchFormat.DENSE_F32); fs.addFirst(BenchFormat.DENSE_F32); }
        int t = positive(tokens, quick ? 4 : 16, "--tokens");
        int p = positive(prefill, quick ? 16 : 128, "--prefill");
        int r = positive(reps, quick ? 1 : 3, "--reps");
        int th = positive(threads, Parallel.threads(), "--threads");
        if (source.synthetic != null) SyntheticWeights.shape(source.synthetic);   // validates the name
        Bench.Options o = new Bench.Options(fs, t, p, r, denseHead, !noPeer, quick ? 64L << 20 : 1L << 30, llamaBench);
        PrintWriter err = spec.commandLine().getErr();
        Bench.Result res;
        try (BenchModel src = source.synthetic != null ? BenchModel.synthetic(source.synthetic) : BenchModel.folder(source.model)) {
            if (p + t + 9 > src.config().maxPositions())
                throw new SquishException("--prefill " + p + " and --tokens " + t + " exceed the model's context of " + src.config().maxPositions());
            if (th == Parallel.threads()) res = Bench.run(src, o, err);
            else try (ForkJoinPool pool = new ForkJoinPool(th)) {
                // Parallel.forRange forks into the pool of the calling worker, so the kernels use th threads
                res = pool.submit(() -> Bench.run(src, o, err)).get();
            }
        }
        PrintWriter out = spec.commandLine().getOut();
        out.println(json ? Common.json(toJson(res)) : table(res));
        return 0;
    }

    private static int positive(Integer v, int dflt, String opt) {
        if (v == null) return dflt;
        if (v < 1) throw new SquishException(opt + " must be at least 1, got " + v);
        return v;
    }

    static String table(Bench.Result r) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format("%s, %d threads, memory bandwidth %.1f GB/s (%.1f from CPU time); decode: %d tokens after an 8-token prompt, prefill: %d tokens; median of %d%s%n",
                r.model(), r.threads(), r.bandwidthGBs(), r.bandwidthCpuGBs(), r.tokens(), r.prefill(), r.reps(), r.denseHead() ? "; head kept float32" : ""));
        sb.append(String.format("%-9s %-15s %10s %12s %8s %10s %13s | %12s %8s %10s%n", "engine", "format", "weights MB", "decode tok/s", "speedup",
                "% of bound", "prefill tok/s", "decode (cpu)", "speedup", "% of bound"));
        for (Bench.Row x : r.rows()) {
            // CPU-time columns are unmeasurable when a run is shorter than the CPU clock's tick (--quick): print "-"
            String cpu = Double.isFinite(x.decodeCpuTps())
                    ? String.format("%12.2f %7.2fx %9.0f%%", x.decodeCpuTps(), x.cpuSpeedup(), x.cpuPercentOfBound())
                    : String.format("%12s %8s %10s", "-", "-", "-");
            sb.append(String.format("%-9s %-15s %10.1f %12.2f %7.2fx %9.0f%% %13.1f | %s%n", x.engine(), x.format(), x.weightBytes() / 1e6,
                    x.decodeTps(), x.speedup(), x.percentOfBound(), x.prefillTps(), cpu));
        }
        for (String n : r.notes()) sb.append("note: ").append(n).append('\n');
        sb.append("(weights MB: bytes read per decoded token, every linear and the head; bound: bandwidth / those bytes;\n"
                + " after |: the same from process CPU time (tokens or bytes per CPU second x threads), an estimate for an idle machine when others share the cores)");
        return sb.toString();
    }

    static Map<String, Object> toJson(Bench.Result r) {
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("model", r.model());
        o.put("threads", r.threads());
        o.put("bandwidth_gb_s", r.bandwidthGBs());
        o.put("bandwidth_cpu_gb_s", num(r.bandwidthCpuGBs()));
        o.put("decode_tokens", r.tokens());
        o.put("prefill_tokens", r.prefill());
        o.put("reps", r.reps());
        o.put("dense_head", r.denseHead());
        List<Map<String, Object>> rows = new ArrayList<>();
        for (Bench.Row x : r.rows()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("engine", x.engine());
            m.put("format", x.format());
            m.put("weight_bytes", x.weightBytes());
            m.put("decode_tokens_per_s", num(x.decodeTps()));
            m.put("prefill_tokens_per_s", num(x.prefillTps()));
            m.put("speedup", num(x.speedup()));
            m.put("bound_tokens_per_s", num(x.boundTps()));
            m.put("percent_of_bound", num(x.percentOfBound()));
            m.put("decode_tokens_per_cpu_s", num(x.decodeCpuTps()));
            m.put("cpu_speedup", num(x.cpuSpeedup()));
            m.put("cpu_percent_of_bound", num(x.cpuPercentOfBound()));
            rows.add(m);
        }
        o.put("rows", rows);
        o.put("notes", r.notes());
        return o;
    }

    private static Double num(double v) { return Double.isFinite(v) ? v : null; }
}
