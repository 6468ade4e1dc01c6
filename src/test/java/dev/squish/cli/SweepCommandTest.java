package dev.squish.cli;

import static dev.squish.cli.ReportChecks.cli;
import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.squish.Fixtures;
import dev.squish.SquishException;
import dev.squish.util.Progress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The sweep on the GPT-2 fixture with small settings, run once; and compress --report. */
class SweepCommandTest {
    @TempDir static Path dir;
    static Path slice;
    static ReportChecks.Run sweep;
    static JsonNode json;

    @BeforeAll
    static void runSweep() throws Exception {
        Progress.setQuiet(true);
        slice = dir.resolve("valid-slice.txt");
        Files.writeString(slice, Files.readString(Fixtures.VALID).substring(0, 40_000));
        sweep = cli("sweep", Fixtures.GPT2.toString(), "--methods", "magnitude,wanda", "--sparsity", "0.4:0.6:0.2",
                "--data", slice.toString(), "--calibration", Fixtures.TRAIN.toString(), "--samples", "8", "--seq-len", "64",
                "--json", "--plot", dir.resolve("curve.svg").toString(), "--report", dir.resolve("sweep.html").toString());
        assertEquals(0, sweep.rc(), sweep.err());
        json = new ObjectMapper().readTree(sweep.out());
    }

    @AfterAll
    static void loud() { Progress.setQuiet(false); }

    @Test
    void tasksAreScoredAtEveryPoint() throws Exception {
        Path html = dir.resolve("tasks.html");
        ReportChecks.Run r = cli("sweep", Fixtures.GPT2.toString(), "--methods", "magnitude", "--sparsity", "0.5",
                "--data", slice.toString(), "--seq-len", "64", "--task", Fixtures.ROOT.resolve("tasks/kjv-next-verse.jsonl").toString(),
                "--task-limit", "8", "--json", "--report", html.toString());
        assertEquals(0, r.rc(), r.err());
        JsonNode j = new ObjectMapper().readTree(r.out());
        assertEquals(8, j.get("dense_tasks").get("kjv-next-verse").get("n").asInt());
        JsonNode t = j.get("results").get(0).get("tasks").get("kjv-next-verse");
        assertEquals(8, t.get("n").asInt());
        double a = t.get("acc_norm").asDouble();
        assertEquals(Math.round(a * 8) / 8.0, a, 1e-12);
        String page = Files.readString(html);
        assertEquals(2, ReportChecks.table(page, "acc_norm of kjv-next-verse by sparsity (rows) and method (columns), 8 items").size());
        ReportChecks.Run text = cli("sweep", Fixtures.GPT2.toString(), "--methods", "magnitude", "--sparsity", "0.5",
                "--data", slice.toString(), "--seq-len", "64", "--task", Fixtures.ROOT.resolve("tasks/kjv-next-verse.jsonl").toString(),
                "--task-limit", "4");
        assertEquals(0, text.rc(), text.err());
        assertTrue(text.out().contains("acc_norm of kjv-next-verse (4 items)"), text.out());
    }

    @Test
    void jsonHoldsEveryMethodAtEverySparsityAndPerplexityGrowsWithSparsity() {
        assertEquals(List.of("magnitude", "wanda"), List.of(json.get("methods").get(0).asText(), json.get("methods").get(1).asText()));
        assertEquals(2, json.get("sparsities").size());
        assertEquals(0.4, json.get("sparsities").get(0).asDouble(), 0);
        assertEquals(0.6, json.get("sparsities").get(1).asDouble(), 0);
        double dense = json.get("dense_perplexity").asDouble();
        assertTrue(dense > 1 && dense < 100, "dense perplexity " + dense);
        JsonNode rows = json.get("results");
        assertEquals(4, rows.size());
        for (int m = 0; m < 2; m++) {
            JsonNode lo = rows.get(2 * m), hi = rows.get(2 * m + 1);
            assertEquals(lo.get("method").asText(), hi.get("method").asText());
            assertEquals(0.4, lo.get("sparsity").asDouble(), 0);
            double p4 = lo.get("perplexity").asDouble(), p6 = hi.get("perplexity").asDouble();
            assertTrue(dense < p4 && p4 < p6, lo.get("method") + ": dense " + dense + ", 40% " + p4 + ", 60% " + p6);
            assertTrue(hi.get("parameters").asLong() < lo.get("parameters").asLong(), "fewer weights kept at 60%");
        }
        assertEquals(8, json.get("calibration").get("samples").asInt());
        assertEquals(64, json.get("seq_len").asInt());
    }

