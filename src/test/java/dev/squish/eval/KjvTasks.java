package dev.squish.eval;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.regex.Pattern;

/**
 * Builds the shipped tasks in {@code fixtures/tasks/} from the KJV test split (chapters the fixture
 * models never saw in training). Deterministic: the same split gives byte-identical files
 * ({@link KjvTasksTest} checks the shipped files against a fresh build). To rebuild them:
 * <pre>
 *   mvn -q -DskipTests package &amp;&amp; mvn -q test-compile
 *   java -cp "target/test-classes:target/classes:target/lib/*" dev.squish.eval.KjvTasks fixtures
 * </pre>
 * <ul>
 *   <li>{@code kjv-last-word.jsonl} (last_word, LAMBADA style): for each verse, the context is the
 *       previous verse of its chapter (if any) and a newline, then the verse without its last word;
 *       the continuation is a space and the last word with its trailing punctuation removed, the form
 *       of LAMBADA's target ({@code ' ' + text.split(' ')[-1]}).</li>
 *   <li>{@code kjv-next-verse.jsonl} (multiple_choice, 4 choices): the context is a verse, the gold
 *       choice the verse that follows it in its chapter, the three distractors verses drawn from the
 *       same book's test chapters (not the context, not the answer, no repeats) with
 *       {@code java.util.Random(SEED)}, whose sequence the JDK specifies; the gold's position is
 *       drawn from the same generator. The delimiter is a newline, as the verses are lines of the
 *       training text.</li>
 * </ul>
 */
public final class KjvTasks {
    private KjvTasks() {}

    static final long SEED = 18;
    static final Pattern HEADER = Pattern.compile("(?:[1-3] )?[A-Z][A-Za-z ]* [0-9]+");

    record Chapter(String book, List<String> verses) {}

    /** Chapters of a KJV split file: a heading line ("1 Kings 3") followed by a blank line, then verses. */
    static List<Chapter> chapters(String text) {
        String[] lines = text.split("\n", -1);
        List<Chapter> out = new ArrayList<>();
        Chapter cur = null;
        for (int i = 0; i < lines.length; i++) {
            String l = lines[i].strip();
            if (l.isEmpty()) continue;
            if (HEADER.matcher(l).matches() && i + 1 < lines.length && lines[i + 1].isBlank()) {
                cur = new Chapter(l.substring(0, l.lastIndexOf(' ')), new ArrayList<>());
                out.add(cur);
            } else if (cur != null) {
                cur.verses().add(l);
            }
        }
        return out;
    }

    static String lastWord(List<Chapter> chapters) {
        StringBuilder sb = new StringBuilder(line(map("task", "kjv-last-word", "kind", "last_word")));
        for (Chapter c : chapters) {
            for (int v = 0; v < c.verses().size(); v++) {
                String verse = c.verses().get(v);
                int cut = verse.lastIndexOf(' ');
                if (cut <= 0) continue;   // a one-word verse has no context to predict from
                String word = verse.substring(cut + 1).replaceAll("[^A-Za-z]+$", "");
                if (word.isEmpty() || !word.chars().allMatch(Character::isLetter)) continue;
                String ctx = (v > 0 ? c.verses().get(v - 1) + "\n" : "") + verse.substring(0, cut);
                sb.append(line(map("context", ctx, "continuation", " " + word)));
            }
        }
        return sb.toString();
    }

    static String nextVerse(List<Chapter> chapters) {
        Map<String, List<String>> byBook = new LinkedHashMap<>();
        for (Chapter c : chapters) byBook.computeIfAbsent(c.book(), k -> new ArrayList<>()).addAll(c.verses());
        Random rnd = new Random(SEED);
        StringBuilder sb = new StringBuilder(line(map("task", "kjv-next-verse", "kind", "multiple_choice", "target_delimiter", "\n")));
        for (Chapter c : chapters) {
            List<String> pool = byBook.get(c.book());
            for (int v = 0; v + 1 < c.verses().size(); v++) {
                String ctx = c.verses().get(v), gold = c.verses().get(v + 1);
                List<String> choices = new ArrayList<>();
                while (choices.size() < 3) {
                    String d = pool.get(rnd.nextInt(pool.size()));
                    if (!d.equals(ctx) && !d.equals(gold) && !choices.contains(d)) choices.add(d);
                }
                int g = rnd.nextInt(4);
                choices.add(g, gold);
                Map<String, Object> item = new LinkedHashMap<>();
                item.put("context", ctx);
                item.put("choices", choices);
                item.put("gold", g);
                sb.append(line(item));
            }
        }
        return sb.toString();
    }

    private static Map<String, Object> map(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) m.put((String) kv[i], kv[i + 1]);
        return m;
    }

    private static String line(Object o) {
        try {
            return new ObjectMapper().writeValueAsString(o) + "\n";
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    public static void main(String[] args) throws IOException {
        Path fixtures = Path.of(args.length > 0 ? args[0] : "fixtures");
        List<Chapter> ch = chapters(Files.readString(fixtures.resolve("data/kjv/test.txt"), StandardCharsets.UTF_8));
        Files.createDirectories(fixtures.resolve("tasks"));
        Files.writeString(fixtures.resolve("tasks/kjv-last-word.jsonl"), lastWord(ch), StandardCharsets.UTF_8);
        Files.writeString(fixtures.resolve("tasks/kjv-next-verse.jsonl"), nextVerse(ch), StandardCharsets.UTF_8);
    }
}
