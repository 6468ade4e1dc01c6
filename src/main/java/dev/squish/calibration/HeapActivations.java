package dev.squish.calibration;

import dev.squish.model.Block;
import dev.squish.model.Model;
import dev.squish.util.Profile;

import java.util.function.Consumer;
import java.util.function.UnaryOperator;

/** Calibration activations held on the heap, one array per sample (the fastest, when they fit). */
public final class HeapActivations implements Activations {
    private final float[][] x;
    private final int seqLen;

    /** Wraps the given arrays (not copied). */
    public HeapActivations(float[][] x, int seqLen) {
        this.x = x;
        this.seqLen = seqLen;
    }

    /** The embeddings of the samples. */
    public static HeapActivations embed(Model model, int[][] samples) {
        float[][] x = new float[samples.length][];
        for (int i = 0; i < samples.length; i++) x[i] = model.embed(samples[i], 0);
        return new HeapActivations(x, samples[0].length);
    }

    /** The arrays themselves (read-only for callers). */
    public float[][] arrays() { return x; }

    @Override public int samples() { return x.length; }

    @Override public int seqLen() { return seqLen; }

    @Override public void forEachInput(Consumer<float[]> f) { for (float[] a : x) f.accept(a); }

    @Override public void transform(UnaryOperator<float[]> f) { for (int i = 0; i < x.length; i++) x[i] = f.apply(x[i]); }

    @Override public void advance(Model model, Block block) {
        Profile.Phase prev = Profile.enter(Profile.Phase.FORWARD);
        try {
            var cache = model.newCache(seqLen);
            for (int i = 0; i < x.length; i++) x[i] = Activations.forward(model, block, x[i], seqLen, cache);
        } finally { Profile.exit(prev); }
    }
}