    @Test
    void sweepPointMatchesCompressThenEvalAndCompressWritesAReport() throws Exception {
        Path out = dir.resolve("wanda60"), report = dir.resolve("compress.html");
        var r = cli("compress", Fixtures.GPT2.toString(), "-o", out.toString(), "--method", "wanda", "--sparsity", "0.6",
                "--calibration", Fixtures.TRAIN.toString(), "--samples", "8", "--seq-len", "64", "--eval", slice.toString(),
                "--json", "--report", report.toString());
        assertEquals(0, r.rc(), r.err());
        JsonNode c = new ObjectMapper().readTree(r.out());
        // the same random calibration windows (seed 0) and evaluation windows: the same model
        double sweepPpl = json.get("results").get(3).get("perplexity").asDouble();
        // the same computation run twice; relative 1e-6 allows for last-bit differences between JIT tiers
        assertEquals(sweepPpl, c.get("perplexity").asDouble(), 1e-6 * sweepPpl);

        String html = Files.readString(report);
        List<String> svgs = ReportChecks.selfContained(html);
        assertEquals(2, svgs.size(), "bytes per layer type and reconstruction error per layer");
        assertTrue(svgs.get(1).contains(">3 mlp.c_proj<"), "per-layer categories");
        List<List<String>> layers = ReportChecks.table(html, "Every compressed linear layer");
        assertEquals(c.get("layers").size(), layers.size());
        assertEquals(16, layers.size(), "4 blocks x 4 linears");
        for (int i = 0; i < layers.size(); i++) {
            JsonNode l = c.get("layers").get(i);
            assertEquals(l.get("block").asText(), layers.get(i).get(0));
            assertEquals(l.get("linear").asText(), layers.get(i).get(1));
            assertEquals(l.get("format").asText(), layers.get(i).get(3));
        }
        List<List<String>> summary = ReportChecks.table(html, "Before and after");
        assertEquals(String.format("%,d", c.get("parameters_before").asLong()), summary.get(0).get(1));
        assertEquals(String.format("%,d", c.get("parameters").asLong()), summary.get(0).get(2));
        assertTrue(summary.get(3).get(0).startsWith("perplexity"));
        assertEquals(fmt4(c.get("perplexity").asDouble()), summary.get(3).get(2));
        assertTrue(html.contains("--method wanda"), "the command line");
        assertTrue(html.contains("stage 1: wanda"), "the recipe");
    }

    private static String fmt4(double v) {
        return new java.math.BigDecimal(v).round(new java.math.MathContext(4)).stripTrailingZeros().toPlainString();
    }

    @Test
    void plotIsAStandaloneSvgWithEveryCurve() throws Exception {
        String svg = Files.readString(dir.resolve("curve.svg"));
        assertTrue(svg.startsWith("<?xml"));
        javax.xml.parsers.DocumentBuilderFactory f = javax.xml.parsers.DocumentBuilderFactory.newInstance();
        f.setNamespaceAware(true);
        var doc = f.newDocumentBuilder().parse(dir.resolve("curve.svg").toFile());
        assertEquals("svg", doc.getDocumentElement().getLocalName());
        assertEquals("http://www.w3.org/2000/svg", doc.getDocumentElement().getNamespaceURI());
        for (String name : List.of(">magnitude<", ">wanda<", ">dense<", ">sparsity<", ">perplexity<", ">Perplexity against sparsity: kjv-gpt2-tiny<"))
            assertTrue(svg.contains(name), name);
    }

