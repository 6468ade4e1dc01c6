package dev.squish.cli;


import dev.squish.SquishException;
import dev.squish.calibration.Sampler;
import dev.squish.formats.Tokenizer;
import dev.squish.model.Model;
import dev.squish.methods.MethodDescriptor;
import dev.squish.methods.Methods;
import dev.squish.recipe.CalibrationSpec;
import dev.squish.report.HtmlReport;
import dev.squish.util.Progress;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.*;
import java.util.concurrent.Callable;

/**
 * {@code bin/squish sweep}: perplexity against sparsity for several pruning methods. The text is
 * tokenized and the calibration windows are cut once; every (method, sparsity) pair then runs on
 * a fresh copy of the model.
 */
@Command(name = "sweep", mixinStandardHelpOptions = true, description = "Perplexity against sparsity for pruning methods: a table, JSON and a plot.")
final class SweepCommand implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin Common.Verbose verbose;
    @Parameters(index = "0", paramLabel = "MODEL_DIR") Path model;
    @Option(names = "--methods", required = true, split = ",", paramLabel = "LIST", description = "Pruning methods, e.g. wanda,sparsegpt.")
    List<String> methods;
    @Option(names = "--sparsity", required = true, paramLabel = "RANGE",
            description = "START:STOP:STEP (STOP included), e.g. 0.3:0.8:0.1, or a list such as 0.5,0.6,0.7.")
    String sparsity;
    @Option(names = "--data", required = true, paramLabel = "TEXT_FILE", description = "Text to measure perplexity on.") Path data;
    @Mixin CalibrationFlags cal;
    private CalibrationSpec calibration;   // cal over the defaults, set by call()
    @Option(names = "--json", description = "Print one JSON object on stdout instead of the table.") boolean json;
    @Option(names = "--report", paramLabel = "FILE.html", description = "Write an HTML report with the table and the plot.") Path report;
    @Option(names = "--plot", paramLabel = "FILE", description = "Write the perplexity curve as FILE.svg, or FILE.html (a page with the chart).") Path plot;
    @Option(names = "--task", paramLabel = "FILE.jsonl", description = "Also score this zero-shot task at every point (repeatable; docs/tasks.md).")
    List<Path> taskFiles = new ArrayList<>();
    @Option(names = "--task-limit", paramLabel = "N", description = "Score only the first N items of each task (default: all).") Integer taskLimit;
    @Option(names = "--spark", paramLabel = "MASTER", description = "Run the trials (the dense model and each method and sparsity) as Apache Spark tasks, e.g. local[2]; see docs/spark.md.") String spark;

    /** The sparsities of a range START:STOP:STEP (STOP included within 1e-9) or a comma list. */
    static double[] parseSparsities(String s) {
        String t = s.strip();
        double[] out;
        try {
            if (t.contains(":")) {
                String[] p = t.split(":", -1);
                if (p.length != 3) throw new SquishException("--sparsity: expected START:STOP:STEP, e.g. 0.3:0.8:0.1, got '" + s + "'");
                double a = Double.parseDouble(p[0]), b = Double.parseDouble(p[1]), step = Double.parseDouble(p[2]);
                if (!(step > 0)) throw new SquishException("--sparsity: STEP must be positive, got '" + p[2] + "'");
                if (!(b >= a)) throw new SquishException("--sparsity: STOP must be at least START, got '" + s + "'");
                int n = (int) Math.floor((b - a) / step + 1e-9) + 1;
                if (n > 1000) throw new SquishException("--sparsity: " + s + " has " + n + " points; at most 1000");
                out = new double[n];
                for (int i = 0; i < n; i++) out[i] = Math.round((a + i * step) * 1e9) / 1e9;
            } else {
                out = Arrays.stream(t.split(",")).map(String::strip).mapToDouble(Double::parseDouble).toArray();
            }
        } catch (NumberFormatException e) {
            throw new SquishException("--sparsity: not a number in '" + s + "' (give START:STOP:STEP or a comma list)");
        }
        for (double v : out)
            if (!(v >= 0 && v < 1)) throw new SquishException("--sparsity: each sparsity must be in [0, 1), got " + v);
        if (Arrays.stream(out).distinct().count() != out.length) throw new SquishException("--sparsity: '" + s + "' repeats a value");
        return out;
    }

    @Override public Integer call() {
        double[] sparsities = parseSparsities(sparsity);
        if (spark != null && !taskFiles.isEmpty())
            throw new SquishException("--task does not apply with --spark yet: the trials run on the executors; score tasks with eval --task on a compressed folder");
        // the methods a sweep can vary: those that take a sparsity
        String pruning = String.join(", ", Methods.taking("sparsity"));
        List<String> names = new ArrayList<>();
        for (String raw : methods) {
            String m = raw.strip().toLowerCase(Locale.ROOT);
            MethodDescriptor<?> mm = Methods.byId(m).orElseThrow(() -> new SquishException("--methods: unknown method '" + raw.strip() + "' (pruning methods: " + pruning + ")"));
            if (!mm.optionKeys().contains("sparsity"))
                throw new SquishException("--methods: " + m + " is not a pruning method; sweep varies sparsity (use " + pruning + ")");
            if (!names.contains(m)) names.add(m);
        }
        List<Trial.Spec> specs = new ArrayList<>();
        for (String m : names)
            for (double s : sparsities) {
                Trial.Spec sp = new Trial.Spec(m + " " + s, m, Map.of("sparsity", s));
                sp.create();   // validates options and that the method is available, before any work
                specs.add(sp);
            }
        boolean needData = names.stream().anyMatch(m -> Methods.get(m).needsCalibration());
        calibration = cal.over(CalibrationSpec.defaults());
        if (needData && calibration.file() == null)
            throw new SquishException("--calibration TEXT_FILE is required by " + names.stream().filter(m -> Methods.get(m).needsCalibration()).findFirst().orElseThrow());
        if (plot != null && !plot.toString().endsWith(".svg") && !plot.toString().endsWith(".html"))
            throw new SquishException("--plot " + plot + ": the file name must end in .svg or .html");
        String evalText = Common.readText(data, "--data");
        if (taskLimit != null && taskLimit < 1) throw new SquishException("--task-limit must be at least 1, got " + taskLimit);
        tasks = new ArrayList<>();
        Set<String> taskNames = new HashSet<>();
        for (Path t : taskFiles) {
            dev.squish.eval.TaskFile f = dev.squish.eval.TaskFile.read(t);
            if (!taskNames.add(f.name())) throw new SquishException(t + ": a second task named '" + f.name() + "' (--task)");
            tasks.add(f);
        }
        String calText = needData ? Common.readText(calibration.file(), "--calibration") : null;
        boolean wasQuiet = Progress.isQuiet();
        if (json) Progress.setQuiet(true);
        try {
            return sweep(sparsities, names, specs, evalText, calText);
        } finally {
            Progress.setQuiet(wasQuiet);
        }
    }

    private int sweep(double[] sparsities, List<String> names, List<Trial.Spec> specs, String evalText, String calText) {
        PrintWriter out = spec.commandLine().getOut(), err = spec.commandLine().getErr();
        long start = System.nanoTime();
        int L, maxPositions;
        Tokenizer tok;
        try (Model m = Model.load(model)) {
            maxPositions = m.maxPositions();
            tok = Common.tokenizer(model, m);
        }
        L = cal.seqLen != null ? cal.seqLen : Math.min(CalibrationSpec.DEFAULT_SEQ_LEN, maxPositions);
        if (L > maxPositions) throw new SquishException("--seq-len " + L + " exceeds the model's context of " + maxPositions);
        int[][] windows = calText == null ? null
                : Sampler.sample(tok.encode(calText, "tokenize calibration"), calibration.samples(), L,
                        calibration.sampling() == CalibrationSpec.Sampling.RANDOM, calibration.seed());
        Trial.Setup setup = new Trial.Setup(model, windows, tok.encode(evalText, "tokenize data"), L, null, 0, tasks,
                taskLimit == null ? 0 : taskLimit);

        Map<String, Trial.Result[]> results = new LinkedHashMap<>();
        for (String n : names) results.put(n, new Trial.Result[sparsities.length]);
        Trial.Result dense;
        if (spark != null) {
            if (!json) err.printf("%d trials as Spark tasks on %s%n", specs.size() + 1, spark);
            List<Trial.Spec> all = new ArrayList<>();
            all.add(Trial.Spec.dense());
            all.addAll(specs);
            List<Trial.Result> rs;
            try (var run = SparkOption.open(spark, verbose.verbose)) {
                rs = SparkOption.trials(run, model, windows, setup.evalTokens(), L, all);
            }
            dense = rs.getFirst();
            int i = 1;
            for (String n : names)
                for (int k = 0; k < sparsities.length; k++) results.get(n)[k] = rs.get(i++);
        } else {
            if (!json) err.println("[dense]");
            dense = Trial.run(setup, Trial.Spec.dense());
            runHere(setup, sparsities, names, specs, results, err);
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        return finish(sparsities, names, results, dense, L, windows, seconds, out);
    }

    /** The trials one after the other in this JVM. */
    private void runHere(Trial.Setup setup, double[] sparsities, List<String> names, List<Trial.Spec> specs,
                         Map<String, Trial.Result[]> results, PrintWriter err) {
        int i = 0;
        for (String n : names)
            for (int k = 0; k < sparsities.length; k++) {
                Trial.Spec sp = specs.get(i++);
                if (!json) err.printf("[%d/%d] %s at sparsity %s%n", i, specs.size(), n, fmt(sparsities[k]));
                err.flush();
                Trial.Result r = Trial.run(setup, sp);
                results.get(n)[k] = r;
                if (!json) err.printf("[%d/%d] %s at sparsity %s: perplexity %.4f%n", i, specs.size(), n, fmt(sparsities[k]), r.perplexity());
            }
    }

    private int finish(double[] sparsities, List<String> names, Map<String, Trial.Result[]> results, Trial.Result dense, int L,
                       int[][] windows, double seconds, PrintWriter out) {

        Map<String, Object> res = new LinkedHashMap<>();
        res.put("model", model.toString());
        res.put("data", data.toString());
        res.put("seq_len", L);
        res.put("calibration", windows == null ? null : Map.of("file", calibration.file().toString(), "samples", calibration.samples(),
                "seq_len", L, "sampling", calibration.sampling().id(), "seed", calibration.seed()));
        res.put("dense_perplexity", dense.perplexity());
        if (!tasks.isEmpty()) res.put("dense_tasks", Trial.tasksJson(dense));
        res.put("methods", names);
        res.put("sparsities", Arrays.stream(sparsities).boxed().toList());
        List<Map<String, Object>> rows = new ArrayList<>();
        for (var e : results.entrySet())
            for (int k = 0; k < sparsities.length; k++) {
                Trial.Result r = e.getValue()[k];
                Map<String, Object> row = new LinkedHashMap<>();
                row.put("method", e.getKey());
                row.put("sparsity", sparsities[k]);
                row.put("perplexity", Double.isFinite(r.perplexity()) ? r.perplexity() : null);
                row.put("parameters", r.parameters());
                row.put("bytes", r.bytes());
                row.put("compress_seconds", r.compressSeconds());
                if (!tasks.isEmpty()) row.put("tasks", Trial.tasksJson(r));
                rows.add(row);
            }
        res.put("results", rows);
        res.put("seconds", seconds);

        Map<String, double[][]> curves = curves(sparsities, results, dense.perplexity());
        String title = "Perplexity against sparsity: " + model.getFileName();
        if (plot != null) {
            if (plot.toString().endsWith(".svg")) Common.writeAtomically(plot, HtmlReport.lineChartSvg(title, "sparsity", "perplexity", curves, true));
            else new HtmlReport(title).lineChart(title, "sparsity", "perplexity", curves, true).write(plot);
        }
        if (report != null) report(sparsities, names, results, dense, curves, title, L, windows != null, seconds).write(report);

        if (json) out.println(Common.json(res));
        else {
            out.print(table(sparsities, names, results, dense));
            for (dev.squish.eval.TaskFile t : tasks) {
                out.println();
                out.print(taskTable(t.name(), sparsities, names, results, dense));
            }
            if (plot != null) out.println("wrote " + plot);
            if (report != null) out.println("wrote " + report);
        }
        out.flush();
        return 0;
    }

    /** As {@link #table}, for one task's headline accuracy (acc_norm or acc); "-" where not scored (a broken model). */
    static String taskTable(String task, double[] sparsities, List<String> names, Map<String, Trial.Result[]> results, Trial.Result dense) {
        var d = dense.tasks().get(task);
        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "%s of %s (%d items)%n", d == null ? "accuracy" : d.headlineMetric(), task,
                d == null ? 0 : d.n()));
        sb.append(String.format(Locale.ROOT, "%-9s", "sparsity"));
        for (String n : names) sb.append(String.format(Locale.ROOT, " %12s", n));
        sb.append('\n').append(String.format(Locale.ROOT, "%-9s", "dense"));
        for (String ignored : names) sb.append(String.format(Locale.ROOT, " %12s", acc(dense.task(task))));
        sb.append('\n');
        for (int k = 0; k < sparsities.length; k++) {
            sb.append(String.format(Locale.ROOT, "%-9s", fmt(sparsities[k])));
            for (String n : names) sb.append(String.format(Locale.ROOT, " %12s", acc(results.get(n)[k].task(task))));
            sb.append('\n');
        }
        return sb.toString();
    }

    private static String acc(double v) { return Double.isFinite(v) ? String.format(Locale.ROOT, "%.4f", v) : "-"; }

    static Map<String, double[][]> curves(double[] sparsities, Map<String, Trial.Result[]> results, double densePpl) {
        Map<String, double[][]> curves = new LinkedHashMap<>();
        for (var e : results.entrySet()) {
            double[][] pts = new double[sparsities.length][];
            for (int k = 0; k < sparsities.length; k++) pts[k] = new double[]{sparsities[k], e.getValue()[k].perplexity()};
            curves.put(e.getKey(), pts);
        }
        double lo = Arrays.stream(sparsities).min().orElse(0), hi = Arrays.stream(sparsities).max().orElse(0);
        curves.put("dense", lo == hi ? new double[][]{{lo, densePpl}} : new double[][]{{lo, densePpl}, {hi, densePpl}});
        return curves;
    }

    /** Rows: sparsity (the dense model first); columns: methods. */
    static String table(double[] sparsities, List<String> names, Map<String, Trial.Result[]> results, Trial.Result dense) {
        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "%-9s", "sparsity"));
        for (String n : names) sb.append(String.format(Locale.ROOT, " %12s", n));
        sb.append('\n').append(String.format(Locale.ROOT, "%-9s", "dense"));
        for (String ignored : names) sb.append(String.format(Locale.ROOT, " %12.4f", dense.perplexity()));
        sb.append('\n');
        for (int k = 0; k < sparsities.length; k++) {
            sb.append(String.format(Locale.ROOT, "%-9s", fmt(sparsities[k])));
            for (String n : names) sb.append(String.format(Locale.ROOT, " %12.4f", results.get(n)[k].perplexity()));
            sb.append('\n');
        }
        return sb.toString();
    }

    private HtmlReport report(double[] sparsities, List<String> names, Map<String, Trial.Result[]> results, Trial.Result dense,
                              Map<String, double[][]> curves, String title, int L, boolean calibrated, double seconds) {
        HtmlReport h = new HtmlReport("Squish sweep: " + model.getFileName());
        h.paragraph(String.format(Locale.ROOT, "Methods %s at sparsities %s of every decoder linear layer. Perplexity on %s in windows of %d tokens. %s %.0f s in all.",
                String.join(", ", names), sparsity, data.getFileName(), L,
                calibrated ? "Calibration: " + calibration.samples() + " " + calibration.sampling().id() + " windows of "
                        + calibration.file().getFileName() + "." : "", seconds));
        List<String> headers = new ArrayList<>(List.of("sparsity"));
        headers.addAll(names);
        List<List<Object>> rows = new ArrayList<>();
        List<Object> d = new ArrayList<>(List.of("dense"));
        for (String ignored : names) d.add(dense.perplexity());
        rows.add(d);
        for (int k = 0; k < sparsities.length; k++) {
            List<Object> row = new ArrayList<>(List.of(fmt(sparsities[k])));
            for (String n : names) row.add(results.get(n)[k].perplexity());
            rows.add(row);
        }
        h.section("Perplexity");
        h.table("Perplexity by sparsity (rows) and method (columns)", headers, rows);
        h.lineChart(title, "sparsity", "perplexity", curves, true);
        h.section("Size");
        Map<String, double[][]> size = new LinkedHashMap<>();
        for (var e : results.entrySet()) {
            double[][] pts = new double[sparsities.length][];
            for (int k = 0; k < sparsities.length; k++) pts[k] = new double[]{sparsities[k], e.getValue()[k].bytes() / ReportParts.MIB};
            size.put(e.getKey(), pts);
        }
        if (size.values().stream().map(Arrays::deepToString).distinct().count() == 1) {   // the same for every method: one line
            double[][] one = size.values().iterator().next();
            size.clear();
            size.put(String.join(", ", names), one);
        }
        h.lineChart("Weight size against sparsity (in the stored formats)", "sparsity", "MiB", size, false);
        if (!tasks.isEmpty()) {
            h.section("Zero-shot task accuracy");
            h.paragraph("Each task's headline metric (acc_norm for multiple choice, acc otherwise) at every sparsity, scored as "
                    + "lm-evaluation-harness scores it (docs/tasks.md), beside the perplexity above.");
            for (dev.squish.eval.TaskFile t : tasks) {
                var dt = dense.tasks().get(t.name());
                String metric = dt == null ? "accuracy" : dt.headlineMetric();
                List<List<Object>> trows = new ArrayList<>();
                List<Object> td = new ArrayList<>(List.of("dense"));
                for (String ignored : names) td.add(nullIfNaN(dense.task(t.name())));
                trows.add(td);
                Map<String, double[][]> tc = new LinkedHashMap<>();
                for (String n : names) tc.put(n, new double[sparsities.length][]);
                for (int k = 0; k < sparsities.length; k++) {
                    List<Object> row = new ArrayList<>(List.of(fmt(sparsities[k])));
                    for (String n : names) {
                        double a = results.get(n)[k].task(t.name());
                        row.add(nullIfNaN(a));
                        tc.get(n)[k] = new double[]{sparsities[k], a};
                    }
                    trows.add(row);
                }
                double lo = Arrays.stream(sparsities).min().orElse(0), hi = Arrays.stream(sparsities).max().orElse(0);
                tc.put("dense", new double[][]{{lo, dense.task(t.name())}, {hi, dense.task(t.name())}});
                h.table(metric + " of " + t.name() + " by sparsity (rows) and method (columns)" + (dt == null ? "" : ", " + dt.n() + " items"), headers, trows);
                h.lineChart(t.name() + ": " + metric + " against sparsity", "sparsity", metric, tc, false);
            }
            ReportParts.tasks(h, allResults(dense, results));
        }
        return h;
    }

    private static Double nullIfNaN(double v) { return Double.isFinite(v) ? Math.round(v * 10000) / 10000.0 : null; }

    private static List<Trial.Result> allResults(Trial.Result dense, Map<String, Trial.Result[]> results) {
        List<Trial.Result> all = new ArrayList<>(List.of(dense));
        for (Trial.Result[] rs : results.values()) all.addAll(Arrays.asList(rs));
        return all;
    }

    private List<dev.squish.eval.TaskFile> tasks = List.of();

    static String fmt(double s) {
        return java.math.BigDecimal.valueOf(s).stripTrailingZeros().toPlainString();
    }
}
