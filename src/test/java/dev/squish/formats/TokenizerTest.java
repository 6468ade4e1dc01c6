package dev.squish.formats;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.squish.SquishException;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.*;

class TokenizerTest {
    static final Path MODELS = Path.of("fixtures/models");
    static final Path GPT2 = MODELS.resolve("kjv-gpt2-tiny");
    static final ObjectMapper JSON = new ObjectMapper();
    /** Llama 3's split regex, used by the "llama3" variant (as in make_golden.js). */
    static final String LLAMA3_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

    static JsonNode golden;
    static Tokenizer gpt2;
    @TempDir static Path tmp;

    @BeforeAll
    static void setUp() throws IOException {
        try (InputStream in = TokenizerTest.class.getResourceAsStream("/tokenizer/golden.json")) {
            golden = JSON.readTree(in);
        }
        gpt2 = Tokenizer.load(GPT2);
    }

    @ParameterizedTest
    @ValueSource(strings = {"kjv-gpt2-tiny", "kjv-llama-tiny"})
    void fixtureTestSplitMatchesReference(String model) throws IOException {
        Tokenizer tok = Tokenizer.load(MODELS.resolve(model));
        String text = Files.readString(Path.of("fixtures/data/kjv/test.txt"), StandardCharsets.UTF_8);
        int[] ids = tok.encode(text);
        assertEquals(53_468, ids.length);
        int[] ref;
        try (SafeTensors st = SafeTensors.open(MODELS.resolve(model).resolve("reference_logits.safetensors"))) {
            ref = st.get("input_ids").toIntArray();
        }
        assertArrayEquals(ref, Arrays.copyOf(ids, ref.length));
        assertEquals(text, tok.decode(ids));
        assertEquals(4096, tok.vocabSize());
        assertEquals(0, tok.bosId());
        assertEquals(0, tok.eosId());
    }

    /** Golden ids from Hugging Face tokenizers, which matches added tokens in the text: encode(text, true). */
    @ParameterizedTest
    @ValueSource(strings = {"base", "prefix_space", "llama3", "nfkc", "strip", "removed", "merged_previous", "merged_next", "contiguous_invert"})
    void matchesHuggingFaceOnGoldenTexts(String variant) throws IOException {
        Tokenizer tok = variant.equals("base") ? gpt2 : Tokenizer.load(variantFile(variant));
        JsonNode texts = golden.get("texts"), expected = golden.get("variants").get(variant);
        for (int i = 0; i < texts.size(); i++) {
            String text = texts.get(i).asText();
            int[] want = ints(expected.get(i));
            assertArrayEquals(want, tok.encode(text, true), () -> variant + ": " + escape(text));
            if (!text.contains("<|endoftext|>")) assertArrayEquals(want, tok.encode(text), () -> variant + ": " + escape(text));
            // NFKC changes the text, and add_prefix_space adds a leading space that decoding keeps (as in HF)
            if (variant.equals("base") || variant.equals("llama3")) assertEquals(text, tok.decode(want), () -> "round trip " + escape(text));
        }
    }

    /** Plain encode treats "<|endoftext|>" as text: golden ids from HF with the added token removed. */
    @Test
    void plainEncodeNeverProducesSpecialTokens() {
        JsonNode texts = golden.get("texts"), plain = golden.get("variants").get("plain");
        for (int i = 0; i < texts.size(); i++) {
            String text = texts.get(i).asText();
            assertArrayEquals(ints(plain.get(i)), gpt2.encode(text), () -> escape(text));
            assertEquals(text, gpt2.decode(gpt2.encode(text)));
        }
        assertArrayEquals(new int[] {0}, gpt2.encode("<|endoftext|>", true));
        assertTrue(gpt2.encode("<|endoftext|>").length > 1);
        assertEquals("<|endoftext|>", gpt2.decode(new int[] {0}));
        assertEquals("<|endoftext|>", gpt2.tokenText(0));
        assertEquals(java.util.List.of(0), gpt2.specialIds());
        assertEquals(0, gpt2.vocab().get("<|endoftext|>"));
        assertThrows(UnsupportedOperationException.class, () -> gpt2.vocab().put("x", 1));
    }

