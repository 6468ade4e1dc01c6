package dev.squish.cli;

import dev.squish.SquishException;
import dev.squish.eval.Perplexity;
import dev.squish.eval.TaskEval;
import dev.squish.eval.TaskFile;
import dev.squish.formats.Tokenizer;
import dev.squish.model.Model;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;

@Command(name = "eval", mixinStandardHelpOptions = true, description = "Perplexity over non-overlapping windows of a text file, and zero-shot task accuracy.")
final class EvalCommand implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin Common.Verbose verbose;
    @Parameters(index = "0", paramLabel = "MODEL_DIR") Path model;
    @Option(names = "--data", paramLabel = "TEXT_FILE", description = "Text whose perplexity is measured.") Path data;
    @Option(names = "--seq-len", paramLabel = "N", description = "Window length (default 256, at most the model's context).") Integer seqLen;
    @Option(names = "--task", paramLabel = "FILE.jsonl", description = "A zero-shot task (repeatable); see docs/tasks.md.") List<Path> tasks = new ArrayList<>();
    @Option(names = "--limit", paramLabel = "N", description = "Score only the first N items of each task.") Integer limit;
    @Option(names = "--json", description = "Print one JSON object on stdout.") boolean json;
    @Option(names = "--spark", paramLabel = "MASTER", description = "Score the perplexity windows as Apache Spark tasks (e.g. local[2], spark://HOST:7077); zero-shot tasks still run here. See docs/spark.md.") String spark;
    @Option(names = "--spark-partitions", paramLabel = "N", description = "Groups of consecutive windows with --spark (default: the cluster's default parallelism).") Integer sparkPartitions;

    @Override public Integer call() {
        if (data == null && tasks.isEmpty()) throw new SquishException("give --data TEXT_FILE, --task FILE.jsonl, or both");
        if (seqLen != null && seqLen < 2) throw new SquishException("--seq-len must be at least 2, got " + seqLen);
        if (limit != null && limit < 1) throw new SquishException("--limit must be at least 1, got " + limit);
        if (sparkPartitions != null && spark == null) throw new SquishException("--spark-partitions applies only with --spark");
        if (sparkPartitions != null && sparkPartitions < 1) throw new SquishException("--spark-partitions must be at least 1, got " + sparkPartitions);
        if (spark != null && data == null) throw new SquishException("--spark distributes the perplexity windows; give --data TEXT_FILE");
        // Read every input before loading the model, so a bad file fails in milliseconds.
        String text = data != null ? Common.readText(data, "--data") : null;
        List<TaskFile> files = new ArrayList<>();
        Set<String> names = new HashSet<>();
        for (Path t : tasks) {
            TaskFile f = TaskFile.read(t);
            if (!names.add(f.name())) throw new SquishException(t + ": a second task named '" + f.name() + "' (--task)");
            files.add(f);
        }
        try (Model m = Model.load(model)) {
            Tokenizer tok = Common.tokenizer(model, m);
            Map<String, Object> o = new LinkedHashMap<>();
            var out = spec.commandLine().getOut();
            if (text != null) {
                int[] ids = tok.encode(text, "tokenize");
                int L = seqLen != null ? seqLen : Math.min(256, m.maxPositions());
                Perplexity.Result r;
                if (spark == null) r = Perplexity.evaluate(m, ids, L);
                else {
                    Perplexity.check(m, ids, L);   // bad input fails before Spark starts
                    try (var run = SparkOption.open(spark, verbose.verbose)) {
                        r = SparkOption.perplexity(run, model, m, ids, L, sparkPartitions);
                    }
                }
                o.put("perplexity", r.perplexity());
                o.put("tokens", r.tokens());
                o.put("windows", r.windows());
                o.put("seq_len", L);
                o.put("seconds", r.seconds());
                if (!json) out.printf("perplexity %.4f  (%d scored tokens, %d windows of %d, %.1f s)%n", r.perplexity(), r.tokens(), r.windows(), L, r.seconds());
            }
            if (!files.isEmpty()) {
                Map<String, Object> all = new LinkedHashMap<>();
                List<TaskEval.Result> results = new ArrayList<>();
                for (TaskFile f : files) {
                    TaskEval.Result r = TaskEval.evaluate(m, tok, f, limit == null ? 0 : limit);
                    results.add(r);
                    all.put(r.name(), r.json());
                }
                o.put("tasks", all);
                if (!json) printTasks(out, results, limit);
            }
            if (json) out.println(Common.json(o));
            return 0;
        }
    }

    static void printTasks(java.io.PrintWriter out, List<TaskEval.Result> results, Integer limit) {
        out.printf("%-24s %-16s %6s %18s %18s %12s%n", "task", "kind", "n", "acc", "acc_norm", "perplexity");
        for (TaskEval.Result r : results)
            out.printf("%-24s %-16s %6d %18s %18s %12s%n", r.name(), r.kind().id, r.n(), pm(r.acc(), r.accStderr()),
                    pm(r.accNorm(), r.accNormStderr()), Double.isFinite(r.perplexity()) ? String.format("%.3f", r.perplexity()) : "-");
        if (limit != null) out.printf("(first %d items of each task: --limit)%n", limit);
    }

    static String pm(double v, double se) {
        if (!Double.isFinite(v)) return "-";
        return Double.isFinite(se) ? String.format("%.4f ± %.4f", v, se) : String.format("%.4f", v);
    }
}
