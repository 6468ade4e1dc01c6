package dev.squish.calibration;

import dev.squish.SquishException;
import dev.squish.model.Block;
import dev.squish.model.Model;
import dev.squish.util.Profile;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.function.Consumer;
import java.util.function.UnaryOperator;

/**
 * Calibration activations in a memory-mapped temporary file, one fixed-size slot per sample, for
 * calibration sets larger than the heap (the papers' 128 x 2048 tokens are 2 GiB of float32
 * activations at width 2048, 8 GiB at 8192). The heap holds one sample's hidden state at a time;
 * the operating system pages the file. The values are the heap path's bit for bit (floats stored
 * as they are), so the compressed weights are the same. The file is deleted on close (and at exit).
 */
public final class SpilledActivations implements Activations {
    private final int samples, seqLen;
    private final long slot;        // bytes per sample
    private final int[] length;     // floats per sample now (SliceGPT narrows the width)
    private final Path file;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment map;

    private SpilledActivations(int samples, int seqLen, int width, Path dir) {
        this.samples = samples;
        this.seqLen = seqLen;
        this.slot = 4L * seqLen * width;
        this.length = new int[samples];
        try {
            file = Files.createTempFile(dir, "squish-activations-", ".f32");
            file.toFile().deleteOnExit();
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                map = ch.map(FileChannel.MapMode.READ_WRITE, 0, slot * samples, arena);
            }
        } catch (IOException e) {
            arena.close();
            throw new SquishException("cannot create the activations file in " + dir + " (" + e.getMessage() + "; "
                    + (slot * samples >> 20) + " MiB needed)", e);
        }
    }

    /** The embeddings of the samples, written one at a time to a temporary file in dir (null: java.io.tmpdir). */
    public static SpilledActivations embed(Model model, int[][] samples, Path dir) {
        Path d = dir != null ? dir : Path.of(System.getProperty("java.io.tmpdir"));
        SpilledActivations a = new SpilledActivations(samples.length, samples[0].length, model.width(), d);
        for (int i = 0; i < samples.length; i++) a.write(i, model.embed(samples[i], 0));
        return a;
    }

    /** Bytes of activations the calibration holds for a model: samples x seqLen x width floats. */
    public static long bytes(Model model, int samples, int seqLen) { return 4L * samples * seqLen * model.width(); }

    private float[] read(int i) {
        float[] x = new float[length[i]];
        MemorySegment.copy(map, ValueLayout.JAVA_FLOAT_UNALIGNED, i * slot, x, 0, x.length);
        return x;
    }

    private void write(int i, float[] x) {
        if (4L * x.length > slot)
            throw new IllegalStateException("sample " + i + " grew to " + x.length + " floats, its slot holds " + slot / 4);
        MemorySegment.copy(x, 0, map, ValueLayout.JAVA_FLOAT_UNALIGNED, i * slot, x.length);
        length[i] = x.length;
    }

    @Override public int samples() { return samples; }

    @Override public int seqLen() { return seqLen; }

    @Override public void forEachInput(Consumer<float[]> f) { for (int i = 0; i < samples; i++) f.accept(read(i)); }

    @Override public void transform(UnaryOperator<float[]> f) { for (int i = 0; i < samples; i++) write(i, f.apply(read(i))); }

    @Override public void advance(Model model, Block block) {
        Profile.Phase prev = Profile.enter(Profile.Phase.FORWARD);
        try {
            var cache = model.newCache(seqLen);
            for (int i = 0; i < samples; i++) write(i, Activations.forward(model, block, read(i), seqLen, cache));
        } finally { Profile.exit(prev); }
    }

    @Override public void close() {
        arena.close();
        try { Files.deleteIfExists(file); } catch (IOException ignored) { }
    }
}
