package dev.squish.formats;

import java.text.Normalizer;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The text side of a byte-level BPE tokenizer: optional Unicode normalization, then a sequence of
 * pre-tokenization steps (regex {@link SplitStep splits} and exactly one {@link ByteLevelStep}),
 * producing the words, in byte characters, that the BPE model encodes one by one.
 */
final class PreTokenizer {
    /** GPT-2's split regex, as in Hugging Face's ByteLevel pre-tokenizer. */
    static final String GPT2_REGEX = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

    /**
     * Flags that make Java regexes behave like Oniguruma's Ruby syntax used by Hugging Face:
     * Unicode {@code \s} (White_Space), {@code ^}/{@code $} at every line, {@code .} excluding only
     * {@code \n}. {@code \p{L}} and {@code \p{N}} are Unicode general categories in both.
     */
    static final int ONIG_FLAGS = Pattern.UNICODE_CHARACTER_CLASS | Pattern.MULTILINE | Pattern.UNIX_LINES;

    private static final Pattern GPT2 = Pattern.compile(GPT2_REGEX, ONIG_FLAGS);

    /** How a split treats the regex matches (Hugging Face's SplitDelimiterBehavior). */
    enum Behavior { REMOVED, ISOLATED, MERGED_WITH_PREVIOUS, MERGED_WITH_NEXT, CONTIGUOUS }

    sealed interface Step permits SplitStep, ByteLevelStep {}

    /** Hugging Face's {@code Split} pre-tokenizer. */
    record SplitStep(Pattern pattern, Behavior behavior, boolean invert) implements Step {}

    /**
     * Hugging Face's {@code ByteLevel} pre-tokenizer: prepend a space to each piece that lacks one
     * (if {@code addPrefixSpace}), split it with the GPT-2 regex (if {@code useRegex}), and map the
     * UTF-8 bytes of each piece to byte characters.
     */
    record ByteLevelStep(boolean addPrefixSpace, boolean useRegex) implements Step {}

    private final List<Normalizer.Form> normalizers;
    private final List<Step> steps;

    PreTokenizer(List<Normalizer.Form> normalizers, List<Step> steps) {
        this.normalizers = List.copyOf(normalizers);
        this.steps = List.copyOf(steps);
    }

    /** The words of {@code text}, in byte characters, in order; no word is empty. */
    List<String> words(String text) {
        for (Normalizer.Form f : normalizers) text = Normalizer.normalize(text, f);
        List<String> pieces = new ArrayList<>();
        if (!text.isEmpty()) pieces.add(text);
        for (Step step : steps) {
            List<String> out = new ArrayList<>(pieces.size() * 4 + 4);
            for (String piece : pieces) {
                switch (step) {
                    case SplitStep s -> split(piece, s.pattern(), s.behavior(), s.invert(), out);
                    case ByteLevelStep b -> byteLevel(piece, b, out);
                }
            }
            pieces = out;
        }
        return pieces;
    }

    private static void byteLevel(String piece, ByteLevelStep b, List<String> out) {
        if (b.addPrefixSpace() && !piece.startsWith(" ")) piece = " " + piece;
        if (!b.useRegex()) {
            out.add(mapped(piece, 0, piece.length()));
            return;
        }
        Matcher m = GPT2.matcher(piece);
        int prev = 0;
        while (m.find()) {
            if (m.start() > prev) out.add(mapped(piece, prev, m.start()));
            if (m.end() > m.start()) out.add(mapped(piece, m.start(), m.end()));
            prev = m.end();
        }
        if (prev < piece.length()) out.add(mapped(piece, prev, piece.length()));
    }

    private static String mapped(String s, int from, int to) {
        StringBuilder sb = new StringBuilder((to - from) * 3 / 2 + 4);
        ByteLevel.appendMapped(sb, s, from, to);
        return sb.toString();
    }

    /**
     * Hugging Face's {@code NormalizedString::split}: the matches and the gaps between them,
     * combined according to {@code behavior}; empty pieces are dropped.
     */
    static void split(String piece, Pattern pattern, Behavior behavior, boolean invert, List<String> out) {
        // (start, end, isMatch) spans covering the piece
        List<int[]> spans = new ArrayList<>();
        Matcher m = pattern.matcher(piece);
        int prev = 0;
        while (m.find()) {
            if (m.start() != prev) spans.add(new int[] {prev, m.start(), invert ? 1 : 0});
            spans.add(new int[] {m.start(), m.end(), invert ? 0 : 1});
            prev = m.end();
        }
        if (prev != piece.length()) spans.add(new int[] {prev, piece.length(), invert ? 1 : 0});

        List<int[]> kept = new ArrayList<>(spans.size());
        switch (behavior) {
            case ISOLATED -> kept.addAll(spans);
            case REMOVED -> { for (int[] s : spans) if (s[2] == 0) kept.add(s); }
            case MERGED_WITH_PREVIOUS -> {
                boolean prevMatch = false;
                for (int[] s : spans) {
                    if (s[2] == 1 && !prevMatch && !kept.isEmpty()) kept.getLast()[1] = s[1];
                    else kept.add(s.clone());
                    prevMatch = s[2] == 1;
                }
            }
            case MERGED_WITH_NEXT -> {
                boolean prevMatch = false; // walking backwards: "previous" is the span to the right
                for (int i = spans.size() - 1; i >= 0; i--) {
                    int[] s = spans.get(i);
                    if (s[2] == 1 && !prevMatch && !kept.isEmpty()) kept.getLast()[0] = s[0];
                    else kept.add(s.clone());
                    prevMatch = s[2] == 1;
                }
                java.util.Collections.reverse(kept);
            }
            case CONTIGUOUS -> {
                boolean prevMatch = false;
                for (int[] s : spans) {
                    if (s[2] == 1 == prevMatch && !kept.isEmpty()) kept.getLast()[1] = s[1];
                    else kept.add(s.clone());
                    prevMatch = s[2] == 1;
                }
            }
        }
        for (int[] s : kept) if (s[1] > s[0]) out.add(piece.substring(s[0], s[1]));
    }
}
