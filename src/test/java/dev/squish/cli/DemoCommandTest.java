package dev.squish.cli;

import static dev.squish.cli.ReportChecks.cli;
import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.squish.SquishException;
import dev.squish.util.Progress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code demo --quick} end to end on the bundled model (run once), and the --methods syntax. */
class DemoCommandTest {
    @TempDir static Path dir;
    static ReportChecks.Run run;
    static JsonNode results;
    static String html;

    @BeforeAll
    static void runDemo() throws Exception {
        Progress.setQuiet(true);
        run = cli("demo", "--quick", "--out", dir.resolve("out").toString());
        assertEquals(0, run.rc(), run.err());
        results = new ObjectMapper().readTree(dir.resolve("out/results.json").toFile());
        html = Files.readString(dir.resolve("out/report.html"));
    }

    @AfterAll
    static void loud() { Progress.setQuiet(false); }

    static List<String> labels() {
        List<String> l = new ArrayList<>();
        results.get("results").forEach(r -> l.add(r.get("label").asText()));
        return l;
    }

    @Test
    void runsTheQuickSetAndMeasuresEachVariant() {
        assertEquals(List.of("dense", "wanda 50%", "sparsegpt 2:4", "rtn int4 g128"), labels());
        JsonNode dense = results.get("results").get(0);
        double densePpl = dense.get("perplexity").asDouble();
        assertTrue(densePpl > 10 && densePpl < 60, "dense perplexity on the test slice " + densePpl);
        assertEquals(6_819_072, dense.get("parameters").asLong(), "the fixture's parameter count");
        for (JsonNode r : results.get("results")) {
            String label = r.get("label").asText();
            assertTrue(r.get("decode_tokens_per_second").asDouble() > 0, label);
            if (label.equals("dense")) continue;
            assertTrue(r.get("perplexity").asDouble() > densePpl, label + " is worse than dense");
            assertTrue(r.get("perplexity").asDouble() < 2 * densePpl, label + " is not broken");
            assertTrue(r.get("bytes").asLong() < dense.get("bytes").asLong(), label + " is smaller");
        }
        JsonNode rtn = results.get("results").get(3);
        assertTrue(rtn.get("bytes").asLong() < dense.get("bytes").asLong() / 2, "int4 weights");
        assertTrue(rtn.get("formats").fieldNames().hasNext());
        assertEquals(16, results.get("settings").get("calibration").get("samples").asInt());
    }

    @Test
    void stdoutTableHasOneRowPerVariant() {
        List<String> lines = run.out().lines().toList();
        assertTrue(lines.get(0).startsWith("method") && lines.get(0).contains("test ppl") && lines.get(0).contains("decode tok/s"));
        List<String> labels = labels();
        for (int i = 0; i < labels.size(); i++) {
            String line = lines.get(i + 1);
            assertTrue(line.startsWith(labels.get(i) + " "), line);
            double ppl = results.get("results").get(i).get("perplexity").asDouble();
            assertTrue(line.contains(String.format(java.util.Locale.ROOT, " %.3f ", ppl)), line);
        }
        assertTrue(lines.get(1).contains("+0.0%"), "dense vs itself");
        // the recommendation: the smallest variant within 5% of the dense perplexity
        double dense = results.get("results").get(0).get("perplexity").asDouble();
        String best = null;
        long bestBytes = Long.MAX_VALUE;
        for (JsonNode r : results.get("results"))
            if (!r.get("label").asText().equals("dense") && r.get("perplexity").asDouble() <= 1.05 * dense && r.get("bytes").asLong() < bestBytes) {
                best = r.get("label").asText();
                bestBytes = r.get("bytes").asLong();
            }
        String rec = lines.get(labels.size() + 1);
        assertTrue(best == null ? rec.startsWith("No method") : rec.startsWith("Smallest model within 5% of the dense perplexity: " + best + " ("), rec);
        assertTrue(run.out().contains("report.html"));
    }