    @Test
    void decodeOfArbitraryIdsMatchesHuggingFace() {
        for (JsonNode d : golden.get("decode")) {
            int[] ids = ints(d.get("ids"));
            assertEquals(d.get("text").asText(), gpt2.decode(ids), Arrays.toString(ids));
        }
        assertEquals("", gpt2.decode(new int[] {-1, 4096, 1 << 30})); // ids with no token are skipped
        assertEquals("", gpt2.decodeToken(99_999));
        assertNull(gpt2.tokenText(-3));
    }

    @Test
    void streamDecoderNeverSplitsCharactersAndAddsUpToDecode() {
        Random r = new Random(7);
        for (int trial = 0; trial < 300; trial++) {
            int[] ids = trial % 2 == 0 ? gpt2.encode(randomText(r, 30)) : r.ints(1 + r.nextInt(12), 0, 4096).toArray();
            TokenStreamDecoder sd = gpt2.streamDecoder();
            StringBuilder sb = new StringBuilder();
            for (int id : ids) sb.append(sd.push(id));
            sb.append(sd.finish());
            assertEquals(gpt2.decode(ids), sb.toString(), Arrays.toString(ids));
        }
        int[] emoji = gpt2.encode("😀");
        assertTrue(emoji.length > 1, "the emoji is split into byte tokens in this small vocabulary");
        TokenStreamDecoder sd = gpt2.streamDecoder();
        for (int i = 0; i < emoji.length - 1; i++) assertEquals("", sd.push(emoji[i]));
        assertEquals("😀", sd.push(emoji[emoji.length - 1]));
        assertEquals("\uFFFD", gpt2.decodeToken(emoji[0]));
    }

    @Test
    void randomUnicodeRoundTrips() throws IOException {
        Tokenizer llama3 = Tokenizer.load(variantFile("llama3"));
        Random r = new Random(42);
        for (int i = 0; i < 2000; i++) {
            String s = randomText(r, 1 + r.nextInt(60));
            assertEquals(s, gpt2.decode(gpt2.encode(s)), () -> escape(s));
            assertEquals(s, llama3.decode(llama3.encode(s)), () -> escape(s));
        }
        assertEquals("\uFFFD", gpt2.decode(gpt2.encode("\uD800"))); // a lone surrogate has no UTF-8: U+FFFD
    }

    @Test
    void trainSplitRoundTripsAndIsConsistentWithLines() throws IOException {
        String text = Files.readString(Path.of("fixtures/data/kjv/train.txt"), StandardCharsets.UTF_8);
        int[] ids = gpt2.encode(text);
        assertEquals(text, gpt2.decode(ids));
        assertTrue(ids.length > 500_000 && ids.length < text.length() / 2, "ids: " + ids.length);
    }

    // ---- malformed and unsupported files ----

