package dev.squish.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.squish.Fixtures;
import dev.squish.formats.ModelConfig;
import dev.squish.model.Model;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Fuzz targets for {@code config.json}: parsing alone ({@link #config}), and loading the Llama
 * fixture's real weights under a fuzzed config ({@link #model}), which exercises every check of
 * shapes against the config. Only {@code SquishException} may escape.
 */
class ConfigFuzzTest {

    /** Input: the bytes of config.json. */
    @FuzzTest(maxDuration = "60s")
    void config(byte[] input) {
        Path dir = FuzzFiles.freshDir();
        FuzzFiles.write(dir.resolve("config.json"), input);
        FuzzFiles.expectOnlySquishErrors(() -> ModelConfig.load(dir));
    }

    /** Input: the bytes of config.json; the weights are the Llama fixture's shards (linked, read only). */
    @FuzzTest(maxDuration = "60s")
    void model(byte[] input) {
        Path dir = FuzzFiles.freshDir();
        try {
            for (String f : new String[]{"model.safetensors.index.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"})
                Files.createSymbolicLink(dir.resolve(f), Fixtures.LLAMA.resolve(f).toAbsolutePath());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        FuzzFiles.write(dir.resolve("config.json"), input);
        FuzzFiles.expectOnlySquishErrors(() -> {
            try (Model m = Model.load(dir)) {
                m.forward(new int[]{1, 2}, 0, m.newCache(2));
            }
        });
    }
}
