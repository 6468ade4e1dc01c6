package dev.squish.formats;

import java.io.ByteArrayOutputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A byte-level BPE tokenizer (GPT-2, Llama 3, Qwen 2 style) read from a Hugging Face
 * {@code tokenizer.json}; ids match Hugging Face {@code tokenizers} exactly. See
 * {@code docs/tokenizer.md}. Thread-safe.
 */
public final class Tokenizer {
    private final BpeModel bpe;
    private final PreTokenizer pre;
    private final Map<String, Integer> vocab;
    private final List<TokenizerJson.AddedToken> added;
    private final String[] idToToken;
    private final byte[][] idToBytes;
    private final Integer bosId, eosId;
    /** The first character of every added token, to skip positions quickly when matching them. */
    private final String addedFirstChars;

    private Tokenizer(TokenizerJson.Parts p) {
        bpe = p.bpe();
        pre = p.pre();
        vocab = p.vocab();
        // Longest first, so that matching added tokens in text prefers the longest at a position.
        added = p.added().stream().sorted((a, b) -> b.content().length() - a.content().length()).toList();
        StringBuilder first = new StringBuilder();
        for (TokenizerJson.AddedToken t : added) if (first.indexOf(t.content().substring(0, 1)) < 0) first.append(t.content().charAt(0));
        addedFirstChars = first.toString();
        int size = 0;
        for (int id : vocab.values()) size = Math.max(size, id + 1);
        idToToken = new String[size];
        for (Map.Entry<String, Integer> e : vocab.entrySet())
            if (idToToken[e.getValue()] == null) idToToken[e.getValue()] = e.getKey();
        for (TokenizerJson.AddedToken t : p.added()) idToToken[t.id()] = t.content(); // added tokens win, as in HF
        idToBytes = new byte[size][];
        for (int i = 0; i < size; i++) if (idToToken[i] != null) idToBytes[i] = ByteLevel.tokenBytes(idToToken[i]);
        bosId = p.bosId();
        eosId = p.eosId();
    }

    /** Loads {@code tokenizer.json} from a model folder (or that file itself). */
    public static Tokenizer load(Path modelDirOrFile) {
        return new Tokenizer(TokenizerJson.load(modelDirOrFile));
    }

    /**
     * Encodes text with no special tokens added. Added/special tokens' text in the input (such as
     * {@code <|endoftext|>}) is treated as plain text, so untrusted text cannot inject control
     * tokens; see {@link #encode(String, boolean)}.
     */
    public int[] encode(String text) {
        IntList out = new IntList(text.length() / 3 + 16);
        encodePlain(text, out);
        return out.toArray();
    }

    /**
     * As {@link #encode(String)} (the same ids), for long texts such as calibration files: the words
     * are encoded in parallel and progress is shown as a bar (or plain lines) named {@code task}.
     */
    public int[] encode(String text, String task) {
        if (text.length() < (1 << 16)) return encode(text);
        // One bar in units of characters: splitting into words (sequential) takes about 60% of the
        // time, encoding the words (parallel) the rest.
        long total = text.length(), splitShare = total * 6 / 10;
        try (dev.squish.util.Progress p = dev.squish.util.Progress.start(task, total)) {
            p.message("splitting");
            List<String> words = pre.words(text);
            p.stepBy(splitShare);
            p.message("encoding");
            int chunk = 8192, chunks = (words.size() + chunk - 1) / chunk;
            int[][] parts = new int[chunks][];
            dev.squish.util.Parallel.forRange(chunks, 1, (from, to) -> {
                for (int c = from; c < to; c++) {
                    int lo = c * chunk, hi = Math.min(words.size(), lo + chunk);
                    IntList out = new IntList((hi - lo) * 2);
                    for (int w = lo; w < hi; w++) bpe.encodeWord(words.get(w), out);
                    parts[c] = out.toArray();
                    p.stepBy((total - splitShare) * (hi - lo) / words.size());
                }
            });
            IntList all = new IntList(text.length() / 3 + 16);
            for (int[] part : parts) all.addAll(part);
            return all.toArray();
        }
    }

