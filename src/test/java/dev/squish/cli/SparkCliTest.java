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

    /**
     * Wanda end to end (its masks follow the statistics, and a last-bit difference in an
     * activation does not compound). GPTQ is not asserted end to end: its rounding amplifies
     * last-bit differences of the forward pass, which are not yet reproducible in every run (2 of 5
     * runs of the fixture differed; see docs/spark.md). The exact reduction itself is asserted
     * bit for bit by SparkActivationsTest.
     */
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
}
