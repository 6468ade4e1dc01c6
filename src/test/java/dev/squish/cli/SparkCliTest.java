package dev.squish.cli;

import dev.squish.Fixtures;
import dev.squish.model.Block;
import dev.squish.model.Model;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code compress --spark local[2]}: the calibration samples split across two executors, which
 * return partial statistics; the compressed weights must be those of the single-machine path.
 */
class SparkCliTest {
    @TempDir Path tmp;

    private static List<String> args(Path out, String method, String... extra) {
        List<String> a = new ArrayList<>(List.of("compress", Fixtures.LLAMA.toString(), "-o", out.toString(), "--method", method,
                "--calibration", Fixtures.TRAIN.toString(), "--samples", "6", "--seq-len", "32", "--sampling", "sequential", "--json"));
        a.addAll(List.of(extra));
        return a;
    }

    /** Largest |difference| between the two models' block weights (every linear, every vector). */
    static double maxDifference(Path a, Path b) { return maxDifference(a, b, true); }

    static double maxDifference(Path a, Path b, boolean sameFormats) {
        double max = 0;
        try (Model x = Model.load(a); Model y = Model.load(b)) {
            for (int i = 0; i < x.blocks.size(); i++) {
                Block bx = x.blocks.get(i), by = y.blocks.get(i);
                assertEquals(bx.linears.keySet(), by.linears.keySet());
                for (String n : bx.linears.keySet()) {
                    if (sameFormats) assertEquals(bx.linear(n).format(), by.linear(n).format(), n);
                    float[] p = bx.linear(n).toDense(), q = by.linear(n).toDense();
                    for (int k = 0; k < p.length; k++) max = Math.max(max, Math.abs(p[k] - q[k]));
                }
            }
        }
        return max;
    }

    /** Wanda end to end (the exact reduction itself is asserted bit for bit by SparkActivationsTest). */
    @Test
    void wandaOnSparkGivesTheSingleMachineWeights() {
        Path local = tmp.resolve("local"), spark = tmp.resolve("spark");
        CliTest.Run a = CliTest.run(args(local, "wanda", "--sparsity", "0.5").toArray(String[]::new));
        assertEquals(0, a.code(), a.err());
        CliTest.Run b = CliTest.run(args(spark, "wanda", "--sparsity", "0.5", "--spark", "local[2]").toArray(String[]::new));
        assertEquals(0, b.code(), b.err());
        double d = maxDifference(local, spark);
        assertTrue(d <= 1e-5, "max weight difference " + d);
        // the comparison means something: wanda changed the weights of the fixture
        assertTrue(maxDifference(Fixtures.LLAMA, local, false) > 1e-3);
    }

    /**
     * GPTQ and SparseGPT end to end: their rounding and mask choices amplify any last-bit
     * difference of the forward pass, so this holds only because the forward pass and the
     * statistics are reproducible (util.Lanes, model.Ops.exp, the double-double sums).
     */
    @Test
    void gptqAndSparseGptOnSparkGiveTheSingleMachineWeights() {
        for (String[] m : new String[][]{{"gptq", "--bits", "4", "--group-size", "32"}, {"sparsegpt", "--sparsity", "0.5"}}) {
            Path local = tmp.resolve(m[0] + "-local"), spark = tmp.resolve(m[0] + "-spark");
            List<String> extra = new ArrayList<>(List.of(m).subList(1, m.length));
            CliTest.Run a = CliTest.run(args(local, m[0], extra.toArray(String[]::new)).toArray(String[]::new));
            assertEquals(0, a.code(), a.err());
            extra.addAll(List.of("--spark", "local[2]"));
            CliTest.Run b = CliTest.run(args(spark, m[0], extra.toArray(String[]::new)).toArray(String[]::new));
            assertEquals(0, b.code(), b.err());
            double d = maxDifference(local, spark);
            assertTrue(d <= 1e-5, m[0] + ": max weight difference " + d);
            assertTrue(maxDifference(Fixtures.LLAMA, local, false) > 1e-3, m[0] + " changed the weights");
        }
    }

