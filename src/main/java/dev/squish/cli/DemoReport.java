package dev.squish.cli;


import dev.squish.calibration.LayerReport;
import dev.squish.model.Model;
import dev.squish.report.HtmlReport;

import java.nio.file.Path;
import java.util.*;

/** The demo's comparison table (text and HTML) and its report. */
final class DemoReport {
    private DemoReport() {}

    static final List<String> HEADERS = List.of("method", "test ppl", "vs dense", "params", "MiB", "decode tok/s",
            "speedup", "compress s");

    /** The table as cells (for HTML) and as aligned text (for stdout). */
    record Table(List<List<Object>> rows, String text) {}

    /** Task names in the results (first result's order); their columns follow "vs dense". */
    static List<String> taskNames(List<Trial.Result> results) {
        Set<String> names = new LinkedHashSet<>();
        for (Trial.Result r : results) names.addAll(r.tasks().keySet());
        return List.copyOf(names);
    }

    /** A task's column header: its name without the "kjv-" prefix. */
    static String taskHeader(String name) { return name.startsWith("kjv-") ? name.substring(4) : name; }

    static List<String> headers(List<Trial.Result> results) {
        List<String> h = new ArrayList<>(HEADERS.subList(0, 3));
        for (String t : taskNames(results)) h.add(taskHeader(t));
        h.addAll(HEADERS.subList(3, HEADERS.size()));
        return h;
    }

    static Table table(List<Trial.Result> results) {
        Trial.Result dense = results.stream().filter(r -> r.spec().method() == null).findFirst().orElse(null);
        List<String> tasks = taskNames(results);
        List<List<Object>> rows = new ArrayList<>();
        StringBuilder sb = new StringBuilder();
        StringBuilder taskFmt = new StringBuilder();
        for (String t : tasks) taskFmt.append(" %").append(Math.max(6, taskHeader(t).length())).append('s');
        String fmt = "%-20s %9s %9s" + taskFmt + " %11s %7s %12s %8s %10s%n";
        sb.append(String.format(Locale.ROOT, fmt, headers(results).toArray()));
        for (Trial.Result r : results) {
            String change = dense == null ? null : String.format(Locale.ROOT, "%+.1f%%", 100 * (r.perplexity() / dense.perplexity() - 1));
            Double speedup = dense == null || !(dense.decodeTokensPerSecond() > 0) ? null : r.decodeTokensPerSecond() / dense.decodeTokensPerSecond();
            double mib = r.bytes() / ReportParts.MIB;
            boolean base = r.spec().method() == null;
            List<Object> row = new ArrayList<>(Arrays.asList(r.spec().label(), round(r.perplexity(), 3), change));
            List<Object> cells = new ArrayList<>(Arrays.asList(r.spec().label(), String.format(Locale.ROOT, "%.3f", r.perplexity()),
                    change == null ? "-" : change));
            for (String t : tasks) {
                double a = r.task(t);
                row.add(Double.isFinite(a) ? round(a, 3) : null);
                cells.add(Double.isFinite(a) ? String.format(Locale.ROOT, "%.3f", a) : "-");
            }
            row.addAll(Arrays.asList(r.parameters(), round(mib, 2),
                    Double.isFinite(r.decodeTokensPerSecond()) ? Math.round(r.decodeTokensPerSecond()) : null,
                    speedup == null ? null : round(speedup, 2), base ? null : round(r.compressSeconds(), 1)));
            rows.add(row);
            cells.addAll(Arrays.asList(String.format(Locale.ROOT, "%,d", r.parameters()),
                    String.format(Locale.ROOT, "%.2f", mib), String.format(Locale.ROOT, "%.0f", r.decodeTokensPerSecond()),
                    speedup == null ? "-" : String.format(Locale.ROOT, "%.2fx", speedup),
                    r.spec().method() == null ? "-" : String.format(Locale.ROOT, "%.1f", r.compressSeconds())));
            sb.append(String.format(Locale.ROOT, fmt, cells.toArray()));
        }
        return new Table(rows, sb.toString());
    }

