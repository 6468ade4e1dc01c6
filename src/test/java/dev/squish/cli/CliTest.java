package dev.squish.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.squish.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** The command-line contract: outputs, exit codes and one-line errors. */
class CliTest {
    @TempDir Path tmp;

    record Run(int code, String out, String err) {}

    static Run run(String... args) {
        StringWriter o = new StringWriter(), e = new StringWriter();
        int code = Main.run(args, new PrintWriter(o, true), new PrintWriter(e, true));
        return new Run(code, o.toString(), e.toString());
    }

    static void assertInputError(Run r, String mentions) {
        assertEquals(2, r.code(), r.err());
        String[] errorLines = r.err().lines().filter(l -> l.startsWith("error: ")).toArray(String[]::new);
        assertEquals(1, errorLines.length, r.err());
        assertTrue(errorLines[0].contains(mentions), errorLines[0]);
        assertFalse(r.err().contains("\tat "), "no stack trace: " + r.err());
    }

    Path shortText() throws Exception {
        Path p = tmp.resolve("short.txt");
        Files.writeString(p, Files.readString(Fixtures.VALID).substring(0, 6000));
        return p;
    }

    /** Every command answers --help with its usage on stdout and exit 0 (no "missing MODEL_DIR" error). */
    @Test
    void everyCommandHasHelp() {
        for (String c : new String[]{"compress", "eval", "generate", "inspect", "export", "bench", "sweep", "demo", "finetune"}) {
            Run r = run(c, "--help");
            assertEquals(0, r.code(), c + ": " + r.err());
            assertTrue(r.out().contains("Usage:") && r.out().contains(c), c + ": " + r.out());
        }
    }

    @Test
    void evalJson() throws Exception {
        Run r = run("eval", Fixtures.GPT2.toString(), "--data", shortText().toString(), "--seq-len", "64", "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode j = new ObjectMapper().readTree(r.out());
        assertTrue(j.get("perplexity").asDouble() > 1 && j.get("perplexity").asDouble() < 200, r.out());
        assertEquals(j.get("windows").asInt() * 63, j.get("tokens").asInt());
    }

    @Test
    void generateIsDeterministicForASeed() {
        String[] a = {"generate", Fixtures.LLAMA.toString(), "--prompt", "And God said", "--max-tokens", "12", "--temperature", "0.8", "--top-p", "0.9", "--seed", "7"};
        Run r1 = run(a), r2 = run(a);
        assertEquals(0, r1.code(), r1.err());
        assertEquals(r1.out(), r2.out());
        assertTrue(r1.out().startsWith("And God said"));
        Run g = run("generate", Fixtures.LLAMA.toString(), "--prompt", "In the beginning God created", "--max-tokens", "8");
        assertEquals(0, g.code(), g.err());
        assertTrue(g.out().length() > "In the beginning God created".length() + 5, g.out());
    }

    @Test
    void inspectShowsArchitectureAndSparsity() {
        Run r = run("inspect", Fixtures.LLAMA.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("6,819,072"), r.out());
        assertTrue(r.out().contains("model.layers.5.mlp.down_proj"), r.out());
        assertTrue(r.out().contains("F32"), r.out());
    }

    @Test
    void badInputsAreOneLineErrorsWithExitCode2() throws Exception {
        assertInputError(run("eval", tmp.resolve("nope").toString(), "--data", shortText().toString()), "nope");
        assertInputError(run("eval", Fixtures.LLAMA.toString(), "--data", tmp.resolve("missing.txt").toString()), "missing.txt");
        Path empty = Files.createFile(tmp.resolve("empty.txt"));
        assertInputError(run("eval", Fixtures.LLAMA.toString(), "--data", empty.toString()), "empty");
        assertInputError(run("eval", Fixtures.LLAMA.toString(), "--data", shortText().toString(), "--seq-len", "9999"), "--seq-len");
        assertInputError(run("eval", Fixtures.LLAMA.toString()), "--data");
        assertInputError(run("frobnicate"), "frobnicate");
        assertInputError(run("compress", Fixtures.LLAMA.toString(), "-o", tmp.resolve("o").toString(), "--method", "rtn", "--bits", "3"), "--bits");
        assertInputError(run("compress", Fixtures.LLAMA.toString(), "-o", tmp.resolve("o").toString(), "--method", "zip"), "zip");
        assertInputError(run("compress", Fixtures.LLAMA.toString(), "-o", tmp.resolve("o").toString(), "--method", "wanda", "--sparsity", "0.5"), "--calibration");
        assertFalse(Files.exists(tmp.resolve("o")));
    }

    @Test
    void compressWritesALoadableFolderAndRefusesToOverwrite() throws Exception {
        Path out = tmp.resolve("out");
        Run r = run("compress", Fixtures.GPT2.toString(), "-o", out.toString(), "--method", "wanda", "--sparsity", "0.5",
                "--calibration", shortText().toString(), "--samples", "4", "--seq-len", "64", "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode j = new ObjectMapper().readTree(r.out());
        assertEquals(out.toAbsolutePath().normalize().toString(), j.get("output").asText());
        assertEquals(4 * 4, j.get("layers").size());
        for (JsonNode l : j.get("layers")) {
            assertEquals(0.5, l.get("sparsity").asDouble(), 1e-9);
            assertTrue(l.get("relative_error").asDouble() > 0 && l.get("relative_error").asDouble() < 1, l.toString());
        }
        assertTrue(Files.exists(out.resolve("config.json")) && Files.exists(out.resolve("tokenizer.json")));
        Run again = run("compress", Fixtures.GPT2.toString(), "-o", out.toString(), "--method", "magnitude", "--sparsity", "0.5");
        assertInputError(again, "already exists");
        Run forced = run("compress", Fixtures.GPT2.toString(), "-o", out.toString(), "--method", "magnitude", "--sparsity", "0.5", "--force");
        assertEquals(0, forced.code(), forced.err());
        Run ev = run("eval", out.toString(), "--data", shortText().toString(), "--seq-len", "64", "--json");
        assertEquals(0, ev.code(), ev.err());
        try (var s = Files.list(tmp)) {
            assertTrue(s.noneMatch(p -> p.getFileName().toString().contains(".tmp-")), "no temporary folders left");
        }
    }
}