    @Test
    void malformedOrUnsupportedFilesAreSquishExceptions() throws IOException {
        expectError("{not json", "malformed JSON");
        expectError("[1, 2]", "not a JSON object");
        expectError("{}", "missing \"model\"");
        expectMutated(j -> model(j).put("type", "WordPiece"), "model type 'WordPiece' is not supported");
        expectMutated(j -> model(j).remove("vocab"), "missing model.vocab");
        expectMutated(j -> model(j).putArray("vocab"), "missing model.vocab");
        expectMutated(j -> model(j).putObject("vocab"), "model.vocab is empty");
        expectMutated(j -> ((ObjectNode) model(j).get("vocab")).put("Ġthe", -5), "model.vocab['Ġthe']");
        expectMutated(j -> ((ObjectNode) model(j).get("vocab")).put("Ġthe", "x"), "model.vocab['Ġthe']");
        expectMutated(j -> ((ObjectNode) model(j).get("vocab")).put("Ġthe", 1e12), "model.vocab['Ġthe']");
        expectMutated(j -> ((ArrayNode) model(j).get("merges")).addArray().add("Ġ").add("zzzq"), "names token 'zzzq'");
        expectMutated(j -> ((ArrayNode) model(j).get("merges")).add("Ġ the x"), "not two tokens");
        expectMutated(j -> ((ArrayNode) model(j).get("merges")).add(3), "model.merges[3839]");
        expectMutated(j -> model(j).put("merges", "t h"), "model.merges must be an array");
        expectMutated(j -> model(j).put("dropout", 0.1), "dropout");
        expectMutated(j -> model(j).put("unk_token", "<unk>"), "unk_token '<unk>'");
        expectMutated(j -> model(j).put("continuing_subword_prefix", "##"), "continuing_subword_prefix");
        expectMutated(j -> j.putObject("pre_tokenizer").put("type", "Whitespace"), "\"Whitespace\"");
        expectMutated(j -> j.putNull("pre_tokenizer"), "pre_tokenizer is missing");
        expectMutated(j -> j.put("pre_tokenizer", 7), "pre_tokenizer 7 is not supported");
        expectMutated(j -> ((ObjectNode) j.get("pre_tokenizer")).put("use_regex", "yes"), "use_regex must be true or false");
        expectMutated(j -> j.set("pre_tokenizer", split("(", "Isolated")), "invalid regex");
        expectMutated(j -> j.set("pre_tokenizer", split("\\s", "Sideways")), "behavior 'Sideways'");
        expectMutated(j -> { ObjectNode s = split("\\s", "Isolated"); ((ArrayNode) s.get("pretokenizers")).remove(1); j.set("pre_tokenizer", s); },
                "exactly one ByteLevel");
        expectMutated(j -> j.putObject("normalizer").put("type", "Lowercase"), "normalizer {\"type\":\"Lowercase\"} is not supported");
        expectMutated(j -> j.putObject("decoder").put("type", "WordPiece"), "decoder");
        expectMutated(j -> j.put("added_tokens", "x"), "added_tokens must be an array");
        expectMutated(j -> ((ObjectNode) j.get("added_tokens").get(0)).put("id", "zero"), "added_tokens[0].id");
        expectMutated(j -> ((ObjectNode) j.get("added_tokens").get(0)).remove("content"), "added_tokens[0].content");
    }

    @Test
    void missingFileAndBadConfigAreSquishExceptions() throws IOException {
        Path empty = Files.createDirectories(tmp.resolve("empty"));
        SquishException e = assertThrows(SquishException.class, () -> Tokenizer.load(empty));
        assertTrue(e.getMessage().contains("missing tokenizer.json"), e.getMessage());
        Path dir = Files.createDirectories(tmp.resolve("badcfg"));
        Files.copy(GPT2.resolve("tokenizer.json"), dir.resolve("tokenizer.json"));
        Files.writeString(dir.resolve("tokenizer_config.json"), "{\"bos_token\": ");
        e = assertThrows(SquishException.class, () -> Tokenizer.load(dir));
        assertTrue(e.getMessage().contains("tokenizer_config.json") && e.getMessage().contains("malformed JSON"), e.getMessage());
        // bos/eos from the config, as a plain string or as an AddedToken-style object
        Files.writeString(dir.resolve("tokenizer_config.json"), "{\"bos_token\": \"Ġthe\", \"eos_token\": {\"content\": \"Ġand\"}}");
        Tokenizer t = Tokenizer.load(dir.resolve("tokenizer.json"));
        assertEquals(gpt2.vocab().get("Ġthe"), t.bosId());
        assertEquals(gpt2.vocab().get("Ġand"), t.eosId());
        // an explicit null means none; a missing key falls back to the added tokens
        Files.writeString(dir.resolve("tokenizer_config.json"), "{\"bos_token\": null}");
        t = Tokenizer.load(dir);
        assertNull(t.bosId());
        assertEquals(0, t.eosId());
        Files.delete(dir.resolve("tokenizer_config.json"));
        t = Tokenizer.load(dir);
        assertEquals(0, t.bosId());
        assertEquals(0, t.eosId());
    }

