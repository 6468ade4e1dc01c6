package dev.squish.spark;

import dev.squish.Fixtures;
import dev.squish.calibration.Activations;
import dev.squish.calibration.BlockContext;
import dev.squish.calibration.HeapActivations;
import dev.squish.calibration.LinearStats;
import dev.squish.methods.Gptq;
import dev.squish.model.Block;
import dev.squish.model.Model;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The Spark activations against the heap ones on the fixture: statistics from two (and three)
 * partitions equal the one-pass statistics bit for bit, and advancing through a compressed block
 * gives the same next-block inputs.
 */
class SparkActivationsTest {
    static SparkRun spark;

    @BeforeAll static void start() { spark = SparkRun.open("local[2]", false); }

    @AfterAll static void stop() { if (spark != null) spark.close(); }

    @Test
    void partialStatisticsReduceToTheOnePassStatistics() {
        try (Model m = Model.load(Fixtures.LLAMA); Model local = Model.load(Fixtures.LLAMA)) {
            Random rnd = new Random(3);
            int[][] samples = new int[5][24];
            for (int[] s : samples) for (int i = 0; i < s.length; i++) s[i] = rnd.nextInt(m.vocab());
            HeapActivations heap = HeapActivations.embed(local, samples);
            for (int parts : new int[]{2, 3}) {
                try (Activations sp = spark.activations(Fixtures.LLAMA, m, parts).open(m, samples)) {
                    Block b = m.blocks.get(0);
                    assertStatsEqual(Activations.collect(local, local.blocks.get(0), heap), sp.stats(m, b));
                }
            }
            // compress block 0 on both sides, advance, compare the inputs of block 1 and its statistics
            try (Activations sp = spark.activations(Fixtures.LLAMA, m, 2).open(m, samples)) {
                new Gptq(4, 128, true, false).compressBlock(new BlockContext(m, m.blocks.get(0), sp, null, new ArrayList<>()));
                new Gptq(4, 128, true, false).compressBlock(new BlockContext(local, local.blocks.get(0), heap, null, new ArrayList<>()));
                for (String n : m.blocks.get(0).linears.keySet())
                    assertArrayEquals(local.blocks.get(0).linear(n).toDense(), m.blocks.get(0).linear(n).toDense(), n);
                sp.advance(m, m.blocks.get(0));
                heap.advance(local, local.blocks.get(0));
                List<float[]> got = new ArrayList<>();
                sp.forEachInput(got::add);
                assertEquals(samples.length, got.size());
                for (int i = 0; i < got.size(); i++) assertArrayEquals(heap.arrays()[i], got.get(i), "sample " + i);
                assertStatsEqual(Activations.collect(local, local.blocks.get(1), heap), sp.stats(m, m.blocks.get(1)));
            }
        }
    }

    static void assertStatsEqual(Map<String, LinearStats> want, Map<String, LinearStats> got) {
        assertEquals(want.keySet(), got.keySet());
        for (String n : want.keySet()) {
            assertEquals(want.get(n).tokens(), got.get(n).tokens(), n);
            assertArrayEquals(want.get(n).hessian.hessian(), got.get(n).hessian.hessian(), n);
            assertArrayEquals(want.get(n).meanAbs(), got.get(n).meanAbs(), n);
        }
    }
}