    @Test
    void reportIsSelfContainedWithEveryRowAndChart() throws Exception {
        List<String> svgs = ReportChecks.selfContained(html);
        // perplexity vs size, bytes per format, speed per format, error per layer, error per block, accuracy vs perplexity per task
        assertEquals(7, svgs.size());
        List<List<String>> rows = ReportChecks.table(html, "Perplexity, task accuracy, size and speed per method");
        assertEquals(labels(), rows.stream().map(r -> r.get(0).replace("&amp;", "&")).toList());
        for (int i = 0; i < rows.size(); i++) {
            JsonNode r = results.get("results").get(i);
            assertEquals(String.format("%,d", r.get("parameters").asLong()), rows.get(i).get(5));
            assertEquals(Math.round(r.get("tasks").get("kjv-next-verse").get("acc_norm").asDouble() * 1000) / 1000.0, Double.parseDouble(rows.get(i).get(3)));
            assertEquals(Math.round(r.get("tasks").get("kjv-last-word").get("acc").asDouble() * 1000) / 1000.0, Double.parseDouble(rows.get(i).get(4)));
        }
        assertEquals(4 * 2, ReportChecks.table(html, "Task metrics per run").size(), "a row per variant and task");
        for (String l : labels()) assertTrue(svgs.get(0).contains(">" + l + "<"), "a point per variant: " + l);
        assertTrue(svgs.get(1).contains(">rtn int4 g128 ("), "a bar per variant with its format");
        assertTrue(svgs.get(3).contains(">0 self_attn.q_proj<") && svgs.get(3).contains(">5 mlp.down_proj<"), "every layer");
        assertTrue(html.contains("bin/squish compress fixtures/models/kjv-llama-tiny"), "commands to reproduce");
    }

    @Test
    void eachVariantIsScoredOnTheShippedTasks() {
        assertEquals(20, results.get("settings").get("tasks").get("kjv-next-verse").get("scored").asInt());
        assertEquals(1483, results.get("settings").get("tasks").get("kjv-next-verse").get("items").asInt());
        for (JsonNode r : results.get("results")) {
            JsonNode nv = r.get("tasks").get("kjv-next-verse"), lw = r.get("tasks").get("kjv-last-word");
            assertEquals(20, nv.get("n").asInt());
            assertEquals(20, lw.get("n").asInt());
            // Over 20 items an accuracy is a multiple of 1/20.
            for (double a : new double[]{nv.get("acc").asDouble(), nv.get("acc_norm").asDouble(), lw.get("acc").asDouble()})
                assertEquals(Math.round(a * 20) / 20.0, a, 1e-12);
            assertTrue(lw.get("perplexity").asDouble() > 1);
        }
        List<String> lines = run.out().lines().toList();
        assertTrue(lines.get(0).contains(" next-verse ") && lines.get(0).contains(" last-word "), lines.get(0));
        assertTrue(run.out().contains("next-verse: acc_norm of kjv-next-verse, first 20 of 1,483 items"), run.out());
        assertTrue(run.out().contains("last-word: acc of kjv-last-word, first 20 of 1,540 items"), run.out());
    }

    @Test
    void methodsListSelectsDefaultVariantsOrSettings() {
        List<Trial.Spec> s = DemoCommand.select(List.of("wanda", "gptq@int8", "sparsegpt@0.6", "magnitude@4:8", "svd@0.5"));
        assertEquals(List.of("dense", "wanda 50%", "wanda 2:4", "gptq int8 g128", "sparsegpt 60%", "magnitude 4:8", "svd keep 0.5"),
                s.stream().map(Trial.Spec::label).toList());
        assertEquals(Map.of("bits", 8, "group_size", 128), s.get(3).options());
        assertEquals(Map.of("sparsity", 0.6), s.get(4).options());
        assertEquals(Map.of("pattern", "4:8"), s.get(5).options());
        assertThrows(SquishException.class, () -> DemoCommand.select(List.of("gtpq")));
        assertThrows(SquishException.class, () -> DemoCommand.select(List.of("gptq@four")));
    }

    @Test
    void findsTheBundledFixturesFromTheInstallation() {
        assertTrue(Files.isDirectory(DemoCommand.fixtures().resolve(DemoCommand.MODEL)));
    }
}
