package dev.squish.eval;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.squish.Fixtures;
import dev.squish.formats.Tokenizer;
import dev.squish.model.Model;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** eval on the test split reproduces reference.json's test perplexity to within 0.1%. */
class PerplexityParityTest {
    @ParameterizedTest
    @ValueSource(strings = {"kjv-llama-tiny", "kjv-gpt2-tiny"})
    void testPerplexityMatchesReference(String name) throws Exception {
        Path dir = Fixtures.ROOT.resolve("models").resolve(name);
        var ref = new ObjectMapper().readTree(dir.resolve("reference.json").toFile());
        int[] ids = Tokenizer.load(dir).encode(Files.readString(Fixtures.TEST));
        assertEquals(ref.get("test_tokens").asInt(), ids.length);
        try (Model m = Model.load(dir)) {
            Perplexity.Result r = Perplexity.evaluate(m, ids, 256);
            double want = ref.get("test_perplexity").asDouble();
            System.out.printf("%s: test perplexity %.6f (reference %.6f) in %.1f s%n", name, r.perplexity(), want, r.seconds());
            assertEquals(want, r.perplexity(), want * 1e-3);
            assertEquals(208, r.windows());
            assertEquals(208L * 255, r.tokens());
        }
    }
}