    /** Truncated and byte-flipped copies of the fixture must load or fail with a SquishException, never anything else. */
    @Test
    void corruptedFilesNeverThrowRawExceptions() throws IOException {
        byte[] good = Files.readAllBytes(GPT2.resolve("tokenizer.json"));
        Random r = new Random(1);
        Path f = tmp.resolve("fuzz.json");
        for (int trial = 0; trial < 120; trial++) {
            byte[] bad;
            if (trial % 3 == 0) {
                bad = Arrays.copyOf(good, r.nextInt(good.length));
            } else {
                bad = good.clone();
                for (int k = 0; k < 1 + r.nextInt(4); k++) bad[r.nextInt(bad.length)] = (byte) "{}[]\",:0-9 aZ\\".charAt(r.nextInt(14));
            }
            Files.write(f, bad);
            try {
                Tokenizer t = Tokenizer.load(f);
                assertEquals("In the beginning", t.decode(t.encode("In the beginning")));
            } catch (SquishException e) {
                assertTrue(e.getMessage().contains("fuzz.json"), e.getMessage());
            }
        }
    }

    /** Random fields of the fixture replaced by values of random types: a SquishException or a working tokenizer. */
    @Test
    void structurallyMutatedFilesNeverThrowRawExceptions() throws IOException {
        ObjectNode original = (ObjectNode) JSON.readTree(GPT2.resolve("tokenizer.json").toFile());
        String[] values = {"null", "-1", "1e20", "3.5", "\"x\"", "\"\"", "true", "[]", "{}", "[\"a\", \"b\"]",
                "{\"type\": \"ByteLevel\"}", "{\"type\": \"Split\"}", "{\"type\": \"Sequence\"}", "[[]]", "[null]", "4095"};
        Random r = new Random(3);
        Path f = tmp.resolve("mutant.json");
        for (int trial = 0; trial < 150; trial++) {
            ObjectNode j = original.deepCopy();
            for (int k = 0; k < 1 + r.nextInt(3); k++) {
                // walk down from the root a random number of levels, then replace that child
                JsonNode parent = j;
                int depth = r.nextInt(4);
                while (true) {
                    String key = null;
                    int index = -1;
                    if (parent.isObject() && !parent.isEmpty()) {
                        var names = new java.util.ArrayList<String>();
                        parent.fieldNames().forEachRemaining(names::add);
                        key = names.get(r.nextInt(names.size()));
                    } else if (parent.isArray() && !parent.isEmpty()) {
                        index = r.nextInt(parent.size());
                    } else break;
                    JsonNode child = key != null ? parent.get(key) : parent.get(index);
                    if (depth-- > 0 && child.isContainerNode() && !child.isEmpty()) { parent = child; continue; }
                    JsonNode v = JSON.readTree(values[r.nextInt(values.length)]);
                    if (key != null) ((ObjectNode) parent).set(key, v);
                    else ((ArrayNode) parent).set(index, v);
                    break;
                }
            }
            JSON.writeValue(f.toFile(), j);
            try {
                Tokenizer t = Tokenizer.load(f);
                t.decode(t.encode("In the beginning, 1 <|endoftext|> 😀", true));
            } catch (SquishException e) {
                assertTrue(e.getMessage().contains("mutant.json"), e.getMessage());
            }
        }
    }

    // ---- helpers ----

