package dev.squish.robust;

import dev.squish.Fixtures;
import dev.squish.formats.SafeTensors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

import static dev.squish.robust.ModelFiles.cli;
import static org.junit.jupiter.api.Assertions.*;

/**
 * Crash safety of {@code compress}: a run killed with SIGKILL part-way leaves no output and an
 * intact input, and the next run cleans up after it; existing outputs need {@code --force}; the
 * input folder is never a target.
 */
class CrashSafetyTest {
    @TempDir static Path tmp;
    static Path input;
    static Map<String, String> inputHashes;

    @BeforeAll static void copyInput() throws Exception {
        input = ModelFiles.copy(Fixtures.LLAMA, tmp.resolve("input"));
        inputHashes = ModelFiles.hashes(input);
    }

    static List<Path> leftovers(Path out) throws Exception {
        try (var s = Files.list(out.getParent())) {
            return s.filter(p -> p.getFileName().toString().startsWith("." + out.getFileName() + ".")).toList();
        }
    }

    /** {@code bin/squish}'s JVM, started directly: this JVM's java and class path. */
    static Process startCli(String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"),
                "--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-cp", System.getProperty("java.class.path"), "dev.squish.cli.Main"));
        cmd.addAll(List.of(args));
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(tmp.resolve("killed.log").toFile()).start();
    }

    @Test void killedRunLeavesNoOutputAndIntactInput() throws Exception {
        Path out = tmp.resolve("killed");
        Process p = startCli("compress", input.toString(), "-o", out.toString(), "--method", "sparsegpt", "--sparsity", "0.5",
                "--calibration", Fixtures.VALID.toString(), "--samples", "8", "--seq-len", "64");
        // Part-way: the temporary output exists and at least one compressed block has been written to it.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        Optional<Path> part = Optional.empty();
        while (part.isEmpty() && p.isAlive() && System.nanoTime() < deadline) {
            Thread.sleep(5);
            for (Path l : leftovers(out)) {
                Path data = l.resolve(SafeTensors.SQUISH_FILE + ".data-part");
                if (Files.exists(data) && Files.size(data) > 0) part = Optional.of(l);
            }
        }
        assertTrue(part.isPresent() && p.isAlive(), () -> "the run should be caught part-way: " + read(tmp.resolve("killed.log")));
        p.destroyForcibly(); // SIGKILL on Linux: no shutdown hooks, no finally blocks
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        assertNotEquals(0, p.exitValue());

        assertFalse(Files.exists(out), "no partial output under the target name");
        assertEquals(List.of(part.get()), leftovers(out), "only the dead run's temporary folder is left");
        assertEquals(inputHashes, ModelFiles.hashes(input), "input byte-for-byte intact");

        // The next run clears the dead run's temporary folder and succeeds.
        var r = cli("compress", input.toString(), "-o", out.toString(), "--method", "magnitude", "--sparsity", "0.5");
        assertEquals(0, r.rc(), r.err());
        assertTrue(Files.isRegularFile(out.resolve(SafeTensors.SQUISH_FILE)));
        assertEquals(List.of(), leftovers(out));
        assertEquals(inputHashes, ModelFiles.hashes(input));
    }

    @Test void existingOutputNeedsForceAndIsReplacedWhole() throws Exception {
        Path out = tmp.resolve("existing");
        assertEquals(0, cli("compress", input.toString(), "-o", out.toString(), "--method", "magnitude", "--sparsity", "0.5").rc());
        Files.writeString(out.resolve("extra.txt"), "from an older run");
        Map<String, String> before = ModelFiles.hashes(out);

        var r = cli("compress", input.toString(), "-o", out.toString(), "--method", "magnitude", "--sparsity", "0.25");
        assertEquals(2, r.rc());
        assertTrue(r.err().contains("already exists (use --force"), r.err());
        assertEquals(before, ModelFiles.hashes(out), "refused output untouched");

        r = cli("compress", input.toString(), "-o", out.toString(), "--method", "magnitude", "--sparsity", "0.25", "--force");
        assertEquals(0, r.rc(), r.err());
        assertFalse(Files.exists(out.resolve("extra.txt")), "replaced as a whole folder");
        try (SafeTensors st = SafeTensors.open(out)) {
            assertEquals("magnitude 25% unstructured", st.metadata().get("squish.recipe"));
        }
        assertEquals(List.of(), leftovers(out));
        assertEquals(inputHashes, ModelFiles.hashes(input));
    }

    @Test void outputMayNotOverlapTheInput() throws Exception {
        for (Path out : new Path[]{input, input.resolve("sub"), input.getParent()}) {
            var r = cli("compress", input.toString(), "-o", out.toString(), "--method", "magnitude", "--sparsity", "0.5", "--force");
            assertEquals(2, r.rc(), out.toString());
            assertTrue(r.err().contains("must not be, contain or lie inside the input folder"), r.err());
        }
        assertEquals(inputHashes, ModelFiles.hashes(input));
    }

    @Test void outputLeftMidReplaceByACrashIsRestored() throws Exception {
        // A crash between moving the old output aside and moving the new one in leaves .NAME.old-PID-*.
        Process dead = new ProcessBuilder(ProcessHandle.current().info().command().orElse("java"), "-version")
                .redirectErrorStream(true).redirectOutput(new File("/dev/null")).start();
        dead.waitFor();
        Path out = tmp.resolve("restored");
        Path old = tmp.resolve(".restored.old-" + dead.pid() + "-1");
        Files.createDirectories(old);
        Files.writeString(old.resolve("marker"), "previous output");
        var r = cli("compress", input.toString(), "-o", out.toString(), "--method", "magnitude", "--sparsity", "0.5");
        assertEquals(2, r.rc(), "the restored output exists, so --force is needed");
        assertEquals("previous output", Files.readString(out.resolve("marker")));
        assertEquals(List.of(), leftovers(out));
    }

    static String read(Path p) {
        try { return Files.readString(p); } catch (Exception e) { return "(no log)"; }
    }
}
