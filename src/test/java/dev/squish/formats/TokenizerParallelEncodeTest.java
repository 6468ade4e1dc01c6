package dev.squish.formats;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import dev.squish.Fixtures;
import java.nio.file.Files;
import org.junit.jupiter.api.Test;

class TokenizerParallelEncodeTest {
    @Test
    void encodingWithProgressGivesTheSameIds() throws Exception {
        Tokenizer tok = Tokenizer.load(Fixtures.LLAMA);
        String text = Files.readString(Fixtures.VALID);   // ~196 KB: above the threshold, so split into parallel chunks
        assertArrayEquals(tok.encode(text), tok.encode(text, "tokenize"));
        String small = text.substring(0, 5000);
        assertArrayEquals(tok.encode(small), tok.encode(small, "tokenize"));
    }
}
