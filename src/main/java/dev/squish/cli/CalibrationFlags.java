package dev.squish.cli;

import dev.squish.recipe.CalibrationSpec;
import dev.squish.recipe.Recipe;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The calibration flags, declared once for every command that calibrates ({@code compress},
 * {@code sweep}); a picocli mixin. Null means "not given": the recipe's value or the default
 * applies. Checked by the same rules as a recipe's {@code calibration} block.
 */
final class CalibrationFlags {
    @Option(names = "--calibration", paramLabel = "TEXT_FILE", description = "Calibration text (required by the methods that need calibration).")
    Path file;
    @Option(names = "--samples", description = "Calibration windows (default 128).") Integer samples;
    @Option(names = "--seq-len", paramLabel = "L", description = "Tokens per window (default 256, at most the model's context).") Integer seqLen;
    @Option(names = "--sampling", description = "random (default) or sequential windows.") String sampling;
    @Option(names = "--seed", description = "Seed of random sampling (default 0).") Long seed;

    /** The flags under the recipe's calibration keys (absent ones left out). */
    Map<String, Object> values() {
        Map<String, Object> cal = new LinkedHashMap<>();
        if (file != null) cal.put("file", file.toString());
        if (samples != null) cal.put("samples", samples);
        if (seqLen != null) cal.put("seq_len", seqLen);
        if (sampling != null) cal.put("sampling", sampling);
        if (seed != null) cal.put("seed", seed);
        return cal;
    }

    /** The flags over {@code base}: each given flag replaces base's value; errors name the flags. */
    CalibrationSpec over(CalibrationSpec base) {
        CalibrationSpec given = Recipe.calibrationFlags(values());
        return new CalibrationSpec(file != null ? given.file() : base.file(), samples != null ? given.samples() : base.samples(),
                seqLen != null ? given.seqLen() : base.seqLen(), sampling != null ? given.sampling() : base.sampling(),
                seed != null ? given.seed() : base.seed());
    }
}
