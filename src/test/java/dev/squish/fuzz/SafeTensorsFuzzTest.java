package dev.squish.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.squish.formats.SafeTensors;
import dev.squish.formats.TensorInfo;
import dev.squish.weights.WeightFormats;

import java.nio.file.Path;
import java.util.Arrays;

/**
 * Fuzz targets for the safetensors reader: a single file ({@link #header}) and a sharded checkpoint
 * ({@link #index}: index JSON plus two shards). Every tensor that opens is then read the ways the
 * model loader reads tensors. Only {@code SquishException} may escape. Seeds and the crashers
 * fixed so far live in {@code src/test/resources/dev/squish/fuzz/SafeTensorsFuzzTestInputs/}.
 */
class SafeTensorsFuzzTest {

    /** Input: one safetensors file, framed by {@link #file}. */
    @FuzzTest(maxDuration = "60s")
    void header(byte[] input) {
        Path file = FuzzFiles.freshDir().resolve("model.safetensors");
        FuzzFiles.write(file, file(input));
        FuzzFiles.expectOnlySquishErrors(() -> { try (SafeTensors st = SafeTensors.open(file)) { readAll(st); } });
    }

    /** Input: frame(index JSON) frame(shard a, framed by {@link #file}) rest(shard b). */
    @FuzzTest(maxDuration = "60s")
    void index(byte[] input) {
        Path dir = FuzzFiles.freshDir();
        Frames f = new Frames(input);
        FuzzFiles.write(dir.resolve("model.safetensors.index.json"), f.next());
        FuzzFiles.write(dir.resolve("a.safetensors"), file(f.next()));
        FuzzFiles.write(dir.resolve("b.safetensors"), file(f.rest()));
        FuzzFiles.expectOnlySquishErrors(() -> { try (SafeTensors st = SafeTensors.open(dir)) { readAll(st); } });
    }

    /**
     * Builds file bytes so that most inputs reach the header's JSON: byte 0 is a mode, then
     * frame(header) and the data area. Mode 0: header length as declared = actual; mode 1: declared
     * off by the signed byte 1 of the data area; mode 2: the input after the mode byte, raw.
     */
    static byte[] file(byte[] in) {
        if (in.length == 0) return in;
        int mode = (in[0] & 0xff) % 3;
        byte[] rest = Arrays.copyOfRange(in, 1, in.length);
        if (mode == 2) return rest;
        Frames f = new Frames(rest);
        byte[] header = f.next(), data = f.rest();
        long declared = header.length + (mode == 1 && data.length > 0 ? data[0] : 0);
        return FuzzFiles.safetensors(declared, header, data);
    }

    /** Reads every tensor as the model loader would (dense matrices, transposed, vectors, integers). */
    static void readAll(SafeTensors st) {
        for (TensorInfo t : st.tensors()) {
            if (t.dtype().isFloat()) {
                if (t.rank() == 2) {
                    if (t.name().endsWith(".weight")) WeightFormats.read(st, t.name().substring(0, t.name().length() - 7), false);
                    WeightFormats.readDense(st, t.name(), true);
                } else {
                    t.toFloatArray();
                }
            } else {
                t.toIntArray();
            }
        }
    }
}
