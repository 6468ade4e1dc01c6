package dev.squish.cli;

import dev.squish.calibration.LayerReport;
import dev.squish.recipe.Recipe;
import dev.squish.report.HtmlReport;

import java.nio.file.Path;
import java.util.*;

/** The HTML report of one {@code compress} run ({@code --report FILE}). */
final class CompressReport {
    private CompressReport() {}

    /** What the run did; {@code perplexity} is null without {@code --eval}. */
    record Run(Path model, Path output, Recipe recipe, String command, List<LayerReport> layers, long parametersBefore,
               long parametersAfter, long bytesBefore, long bytesAfter, Map<String, Long> layerBytesBefore, Double perplexity,
               Path evalFile, double seconds, List<dev.squish.train.FinetuneMethod> finetunes) {
        Run(Path model, Path output, Recipe recipe, String command, List<LayerReport> layers, long parametersBefore,
            long parametersAfter, long bytesBefore, long bytesAfter, Map<String, Long> layerBytesBefore, Double perplexity,
            Path evalFile, double seconds) {
            this(model, output, recipe, command, layers, parametersBefore, parametersAfter, bytesBefore, bytesAfter, layerBytesBefore,
                    perplexity, evalFile, seconds, List.of());
        }
    }

    static HtmlReport build(Run run) {
        HtmlReport h = new HtmlReport("Squish compress: " + run.model().getFileName());
        h.paragraph(String.format(Locale.ROOT, "Compressed %s into %s in %.1f s.", run.model(), run.output(), run.seconds()));
        h.section("Recipe");
        h.code(run.command() + "\n\n" + run.recipe().describe());
        h.section("Summary");
        List<List<Object>> rows = new ArrayList<>();
        rows.add(Arrays.asList("parameters", run.parametersBefore(), run.parametersAfter(), ratio(run.parametersAfter(), run.parametersBefore())));
        rows.add(Arrays.asList("weight bytes", run.bytesBefore(), run.bytesAfter(), ratio(run.bytesAfter(), run.bytesBefore())));
        rows.add(Arrays.asList("weight MiB", run.bytesBefore() / ReportParts.MIB, run.bytesAfter() / ReportParts.MIB, ratio(run.bytesAfter(), run.bytesBefore())));
        if (run.perplexity() != null)
            rows.add(Arrays.asList("perplexity (" + run.evalFile().getFileName() + ")", null, run.perplexity(), null));
        h.table("Before and after", List.of("", "before", "after", "after / before"), rows);

        Map<String, Map<String, Double>> bytes = new LinkedHashMap<>();
        bytes.put("before", new LinkedHashMap<>());
        bytes.put("after", new LinkedHashMap<>());
        for (LayerReport l : run.layers()) {
            Long b = run.layerBytesBefore().get(l.block() + " " + l.linear());
            if (b != null) bytes.get("before").merge(l.linear(), b / ReportParts.MIB, Double::sum);
            bytes.get("after").merge(l.linear(), l.bytes() / ReportParts.MIB, Double::sum);
        }
        if (!run.layers().isEmpty())
            h.groupedBarChart("Bytes per linear layer type, summed over blocks", "linear", "MiB", bytes);
        if (ReportParts.hasErrors(run.layers())) {
            h.section("Reconstruction error");
            h.paragraph("Relative error ||W X - W' X|| / ||W X|| of each compressed layer on its calibration inputs.");
            ReportParts.layerErrorChart(h, "Reconstruction error per layer", run.layers());
        }
        for (var f : run.finetunes()) {
            if (f.result() == null) continue;
            h.section("Fine-tuning");
            h.paragraph(String.format(Locale.ROOT, "%s: %d steps in %.1f s (%.0f training tokens/s); validation loss %.4f -> %.4f.",
                    f.describe(), f.result().step(), f.result().seconds(), f.result().tokensPerSecond(), f.result().firstValLoss(),
                    f.result().lastValLoss()));
            ReportParts.lossCurve(h, "Loss per step: " + f.describe(), f.result());
        }
        h.section("Layers");
        ReportParts.layerTable(h, "Every compressed linear layer", run.layers());
        return h;
    }

    /** The command as typed, wrapped before options at about 88 columns (shell continuation), odd arguments quoted. */
    static String commandLine(List<String> args) {
        List<String> groups = new ArrayList<>();   // an option with its values, or a positional argument
        for (String a : args) {
            String q = a.matches("[A-Za-z0-9_./:=,@%+-]+") ? a : "'" + a.replace("'", "'\\''") + "'";
            int last = groups.size() - 1;
            if (!a.startsWith("-") && last >= 0 && groups.get(last).startsWith("-")) groups.set(last, groups.get(last) + " " + q);
            else groups.add(q);
        }
        StringBuilder sb = new StringBuilder("bin/squish");
        int line = sb.length();
        for (String g : groups) {
            if (line + 1 + g.length() > 88) {
                sb.append(" \\\n   ");
                line = 3;
            }
            sb.append(' ').append(g);
            line += 1 + g.length();
        }
        return sb.toString();
    }

    private static Double ratio(long a, long b) {
        return b == 0 ? null : (double) a / b;
    }
}
