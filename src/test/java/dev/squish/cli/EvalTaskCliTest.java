package dev.squish.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.squish.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static dev.squish.cli.CliTest.assertInputError;
import static dev.squish.cli.CliTest.run;
import static org.junit.jupiter.api.Assertions.*;

/** {@code eval --task}: output shapes, --limit, and one-line errors for bad task files. */
class EvalTaskCliTest {
    @TempDir Path tmp;

    static final String LW = Fixtures.ROOT.resolve("tasks/kjv-last-word.jsonl").toString();
    static final String NV = Fixtures.ROOT.resolve("tasks/kjv-next-verse.jsonl").toString();

    @Test
    void jsonHasEachTasksMetrics() throws Exception {
        Path text = tmp.resolve("short.txt");
        Files.writeString(text, Files.readString(Fixtures.VALID).substring(0, 4000));
        CliTest.Run r = run("eval", Fixtures.LLAMA.toString(), "--task", LW, "--task", NV, "--limit", "6", "--data", text.toString(),
                "--seq-len", "64", "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode j = new ObjectMapper().readTree(r.out());
        assertTrue(j.get("perplexity").asDouble() > 1, r.out());
        JsonNode lw = j.get("tasks").get("kjv-last-word"), nv = j.get("tasks").get("kjv-next-verse");
        assertEquals(6, lw.get("n").asInt());
        assertEquals(6, nv.get("n").asInt());
        assertEquals("last_word", lw.get("kind").asText());
        assertTrue(lw.get("acc_norm").isNull());
        assertTrue(lw.get("perplexity").asDouble() > 1);
        for (String f : new String[]{"acc", "acc_stderr"}) assertTrue(lw.get(f).isNumber(), f);
        for (String f : new String[]{"acc", "acc_stderr", "acc_norm", "acc_norm_stderr"}) {
            double v = nv.get(f).asDouble();
            assertTrue(nv.get(f).isNumber() && v >= 0 && v <= 1, f + " " + v);
        }
        // acc over 6 items is a multiple of 1/6, and its stderr the sample formula.
        double acc = nv.get("acc").asDouble();
        assertEquals(Math.round(acc * 6) / 6.0, acc, 1e-12);
        assertEquals(Math.sqrt(acc * (1 - acc) * 6 / 5) / Math.sqrt(6), nv.get("acc_stderr").asDouble(), 1e-12);
    }

    @Test
    void textOutputIsATable() {
        CliTest.Run r = run("eval", Fixtures.GPT2.toString(), "--task", NV, "--limit", "3");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("kjv-next-verse") && r.out().contains("multiple_choice") && r.out().contains("--limit"), r.out());
    }

    @Test
    void badTaskFilesAreOneLineErrors() throws Exception {
        Path bad = tmp.resolve("bad.jsonl");
        Files.writeString(bad, "{\"context\": \"a\", \"choices\": [\"b\", \"c\"], \"gold\": 0}\n{\"context\": \"a\", \"choices\": [\"b\", \"c\"], \"gold\": 5}\n");
        assertInputError(run("eval", Fixtures.LLAMA.toString(), "--task", bad.toString()), bad + ":2:");
        Files.writeString(bad, "{\"context\": \"a\", \"choices\": [\"b\", \"c\"], \"gold\": 0}\n{not json\n");
        assertInputError(run("eval", Fixtures.LLAMA.toString(), "--task", bad.toString()), bad + ":2: malformed JSON");
        // A context longer than the model's window of 512 positions.
        Path longCtx = tmp.resolve("long.jsonl");
        Files.writeString(longCtx, "{\"context\": \"a\", \"continuation\": \" b\"}\n{\"context\": \"" + "And God said. ".repeat(200) + "\", \"continuation\": \" light\"}\n");
        assertInputError(run("eval", Fixtures.LLAMA.toString(), "--task", longCtx.toString()), longCtx + ":2: context and continuation take");
        assertInputError(run("eval", Fixtures.LLAMA.toString()), "--task");
        assertInputError(run("eval", Fixtures.LLAMA.toString(), "--task", NV, "--limit", "0"), "--limit");
        assertInputError(run("eval", Fixtures.LLAMA.toString(), "--task", NV, "--task", NV), "kjv-next-verse");
    }
}
