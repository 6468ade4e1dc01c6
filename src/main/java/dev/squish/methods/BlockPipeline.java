package dev.squish.methods;

import dev.squish.calibration.Activations;
import dev.squish.calibration.BlockContext;
import dev.squish.calibration.HeapActivations;
import dev.squish.calibration.LayerReport;
import dev.squish.calibration.ModelContext;
import dev.squish.model.Block;
import dev.squish.model.Model;
import dev.squish.model.NonFinite;
import dev.squish.util.Profile;
import dev.squish.util.Progress;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import java.util.regex.Pattern;

/**
 * Compresses a model one decoder block at a time, as SparseGPT, Wanda, GPTQ and AWQ do: each
 * stage's {@link CompressionMethod#plan} sees the whole model first; then capture the inputs of
 * block 0 for every calibration sample; for each block, let each stage's method compress it
 * (statistics are gathered from the block's current inputs), then run the <em>compressed</em>
 * block to produce the next block's inputs; last, each stage's {@link CompressionMethod#finish}.
 * Only one block's activations are held at a time.
 */
public final class BlockPipeline {
    /** A method and the linears (by local name, regex) it applies to; null pattern = all. */
    public record Stage(CompressionMethod method, Pattern layers) {}

    private final Model model;
    private final List<Stage> stages;
    private final List<LayerReport> reports = new ArrayList<>();

    public BlockPipeline(Model model, List<Stage> stages) {
        this.model = model;
        this.stages = stages;
    }

    public List<LayerReport> reports() { return reports; }

    private java.util.function.Function<String, int[]> tokenizer;

    /** The model's tokenizer, for whole-model stages that read text of their own (fine-tuning). */
    public BlockPipeline tokenizer(java.util.function.Function<String, int[]> t) {
        this.tokenizer = t;
        return this;
    }

    /**
     * Runs every stage over every block. Samples may be null when all methods are data-free; when
     * given, they also yield each layer's reconstruction error in the reports.
     */
    public List<LayerReport> run(int[][] samples) { return run(samples, null); }

    /**
     * As {@link #run(int[][])}, handing each block to {@code blockDone} as soon as no later step
     * needs it (after it is compressed and, with calibration data, has produced the next block's
     * inputs). A sink that writes the block out and releases its weights keeps the heap to about
     * one block however large the model (see {@code ModelWriter.Streaming}). Non-finite weights
     * and activations are refused with an error naming the tensor or block.
     */
    public List<LayerReport> run(int[][] samples, Consumer<Block> blockDone) { return run(samples, blockDone, null); }

    /**
     * As {@link #run(int[][], Consumer)}, with the calibration activations made by {@code source}
     * once the plans ran (null: on the heap): a mapped temporary file when they would not fit, or a
     * cluster's executors, which return each block's statistics as sums.
     */
    public List<LayerReport> run(int[][] samples, Consumer<Block> blockDone, Activations.Source source) {
        if (samples == null && stages.stream().anyMatch(s -> s.method().needsCalibration()))
            throw new IllegalArgumentException("calibration samples required");
        if (stages.stream().noneMatch(s -> s.method() instanceof WholeModelMethod)) return runBlocks(stages, samples, blockDone, source);
        // With a whole-model stage (fine-tuning) the model stays whole until the end: each run of
        // block stages goes through every block, then the whole-model stage, and so on; the sink
        // gets the blocks once everything is done.
        List<Stage> run = new ArrayList<>();
        for (Stage s : stages) {
            if (s.method() instanceof WholeModelMethod w) {
                if (!run.isEmpty()) runBlocks(run, samples, null, source);
                run.clear();
                NonFinite.checkGlobals(model);
                Profile.Phase prev = Profile.enter(Profile.Phase.SOLVE);
                try { w.apply(new ModelContext(model, s.layers(), samples, reports, tokenizer)); } finally { Profile.exit(prev); }
            } else run.add(s);
        }
        if (!run.isEmpty()) runBlocks(run, samples, null, source);
        if (blockDone != null) {
            Profile.Phase prev = Profile.enter(Profile.Phase.WRITE);
            try { for (Block b : model.blocks) blockDone.accept(b); } finally { Profile.exit(prev); }
        }
        return reports;
    }

    private List<LayerReport> runBlocks(List<Stage> stages, int[][] samples, Consumer<Block> blockDone, Activations.Source source) {
        boolean needData = samples != null;
        NonFinite.checkGlobals(model);
        for (Stage s : stages) {
            Profile.Phase prev = Profile.enter(Profile.Phase.SOLVE);
            try { s.method().plan(new ModelContext(model, s.layers(), samples, reports, tokenizer)); } finally { Profile.exit(prev); }
        }
        Activations x = null;
        try {
            if (needData) x = (source != null ? source : (Activations.Source) HeapActivations::embed).open(model, samples);
            try (Progress p = Progress.start("compress", model.blocks.size())) {
                for (Block b : model.blocks) {
                    NonFinite.checkBlock(model, b);
                    for (Stage s : stages) {
                        p.message("block " + b.index + ": " + s.method().name());
                        BlockContext ctx = new BlockContext(model, b, x, s.layers(), reports);
                        Profile.Phase prev = Profile.enter(Profile.Phase.SOLVE);
                        try { s.method().compressBlock(ctx); } finally { Profile.exit(prev); }
                    }
                    if (needData) x.advance(model, b);
                    if (blockDone != null) {
                        Profile.Phase prev = Profile.enter(Profile.Phase.WRITE);
                        try { blockDone.accept(b); } finally { Profile.exit(prev); }
                    }
                    p.step();
                }
            }
        } finally {
            if (x != null) x.close();
        }
        for (Stage s : stages) {
            Profile.Phase prev = Profile.enter(Profile.Phase.SOLVE);
            try { s.method().finish(new ModelContext(model, s.layers(), samples, reports, tokenizer)); } finally { Profile.exit(prev); }
        }
        return reports;
    }
}