    /**
     * What the task columns hold: each task's metric, how many items were scored and the dense
     * model's standard error (the noise level when comparing rows).
     */
    static String taskLegend(List<Trial.Result> results, List<dev.squish.eval.TaskFile> tasks, int limit) {
        if (tasks.isEmpty()) return "";
        Trial.Result dense = results.stream().filter(r -> r.spec().method() == null).findFirst().orElse(null);
        StringBuilder sb = new StringBuilder();
        for (var t : tasks) {
            var d = dense == null ? null : dense.tasks().get(t.name());
            if (d == null) continue;
            int all = t.items().size();
            sb.append(String.format(Locale.ROOT, "%s: %s of %s, %s (standard error %.3f on the dense model)%n", taskHeader(t.name()),
                    d.headlineMetric(), t.name(), d.n() < all ? String.format(Locale.ROOT, "first %,d of %,d items (--task-limit 0 scores all)", d.n(), all)
                            : String.format(Locale.ROOT, "all %,d items", all), d.headlineStderr()));
        }
        return sb.toString();
    }

    private static double round(double v, int digits) {
        double f = Math.pow(10, digits);
        return Double.isFinite(v) ? Math.round(v * f) / f : v;
    }

    /**
     * The smallest variant whose perplexity is within 5% of the dense model's (ties: the lower
     * perplexity); null when none is.
     */
    static Trial.Result recommended(List<Trial.Result> results) {
        Trial.Result dense = results.stream().filter(r -> r.spec().method() == null).findFirst().orElse(null);
        if (dense == null) return null;
        return results.stream().filter(r -> r.spec().method() != null && r.perplexity() <= 1.05 * dense.perplexity())
                .min(Comparator.comparingLong(Trial.Result::bytes).thenComparingDouble(Trial.Result::perplexity)).orElse(null);
    }

    static String recommendation(List<Trial.Result> results) {
        Trial.Result best = recommended(results), dense = results.stream().filter(r -> r.spec().method() == null).findFirst().orElse(null);
        if (best == null || dense == null) return "No method stayed within 5% of the dense model's perplexity.";
        return String.format(Locale.ROOT, "Smallest model within 5%% of the dense perplexity: %s (%+.1f%% perplexity, %.0f%% of the dense size).",
                best.spec().label(), 100 * (best.perplexity() / dense.perplexity() - 1), 100.0 * best.bytes() / dense.bytes());
    }

    /** The main storage format(s) of a run's decoder linears, e.g. {@code nm2:4} or {@code dense+lowrank}. */
    static String formats(Trial.Result r) {
        return String.join("+", r.formats().keySet());
    }

