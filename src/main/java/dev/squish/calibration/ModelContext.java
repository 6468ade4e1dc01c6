package dev.squish.calibration;

import dev.squish.model.Block;
import dev.squish.model.Model;
import dev.squish.weights.DenseLinear;
import dev.squish.weights.Linear;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * What a method sees of the whole model before the first block ({@code plan}) and after the last
 * ({@code finish}): the model, the stage's layer filter, the calibration samples (null for a
 * data-free run) and the reports. Changes to weights go through here, not through the model's
 * fields, so that a later phase (reports, cached statistics) sees them.
 */
public final class ModelContext {
    private final Model model;
    private final Pattern layers;
    private final int[][] samples;
    private final List<LayerReport> reports;
    private final java.util.function.Function<String, int[]> tokenizer;

    public ModelContext(Model model, Pattern layers, int[][] samples, List<LayerReport> reports) {
        this(model, layers, samples, reports, null);
    }

    public ModelContext(Model model, Pattern layers, int[][] samples, List<LayerReport> reports,
                        java.util.function.Function<String, int[]> tokenizer) {
        this.model = model; this.layers = layers; this.samples = samples; this.reports = reports; this.tokenizer = tokenizer;
    }

    /** The model's tokenizer (text to ids), for stages that read text of their own (fine-tuning data). */
    public int[] tokenize(String text) {
        if (tokenizer == null) throw new IllegalStateException("no tokenizer given to this pipeline");
        return tokenizer.apply(text);
    }

    public Model model() { return model; }

    /** Calibration token windows, or null when the run is data-free. */
    public int[][] samples() { return samples; }

    /** What the stages reported so far (read-only). */
    public List<LayerReport> reports() { return java.util.Collections.unmodifiableList(reports); }

    public boolean selected(String linear) { return layers == null || layers.matcher(linear).find(); }

    /** Linear names (within a block) that the stage applies to. */
    public List<String> selectedLinears() {
        List<String> out = new ArrayList<>();
        for (String name : model.arch.linearNames()) if (selected(name)) out.add(name);
        return out;
    }

    /** Replaces a linear of a block (no report: for whole-model rewrites such as folding a norm). */
    public void replace(Block b, String linear, Linear l) { b.linears.put(linear, l); }

    public void setVector(Block b, String name, float[] v) { b.vectors.put(name, v); }

    /** Replaces the output head; a head tied to the embedding becomes a separate matrix. */
    public void replaceHead(Linear head) {
        model.head = head;
        model.tiedHead = false;
    }

    public void replaceEmbedding(DenseLinear embed) { model.embed = embed; }

    public void setFinalNorm(float[] weight) { model.finalNorm = weight; }

    public void report(LayerReport r) { reports.add(r); }
}
