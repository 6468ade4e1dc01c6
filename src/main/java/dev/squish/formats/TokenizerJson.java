package dev.squish.formats;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import dev.squish.SquishException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.*;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * Reads and validates a Hugging Face {@code tokenizer.json} (and the {@code bos_token} /
 * {@code eos_token} of a {@code tokenizer_config.json} beside it). Everything unsupported or
 * malformed is a {@link SquishException} naming the file and the field.
 */
final class TokenizerJson {
    /** Ids above this are refused (they would make the id tables absurdly large). */
    static final int MAX_ID = 1 << 24;

    record AddedToken(int id, String content, boolean special, boolean lstrip, boolean rstrip) {}

    record Parts(BpeModel bpe, PreTokenizer pre, Map<String, Integer> vocab, List<AddedToken> added,
                 Integer bosId, Integer eosId) {}

    private final String where;

    private TokenizerJson(String where) { this.where = where; }

    static Parts load(Path modelDirOrFile) {
        Path file = Files.isDirectory(modelDirOrFile) ? modelDirOrFile.resolve("tokenizer.json") : modelDirOrFile;
        if (!Files.isRegularFile(file)) throw new SquishException(file + ": missing tokenizer.json");
        JsonNode root = readJson(file);
        TokenizerJson p = new TokenizerJson(file.toString());
        try {
            return p.parse(root, file.resolveSibling("tokenizer_config.json"));
        } catch (SquishException e) {
            throw e;
        } catch (RuntimeException e) { // a safety net: no malformed file may surface as a raw exception
            throw new SquishException(file + ": invalid tokenizer (" + e + ")", e);
        }
    }

    private static JsonNode readJson(Path file) {
        try {
            JsonNode root = SafeTensors.JSON.readTree(Files.readAllBytes(file));
            if (root == null || !root.isObject()) throw new SquishException(file + ": not a JSON object");
            return root;
        } catch (JsonProcessingException e) {
            throw new SquishException(file + ": malformed JSON (" + e.getOriginalMessage() + ")");
        } catch (IOException e) {
            throw new SquishException(file + ": cannot read (" + e.getMessage() + ")");
        }
    }

    private Parts parse(JsonNode root, Path configFile) {
        JsonNode model = root.get("model");
        if (model == null || !model.isObject()) throw fail("missing \"model\" object");
        String type = optText(model, "type", "model.type");
        if (type != null && !type.equals("BPE"))
            throw fail("model type '" + type + "' is not supported (only BPE)");

        Map<String, Integer> vocab = parseVocab(model.get("vocab"));
        int[][] merges = parseMerges(model.get("merges"), vocab);
        if (positive(model.get("dropout")))
            throw fail("model.dropout is not supported (BPE dropout is random)");
        for (String f : new String[] {"continuing_subword_prefix", "end_of_word_suffix"}) {
            String v = optText(model, f, "model." + f);
            if (v != null && !v.isEmpty()) throw fail("model." + f + " is not supported with byte-level BPE");
        }
        String unk = optText(model, "unk_token", "model.unk_token");
        Integer unkId = unk == null ? null : vocab.get(unk);
        if (unk != null && unkId == null) throw fail("model.unk_token '" + unk + "' is not in the vocabulary");
        BpeModel bpe = new BpeModel(vocab, merges, unkId, optBool(model, "fuse_unk", false),
                optBool(model, "byte_fallback", false), optBool(model, "ignore_merges", false));

        List<AddedToken> added = parseAddedTokens(root.get("added_tokens"));
        Map<String, Integer> all = new LinkedHashMap<>(vocab);
        for (AddedToken t : added) all.put(t.content(), t.id());

        PreTokenizer pre = new PreTokenizer(parseNormalizer(root.get("normalizer"), "normalizer"), parsePreTokenizer(root.get("pre_tokenizer")));
        JsonNode decoder = root.get("decoder");
        if (decoder != null && !decoder.isNull() && !"ByteLevel".equals(decoder.path("type").asText(null)))
            throw fail("decoder " + describe(decoder) + " is not supported (only ByteLevel)");

        // tokenizer_config.json decides where it names the token, even as null (e.g. Qwen 2: no BOS)
        JsonNode cfg = Files.isRegularFile(configFile) ? readJson(configFile) : SafeTensors.JSON.createObjectNode();
        Integer bos = cfg.has("bos_token") ? specialFromConfig(cfg.get("bos_token"), all) : firstAdded(added, "<|endoftext|>", "<s>");
        Integer eos = cfg.has("eos_token") ? specialFromConfig(cfg.get("eos_token"), all) : firstAdded(added, "<|endoftext|>", "</s>");
        return new Parts(bpe, pre, Collections.unmodifiableMap(all), List.copyOf(added), bos, eos);
    }

