package dev.squish.methods.prune;

import dev.squish.model.Block;
import dev.squish.model.KVCache;
import dev.squish.model.LinearObserver;
import dev.squish.model.Model;

import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Map;

/**
 * Runs calibration samples through the model block by block, as the references of OWL, FLAP and
 * ShortGPT do before deciding anything: every block sees the outputs of the blocks before it as
 * they are (dense, unchanged), and a visitor gets each block's input moments per linear and its
 * input and output hidden states. Only one block's activations are held at a time.
 */
public final class DensePass {
    private DensePass() {}

    /** What the pass shows of one block. {@code in} and {@code out} are [samples][seqLen * width] and must not be modified. */
    public interface Visitor {
        void block(Block b, Map<String, Moments> inputs, float[][] in, float[][] out, int seqLen);
    }

    public static void run(Model m, int[][] samples, Visitor v) {
        if (samples == null || samples.length == 0) throw new IllegalArgumentException("calibration samples required");
        int L = samples[0].length;
        float[][] x = new float[samples.length][];
        for (int i = 0; i < samples.length; i++) x[i] = m.embed(samples[i], 0);
        for (Block b : m.blocks) {
            Map<String, Moments> mom = new HashMap<>();
            // Linears that share one input (q/k/v, gate/up) share one accumulator.
            IdentityHashMap<float[], Moments> seen = new IdentityHashMap<>();
            LinearObserver obs = (name, in, n, cols) -> {
                Moments mm = seen.get(in);
                if (mm == null) {
                    mm = mom.computeIfAbsent(name, k -> new Moments(cols));
                    mm.add(in, n);
                    seen.clear(); // only the latest array can be shared by the next linear
                    seen.put(in, mm);
                }
                mom.putIfAbsent(name, mm);
            };
            float[][] y = new float[x.length][];
            KVCache cache = m.newCache(L);
            for (int i = 0; i < x.length; i++) y[i] = m.arch.forwardBlock(b, x[i].clone(), L, 0, cache, obs);
            v.block(b, mom, x, y, L);
            x = y;
        }
    }
}
