package dev.squish.model;

/** Keys and values of every layer for positions [0, capacity), filled as tokens are processed. */
public final class KVCache {
    public final int capacity;
    final float[][] k, v;
    final int[] kvDim;

    public KVCache(Model model, int capacity) {
        int layers = model.blocks.size();
        this.capacity = capacity;
        k = new float[layers][];
        v = new float[layers][];
        kvDim = new int[layers];
        for (int l = 0; l < layers; l++) {
            kvDim[l] = model.arch.kvDim(model.blocks.get(l));
            k[l] = new float[capacity * kvDim[l]];
            v[l] = new float[capacity * kvDim[l]];
        }
    }
}
