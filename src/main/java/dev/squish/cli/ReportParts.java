package dev.squish.cli;

import dev.squish.calibration.LayerReport;
import dev.squish.model.Model;
import dev.squish.report.HtmlReport;

import java.util.*;

/** Report sections shared by {@code compress --report}, {@code demo} and {@code sweep}. */
final class ReportParts {
    private ReportParts() {}

    static final double MIB = 1024.0 * 1024.0;

    /** One row per compressed linear layer. */
    static void layerTable(HtmlReport r, String title, List<LayerReport> layers) {
        List<List<Object>> rows = new ArrayList<>();
        for (LayerReport l : layers)
            rows.add(Arrays.asList(l.block(), l.linear(), l.method(), l.format(), l.rows() + "x" + l.cols(), l.parameters(),
                    l.bytes(), l.sparsity(), Double.isNaN(l.relativeError()) ? null : l.relativeError(), Math.round(l.seconds() * 100) / 100.0));
        r.table(title, List.of("block", "linear", "method", "format", "shape", "params", "bytes", "sparsity", "rel. error", "s"), rows);
    }

    /**
     * Zero-shot task section: every metric with its standard error per run, and each task's
     * headline accuracy against perplexity (one point per run), so a method whose accuracy drops
     * more than its perplexity suggests stands out.
     */
    static void tasks(HtmlReport r, List<Trial.Result> results) {
        List<String> names = DemoReport.taskNames(results);
        r.section("Zero-shot tasks");
        r.paragraph("Scored as lm-evaluation-harness scores them (docs/tasks.md): acc is the share of items whose gold choice has "
                + "the highest log-likelihood (last word: whose continuation is the greedy one); acc_norm divides each choice's "
                + "log-likelihood by its length in characters. ± is the standard error over items; differences between methods "
                + "smaller than about twice it are noise. Chance is 0.25 on a 4-choice task.");
        List<List<Object>> rows = new ArrayList<>();
        for (Trial.Result res : results)
            for (String n : names) {
                dev.squish.eval.TaskEval.Result t = res.tasks().get(n);
                if (t == null) continue;
                rows.add(Arrays.asList(res.spec().label(), n, t.n(), pm(t.acc(), t.accStderr()), pm(t.accNorm(), t.accNormStderr()),
                        Double.isFinite(t.perplexity()) ? Math.round(t.perplexity() * 100) / 100.0 : null, Math.round(res.perplexity() * 1000) / 1000.0));
            }
        r.table("Task metrics per run", List.of("run", "task", "items", "acc", "acc_norm", "continuation ppl", "test ppl"), rows);
        for (String n : names) {
            Map<String, double[][]> pts = new LinkedHashMap<>();
            String metric = null;
            for (Trial.Result res : results) {
                dev.squish.eval.TaskEval.Result t = res.tasks().get(n);
                if (t == null) continue;
                metric = t.headlineMetric();
                pts.put(res.spec().label(), new double[][]{{res.perplexity(), t.headline()}});
            }
            if (metric != null) r.lineChart(n + ": " + metric + " against test perplexity (upper left is better)", "test perplexity", metric, pts, false);
        }
    }

    private static String pm(double v, double se) {
        if (!Double.isFinite(v)) return null;
        return Double.isFinite(se) ? String.format(Locale.ROOT, "%.3f ± %.3f", v, se) : String.format(Locale.ROOT, "%.3f", v);
    }

    static boolean hasErrors(List<LayerReport> layers) {
        return layers.stream().anyMatch(l -> Double.isFinite(l.relativeError()));
    }

    /** Relative reconstruction error of each layer (horizontal bars, block order); nothing when no layer has one. */
    static void layerErrorChart(HtmlReport r, String title, List<LayerReport> layers) {
        Map<String, Double> v = new LinkedHashMap<>();
        for (LayerReport l : layers)
            if (Double.isFinite(l.relativeError())) v.merge(l.block() + " " + l.linear(), l.relativeError(), Math::max);
        if (!v.isEmpty()) r.barChart(title, "layer (block, linear)", "relative reconstruction error", v);
    }

