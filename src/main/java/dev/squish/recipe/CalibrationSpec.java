package dev.squish.recipe;

import java.nio.file.Path;
import java.util.Locale;

/**
 * Which calibration text to use and how to cut it into samples.
 *
 * @param file     the calibration text, already resolved to an existing file; null means "not
 *                 given" (the caller picks its default)
 * @param samples  number of sequences (default 128)
 * @param seqLen   tokens per sequence (default 256; callers clip it to the model's maximum)
 * @param sampling {@link Sampling#RANDOM} windows (default) or the first {@code samples}
 *                 non-overlapping windows in order
 * @param seed     random seed for {@link Sampling#RANDOM} (default 0)
 */
public record CalibrationSpec(Path file, int samples, int seqLen, Sampling sampling, long seed) {
    public static final int DEFAULT_SAMPLES = 128;
    public static final int DEFAULT_SEQ_LEN = 256;

    public enum Sampling {
        RANDOM, SEQUENTIAL;

        public String id() { return name().toLowerCase(Locale.ROOT); }
    }

    public static CalibrationSpec defaults() {
        return new CalibrationSpec(null, DEFAULT_SAMPLES, DEFAULT_SEQ_LEN, Sampling.RANDOM, 0);
    }

    public CalibrationSpec {
        if (samples <= 0) throw new IllegalArgumentException("samples must be positive: " + samples);
        if (seqLen <= 0) throw new IllegalArgumentException("seqLen must be positive: " + seqLen);
        if (sampling == null) throw new IllegalArgumentException("sampling is null");
    }

    public CalibrationSpec withFile(Path f) { return new CalibrationSpec(f, samples, seqLen, sampling, seed); }

    /** E.g. {@code "128 x 256 tokens, random (seed 0) from train.txt"}. */
    public String describe() {
        return samples + " x " + seqLen + " tokens, " + sampling.id()
                + (sampling == Sampling.RANDOM ? " (seed " + seed + ")" : "")
                + (file != null ? " from " + file : "");
    }
}