    @SuppressWarnings("unchecked")
    static HtmlReport build(List<Trial.Result> results, Table table, Map<String, Object> settings, List<String> notes,
                            Path modelDir, boolean quick, List<dev.squish.eval.TaskFile> tasks, int limit) {
        HtmlReport h = new HtmlReport("Squish demo: compressing kjv-llama-tiny");
        Map<String, Object> cal = (Map<String, Object>) settings.get("calibration");
        Map<String, Object> ev = (Map<String, Object>) settings.get("eval");
        h.paragraph(String.format(Locale.ROOT,
                "Each method compressed a fresh copy of kjv-llama-tiny (6 layers, 6.8 M parameters, trained on the King James Bible), "
                        + "block by block. %s Perplexity is measured on %s (%,d tokens, windows of %s), decode speed on a %d-token greedy "
                        + "continuation with the weights in their compressed formats. %d cores; %.0f s in all.",
                cal == null ? "No method needed calibration." : "Calibration: " + cal.get("samples") + " sequential windows of "
                        + cal.get("seq_len") + " tokens of train.txt.",
                quick ? "a slice of test.txt (--quick)" : "the whole of test.txt", ((Number) ev.get("tokens")).intValue(),
                ev.get("seq_len"), ((Number) settings.get("decode_tokens")).intValue(), ((Number) settings.get("cores")).intValue(),
                ((Number) settings.get("seconds")).doubleValue()));
        h.section("Results");
        h.table("Perplexity, task accuracy, size and speed per method", headers(results), table.rows());
        h.paragraph(recommendation(results));
        for (String line : taskLegend(results, tasks, limit).split("\n")) if (!line.isBlank()) h.paragraph(line);
        for (String n : notes) h.paragraph("Note: " + n);

        h.section("Perplexity against size");
        Map<String, double[][]> series = new LinkedHashMap<>();   // one point per variant: several share a size
        for (Trial.Result r : results) series.put(r.spec().label(), new double[][]{{r.bytes() / ReportParts.MIB, r.perplexity()}});
        h.lineChart("Test perplexity against weight size (lower left is better)", "weights (MiB)", "perplexity", series, true);

        h.section("Bytes and speed per format");
        Map<String, Double> bytes = new LinkedHashMap<>(), speed = new LinkedHashMap<>();
        for (Trial.Result r : results) {
            String cat = r.spec().label() + " (" + formats(r) + ")";
            bytes.put(cat, r.bytes() / ReportParts.MIB);
            speed.put(cat, r.decodeTokensPerSecond());
        }
        h.barChart("Weight size per method and storage format", "method (format)", "MiB", bytes);
        h.barChart("Decode speed per method and storage format", "method (format)", "tokens/s", speed);

        Map<String, List<LayerReport>> withErrors = new LinkedHashMap<>();
        for (Trial.Result r : results) if (ReportParts.hasErrors(r.layers())) withErrors.put(r.spec().label(), r.layers());
        if (!withErrors.isEmpty()) {
            h.section("Per-layer reconstruction error");
            h.paragraph("Relative error ||W X - W' X|| / ||W X|| of each compressed linear layer on its calibration inputs "
                    + "(computed from the layer's input statistics while compressing; data-free methods have none).");
            String first = withErrors.containsKey("sparsegpt 50%") ? "sparsegpt 50%" : withErrors.keySet().iterator().next();
            ReportParts.layerErrorChart(h, "Reconstruction error per layer: " + first, withErrors.get(first));
            ReportParts.blockErrorChart(h, "Mean reconstruction error per block", withErrors);
        }

        Map<String, List<LayerReport>> lowRank = new LinkedHashMap<>();
        for (Trial.Result r : results)
            if (r.formats().keySet().stream().anyMatch(f -> f.startsWith("lowrank"))) lowRank.put(r.spec().label(), r.layers());
        if (!lowRank.isEmpty()) {
            h.section("Singular-value spectra of factorized layers");
            try (Model dense = Model.load(modelDir)) {
                int last = dense.blocks.size() - 1;
                ReportParts.spectra(h, dense, List.of(new String[]{"0", dev.squish.model.Llama.Q}, new String[]{"0", dev.squish.model.Llama.DOWN},
                        new String[]{String.valueOf(last), dev.squish.model.Llama.Q}, new String[]{String.valueOf(last), dev.squish.model.Llama.DOWN}), lowRank);
            }
        }

        if (!taskNames(results).isEmpty()) ReportParts.tasks(h, results);

        h.section("Reproduce");
        StringBuilder cmds = new StringBuilder();
        for (Trial.Result r : results) {
            if (r.spec().method() == null) continue;
            List<String> args = new ArrayList<>(List.of("compress", "fixtures/models/kjv-llama-tiny",
                    "-o", "out/" + r.spec().label().replaceAll("[^A-Za-z0-9]+", "-").replaceAll("-$", "")));
            args.addAll(Arrays.asList(r.spec().flags().split(" ")));
            if (cal != null && dev.squish.methods.Methods.get(r.spec().method()).needsCalibration())
                args.addAll(List.of("--calibration", "fixtures/data/kjv/train.txt", "--samples", String.valueOf(cal.get("samples")),
                        "--seq-len", String.valueOf(cal.get("seq_len")), "--sampling", "sequential"));
            args.addAll(List.of("--eval", "fixtures/data/kjv/test.txt"));
            cmds.append(CompressReport.commandLine(args)).append("\n\n");
        }
        h.code(cmds.toString().strip());
        return h;
    }
}
