package dev.squish.fuzz;

import dev.squish.SquishException;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;

/**
 * Helpers shared by the fuzz targets: a scratch folder per JVM that each input overwrites, and
 * the rule every target enforces (only {@link SquishException} may escape Squish's readers;
 * anything else propagates to Jazzer and is reported as a finding).
 */
final class FuzzFiles {
    private FuzzFiles() {}

    private static Path scratch;

    /** An empty scratch folder (cleared for each input). */
    static synchronized Path freshDir() {
        try {
            if (scratch == null) {
                scratch = Files.createTempDirectory("squish-fuzz");
                Path s = scratch;
                Runtime.getRuntime().addShutdownHook(new Thread(() -> deleteTree(s)));
            }
            try (var st = Files.list(scratch)) {
                for (Path p : st.toList()) deleteTree(p);
            }
            return scratch;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static void write(Path file, byte[] bytes) {
        try {
            Files.write(file, bytes);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A safetensors file: 8-byte little-endian header length, header, data. */
    static byte[] safetensors(long headerLength, byte[] header, byte[] data) {
        ByteBuffer b = ByteBuffer.allocate(8 + header.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(headerLength).put(header).put(data);
        return b.array();
    }

    /** Runs an action on fuzzed input: Squish's typed error is the expected outcome of bad input. */
    static void expectOnlySquishErrors(Runnable action) {
        try {
            action.run();
        } catch (SquishException expected) {
            if (expected.getMessage() == null || expected.getMessage().isBlank())
                throw new AssertionError("SquishException without a message", expected);
        }
    }

    static void deleteTree(Path p) {
        if (!Files.exists(p)) return;
        try (var s = Files.walk(p)) {
            s.sorted(Comparator.reverseOrder()).forEach(f -> { try { Files.deleteIfExists(f); } catch (IOException ignored) { } });
        } catch (IOException ignored) { }
    }
}