    private Map<String, Integer> parseVocab(JsonNode v) {
        if (v == null || !v.isObject()) throw fail("missing model.vocab object");
        if (v.isEmpty()) throw fail("model.vocab is empty");
        Map<String, Integer> vocab = new LinkedHashMap<>(v.size() * 2); // file order: the first string of a repeated id names it
        for (Map.Entry<String, JsonNode> e : v.properties()) vocab.put(e.getKey(), id(e.getValue(), "model.vocab['" + e.getKey() + "']"));
        return vocab;
    }

    private int[][] parseMerges(JsonNode m, Map<String, Integer> vocab) {
        if (m == null || m.isNull()) return new int[0][];
        if (!m.isArray()) throw fail("model.merges must be an array");
        int[][] merges = new int[m.size()][];
        for (int i = 0; i < m.size(); i++) {
            JsonNode e = m.get(i);
            String a, b;
            if (e.isTextual()) {
                String[] parts = e.asText().split(" ", -1);
                if (parts.length != 2) throw fail("model.merges[" + i + "] '" + e.asText() + "' is not two tokens separated by one space");
                a = parts[0];
                b = parts[1];
            } else if (e.isArray() && e.size() == 2 && e.get(0).isTextual() && e.get(1).isTextual()) {
                a = e.get(0).asText();
                b = e.get(1).asText();
            } else {
                throw fail("model.merges[" + i + "] must be \"a b\" or [\"a\", \"b\"], got " + describe(e));
            }
            merges[i] = new int[] {known(vocab, a, i), known(vocab, b, i), known(vocab, a + b, i)};
        }
        return merges;
    }

    private int known(Map<String, Integer> vocab, String token, int merge) {
        Integer id = vocab.get(token);
        if (id == null) throw fail("model.merges[" + merge + "] names token '" + token + "' that is not in the vocabulary");
        return id;
    }

    private List<AddedToken> parseAddedTokens(JsonNode a) {
        List<AddedToken> out = new ArrayList<>();
        if (a == null || a.isNull()) return out;
        if (!a.isArray()) throw fail("added_tokens must be an array");
        for (int i = 0; i < a.size(); i++) {
            JsonNode t = a.get(i);
            String at = "added_tokens[" + i + "]";
            if (!t.isObject()) throw fail(at + " must be an object");
            String content = optText(t, "content", at + ".content");
            if (content == null || content.isEmpty()) throw fail(at + ".content must be a non-empty string");
            out.add(new AddedToken(id(t.get("id"), at + ".id"), content, optBool(t, "special", false),
                    optBool(t, "lstrip", false), optBool(t, "rstrip", false)));
        }
        return out;
    }

    private List<Normalizer.Form> parseNormalizer(JsonNode n, String at) {
        List<Normalizer.Form> out = new ArrayList<>();
        if (n == null || n.isNull()) return out;
        String type = n.path("type").asText("");
        switch (type) {
            case "NFC", "NFD", "NFKC", "NFKD" -> out.add(Normalizer.Form.valueOf(type));
            case "Sequence" -> {
                JsonNode list = n.get("normalizers");
                if (list == null || !list.isArray()) throw fail(at + ".normalizers must be an array");
                for (int i = 0; i < list.size(); i++) out.addAll(parseNormalizer(list.get(i), at + ".normalizers[" + i + "]"));
            }
            default -> throw fail(at + " " + describe(n) + " is not supported (NFC, NFD, NFKC, NFKD or a Sequence of them)");
        }
        return out;
    }