    static Path variantFile(String name) throws IOException {
        ObjectNode j = (ObjectNode) JSON.readTree(GPT2.resolve("tokenizer.json").toFile());
        switch (name) {
            case "prefix_space" -> ((ObjectNode) j.get("pre_tokenizer")).put("add_prefix_space", true);
            case "llama3" -> { j.set("pre_tokenizer", split(LLAMA3_REGEX, "Isolated")); model(j).put("ignore_merges", true); }
            case "nfkc" -> j.putObject("normalizer").put("type", "NFKC");
            case "removed" -> j.set("pre_tokenizer", sequence(regex("\\s+"), "Removed", false, true));
            case "merged_previous" -> j.set("pre_tokenizer", sequence(regex("\\p{P}"), "MergedWithPrevious", false, false));
            case "merged_next" -> j.set("pre_tokenizer", sequence(JSON.createObjectNode().put("String", " "), "MergedWithNext", false, false));
            case "contiguous_invert" -> j.set("pre_tokenizer", sequence(regex("\\p{L}+"), "Contiguous", true, false));
            case "strip" -> ((ObjectNode) j.get("added_tokens").get(0)).put("lstrip", true).put("rstrip", true);
            default -> throw new IllegalArgumentException(name);
        }
        Path f = tmp.resolve(name + ".json");
        JSON.writeValue(f.toFile(), j);
        return f;
    }

    /** Sequence[Split(regex), ByteLevel(use_regex=false)], as in Llama 3 files. */
    static ObjectNode split(String regex, String behavior) { return sequence(regex(regex), behavior, false, false); }

    static ObjectNode regex(String regex) { return JSON.createObjectNode().put("Regex", regex); }

    static ObjectNode sequence(ObjectNode pattern, String behavior, boolean invert, boolean useRegex) {
        ObjectNode seq = JSON.createObjectNode().put("type", "Sequence");
        ArrayNode list = seq.putArray("pretokenizers");
        list.addObject().put("type", "Split").<ObjectNode>set("pattern", pattern).put("behavior", behavior).put("invert", invert);
        list.addObject().put("type", "ByteLevel").put("add_prefix_space", false).put("trim_offsets", true).put("use_regex", useRegex);
        return seq;
    }

    static ObjectNode model(ObjectNode j) { return (ObjectNode) j.get("model"); }

    static void expectMutated(Consumer<ObjectNode> mutate, String expected) throws IOException {
        ObjectNode j = (ObjectNode) JSON.readTree(GPT2.resolve("tokenizer.json").toFile());
        mutate.accept(j);
        expectError(JSON.writeValueAsString(j), expected);
    }

    static void expectError(String content, String expected) throws IOException {
        Path f = tmp.resolve("bad-tokenizer.json");
        Files.writeString(f, content);
        SquishException e = assertThrows(SquishException.class, () -> Tokenizer.load(f), expected);
        assertTrue(e.getMessage().contains("bad-tokenizer.json"), e.getMessage());
        assertTrue(e.getMessage().contains(expected), () -> "expected '" + expected + "' in: " + e.getMessage());
    }

    static int[] ints(JsonNode a) {
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) out[i] = a.get(i).asInt();
        return out;
    }

    private static final String[] POOLS = {
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789", " ", "  ", "\n", "\t", "\r\n",
            "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", ".,;:!?()\"-'", "éàüßçñ", "中文字符日本語한국어",
            "😀🎉👍🏽🇫🇷👨‍👩‍👧", "e\u0301a\u0308", "\u00a0\u3000\u2009\u200b", "ΑβγЖж", "عربي", "½²³٣", "<|endoftext|>"};

    static String randomText(Random r, int parts) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < parts; i++) {
            int[] cps = POOLS[r.nextInt(POOLS.length)].codePoints().toArray();
            if (r.nextInt(3) == 0) for (int cp : cps) sb.appendCodePoint(cp);
            else for (int k = 1 + r.nextInt(4); k > 0; k--) sb.appendCodePoint(cps[r.nextInt(cps.length)]);
        }
        return sb.toString();
    }

    static String escape(String s) {
        StringBuilder sb = new StringBuilder("\"");
        s.codePoints().forEach(cp -> sb.append(cp >= 32 && cp < 127 ? Character.toString(cp) : String.format("\\u{%x}", cp)));
        return sb.append('"').toString();
    }
}
