package dev.squish.eval;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.squish.SquishException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * A zero-shot task read from a JSONL file: an optional header line
 * {@code {"task": NAME, "kind": KIND, "target_delimiter": STR}}, then one item per line. Field names
 * follow lm-evaluation-harness's documents where one exists ({@code choices} and {@code gold} as in
 * its {@code MultipleChoiceTask}; {@code target_delimiter} as in its task YAMLs, default one space).
 * Any bad line is an input error naming the file and the line (1-based).
 */
public record TaskFile(String name, Kind kind, String delimiter, Path file, List<Item> items) {

    public enum Kind {
        /** {@code {"context", "choices", "gold"}}: one context, several continuations. */
        MULTIPLE_CHOICE("multiple_choice"),
        /** {@code {"contexts", "continuation", "gold"}}: several contexts, one continuation (WinoGrande). */
        PARTIAL("partial"),
        /** {@code {"context", "continuation"}}: is the continuation the greedy one (LAMBADA). */
        LAST_WORD("last_word");

        public final String id;

        Kind(String id) { this.id = id; }

        static Kind of(String id) {
            for (Kind k : values()) if (k.id.equals(id)) return k;
            return null;
        }
    }

    /**
     * One item, with its line number. For multiple_choice {@code contexts} holds the one context and
     * {@code choices} the choices; for partial {@code contexts} holds the contexts and
     * {@code choices} the one continuation; for last_word both hold one string and gold is 0.
     */
    public record Item(int line, List<String> contexts, List<String> choices, int gold) {}

    private static final Set<String> ITEM_FIELDS = Set.of("context", "contexts", "choices", "continuation", "gold",
            "query", "text", "sentence", "option1", "option2", "answer");

