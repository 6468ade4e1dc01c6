package dev.squish.calibration;

import dev.squish.model.Block;
import dev.squish.model.LinearObserver;
import dev.squish.model.Model;
import dev.squish.model.NonFinite;
import dev.squish.util.Profile;

import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.UnaryOperator;

/**
 * The calibration activations of the block being compressed: one hidden-state array
 * {@code [seqLen, width]} per calibration sample. Where they live is the implementation's business:
 * on the heap ({@link HeapActivations}), in a mapped temporary file ({@link SpilledActivations},
 * for calibration sets larger than the heap) or partitioned across a cluster's executors (the
 * {@code spark} package), which then computes {@link #stats} where the activations are and returns
 * only the sums.
 */
public interface Activations extends AutoCloseable {
    /** Makes the activations of the first block (the embeddings of the samples) once the stages' plans ran. */
    interface Source { Activations open(Model model, int[][] samples); }

    int samples();

    int seqLen();

    /** Hands each sample's current block input to f, in sample order; f must not keep or change it. */
    void forEachInput(Consumer<float[]> f);

    /** Replaces each input x by f(x) (SliceGPT rotates the embeddings' output); the width may change. */
    void transform(UnaryOperator<float[]> f);

    /**
     * Statistics of the inputs of every linear of the block as it is now, over all samples. The
     * default runs the block here over {@link #forEachInput}; a distributed implementation runs it
     * where the activations are and adds the partial sums.
     */
    default Map<String, LinearStats> stats(Model model, Block block) { return collect(model, block, this); }

    /** Runs the block over every sample: its outputs become the inputs of the next block. */
    void advance(Model model, Block block);

    @Override default void close() {}

    /**
     * Runs the block over every input of {@code acts}, showing each linear's input to obs (the
     * forward pass is profiled as "forward", the observer's work as "statistics").
     */
    static void forEachSample(Model model, Block block, Activations acts, LinearObserver obs) { forEachSample(model, block, acts, obs, null); }

    /** As above, calling {@code beforeEach} before each sample's forward pass (on the calling thread). */
    private static void forEachSample(Model model, Block block, Activations acts, LinearObserver obs, Runnable beforeEach) {
        int L = acts.seqLen();
        var cache = model.newCache(L);
        LinearObserver timed = (name, x, n, cols) -> {
            Profile.Phase f = Profile.enter(Profile.Phase.STATISTICS);
            try { obs.input(name, x, n, cols); } finally { Profile.exit(f); }
        };
        Profile.Phase prev = Profile.enter(Profile.Phase.FORWARD);
        try {
            long flops = BlockContext.forwardFlops(model, block, L);
            acts.forEachInput(x -> {
                if (beforeEach != null) beforeEach.run();
                model.arch.forwardBlock(block, x.clone(), L, 0, cache, timed);
                Profile.addFlops(flops);
            });
        } finally {
            Profile.exit(prev);
        }
    }

    /** The statistics of every linear's input over the samples of acts (one forward pass), computed here. */
    static Map<String, LinearStats> collect(Model model, Block block, Activations acts) {
        Map<String, LinearStats> s = new HashMap<>();
        // Linears that share one input (q/k/v, gate/up) share one accumulator: within one sample's
        // forward pass they are shown the same array. Forgotten before each sample, since the
        // forward pass may reuse a buffer for another linear's input in the next sample (which
        // would then be skipped: the statistics must depend only on the sample, not on which
        // samples came before it in the same pass, or partial statistics could not add up).
        IdentityHashMap<float[], LinearStats> seen = new IdentityHashMap<>();
        forEachSample(model, block, acts, (name, x, n, cols) -> {
            LinearStats st = seen.get(x);
            if (st == null) {
                st = s.get(name);
                if (st == null) st = new LinearStats(cols);
                st.add(x, n);
                seen.put(x, st);
            }
            s.putIfAbsent(name, st);
        }, seen::clear);
        Profile.Phase prev = Profile.enter(Profile.Phase.STATISTICS);
        try { for (LinearStats st : s.values()) st.flush(); } finally { Profile.exit(prev); }
        return s;
    }

    /** The forward pass of one block over one input (a copy), with the profile's flops and the non-finite check. */
    static float[] forward(Model model, Block block, float[] x, int L, dev.squish.model.KVCache cache) {
        float[] y = model.arch.forwardBlock(block, x, L, 0, cache, LinearObserver.NONE);
        Profile.addFlops(BlockContext.forwardFlops(model, block, L));
        NonFinite.checkActivations(model, block, y);
        return y;
    }
}
