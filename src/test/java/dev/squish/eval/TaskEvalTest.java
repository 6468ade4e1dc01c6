package dev.squish.eval;

import dev.squish.Fixtures;
import dev.squish.formats.Tokenizer;
import dev.squish.model.Model;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Scoring rules of the three task kinds on hand-built items, against direct computations. */
class TaskEvalTest {
    static Model model;
    static Tokenizer tok;
    @TempDir Path tmp;

    @BeforeAll static void load() { model = Model.load(Fixtures.LLAMA); tok = Tokenizer.load(Fixtures.LLAMA); }
    @AfterAll static void close() { model.close(); }

    TaskFile write(String name, String... lines) throws Exception {
        Path p = tmp.resolve(name);
        Files.writeString(p, String.join("\n", lines) + "\n");
        return TaskFile.read(p);
    }

    static double direct(String ctx, String cont) {
        var r = Loglikelihood.encode(tok, ctx, cont);
        return LoglikelihoodTest.direct(model, r.context(), r.continuation()).logprob();
    }

    @Test
    void stderrIsTheHarnessSampleStddevOverRootN() {
        // [1, 0, 0, 1]: mean 0.5, sample variance 1/3, stderr sqrt(1/3) / 2.
        assertEquals(Math.sqrt(1.0 / 3) / 2, TaskEval.meanStderr(new double[]{1, 0, 0, 1}), 1e-15);
        // Not the population formula sqrt(p(1-p)/n) = 0.25.
        assertNotEquals(0.25, TaskEval.meanStderr(new double[]{1, 0, 0, 1}), 1e-3);
        assertTrue(Double.isNaN(TaskEval.meanStderr(new double[]{1})));
        assertEquals(0.0, TaskEval.meanStderr(new double[]{1, 1, 1}));
    }

    @Test
    void argmaxTakesTheFirstOfTiesAndNormalizesByLength() {
        assertEquals(1, TaskEval.argmax(new double[]{-3, -1, -1}, null));
        // acc picks choice 0 (-10 > -12); per character it is -5 vs -1.2, so acc_norm picks choice 1.
        assertEquals(0, TaskEval.argmax(new double[]{-10, -12}, null));
        assertEquals(1, TaskEval.argmax(new double[]{-10, -12}, new double[]{2, 10}));
        // Lengths are Python's len: code points, so a character outside the BMP counts once.
        assertArrayEquals(new double[]{1, 3}, TaskEval.lengths(List.of("\uD835\uDD0A", "abc")));
    }

    @Test
    void multipleChoiceScoresDelimiterPlusChoiceAfterTheContext() throws Exception {
        TaskFile t = write("mc.jsonl",
                "{\"context\": \"In the beginning God created the heaven and the\", \"choices\": [\"earth.\", \"sea of glass, like unto crystal.\", \"king\"], \"gold\": 0}",
                "{\"context\": \"And God said, Let there be \", \"choices\": [\"darkness\", \"light\"], \"gold\": 1}");
        assertEquals(TaskFile.Kind.MULTIPLE_CHOICE, t.kind());
        var s = TaskEval.scoreItems(model, tok, t, 0);
        String[][] ch = {{"earth.", "sea of glass, like unto crystal.", "king"}, {"darkness", "light"}};
        String[] ctx = {"In the beginning God created the heaven and the", "And God said, Let there be "};
        for (int i = 0; i < 2; i++)
            for (int c = 0; c < ch[i].length; c++) {
                double want = direct(ctx[i], " " + ch[i][c]);
                assertEquals(want, s.get(i).logprobs()[c], 1e-3 * Math.abs(want), "item " + i + " choice " + c);
            }
        // acc and acc_norm follow from the log-likelihoods by the harness's rules.
        for (var it : s) {
            double[] lp = it.logprobs();
            assertEquals(TaskEval.argmax(lp, null) == it.item().gold(), it.correct());
            assertEquals(TaskEval.argmax(lp, TaskEval.lengths(it.item().choices())) == it.item().gold(), it.correctNorm());
        }
        assertTrue(s.get(0).correct() && s.get(1).correct(), "the tiny model knows Genesis 1");
        var r = TaskEval.aggregate(t, s, 0);
        assertEquals(2, r.n());
        assertEquals(1.0, r.acc());
        assertEquals(0.0, r.accStderr());
    }