    /**
     * Encodes text; if {@code matchAddedTokens}, occurrences of added tokens' content (e.g.
     * {@code <|endoftext|>}) become those tokens, as Hugging Face {@code encode} does (honouring
     * {@code lstrip}/{@code rstrip}; {@code single_word} is not supported), and the text between them
     * is encoded piece by piece.
     */
    public int[] encode(String text, boolean matchAddedTokens) {
        if (!matchAddedTokens || added.isEmpty()) return encode(text);
        IntList out = new IntList(text.length() / 3 + 16);
        int start = 0, pos = 0;
        while (pos < text.length()) {
            TokenizerJson.AddedToken hit = null;
            if (addedFirstChars.indexOf(text.charAt(pos)) >= 0)
                for (TokenizerJson.AddedToken t : added) if (text.startsWith(t.content(), pos)) { hit = t; break; }
            if (hit == null) { pos++; continue; }
            int before = pos, after = pos + hit.content().length();
            if (hit.lstrip()) while (before > start && isWhiteSpace(text.charAt(before - 1))) before--;
            if (hit.rstrip()) while (after < text.length() && isWhiteSpace(text.charAt(after))) after++;
            encodePlain(text.substring(start, before), out);
            out.add(hit.id());
            start = pos = after;
        }
        encodePlain(text.substring(start), out);
        return out.toArray();
    }

    /** Unicode White_Space (as Rust's {@code char::is_whitespace}). */
    private static boolean isWhiteSpace(char c) {
        return c >= 9 && c <= 13 || c == ' ' || c == 0x85 || c == 0xA0 || c == 0x1680 || c >= 0x2000 && c <= 0x200A
                || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
    }

    private void encodePlain(String text, IntList out) {
        if (text.isEmpty()) return;
        for (String word : pre.words(text)) bpe.encodeWord(word, out);
    }

    /**
     * Decodes ids to text: the bytes of all tokens, then UTF-8 with invalid sequences replaced by
     * U+FFFD. Ids with no token are skipped (as Hugging Face does); special tokens are kept.
     */
    public String decode(int[] ids) {
        ByteArrayOutputStream buf = new ByteArrayOutputStream(ids.length * 4);
        for (int id : ids) {
            byte[] b = tokenBytesOrNull(id);
            if (b != null) buf.writeBytes(b);
        }
        return Utf8.decode(buf.toByteArray(), buf.size());
    }

    /**
     * One token's text on its own ("" for an id with no token). A token may hold part of a
     * multi-byte character, which shows here as U+FFFD: for streaming output use
     * {@link TokenStreamDecoder}.
     */
    public String decodeToken(int id) {
        byte[] b = tokenBytesOrNull(id);
        return b == null ? "" : Utf8.decode(b, b.length);
    }

    /** The raw bytes a token stands for (a copy; empty for an id with no token). */
    public byte[] tokenBytes(int id) {
        byte[] b = tokenBytesOrNull(id);
        return b == null ? new byte[0] : b.clone();
    }

    byte[] tokenBytesOrNull(int id) { return id >= 0 && id < idToBytes.length ? idToBytes[id] : null; }

    /** A decoder that turns a stream of ids into text without splitting multi-byte characters. */
    public TokenStreamDecoder streamDecoder() { return new TokenStreamDecoder(this); }

    /** One more than the largest token id (vocabulary plus added tokens). */
    public int vocabSize() { return idToToken.length; }

    /** The beginning-of-text token, or null if the tokenizer names none. */
    public Integer bosId() { return bosId; }

    /** The end-of-text token, or null if the tokenizer names none. */
    public Integer eosId() { return eosId; }

    /** The token's vocabulary string (byte characters, e.g. {@code Ġthe}), or null for an id with no token. */
    public String tokenText(int id) { return id >= 0 && id < idToToken.length ? idToToken[id] : null; }

    /** Token string to id, vocabulary plus added tokens; unmodifiable. */
    public Map<String, Integer> vocab() { return vocab; }

    /** The added tokens' ids that are marked special (e.g. {@code <|endoftext|>}). */
    public List<Integer> specialIds() {
        List<Integer> ids = new ArrayList<>();
        for (TokenizerJson.AddedToken t : added) if (t.special()) ids.add(t.id());
        return ids;
    }
}