    /** Mean relative error per block, one line per run (runs without errors are left out). */
    static void blockErrorChart(HtmlReport r, String title, Map<String, List<LayerReport>> runs) {
        Map<String, double[][]> series = new LinkedHashMap<>();
        for (var e : runs.entrySet()) {
            TreeMap<Integer, double[]> sum = new TreeMap<>();
            for (LayerReport l : e.getValue()) {
                if (!Double.isFinite(l.relativeError())) continue;
                double[] s = sum.computeIfAbsent(l.block(), k -> new double[2]);
                s[0] += l.relativeError();
                s[1]++;
            }
            if (sum.isEmpty()) continue;
            series.put(e.getKey(), sum.entrySet().stream().map(x -> new double[]{x.getKey(), x.getValue()[0] / x.getValue()[1]}).toArray(double[][]::new));
        }
        if (!series.isEmpty()) r.lineChart(title, "block", "mean relative reconstruction error", series, false);
    }

    /** Singular values of a row-major matrix, largest first (EJML). */
    static double[] singularValues(float[] w, int rows, int cols) { return dev.squish.util.Svds.singularValues(w, rows, cols); }

    /**
     * Singular-value spectra (normalized by the largest) of a few linears of the dense model, with
     * the rank each low-rank run kept for them and the share of the spectrum's energy that keeps.
     *
     * @param lowRankRuns run label -> its layer reports (ranks are read from the {@code lowrank} layers)
     */
    static void spectra(HtmlReport r, Model dense, List<String[]> matrices, Map<String, List<LayerReport>> lowRankRuns) {
        Map<String, double[][]> series = new LinkedHashMap<>();
        List<List<Object>> rows = new ArrayList<>();
        for (String[] bm : matrices) {
            int block = Integer.parseInt(bm[0]);
            var lin = dense.blocks.get(block).linear(bm[1]);
            double[] s = singularValues(lin.toDense(), lin.rows(), lin.cols());
            String name = "block " + block + " " + bm[1];
            double[][] pts = new double[s.length][];
            for (int i = 0; i < s.length; i++) pts[i] = new double[]{i + 1, s[i] / s[0]};
            series.put(name, pts);
            double total = 0;
            for (double x : s) total += x * x;
            for (var run : lowRankRuns.entrySet()) {
                LayerReport l = run.getValue().stream().filter(x -> x.block() == block && x.linear().equals(bm[1])).findFirst().orElse(null);
                if (l == null || !l.format().startsWith("lowrank")) {
                    rows.add(Arrays.asList(name, lin.rows() + "x" + lin.cols(), s.length, run.getKey(), l == null ? "unchanged" : l.format(), null));
                    continue;
                }
                int k = (int) (l.parameters() / (l.rows() + l.cols()));
                double kept = 0;
                for (int i = 0; i < Math.min(k, s.length); i++) kept += s[i] * s[i];
                rows.add(Arrays.asList(name, lin.rows() + "x" + lin.cols(), s.length, run.getKey(), k, kept / total));
            }
        }
        r.lineChart("Singular-value spectra (dense weights, normalized to the largest)", "index", "singular value / largest", series, true);
        if (!lowRankRuns.isEmpty()) r.paragraph("Rank kept: the inner dimension of each factorized matrix. Energy kept: the share of the "
                + "dense matrix's sum of squared singular values in its top singular values up to that rank; exact for svd, indicative "
                + "for activation-aware methods (asvd factorizes the weights scaled by activation statistics).");
        if (!lowRankRuns.isEmpty())
            r.table("Ranks kept by the low-rank runs", List.of("matrix", "shape", "full rank", "run", "rank kept", "energy kept"), rows);
    }

    /**
     * A fine-tuning run's loss curve: the training loss of every step and the validation loss where
     * it was measured (step 0 is the validation loss before the first step).
     */
    static void lossCurve(HtmlReport h, String title, dev.squish.train.FineTune.Result r) {
        List<double[]> train = new ArrayList<>(), val = new ArrayList<>();
        if (Double.isFinite(r.firstValLoss()) && r.startStep() == 0) val.add(new double[]{0, r.firstValLoss()});
        for (double[] c : r.curve()) {
            train.add(new double[]{c[0], c[1]});
            if (Double.isFinite(c[2])) val.add(new double[]{c[0], c[2]});
        }
        Map<String, double[][]> series = new LinkedHashMap<>();
        series.put("training loss", train.toArray(double[][]::new));
        series.put("validation loss", val.toArray(double[][]::new));
        h.lineChart(title, "step", "loss (nats per token)", series, false);
    }
}
