package dev.squish.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.squish.Fixtures;
import dev.squish.model.Model;
import dev.squish.weights.NMSparseLinear;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static dev.squish.cli.CliTest.assertInputError;
import static dev.squish.cli.CliTest.run;
import static org.junit.jupiter.api.Assertions.*;

/** finetune on the command line: a short run writes a loadable model with its 2:4 pattern; bad input is one error line. */
class FinetuneCliTest {
    @TempDir Path tmp;

    @Test void shortRunKeepsTwoFourAndWritesAModel() throws Exception {
        Path sparse = tmp.resolve("m24");
        var c = run("compress", Fixtures.LLAMA.toString(), "-o", sparse.toString(), "--method", "magnitude", "--pattern", "2:4");
        assertEquals(0, c.code(), c.err());
        Path text = tmp.resolve("t.txt");
        Files.writeString(text, Files.readString(Fixtures.VALID).substring(0, 20000));
        Path out = tmp.resolve("ft");
        var r = run("finetune", sparse.toString(), "-o", out.toString(), "--data", text.toString(), "--steps", "3", "--batch", "2",
                "--seq-len", "16", "--lr", "1e-4", "--save-every", "1", "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode j = new ObjectMapper().readTree(r.out());
        assertEquals(3, j.get("steps").asInt());
        assertEquals("steps", j.get("stopped_by").asText());
        assertTrue(j.get("tokens_per_second").asDouble() > 0);
        assertFalse(Files.exists(tmp.resolve("ft.checkpoint")), "a finished run removes its checkpoint");
        assertTrue(r.err().contains("step 3/3"), r.err());
        try (Model before = Model.load(sparse); Model after = Model.load(out)) {
            var b = before.blocks.get(2).linear("mlp.up_proj");
            var a = after.blocks.get(2).linear("mlp.up_proj");
            assertInstanceOf(NMSparseLinear.class, a);
            float[] wb = b.toDense(), wa = a.toDense();
            int moved = 0;
            for (int i = 0; i < wb.length; i++) {
                assertEquals(wb[i] == 0, wa[i] == 0, "pattern at " + i);
                if (wa[i] != wb[i]) moved++;
            }
            assertTrue(moved > wb.length / 4, moved + " weights moved");
        }
    }

    @Test void badInputIsOneErrorLine() throws Exception {
        Path text = tmp.resolve("short.txt");
        Files.writeString(text, "In the beginning God created the heaven and the earth.");
        String m = Fixtures.LLAMA.toString(), o = tmp.resolve("o").toString();
        assertInputError(run("finetune", m, "-o", o, "--data", text.toString()), "fewer than one batch");
        assertInputError(run("finetune", m, "-o", o, "--data", Fixtures.VALID.toString(), "--lr", "-1"), "--lr must be");
        assertInputError(run("finetune", m, "-o", o, "--data", Fixtures.VALID.toString(), "--lora-rank", "300"), "above the rank");
        assertInputError(run("finetune", m, "-o", o, "--data", tmp.resolve("none.txt").toString()), "no such file");
        assertInputError(run("finetune", m, "-o", o, "--data", Fixtures.VALID.toString(), "--seq-len", "4096"), "--seq-len 4096");
        assertInputError(run("finetune", m, "-o", o, "--data", Fixtures.VALID.toString(), "--teacher", Fixtures.GPT2.toString()), "--teacher");
        assertInputError(run("finetune", m, "-o", o, "--data", Fixtures.VALID.toString(), "--teacher", tmp.resolve("nope").toString()), "--teacher");
        assertInputError(run("finetune", m, "-o", o, "--data", Fixtures.VALID.toString(), "--teacher", m, "--kd-weight", "2"), "--kd-weight");
        assertFalse(Files.exists(tmp.resolve("o")));
    }

    /** Distilling from the uncompressed model, with the loss curve in the HTML report. */
    @Test void distilledRunWritesALossCurveReport() throws Exception {
        Path sparse = tmp.resolve("m50");
        assertEquals(0, run("compress", Fixtures.LLAMA.toString(), "-o", sparse.toString(), "--method", "magnitude", "--sparsity", "0.5").code());
        Path text = tmp.resolve("t.txt");
        Files.writeString(text, Files.readString(Fixtures.VALID).substring(0, 20000));
        Path html = tmp.resolve("ft.html");
        var r = run("finetune", sparse.toString(), "-o", tmp.resolve("ft").toString(), "--data", text.toString(), "--steps", "2", "--batch", "1",
                "--seq-len", "16", "--teacher", Fixtures.LLAMA.toString(), "--kd-weight", "0.7", "--report", html.toString());
        assertEquals(0, r.code(), r.err());
        String h = Files.readString(html);
        assertTrue(h.contains("Loss per step") && h.contains("<svg") && h.contains("validation loss"), "report with the loss curve");
        assertTrue(h.contains("kd_weight=0.7"), "the report names the distillation");
    }

    @Test void divergingRunStopsWithAnErrorLine() throws Exception {
        Path text = tmp.resolve("t.txt");
        Files.writeString(text, Files.readString(Fixtures.VALID).substring(0, 20000));
        Path out = tmp.resolve("d");
        var r = run("finetune", Fixtures.LLAMA.toString(), "-o", out.toString(), "--data", text.toString(), "--steps", "20", "--batch", "1",
                "--seq-len", "8", "--lr", "1e150", "--warmup", "0", "--save-every", "1");
        assertInputError(r, "non-finite");
        assertFalse(Files.exists(out));
        assertTrue(Files.exists(tmp.resolve("d.checkpoint")), "the last good checkpoint stays");
    }
}
