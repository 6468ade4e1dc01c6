package dev.squish.model;

import dev.squish.weights.DenseLinear;
import dev.squish.weights.Linear;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Structural edits that make a model smaller and still dense: removing coupled units of a block
 * (attention key/value groups, MLP channels; see {@link Architecture.Coupling}) and removing whole
 * blocks. The results run with the ordinary forward pass (widths come from the weights) and are
 * written as ordinary checkpoints by the export package.
 */
public final class Structure {
    private Structure() {}

    /**
     * Keeps only the units of coupling c in block b for which {@code keep[u]} is true: the rows of
     * the row linears (and their biases) and the columns of the column linears. Removed units
     * simply vanish; a caller that compensates for them (FLAP's bias) adds to the output linear's
     * bias itself. Linears become dense float32 (structured pruning starts from dense weights).
     */
    public static void keepUnits(Block b, Architecture.Coupling c, boolean[] keep) {
        int units = c.units(b);
        if (keep.length != units) throw new IllegalArgumentException(c.name() + ": " + keep.length + " flags for " + units + " units in block " + b.index);
        int kept = 0;
        for (boolean k : keep) if (k) kept++;
        if (kept == units) return;
        if (kept == 0) throw new IllegalArgumentException(c.name() + ": block " + b.index + " would keep none of its " + units + " units");
        for (var e : c.rows().entrySet()) {
            String name = e.getKey();
            int per = e.getValue();
            Linear l = b.linear(name);
            b.linears.put(name, new DenseLinear(kept * per, l.cols(), keepRows(l.toDense(), l.cols(), keep, per)));
            float[] bias = b.vector(name + ".bias");
            if (bias != null) b.vectors.put(name + ".bias", keepRows(bias, 1, keep, per));
        }
        for (var e : c.cols().entrySet()) {
            String name = e.getKey();
            int per = e.getValue();
            Linear l = b.linear(name);
            b.linears.put(name, new DenseLinear(l.rows(), kept * per, keepCols(l.toDense(), l.rows(), l.cols(), keep, per)));
        }
    }

    /** Rows of a [rows, cols] matrix whose unit (per consecutive rows each) is kept. */
    static float[] keepRows(float[] w, int cols, boolean[] keep, int per) {
        int kept = 0;
        for (boolean k : keep) if (k) kept++;
        float[] out = new float[kept * per * cols];
        int o = 0;
        for (int u = 0; u < keep.length; u++) {
            if (!keep[u]) continue;
            System.arraycopy(w, u * per * cols, out, o, per * cols);
            o += per * cols;
        }
        return out;
    }

    /** Columns of a [rows, cols] matrix whose unit (per consecutive columns each) is kept. */
    static float[] keepCols(float[] w, int rows, int cols, boolean[] keep, int per) {
        int kept = 0;
        for (boolean k : keep) if (k) kept++;
        int nc = kept * per;
        float[] out = new float[rows * nc];
        for (int r = 0; r < rows; r++) {
            int o = r * nc;
            for (int u = 0; u < keep.length; u++) {
                if (!keep[u]) continue;
                System.arraycopy(w, r * cols + u * per, out, o, per);
                o += per;
            }
        }
        return out;
    }

    /**
     * Adds {@code delta} to the bias of the named linear of block b, creating the bias (zeros)
     * when the block has none.
     */
    public static void addBias(Block b, String linear, float[] delta) {
        int rows = b.linear(linear).rows();
        if (delta.length != rows) throw new IllegalArgumentException(linear + ": bias of " + delta.length + " for " + rows + " rows");
        float[] bias = b.vector(linear + ".bias");
        bias = bias == null ? new float[rows] : bias.clone();
        for (int i = 0; i < rows; i++) bias[i] += delta[i];
        b.vectors.put(linear + ".bias", bias);
    }

    /**
     * Removes the given blocks (by current index) from the model and renumbers the rest
     * 0..n-1 in order, so that they are written as layers 0..n-1 of a shorter model.
     */
    public static void removeBlocks(Model m, Set<Integer> drop) {
        for (int i : drop)
            if (i < 0 || i >= m.blocks.size()) throw new IllegalArgumentException("block " + i + " does not exist (model has " + m.blocks.size() + ")");
        if (drop.size() >= m.blocks.size()) throw new IllegalArgumentException("cannot remove all " + m.blocks.size() + " blocks");
        List<Block> kept = new ArrayList<>();
        for (Block b : m.blocks) {
            if (drop.contains(b.index)) continue;
            Block nb = new Block(kept.size());
            nb.linears.putAll(b.linears);
            nb.vectors.putAll(b.vectors);
            kept.add(nb);
        }
        m.blocks.clear();
        m.blocks.addAll(kept);
    }

    /** The shape of every block, in order. */
    public static List<Architecture.LayerShape> shapes(Model m) {
        List<Architecture.LayerShape> s = new ArrayList<>();
        for (Block b : m.blocks) s.add(m.arch.shape(b));
        return s;
    }

    /** True when every block has the same shape. */
    public static boolean uniform(List<Architecture.LayerShape> shapes) { return new HashSet<>(shapes).size() <= 1; }

    /** Indices in ascending order (for messages). */
    static String list(Set<Integer> s) { return Arrays.toString(s.stream().sorted().toArray()); }
}
