package dev.squish.export;

import dev.squish.SquishException;

import java.nio.file.Path;
import java.util.List;

/**
 * A file format a model folder can be exported to (GGUF today). {@code bin/squish export} finds
 * the exporter by its format name; a second format is one class implementing this and one entry
 * in {@link #all()}.
 */
public interface Exporter {
    /** The format's name, e.g. {@code gguf} (also the command's flag: {@code --gguf OUT}). */
    String format();

    /** The tensor storage types it can write, the default first. */
    List<String> types();

    /**
     * Writes {@code modelDir} (Hugging Face layout or a Squish output folder) to {@code out}.
     *
     * @param type one of {@link #types()} (case-insensitive)
     * @param cal  calibration for a data-aware encoding of the format's types (GGUF: GPTQ on
     *             llama.cpp's grid), or null for round-to-nearest
     */
    Written export(Path modelDir, Path out, String type, Calibration cal);

    /** Calibration text, windows and window length. */
    record Calibration(Path text, int samples, int seqLen) {}

    /** What was written; {@code note} says what deviated from the requested type (or is empty). */
    record Written(Path file, String type, long bytes, int tensors, String note) {}

    static List<Exporter> all() { return List.of(new GgufExport(), new CompressedTensorsExport()); }

    static Exporter byFormat(String format) {
        return all().stream().filter(e -> e.format().equals(format)).findFirst()
                .orElseThrow(() -> new SquishException("unknown export format '" + format + "'"));
    }
}
