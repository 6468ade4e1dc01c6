package dev.squish.cli;

import dev.squish.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** teal, cats and moefy on the command line: bad values give one error line naming the option, exit 2, and no output folder. */
class ActivationSparsityCliTest {
    @TempDir Path tmp;

    private void refused(String mentions, String... methodArgs) {
        Path out = tmp.resolve("out");
        String[] base = {"compress", Fixtures.LLAMA.toString(), "-o", out.toString(), "--calibration", Fixtures.TRAIN.toString(),
                "--samples", "2", "--seq-len", "32"};
        String[] args = new String[base.length + methodArgs.length];
        System.arraycopy(base, 0, args, 0, base.length);
        System.arraycopy(methodArgs, 0, args, base.length, methodArgs.length);
        CliTest.Run r = CliTest.run(args);
        CliTest.assertInputError(r, mentions);
        assertFalse(Files.exists(out), "nothing written: " + out);
    }

    @Test void badValuesAreRefused() {
        refused("--activation-sparsity must be in [0, 1), got 1", "--method", "teal", "--activation-sparsity", "1");
        refused("--activation-sparsity must be in [0, 1), got -0.1", "--method", "cats", "--activation-sparsity", "-0.1");
        refused("missing --activation-sparsity", "--method", "teal");
        refused("--allocation must be uniform or greedy", "--method", "teal", "--activation-sparsity", "0.4", "--allocation", "spectrum");
        refused("--top-k must be in [1, 8]", "--method", "moefy", "--experts", "8", "--top-k", "9");
        refused("--top-k must be in [1, 6]", "--method", "moefy", "--experts", "8", "--top-k", "7", "--shared", "2");
        refused("--experts 1000 is more than the 768 MLP channels", "--method", "moefy", "--experts", "1000", "--top-k", "2");
        refused("--experts must be at least 1", "--method", "moefy", "--experts", "0", "--top-k", "1");
    }

    @Test void tealFolderRunsInEvalAndGenerate() throws Exception {
        Path out = tmp.resolve("teal");
        CliTest.Run c = CliTest.run("compress", Fixtures.LLAMA.toString(), "-o", out.toString(), "--method", "teal", "--activation-sparsity", "0.4",
                "--calibration", Fixtures.TRAIN.toString(), "--samples", "4", "--seq-len", "64");
        assertEquals(0, c.code(), c.err());
        assertTrue(Files.exists(out.resolve("squish.safetensors")));
        Path text = tmp.resolve("t.txt");
        Files.writeString(text, Files.readString(Fixtures.TEST).substring(0, 4000));
        CliTest.Run e = CliTest.run("eval", out.toString(), "--data", text.toString(), "--seq-len", "64", "--json");
        assertEquals(0, e.code(), e.err());
        CliTest.Run g = CliTest.run("generate", out.toString(), "--prompt", "In the beginning", "--max-tokens", "6");
        assertEquals(0, g.code(), g.err());
        assertTrue(g.out().startsWith("In the beginning"), g.out());
        CliTest.Run b = CliTest.run("bench", out.toString(), "--formats", "stored", "--quick", "--no-peer", "--json");
        assertEquals(0, b.code(), b.err());
        var rows = new com.fasterxml.jackson.databind.ObjectMapper().readTree(b.out()).get("rows");
        assertEquals("dense-f32", rows.get(0).get("format").asText());
        assertEquals("stored", rows.get(1).get("format").asText());
        assertTrue(rows.get(1).get("decode_tokens_per_s").asDouble() > 0);
    }

    @Test void storedFormatsNeedAFolder() {
        CliTest.assertInputError(CliTest.run("bench", "--synthetic", "tiny", "--formats", "stored", "--quick", "--no-peer"), "--formats stored");
    }
}