    @Test
    void headerDelimiterIsUsed() throws Exception {
        TaskFile t = write("nl.jsonl", "{\"task\": \"verses\", \"kind\": \"multiple_choice\", \"target_delimiter\": \"\\n\"}",
                "{\"context\": \"And God said, Let there be light: and there was light.\", \"choices\": [\"And God saw the light, that it was good.\", \"Amen.\"], \"gold\": 0}");
        assertEquals("verses", t.name());
        assertEquals("\n", t.delimiter());
        var s = TaskEval.scoreItems(model, tok, t, 0);
        String ctx = "And God said, Let there be light: and there was light.";
        assertEquals(direct(ctx, "\nAnd God saw the light, that it was good."), s.get(0).logprobs()[0], 1e-3 * Math.abs(s.get(0).logprobs()[0]));
        assertEquals(direct(ctx, "\nAmen."), s.get(0).logprobs()[1], 1e-3 * Math.abs(s.get(0).logprobs()[1]));
    }

    @Test
    void partialScoresTheSharedContinuationAfterEachContext() throws Exception {
        TaskFile t = write("wino.jsonl",
                "{\"contexts\": [\"And God called the light Day, and the darkness he called\", \"And God called the light Day, and the earth he called\"], \"continuation\": \"Night.\", \"gold\": 0}");
        assertEquals(TaskFile.Kind.PARTIAL, t.kind());
        var s = TaskEval.scoreItems(model, tok, t, 0).get(0);
        double a = direct("And God called the light Day, and the darkness he called", " Night.");
        double b = direct("And God called the light Day, and the earth he called", " Night.");
        assertEquals(a, s.logprobs()[0], 1e-3 * Math.abs(a));
        assertEquals(b, s.logprobs()[1], 1e-3 * Math.abs(b));
        assertEquals(a > b, s.correct());
        // acc_norm divides by the contexts' lengths (the harness's choices for multiple inputs).
        assertEquals(a / 56 > b / 53, s.correctNorm());
    }

    @Test
    void lastWordIsCorrectExactlyWhenGreedyAndReportsPerplexity() throws Exception {
        String ctx = "In the beginning God created the heaven and the";
        int[] c = tok.encode(ctx);
        int next = Generator.argmax(model.forwardLast(c, 0, model.newCache(c.length)));
        String greedyWord = tok.decode(new int[]{next});
        assertTrue(greedyWord.startsWith(" "), greedyWord);
        String other = greedyWord.equals(" waters") ? " earth" : " waters";
        TaskFile t = write("lw.jsonl", "{\"context\": \"" + ctx + "\", \"continuation\": \"" + greedyWord + "\"}",
                "{\"context\": \"" + ctx + " \", \"continuation\": \"" + other.substring(1) + "\"}");
        assertEquals(TaskFile.Kind.LAST_WORD, t.kind());
        var s = TaskEval.scoreItems(model, tok, t, 0);
        assertTrue(s.get(0).correct(), "the greedy token is the continuation");
        assertFalse(s.get(1).correct());
        // The second item's trailing space moved to the continuation: the same request as " waters"/" earth".
        assertEquals(direct(ctx, other), s.get(1).logprobs()[0], 1e-3 * Math.abs(s.get(1).logprobs()[0]));
        var r = TaskEval.aggregate(t, s, 0);
        assertEquals(0.5, r.acc());
        assertEquals(Math.exp(-(s.get(0).logprobs()[0] + s.get(1).logprobs()[0]) / 2), r.perplexity(), 1e-9);
        assertTrue(Double.isNaN(r.accNorm()));
        // --limit keeps the first items.
        var one = TaskEval.evaluate(model, tok, t, 1);
        assertEquals(1, one.n());
        assertEquals(1.0, one.acc());
        assertTrue(Double.isNaN(one.accStderr()));
    }
}