    @Test
    void unreachableMasterIsOneErrorLineAndWritesNothing() {
        Path out = tmp.resolve("never");
        // port 1 on the loopback: nothing listens there, the connection is refused at once
        CliTest.Run r = CliTest.run(args(out, "wanda", "--sparsity", "0.5", "--spark", "spark://127.0.0.1:1").toArray(String[]::new));
        assertEquals(2, r.code(), r.err());
        List<String> lines = r.err().lines().filter(l -> !l.isBlank()).toList();
        assertEquals(1, lines.size(), r.err());
        assertTrue(lines.getFirst().startsWith("error: --spark spark://127.0.0.1:1: cannot reach"), r.err());
        assertFalse(Files.exists(out));
        r = CliTest.run(args(out, "wanda", "--sparsity", "0.5", "--spark-partitions", "2").toArray(String[]::new));
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().startsWith("error: --spark-partitions"), r.err());
        assertFalse(Files.exists(out));
    }

    /** A text of a few windows (the test split's first 6,000 characters). */
    private Path text() throws Exception {
        Path t = tmp.resolve("text.txt");
        Files.writeString(t, Files.readString(Fixtures.TEST).substring(0, 6000));
        return t;
    }

    private static com.fasterxml.jackson.databind.JsonNode json(CliTest.Run r) throws Exception {
        return new com.fasterxml.jackson.databind.ObjectMapper().readTree(r.out());
    }

    /** eval --spark: the windows split across two executors give the single-machine perplexity. */
    @Test
    void evalOnSparkGivesTheSingleMachinePerplexity() throws Exception {
        Path text = text();
        CliTest.Run a = CliTest.run("eval", Fixtures.LLAMA.toString(), "--data", text.toString(), "--seq-len", "64", "--json");
        assertEquals(0, a.code(), a.err());
        CliTest.Run b = CliTest.run("eval", Fixtures.LLAMA.toString(), "--data", text.toString(), "--seq-len", "64", "--json",
                "--spark", "local[2]", "--spark-partitions", "3");
        assertEquals(0, b.code(), b.err());
        var x = json(a); var y = json(b);
        assertTrue(x.get("windows").asInt() >= 3, a.out());
        assertEquals(x.get("windows").asInt(), y.get("windows").asInt());
        assertEquals(x.get("tokens").asLong(), y.get("tokens").asLong());
        double p = x.get("perplexity").asDouble(), q = y.get("perplexity").asDouble();
        assertEquals(p, q, 1e-9 * p, "one machine " + p + ", spark " + q);
    }

    /**
     * eval's Spark options without their partner are bad input, refused before the model is
     * loaded or Spark starts: one {@code error:} line, exit 2, nothing on stdout.
     */
    @Test
    void evalSparkOptionsWithoutTheirPartnerAreOneErrorLine() throws Exception {
        Path text = text(), task = Fixtures.ROOT.resolve("tasks/kjv-next-verse.jsonl");
        String model = Fixtures.LLAMA.toString();
        String[][] cases = {
                // --spark scores perplexity windows only; zero-shot tasks alone give it nothing to distribute
                {"--task", task.toString(), "--spark", "local[2]"},
                {"--spark", "local[2]"},
                {"--data", text.toString(), "--spark-partitions", "3"},
                {"--task", task.toString(), "--spark-partitions", "2"},
                {"--data", text.toString(), "--spark", "local[2]", "--spark-partitions", "0"}};
        String[] mentions = {"--spark distributes the perplexity windows; give --data", "give --data",
                "--spark-partitions applies only with --spark", "--spark-partitions applies only with --spark",
                "--spark-partitions must be at least 1"};
        for (int i = 0; i < cases.length; i++) {
            List<String> a = new ArrayList<>(List.of("eval", model));
            a.addAll(List.of(cases[i]));
            CliTest.Run r = CliTest.run(a.toArray(String[]::new));
            CliTest.assertInputError(r, mentions[i]);
            assertEquals(1, r.err().lines().filter(l -> !l.isBlank()).count(), String.join(" ", a) + ": " + r.err());
            assertEquals("", r.out(), String.join(" ", a));
        }
    }

    /** sweep --spark: every trial (dense, each sparsity) runs as a Spark task and gives the single-machine numbers. */
    @Test
    void sweepOnSparkGivesTheSingleMachineTable() throws Exception {
        Path text = text();
        List<String> common = List.of("sweep", Fixtures.LLAMA.toString(), "--methods", "magnitude,wanda", "--sparsity", "0.3,0.6",
                "--data", text.toString(), "--calibration", Fixtures.TRAIN.toString(), "--samples", "4", "--seq-len", "32",
                "--sampling", "sequential", "--json");
        CliTest.Run a = CliTest.run(common.toArray(String[]::new));
        assertEquals(0, a.code(), a.err());
        List<String> withSpark = new ArrayList<>(common);
        withSpark.addAll(List.of("--spark", "local[2]"));
        CliTest.Run b = CliTest.run(withSpark.toArray(String[]::new));
        assertEquals(0, b.code(), b.err());
        var x = json(a); var y = json(b);
        double d0 = x.get("dense_perplexity").asDouble();
        assertEquals(d0, y.get("dense_perplexity").asDouble(), 1e-9 * d0);
        assertEquals(4, x.get("results").size());
        for (int i = 0; i < 4; i++) {
            var r = x.get("results").get(i); var s = y.get("results").get(i);
            assertEquals(r.get("method").asText(), s.get("method").asText());
            assertEquals(r.get("sparsity").asDouble(), s.get("sparsity").asDouble());
            assertEquals(r.get("parameters").asLong(), s.get("parameters").asLong());
            double p = r.get("perplexity").asDouble();
            assertEquals(p, s.get("perplexity").asDouble(), 1e-9 * p, r + " vs " + s);
            assertNotEquals(d0, p, "pruning changed the model");
        }
        CliTest.Run c = CliTest.run("sweep", Fixtures.LLAMA.toString(), "--methods", "magnitude", "--sparsity", "0.5", "--data",
                text.toString(), "--task", Fixtures.TRAIN.toString(), "--spark", "local[2]");
        assertEquals(2, c.code(), c.err());
        assertTrue(c.err().startsWith("error: --task does not apply with --spark"), c.err());
    }
}
