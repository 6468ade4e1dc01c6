package dev.squish.formats;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * GPT-2's byte-to-character table: every byte is shown as one printable character, so a BPE
 * vocabulary over these characters covers any UTF-8 text. Bytes {@code ! .. ~}, {@code ¡ .. ¬}
 * and {@code ® .. ÿ} stand for themselves; the other 68 bytes map to U+0100.. in byte order
 * (so a space is {@code Ġ}, a newline {@code Ċ}).
 */
final class ByteLevel {
    private static final char[] BYTE_TO_CHAR = new char[256];
    /** Indexed by character (all mapped characters are below 512); -1 where not a byte character. */
    private static final int[] CHAR_TO_BYTE = new int[512];

    static {
        java.util.Arrays.fill(CHAR_TO_BYTE, -1);
        int extra = 0;
        for (int b = 0; b < 256; b++) {
            boolean self = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            char c = (char) (self ? b : 256 + extra++);
            BYTE_TO_CHAR[b] = c;
            CHAR_TO_BYTE[c] = b;
        }
    }

    private ByteLevel() {}

    static char charOf(int b) { return BYTE_TO_CHAR[b & 0xFF]; }

    /** The byte a character stands for, or -1 if it is not one of the 256 byte characters. */
    static int byteOf(char c) { return c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c] : -1; }

    /**
     * Appends the byte characters of the UTF-8 encoding of {@code s[from, to)}. An unpaired
     * surrogate (which a Java string may hold but UTF-8 cannot encode) is taken as U+FFFD.
     */
    static void appendMapped(StringBuilder out, CharSequence s, int from, int to) {
        for (int i = from; i < to; ) {
            int cp = Character.codePointAt(s, i);
            i += Character.charCount(cp);
            if (Character.isSurrogate((char) cp) && cp < 0x10000) cp = 0xFFFD;
            if (cp < 0x80) {
                out.append(BYTE_TO_CHAR[cp]);
            } else if (cp < 0x800) {
                out.append(BYTE_TO_CHAR[0xC0 | cp >> 6]).append(BYTE_TO_CHAR[0x80 | cp & 0x3F]);
            } else if (cp < 0x10000) {
                out.append(BYTE_TO_CHAR[0xE0 | cp >> 12]).append(BYTE_TO_CHAR[0x80 | cp >> 6 & 0x3F])
                        .append(BYTE_TO_CHAR[0x80 | cp & 0x3F]);
            } else {
                out.append(BYTE_TO_CHAR[0xF0 | cp >> 18]).append(BYTE_TO_CHAR[0x80 | cp >> 12 & 0x3F])
                        .append(BYTE_TO_CHAR[0x80 | cp >> 6 & 0x3F]).append(BYTE_TO_CHAR[0x80 | cp & 0x3F]);
            }
        }
    }

    /**
     * The bytes a token stands for, as the Hugging Face ByteLevel decoder computes them: the
     * byte of each character when every character is a byte character, otherwise the token's
     * own UTF-8 text (e.g. an added token containing a raw newline).
     */
    static byte[] tokenBytes(String token) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(token.length());
        for (int i = 0; i < token.length(); i++) {
            int b = byteOf(token.charAt(i));
            if (b < 0) return token.getBytes(StandardCharsets.UTF_8);
            out.write(b);
        }
        return out.toByteArray();
    }
}
