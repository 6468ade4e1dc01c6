package dev.squish.formats;

import java.util.Arrays;

/**
 * Turns generated token ids into text as they arrive. A byte-level token may end in the middle of
 * a multi-byte UTF-8 character; those bytes are held back until the character is complete, so
 * the concatenation of everything {@link #push} and {@link #finish} return equals
 * {@link Tokenizer#decode} of all the ids. Not thread-safe (one per stream).
 */
public final class TokenStreamDecoder {
    private final Tokenizer tokenizer;
    private byte[] pending = new byte[0];

    TokenStreamDecoder(Tokenizer tokenizer) { this.tokenizer = tokenizer; }

    /** Adds one token; returns the text that is now complete (possibly ""). */
    public String push(int id) {
        byte[] b = tokenizer.tokenBytesOrNull(id);
        if (b == null || b.length == 0) return "";
        byte[] all = Arrays.copyOf(pending, pending.length + b.length);
        System.arraycopy(b, 0, all, pending.length, b.length);
        StringBuilder out = new StringBuilder(all.length);
        int used = Utf8.decode(all, all.length, false, out);
        pending = Arrays.copyOfRange(all, used, all.length);
        return out.toString();
    }

    /** Ends the stream: held-back bytes (an incomplete character) come out as U+FFFD. */
    public String finish() {
        String s = Utf8.decode(pending, pending.length);
        pending = new byte[0];
        return s;
    }
}
