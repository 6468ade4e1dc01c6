package dev.squish.formats;

/**
 * Lossy UTF-8 decoding exactly as Rust's {@code String::from_utf8_lossy} (used by Hugging Face
 * decoders): each maximal subpart of an ill-formed sequence becomes one U+FFFD, per the Unicode
 * standard's recommended practice. Java's own decoder differs in some cases (e.g. {@code ED BD},
 * which it replaces with one U+FFFD instead of two), hence this small hand-written decoder.
 */
final class Utf8 {
    private Utf8() {}

    static String decode(byte[] b, int n) {
        StringBuilder sb = new StringBuilder(n);
        decode(b, n, true, sb);
        return sb.toString();
    }

    /**
     * Decodes {@code b[0, n)} into {@code out}. If {@code endOfInput} is false, a sequence that is
     * valid so far but cut off by the end is left undecoded. Returns the number of bytes consumed.
     */
    static int decode(byte[] b, int n, boolean endOfInput, StringBuilder out) {
        int i = 0;
        while (i < n) {
            int c = b[i] & 0xFF;
            if (c < 0x80) { out.append((char) c); i++; continue; }
            int need, cp, lower = 0x80, upper = 0xBF;
            if (c >= 0xC2 && c <= 0xDF) { need = 1; cp = c & 0x1F; }
            else if (c >= 0xE0 && c <= 0xEF) { need = 2; cp = c & 0x0F; if (c == 0xE0) lower = 0xA0; if (c == 0xED) upper = 0x9F; }
            else if (c >= 0xF0 && c <= 0xF4) { need = 3; cp = c & 0x07; if (c == 0xF0) lower = 0x90; if (c == 0xF4) upper = 0x8F; }
            else { out.append('\uFFFD'); i++; continue; }
            int j = i + 1;
            boolean ok = true;
            for (int k = 0; k < need; k++, j++) {
                if (j >= n) {
                    if (!endOfInput) return i; // incomplete at the end: wait for more bytes
                    ok = false;
                    break;
                }
                int d = b[j] & 0xFF;
                if (d < lower || d > upper) { ok = false; break; }
                lower = 0x80;
                upper = 0xBF;
                cp = cp << 6 | d & 0x3F;
            }
            if (ok) out.appendCodePoint(cp);
            else out.append('\uFFFD');
            i = j;
        }
        return n;
    }
}
