package dev.squish.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.squish.formats.GgufReader;
import dev.squish.formats.GgufTensor;

import java.nio.file.Path;

/**
 * Fuzz target for the GGUF reader: open (header, metadata, tensor infos, alignment, data bounds),
 * then read every metadata value and dequantize every tensor. Only {@code SquishException} may escape.
 */
class GgufFuzzTest {

    /** Input: the bytes of a .gguf file. */
    @FuzzTest(maxDuration = "60s")
    void gguf(byte[] input) {
        Path file = FuzzFiles.freshDir().resolve("model.gguf");
        FuzzFiles.write(file, input);
        FuzzFiles.expectOnlySquishErrors(() -> {
            try (GgufReader r = GgufReader.open(file)) {
                r.metadata().forEach((k, v) -> String.valueOf(v.value()));
                for (GgufTensor t : r.tensors()) {
                    for (int i = 0; i < t.shape().length; i++) t.dim(i);
                    t.toFloatArray();
                }
            }
        });
    }
}