    private List<PreTokenizer.Step> parsePreTokenizer(JsonNode p) {
        if (p == null || p.isNull()) throw fail("pre_tokenizer is missing; only byte-level BPE (a ByteLevel pre-tokenizer) is supported");
        List<PreTokenizer.Step> steps = new ArrayList<>();
        if ("Sequence".equals(p.path("type").asText(null))) {
            JsonNode list = p.get("pretokenizers");
            if (list == null || !list.isArray()) throw fail("pre_tokenizer.pretokenizers must be an array");
            for (int i = 0; i < list.size(); i++) steps.add(step(list.get(i), "pre_tokenizer.pretokenizers[" + i + "]"));
        } else {
            steps.add(step(p, "pre_tokenizer"));
        }
        long byteLevel = steps.stream().filter(s -> s instanceof PreTokenizer.ByteLevelStep).count();
        if (byteLevel != 1)
            throw fail("pre_tokenizer must contain exactly one ByteLevel step (byte-level BPE), found " + byteLevel);
        return steps;
    }

    private PreTokenizer.Step step(JsonNode s, String at) {
        String type = s.isObject() ? s.path("type").asText("") : "";
        switch (type) {
            case "ByteLevel" -> {
                return new PreTokenizer.ByteLevelStep(optBool(s, "add_prefix_space", true), optBool(s, "use_regex", true));
            }
            case "Split" -> {
                JsonNode pat = s.get("pattern");
                String regex;
                if (pat != null && pat.isObject() && pat.get("Regex") != null && pat.get("Regex").isTextual()) {
                    regex = pat.get("Regex").asText();
                } else if (pat != null && pat.isObject() && pat.get("String") != null && pat.get("String").isTextual()) {
                    regex = Pattern.quote(pat.get("String").asText());
                } else {
                    throw fail(at + ".pattern must be {\"Regex\": ...} or {\"String\": ...}");
                }
                Pattern compiled;
                try {
                    compiled = Pattern.compile(regex, PreTokenizer.ONIG_FLAGS);
                } catch (PatternSyntaxException e) {
                    throw fail(at + ".pattern: invalid regex (" + e.getDescription() + ")");
                }
                String behavior = optText(s, "behavior", at + ".behavior");
                PreTokenizer.Behavior b = switch (behavior == null ? "" : behavior) {
                    case "Removed" -> PreTokenizer.Behavior.REMOVED;
                    case "Isolated" -> PreTokenizer.Behavior.ISOLATED;
                    case "MergedWithPrevious" -> PreTokenizer.Behavior.MERGED_WITH_PREVIOUS;
                    case "MergedWithNext" -> PreTokenizer.Behavior.MERGED_WITH_NEXT;
                    case "Contiguous" -> PreTokenizer.Behavior.CONTIGUOUS;
                    default -> throw fail(at + ".behavior '" + behavior + "' is not one of Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous");
                };
                return new PreTokenizer.SplitStep(compiled, b, optBool(s, "invert", false));
            }
            default -> throw fail(at + " " + describe(s) + " is not supported (ByteLevel, Split, or a Sequence of them)");
        }
    }

    private Integer specialFromConfig(JsonNode t, Map<String, Integer> all) {
        if (t == null || t.isNull()) return null;
        String content = t.isTextual() ? t.asText() : t.isObject() && t.path("content").isTextual() ? t.get("content").asText() : null;
        return content == null ? null : all.get(content);
    }

    private static Integer firstAdded(List<AddedToken> added, String... names) {
        for (String n : names) for (AddedToken t : added) if (t.content().equals(n)) return t.id();
        return null;
    }

    private int id(JsonNode n, String at) {
        if (n == null || !n.isIntegralNumber() || !n.canConvertToInt() || n.asInt() < 0 || n.asInt() > MAX_ID)
            throw fail(at + " must be a token id from 0 to " + MAX_ID + ", got " + describe(n));
        return n.asInt();
    }

    private String optText(JsonNode obj, String key, String at) {
        JsonNode n = obj.get(key);
        if (n == null || n.isNull()) return null;
        if (!n.isTextual()) throw fail(at + " must be a string, got " + describe(n));
        return n.asText();
    }

    private boolean optBool(JsonNode obj, String key, boolean dflt) {
        JsonNode n = obj.get(key);
        if (n == null || n.isNull()) return dflt;
        if (!n.isBoolean()) throw fail(key + " must be true or false, got " + describe(n));
        return n.asBoolean();
    }

    private static boolean positive(JsonNode n) { return n != null && n.isNumber() && n.asDouble() > 0; }

    private static String describe(JsonNode n) {
        if (n == null) return "nothing";
        String s = n.toString();
        return s.length() > 80 ? s.substring(0, 77) + "..." : s;
    }

    private SquishException fail(String what) { return new SquishException(where + ": " + what); }
}