    public static TaskFile read(Path file) {
        if (!Files.isRegularFile(file)) throw new SquishException(file + ": no such file (--task)");
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(Files.readAllBytes(file))).toString();
        } catch (CharacterCodingException e) {
            throw new SquishException(file + ": not valid UTF-8 text (--task)");
        } catch (IOException e) {
            throw new SquishException(file + ": cannot read (" + e.getMessage() + ")");
        }
        String base = file.getFileName().toString();
        String name = base.endsWith(".jsonl") ? base.substring(0, base.length() - 6) : base;
        Kind kind = null;
        String delimiter = " ";
        List<Item> items = new ArrayList<>();
        ObjectMapper json = dev.squish.formats.Json.MAPPER;
        String[] lines = text.split("\n", -1);
        boolean first = true;
        for (int i = 0; i < lines.length; i++) {
            String line = lines[i].strip();
            if (line.isEmpty()) continue;   // blank lines (a trailing newline) carry nothing
            int no = i + 1;
            JsonNode o;
            try {
                o = json.readTree(line);
            } catch (JacksonException e) {
                throw bad(file, no, "malformed JSON (" + e.getOriginalMessage() + ")");
            }
            if (o == null || !o.isObject()) throw bad(file, no, "expected a JSON object");
            boolean header = first && (o.has("kind") || o.has("task")) && o.properties().stream().noneMatch(e -> ITEM_FIELDS.contains(e.getKey()));
            first = false;
            if (header) {
                if (o.has("task")) name = string(o, "task", file, no, false);
                if (o.has("kind")) {
                    String k = string(o, "kind", file, no, false);
                    kind = Kind.of(k);
                    if (kind == null) throw bad(file, no, "unknown kind '" + k + "' (expected multiple_choice, partial or last_word)");
                }
                if (o.has("target_delimiter")) delimiter = string(o, "target_delimiter", file, no, true);
                continue;
            }
            if (kind == null) {
                if (o.has("choices")) kind = Kind.MULTIPLE_CHOICE;
                else if (o.has("contexts") || o.has("sentence") && o.has("option1")) kind = Kind.PARTIAL;
                else if (o.has("context") && o.has("continuation") || o.has("text")) kind = Kind.LAST_WORD;
                else throw bad(file, no, "cannot tell the task kind: expected \"choices\" (multiple_choice), \"contexts\" (partial) or \"context\" and \"continuation\" (last_word)");
            }
            items.add(item(kind, o, file, no));
        }
        if (items.isEmpty()) throw new SquishException(file + ": no task items (--task)");
        return new TaskFile(name, kind, delimiter, file, List.copyOf(items));
    }

    private static Item item(Kind kind, JsonNode o, Path file, int no) {
        return switch (kind) {
            case MULTIPLE_CHOICE -> {
                // "query" is the context's name in the harness's MultipleChoiceTask documents.
                String ctx = string(o, o.has("context") || !o.has("query") ? "context" : "query", file, no, true);
                List<String> choices = strings(o, "choices", file, no);
                yield new Item(no, List.of(ctx), choices, gold(o, choices.size(), file, no));
            }
            case PARTIAL -> {
                if (!o.has("contexts") && o.has("sentence")) yield winogrande(o, file, no);
                List<String> ctxs = strings(o, "contexts", file, no);
                String cont = string(o, "continuation", file, no, false);
                yield new Item(no, ctxs, List.of(cont), gold(o, ctxs.size(), file, no));
            }
            case LAST_WORD -> {
                if (!o.has("context") && o.has("text")) {
                    // LAMBADA's document: doc_to_text "{{text.split(' ')[:-1]|join(' ')}}", doc_to_target "{{' '+text.split(' ')[-1]}}".
                    String text = string(o, "text", file, no, false);
                    int cut = text.lastIndexOf(' ');
                    yield new Item(no, List.of(cut < 0 ? "" : text.substring(0, cut)), List.of(" " + text.substring(cut + 1)), 0);
                }
                yield new Item(no, List.of(string(o, "context", file, no, true)), List.of(string(o, "continuation", file, no, false)), 0);
            }
        };
    }

    /**
     * A WinoGrande document {@code {"sentence", "option1", "option2", "answer"}} as the harness's
     * {@code preprocess_winogrande.py} turns it into a partial evaluation: contexts
     * {@code sentence[:i] + option} with i the index of "_", continuation {@code sentence[i+1:].strip()},
     * gold {@code {"1": 0, "2": 1}[answer]}.
     */
    private static Item winogrande(JsonNode o, Path file, int no) {
        String sentence = string(o, "sentence", file, no, false);
        int i = sentence.indexOf('_');
        if (i < 0) throw bad(file, no, "\"sentence\" has no \"_\" to fill in");
        String o1 = string(o, "option1", file, no, false), o2 = string(o, "option2", file, no, false);
        String answer = string(o, "answer", file, no, false);
        int gold = switch (answer) {
            case "1" -> 0;
            case "2" -> 1;
            default -> throw bad(file, no, "\"answer\" must be \"1\" or \"2\", got \"" + answer + "\"");
        };
        String rest = sentence.substring(i + 1);
        int end = Loglikelihood.rstripLength(rest), start = 0;
        while (start < end && Loglikelihood.isPythonSpace(rest.codePointAt(start))) start += Character.charCount(rest.codePointAt(start));
        String cont = rest.substring(start, end);
        if (cont.isEmpty()) throw bad(file, no, "\"sentence\" has nothing after \"_\" to score");
        return new Item(no, List.of(sentence.substring(0, i) + o1, sentence.substring(0, i) + o2), List.of(cont), gold);
    }

    private static String string(JsonNode o, String field, Path file, int no, boolean emptyOk) {
        JsonNode v = o.get(field);
        if (v == null) throw bad(file, no, "missing field \"" + field + "\"");
        if (!v.isTextual()) throw bad(file, no, "\"" + field + "\" must be a string");
        if (!emptyOk && v.asText().isEmpty()) throw bad(file, no, "\"" + field + "\" is empty");
        return v.asText();
    }

    private static List<String> strings(JsonNode o, String field, Path file, int no) {
        JsonNode v = o.get(field);
        if (v == null) throw bad(file, no, "missing field \"" + field + "\"");
        if (!v.isArray()) throw bad(file, no, "\"" + field + "\" must be an array of strings");
        if (v.size() < 2) throw bad(file, no, "\"" + field + "\" needs at least two entries, has " + v.size());
        List<String> out = new ArrayList<>();
        for (int i = 0; i < v.size(); i++) {
            JsonNode s = v.get(i);
            if (!s.isTextual()) throw bad(file, no, "\"" + field + "\"[" + i + "] must be a string");
            if (s.asText().isEmpty()) throw bad(file, no, "\"" + field + "\"[" + i + "] is empty");
            out.add(s.asText());
        }
        return List.copyOf(out);
    }

    private static int gold(JsonNode o, int n, Path file, int no) {
        JsonNode v = o.get("gold");
        if (v == null) throw bad(file, no, "missing field \"gold\"");
        if (!v.isIntegralNumber() || !v.canConvertToInt()) throw bad(file, no, "\"gold\" must be an integer index");
        int g = v.intValue();
        if (g < 0 || g >= n) throw bad(file, no, "\"gold\" " + g + " is out of range (0.." + (n - 1) + ")");
        return g;
    }

    static SquishException bad(Path file, int line, String what) {
        return new SquishException(file + ":" + line + ": " + what);
    }
}
