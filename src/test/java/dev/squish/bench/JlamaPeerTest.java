package dev.squish.bench;

import com.github.tjake.jlama.model.AbstractModel;
import com.github.tjake.jlama.tensor.AbstractTensor;
import com.github.tjake.jlama.tensor.KvBufferCache;
import dev.squish.Fixtures;
import dev.squish.formats.Tokenizer;
import dev.squish.model.Model;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/**
 * The peer runs the same model: the folder the bench writes for Jlama, loaded by Jlama, generates
 * the same greedy tokens as Squish on the llama fixture (so the speed rows compare like with like).
 */
class JlamaPeerTest {
    @TempDir Path tmp;

    @Test void jlamaGeneratesSquishsGreedyTokensFromTheWrittenFolder() throws Exception {
        int[] prompt = Tokenizer.load(Fixtures.LLAMA).encode("And God said, Let there be light: and");
        int steps = 20;
        int[] squish, jlama;
        try (Model m = Model.load(Fixtures.LLAMA)) { squish = greedy(Bench.squish(m), prompt, steps); }
        try (BenchModel src = BenchModel.folder(Fixtures.LLAMA)) { JlamaPeer.writeHfFolder(src, tmp.resolve("hf")); }
        AbstractModel jm = JlamaPeer.load(tmp.resolve("hf"), false);
        try (KvBufferCache cache = new KvBufferCache(jm); AbstractTensor logits = jm.makeDenseTensor(jm.getConfig().vocabularySize)) {
            jlama = greedy(JlamaPeer.engine(jm, cache, logits), prompt, steps);
        } finally {
            jm.close();
        }
        assertArrayEquals(squish, jlama);
    }

    private static int[] greedy(Bench.Engine e, int[] prompt, int steps) {
        int[] out = new int[steps];
        e.start(prompt);
        for (int i = 0; i < steps; i++) {
            out[i] = e.lastToken();
            e.step();
        }
        return out;
    }
}
