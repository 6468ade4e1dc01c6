package dev.squish.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.squish.formats.Tokenizer;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * Fuzz target for {@code tokenizer.json} (with {@code tokenizer_config.json}): load, then encode a
 * fuzzed text with and without added-token matching and decode the ids back. Only
 * {@code SquishException} may escape.
 */
class TokenizerFuzzTest {

    /** Input: frame(tokenizer.json) frame(tokenizer_config.json, absent when empty) rest(text). */
    @FuzzTest(maxDuration = "60s")
    void tokenizer(byte[] input) {
        Path dir = FuzzFiles.freshDir();
        Frames f = new Frames(input);
        FuzzFiles.write(dir.resolve("tokenizer.json"), f.next());
        byte[] cfg = f.next();
        if (cfg.length > 0) FuzzFiles.write(dir.resolve("tokenizer_config.json"), cfg);
        String text = new String(f.rest(), StandardCharsets.UTF_8);
        FuzzFiles.expectOnlySquishErrors(() -> {
            Tokenizer t = Tokenizer.load(dir);
            int[] ids = t.encode(text);
            t.decode(ids);
            t.decode(t.encode(text, true));
        });
    }
}
