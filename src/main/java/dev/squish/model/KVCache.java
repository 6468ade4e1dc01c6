package dev.squish.model;

/** Keys and values of every layer for positions [0, capacity), filled as tokens are processed. */
public final class KVCache {
    public final int capacity;
    final float[][] k, v;
    final int[] kvDim;
    private final float[][] scratch = new float[10][];

    /**
     * An activation buffer of exactly {@code size} floats for slot {@code slot}, kept for the next
     * call: a decode step otherwise allocates (and zeroes) about ten arrays per block. Contents are
     * whatever the last user left; every user overwrites it completely. A cache serves one sequence
     * on one thread at a time, so blocks can share slots.
     */
    float[] scratch(int slot, int size) {
        float[] a = scratch[slot];
        if (a == null || a.length != size) scratch[slot] = a = new float[size];
        return a;
    }

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
