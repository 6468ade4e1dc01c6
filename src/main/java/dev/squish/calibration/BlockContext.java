package dev.squish.calibration;

import dev.squish.calibration.LayerReport;
import dev.squish.model.Block;
import dev.squish.model.LinearObserver;
import dev.squish.model.Model;
import dev.squish.util.Profile;
import dev.squish.weights.Linear;

import java.util.*;
import java.util.function.Predicate;
import java.util.regex.Pattern;

/**
 * What a method sees of one block during compression: the block, its calibration inputs (produced
 * by the already-compressed earlier blocks), statistics of every linear's inputs (computed on
 * first use, one pass), and a place to report what it did.
 */
public final class BlockContext {
    private final Model model;
    private final Block block;
    private final Activations inputs;
    private final int seqLen;
    private final Pattern layers;
    private final List<LayerReport> reports;
    private Map<String, LinearStats> stats;

    public BlockContext(Model model, Block block, float[][] inputs, int seqLen, Pattern layers, List<LayerReport> reports) {
        this(model, block, inputs == null ? null : new HeapActivations(inputs, seqLen), layers, reports);
    }

    /** A context over activations that may live on the heap, in a mapped file or on a cluster (null: data-free). */
    public BlockContext(Model model, Block block, Activations inputs, Pattern layers, List<LayerReport> reports) {
        this.model = model; this.block = block; this.inputs = inputs; this.seqLen = inputs == null ? 0 : inputs.seqLen();
        this.layers = layers; this.reports = reports;
    }

    public Model model() { return model; }
    public Block block() { return block; }
    public int seqLen() { return seqLen; }
    public int samples() { return inputs == null ? 0 : inputs.samples(); }

    /** Hands the block's input hidden state of each calibration sample ([seqLen, width], read-only) to f, in order. */
    public void forEachInput(java.util.function.Consumer<float[]> f) {
        if (inputs == null) throw new IllegalStateException("this method was declared data-free");
        inputs.forEachInput(f);
    }

    /**
     * Replaces each sample's block input by {@code f(input)}, for methods that change the basis or
     * width of the hidden state before this block (SliceGPT rotates the embeddings' output); the
     * pipeline then runs the block on the new inputs. Drops cached statistics.
     */
    public void transformInputs(java.util.function.UnaryOperator<float[]> f) {
        if (inputs == null) throw new IllegalStateException("this method was declared data-free");
        inputs.transform(f);
        stats = null;
    }

    /** Linear names of this block that the method should compress (the stage's layer filter). */
    public List<String> selectedLinears() {
        List<String> out = new ArrayList<>();
        for (String name : model.arch.linearNames()) if (selected(name)) out.add(name);
        return out;
    }

    public boolean selected(String linear) { return layers == null || layers.matcher(linear).find(); }

    /** Runs the block (as it is now) over every calibration sample, showing each linear's input. */
    public void forEachSample(LinearObserver obs) {
        if (inputs == null) throw new IllegalStateException("this method was declared data-free");
        Activations.forEachSample(model, block, inputs, obs);
    }

    /** Statistics of the inputs of every linear of the block (one pass over the samples, cached). */
    public Map<String, LinearStats> stats() {
        if (stats == null) {
            if (inputs == null) throw new IllegalStateException("this method was declared data-free");
            stats = inputs.stats(model, block);
        }
        return stats;
    }

    /** Drops cached statistics (after a method changed the block and needs fresh ones). */
    public void invalidate() { stats = null; }

    public LinearStats stats(String linear) {
        LinearStats s = stats().get(linear);
        if (s == null) throw new IllegalStateException("no statistics for " + linear);
        return s;
    }

    /** Replaces a linear and records the report line for it (error from the calibration statistics when present). */
    public LayerReport replace(String method, String linear, Linear compressed, float[] original, double seconds) {
        Linear old = block.linear(linear);
        block.linears.put(linear, compressed);
        float[] now = compressed.toDense();
        long zeros = 0;
        for (float v : now) if (v == 0f) zeros++;
        double err = Double.NaN;
        if (stats != null && stats.containsKey(linear) && original != null) {
            Profile.Phase prev = Profile.enter(Profile.Phase.ERROR);
            try { err = stats.get(linear).relativeError(original, now, old.rows()); } finally { Profile.exit(prev); }
        }
        LayerReport r = new LayerReport(method, block.index, linear, compressed.format(), compressed.rows(), compressed.cols(),
                compressed.parameters(), compressed.bytes(), now.length == 0 ? 0 : (double) zeros / now.length, err, seconds);
        reports.add(r);
        return r;
    }

    /**
     * Replaces a linear with one whose reconstruction error the method measured itself (e.g. on
     * inputs it gathered through the already-changed linears of the block), and reports it.
     */
    public LayerReport replace(String method, String linear, Linear compressed, double relativeError, double seconds) {
        block.linears.put(linear, compressed);
        stats = null;
        LayerReport r = new LayerReport(method, block.index, linear, compressed.format(), compressed.rows(), compressed.cols(),
                compressed.parameters(), compressed.bytes(), 0, relativeError, seconds);
        reports.add(r);
        return r;
    }

    /**
     * Changes a linear (or adds one, e.g. a SliceGPT shortcut) without a report line, for methods
     * that rewrite the block in several steps and report once at the end. Drops cached statistics.
     */
    public void put(String linear, Linear l) {
        block.linears.put(linear, l);
        stats = null;
    }

    /** Changes a vector of the block (a norm's weight, a bias). Drops cached statistics. */
    public void putVector(String name, float[] v) {
        block.vectors.put(name, v);
        stats = null;
    }

    public void report(LayerReport r) { reports.add(r); }

    static Predicate<String> all() { return s -> true; }

    /**
     * Floating-point operations of one block's forward pass over one sequence of L tokens, as
     * dense float32 work: 2 per weight per token for the linears, plus causal attention's
     * {@code Q K^T} and {@code A V} ({@code 2 * L^2 * width}). Compressed formats may do less;
     * this is the work the profile's floor is measured against.
     */
    public static long forwardFlops(Model model, Block b, int L) {
        long weights = 0;
        for (var l : b.linears.values()) weights += (long) l.rows() * l.cols();
        return 2L * L * weights + 2L * L * L * model.width();
    }
}
