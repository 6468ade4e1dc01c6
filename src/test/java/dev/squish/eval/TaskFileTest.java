package dev.squish.eval;

import dev.squish.SquishException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Task files: header, kind inference, and one error naming the file and line for each kind of bad input. */
class TaskFileTest {
    @TempDir Path tmp;

    Path file(String... lines) throws Exception {
        Path p = tmp.resolve("t.jsonl");
        Files.writeString(p, String.join("\n", lines));
        return p;
    }

    void bad(String mentions, String... lines) throws Exception {
        Path p = file(lines);
        var e = assertThrows(SquishException.class, () -> TaskFile.read(p));
        assertTrue(e.getMessage().startsWith(p + ":"), e.getMessage());
        assertTrue(e.getMessage().contains(mentions), e.getMessage());
    }

    static final String MC = "{\"context\": \"a\", \"choices\": [\"b\", \"c\"], \"gold\": 1}";

    @Test
    void kindIsReadFromTheFieldsOrTheHeader() throws Exception {
        var t = TaskFile.read(file(MC, "", MC, ""));
        assertEquals(TaskFile.Kind.MULTIPLE_CHOICE, t.kind());
        assertEquals("t", t.name());
        assertEquals(" ", t.delimiter());
        assertEquals(2, t.items().size());
        assertEquals(3, t.items().get(1).line());
        assertEquals(TaskFile.Kind.PARTIAL, TaskFile.read(file("{\"contexts\": [\"a\", \"b\"], \"continuation\": \"c\", \"gold\": 0}")).kind());
        assertEquals(TaskFile.Kind.LAST_WORD, TaskFile.read(file("{\"context\": \"a\", \"continuation\": \" b\"}")).kind());
        var h = TaskFile.read(file("{\"task\": \"mine\", \"kind\": \"last_word\"}", "{\"context\": \"a\", \"continuation\": \" b\"}"));
        assertEquals("mine", h.name());
        assertEquals(TaskFile.Kind.LAST_WORD, h.kind());
    }

    @Test
    void harnessDocumentsAreReadAsTheHarnessTurnsThemIntoRequests() throws Exception {
        // MultipleChoiceTask: {"query", "choices", "gold"}.
        var mc = TaskFile.read(file("{\"query\": \"Question: a\", \"choices\": [\"b\", \"c\"], \"gold\": 1}"));
        assertEquals(TaskFile.Kind.MULTIPLE_CHOICE, mc.kind());
        assertEquals("Question: a", mc.items().get(0).contexts().get(0));
        // LAMBADA: context text.split(' ')[:-1] joined by ' ', continuation ' ' + text.split(' ')[-1].
        var lw = TaskFile.read(file("{\"text\": \"he said  to  her\"}", "{\"text\": \"alone\"}"));
        assertEquals(TaskFile.Kind.LAST_WORD, lw.kind());
        assertEquals("he said  to ", lw.items().get(0).contexts().get(0));
        assertEquals(" her", lw.items().get(0).choices().get(0));
        assertEquals("", lw.items().get(1).contexts().get(0));
        assertEquals(" alone", lw.items().get(1).choices().get(0));
        // WinoGrande: contexts sentence[:i] + option, continuation sentence[i+1:].strip(), gold answer - 1.
        var wg = TaskFile.read(file("{\"sentence\": \"The cup fell off the shelf because _ was wobbly. \", \"option1\": \"the cup\", "
                + "\"option2\": \"the shelf\", \"answer\": \"2\"}"));
        assertEquals(TaskFile.Kind.PARTIAL, wg.kind());
        var it = wg.items().get(0);
        assertEquals(List.of("The cup fell off the shelf because the cup", "The cup fell off the shelf because the shelf"), it.contexts());
        assertEquals(List.of("was wobbly."), it.choices());
        assertEquals(1, it.gold());
        bad(":1: \"answer\" must be \"1\" or \"2\"", "{\"sentence\": \"a _ b\", \"option1\": \"x\", \"option2\": \"y\", \"answer\": \"0\"}");
        bad(":1: \"sentence\" has no \"_\"", "{\"sentence\": \"a b\", \"option1\": \"x\", \"option2\": \"y\", \"answer\": \"1\"}");
    }

    @Test
    void badInputNamesFileAndLine() throws Exception {
        bad(":2: malformed JSON", MC, "{\"context\": \"a\", \"choices\": [\"b\", \"c\"], \"gold\": 1");
        bad(":1: \"gold\" 2 is out of range (0..1)", "{\"context\": \"a\", \"choices\": [\"b\", \"c\"], \"gold\": 2}");
        bad(":1: \"gold\" -1 is out of range", "{\"context\": \"a\", \"choices\": [\"b\", \"c\"], \"gold\": -1}");
        bad(":1: \"gold\" must be an integer", "{\"context\": \"a\", \"choices\": [\"b\", \"c\"], \"gold\": \"1\"}");
        bad(":3: \"choices\"[1] is empty", MC, MC, "{\"context\": \"a\", \"choices\": [\"b\", \"\"], \"gold\": 0}");
        bad(":1: \"choices\" needs at least two", "{\"context\": \"a\", \"choices\": [\"b\"], \"gold\": 0}");
        bad(":2: missing field \"choices\"", "{\"kind\": \"multiple_choice\"}", "{\"context\": \"a\", \"continuation\": \"b\"}");
        bad(":1: unknown kind 'cloze'", "{\"kind\": \"cloze\"}", MC);
        bad(":1: cannot tell the task kind", "{\"question\": \"a\"}");
        bad(":2: \"continuation\" is empty", "{\"kind\": \"last_word\"}", "{\"context\": \"a\", \"continuation\": \"\"}");
        bad(":1: expected a JSON object", "[1, 2]");
        bad(": no task items", "{\"task\": \"x\", \"kind\": \"last_word\"}", "");
        bad(":2: \"context\" must be a string", MC, "{\"context\": 3, \"choices\": [\"b\", \"c\"], \"gold\": 1}");
    }

    @Test
    void missingAndNonUtf8FilesAreInputErrors() throws Exception {
        assertThrows(SquishException.class, () -> TaskFile.read(tmp.resolve("none.jsonl")));
        Path p = tmp.resolve("latin1.jsonl");
        Files.write(p, new byte[]{'{', '"', (byte) 0xe9, '"', '}'});
        var e = assertThrows(SquishException.class, () -> TaskFile.read(p));
        assertTrue(e.getMessage().contains("UTF-8"));
    }
}
