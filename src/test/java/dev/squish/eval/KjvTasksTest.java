package dev.squish.eval;

import dev.squish.Fixtures;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** The shipped KJV tasks are exactly what {@link KjvTasks} builds from the test split, and large enough. */
class KjvTasksTest {
    @Test
    void shippedTasksAreReproducible() throws Exception {
        List<KjvTasks.Chapter> ch = KjvTasks.chapters(Files.readString(Fixtures.TEST));
        assertEquals(60, ch.size());
        assertEquals("1 Samuel", ch.stream().filter(c -> c.book().endsWith("Samuel")).findFirst().orElseThrow().book());
        assertEquals(Files.readString(Fixtures.ROOT.resolve("tasks/kjv-last-word.jsonl")), KjvTasks.lastWord(ch),
                "fixtures/tasks/kjv-last-word.jsonl differs from a fresh build (rebuild with KjvTasks)");
        assertEquals(Files.readString(Fixtures.ROOT.resolve("tasks/kjv-next-verse.jsonl")), KjvTasks.nextVerse(ch),
                "fixtures/tasks/kjv-next-verse.jsonl differs from a fresh build (rebuild with KjvTasks)");
    }

    @Test
    void shippedTasksAreLargeEnoughForAStderrBelowOnePointFive() {
        for (String name : List.of("kjv-last-word", "kjv-next-verse")) {
            TaskFile t = TaskFile.read(Fixtures.ROOT.resolve("tasks/" + name + ".jsonl"));
            assertEquals(name, t.name());
            int n = t.items().size();
            // The stderr of an accuracy is at most 0.5 / sqrt(n - 1) (at p = 0.5): below 1.5 points from n = 1113.
            assertTrue(0.5 / Math.sqrt(n - 1) < 0.015, name + " has only " + n + " items");
        }
        TaskFile nv = TaskFile.read(Fixtures.ROOT.resolve("tasks/kjv-next-verse.jsonl"));
        assertEquals(TaskFile.Kind.MULTIPLE_CHOICE, nv.kind());
        assertEquals("\n", nv.delimiter());
        int[] golds = new int[4];
        for (var it : nv.items()) {
            assertEquals(4, it.choices().size());
            assertEquals(4, it.choices().stream().distinct().count(), "line " + it.line());
            assertFalse(it.choices().contains(it.contexts().get(0)), "line " + it.line());
            golds[it.gold()]++;
        }
        for (int g : golds) assertTrue(g > nv.items().size() / 5, "gold positions are spread: " + java.util.Arrays.toString(golds));
        assertEquals(TaskFile.Kind.LAST_WORD, TaskFile.read(Fixtures.ROOT.resolve("tasks/kjv-last-word.jsonl")).kind());
    }
}
