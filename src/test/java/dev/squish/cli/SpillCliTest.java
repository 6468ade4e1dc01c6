package dev.squish.cli;

import dev.squish.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** {@code compress --activations disk}: activations in a mapped temporary file give the heap path's weights bit for bit. */
class SpillCliTest {
    @TempDir Path tmp;

    private static String[] args(Path out, String... extra) {
        List<String> a = new ArrayList<>(List.of("compress", Fixtures.LLAMA.toString(), "-o", out.toString(), "--method", "wanda", "--sparsity", "0.5",
                "--calibration", Fixtures.TRAIN.toString(), "--samples", "5", "--seq-len", "32", "--sampling", "sequential", "--json"));
        a.addAll(List.of(extra));
        return a.toArray(String[]::new);
    }

    @Test
    void spilledActivationsGiveTheHeapWeights() throws Exception {
        Path heap = tmp.resolve("heap"), disk = tmp.resolve("disk");
        CliTest.Run a = CliTest.run(args(heap, "--activations", "heap"));
        assertEquals(0, a.code(), a.err());
        String before = System.getProperty("java.io.tmpdir");
        Path spillDir = Files.createDirectory(tmp.resolve("spill"));
        System.setProperty("java.io.tmpdir", spillDir.toString());
        CliTest.Run b;
        try {
            b = CliTest.run(args(disk, "--activations", "disk"));
        } finally {
            System.setProperty("java.io.tmpdir", before);
        }
        assertEquals(0, b.code(), b.err());
        assertEquals(0.0, SparkCliTest.maxDifference(heap, disk));
        assertArrayEquals(Files.readAllBytes(heap.resolve("squish.safetensors")), Files.readAllBytes(disk.resolve("squish.safetensors")));
        try (var s = Files.list(spillDir)) { assertEquals(0, s.count(), "the activations file is deleted"); }
        assertTrue(SparkCliTest.maxDifference(Fixtures.LLAMA, heap, false) > 1e-3);
    }

    @Test
    void badActivationsValueIsAnInputError() {
        Path out = tmp.resolve("bad");
        CliTest.Run r = CliTest.run(args(out, "--activations", "ram"));
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().startsWith("error: --activations must be auto, heap or disk"), r.err());
        assertFalse(Files.exists(out));
    }
}