    @Test
    void reportHoldsTheTableAndCharts() throws Exception {
        String html = Files.readString(dir.resolve("sweep.html"));
        List<String> svgs = ReportChecks.selfContained(html);
        assertEquals(2, svgs.size(), "perplexity and size against sparsity");
        List<List<String>> rows = ReportChecks.table(html, "Perplexity by sparsity (rows) and method (columns)");
        assertEquals(List.of("dense", "0.4", "0.6"), rows.stream().map(r -> r.get(0)).toList());
        assertEquals(fmt4(json.get("results").get(1).get("perplexity").asDouble()), rows.get(2).get(1), "magnitude at 0.6");
        assertEquals(fmt4(json.get("results").get(2).get("perplexity").asDouble()), rows.get(1).get(2), "wanda at 0.4");
    }

    @Test
    void textTableHasARowPerSparsityAndAColumnPerMethod() {
        // magnitude needs no calibration, and a comma list is accepted
        var r = cli("sweep", Fixtures.GPT2.toString(), "--methods", "magnitude", "--sparsity", "0.4,0.6",
                "--data", slice.toString(), "--seq-len", "64");
        assertEquals(0, r.rc(), r.err());
        List<String> lines = r.out().lines().toList();
        assertEquals(List.of("sparsity", "magnitude"), List.of(lines.get(0).split("\\s+")));
        assertEquals("dense", lines.get(1).split("\\s+")[0]);
        assertEquals(Double.parseDouble(lines.get(3).split("\\s+")[1]), json.get("results").get(1).get("perplexity").asDouble(), 1e-4);
        assertEquals("0.4", lines.get(2).split("\\s+")[0]);
    }

    @Test
    void sparsityRanges() {
        assertArrayEquals(new double[]{0.3, 0.4, 0.5, 0.6, 0.7, 0.8}, SweepCommand.parseSparsities("0.3:0.8:0.1"), 0);
        assertArrayEquals(new double[]{0.5}, SweepCommand.parseSparsities("0.5:0.5:0.1"), 0);
        assertArrayEquals(new double[]{0.1, 0.35, 0.6}, SweepCommand.parseSparsities("0.1:0.7:0.25"), 0);
        assertArrayEquals(new double[]{0.5, 0.7}, SweepCommand.parseSparsities(" 0.5, 0.7 "), 0);
        for (String bad : List.of("0.8:0.3:0.1", "0.3:0.8:0", "0.3:0.8", "1.0", "0.5,x", "0.5,0.5", "-0.1:0.2:0.1"))
            assertThrows(SquishException.class, () -> SweepCommand.parseSparsities(bad), bad);
    }

    @Test
    void userErrorsExitWithCode2BeforeAnyWork() {
        var notPruning = cli("sweep", Fixtures.GPT2.toString(), "--methods", "gptq", "--sparsity", "0.5", "--data", slice.toString());
        assertEquals(2, notPruning.rc());
        assertTrue(notPruning.err().contains("not a pruning method"), notPruning.err());
        var noCal = cli("sweep", Fixtures.GPT2.toString(), "--methods", "wanda", "--sparsity", "0.5", "--data", slice.toString());
        assertEquals(2, noCal.rc());
        assertTrue(noCal.err().contains("--calibration"), noCal.err());
        var badPlot = cli("sweep", Fixtures.GPT2.toString(), "--methods", "magnitude", "--sparsity", "0.5", "--data", slice.toString(),
                "--plot", dir.resolve("x.png").toString());
        assertEquals(2, badPlot.rc());
        assertTrue(badPlot.err().contains(".svg or .html"), badPlot.err());
    }
}
