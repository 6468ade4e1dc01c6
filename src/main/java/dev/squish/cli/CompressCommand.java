package dev.squish.cli;

import dev.squish.SquishException;
import dev.squish.methods.BlockPipeline;
import dev.squish.calibration.Activations;
import dev.squish.calibration.HeapActivations;
import dev.squish.calibration.Sampler;
import dev.squish.calibration.SpilledActivations;
import dev.squish.formats.SafeTensors;
import dev.squish.formats.Tokenizer;
import dev.squish.calibration.LayerReport;
import dev.squish.model.Model;
import dev.squish.recipe.CalibrationSpec;
import dev.squish.recipe.Recipe;
import dev.squish.recipe.Stage;
import dev.squish.export.ModelWriter;
import dev.squish.eval.Perplexity;
import dev.squish.util.Profile;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.*;
import java.util.concurrent.Callable;

@Command(name = "compress", mixinStandardHelpOptions = true, description = "Compress a model (prune, factorize, quantize) block by block and write a new model folder.")
final class CompressCommand implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin Common.Verbose verbose;
    @Parameters(index = "0", paramLabel = "MODEL_DIR") Path model;
    @Option(names = {"-o", "--output"}, required = true, paramLabel = "OUT_DIR") Path output;
    @Option(names = "--method", paramLabel = "METHOD") String method;
    @Option(names = "--recipe", paramLabel = "RECIPE.yaml") Path recipe;
    @Option(names = "--layers", paramLabel = "REGEX", description = "Only linears whose name in the block matches, e.g. 'mlp\\..*'.") String layers;
    @Mixin CalibrationFlags cal;
    @Option(names = "--dense", description = "Also write model.safetensors, plain float32 tensors that transformers and Jlama load.") boolean dense;
    @Option(names = "--eval", paramLabel = "TEXT_FILE", description = "Also measure the compressed model's perplexity on this text.") Path eval;
    @Option(names = "--force", description = "Replace OUT_DIR if it exists.") boolean force;
    @Option(names = "--json", description = "Print one JSON object on stdout.") boolean json;
    @Option(names = "--profile", description = "Print time, flops and rate per phase (forward, statistics, solve, error, write) against the prefill GEMM rate, and peak memory, on stderr (in --json as 'profile').") boolean profile;
    @Option(names = "--activations", paramLabel = "auto|heap|disk", description = "Where the calibration activations of the current block live: heap, disk (a mapped temporary file in java.io.tmpdir, one sample on the heap at a time) or auto (default: disk when samples x seq-len x width floats exceed a quarter of the maximum heap).") String activations;
    @Option(names = "--spark", paramLabel = "MASTER", description = "Run the calibration on Apache Spark (e.g. local[2], spark://HOST:7077): samples partitioned across the executors, which return each block's statistics as sums; see docs/spark.md.") String spark;
    @Option(names = "--spark-partitions", paramLabel = "N", description = "Partitions of the calibration samples with --spark (default: the cluster's default parallelism).") Integer sparkPartitions;
    @Option(names = "--report", paramLabel = "FILE.html", description = "Write an HTML report of the run (recipe, layers, errors, bytes, perplexity).") Path report;

    /**
     * The recipe: from --recipe (command-line calibration flags override its calibration), or from
     * --method and the method flags ({@link MethodFlags}, made from the method registry).
     */
    Recipe recipe() {
        if ((method == null) == (recipe == null)) throw new SquishException("give exactly one of --method or --recipe");
        Map<String, Object> o = MethodFlags.values(spec);
        if (recipe != null) {
            if (!o.isEmpty() || layers != null) {
                throw new SquishException("--" + (o.isEmpty() ? "layers" : o.keySet().iterator().next().replace('_', '-'))
                        + " does not apply with --recipe; put the method options in the recipe's stages");
            }
            Recipe r = Recipe.load(recipe);
            return r.withCalibration(cal.over(r.calibration()));
        }
        // drop-layers takes its count as --layers N (the spelling); everywhere else --layers
        // is the stage's filter of linear names.
        if (layers != null && "drop-layers".equals(method) && layers.trim().matches("-?\\d{1,9}") && !o.containsKey("blocks"))
            o.put("blocks", Integer.parseInt(layers.trim()));
        else if (layers != null) o.put("layers", layers);
        return Recipe.single(method, o, cal.values());
    }

    @Override public Integer call() {
        boolean wasQuiet = dev.squish.util.Progress.isQuiet();
        if (json) dev.squish.util.Progress.setQuiet(true);
        try {
            return compress();
        } finally {
            dev.squish.util.Progress.setQuiet(wasQuiet);
        }
    }

    private int compress() {
        Recipe r = recipe();
        List<BlockPipeline.Stage> stages = new ArrayList<>();
        for (Stage st : r.stages()) stages.add(new BlockPipeline.Stage(st.create(), st.layers()));
        CalibrationSpec cs = r.calibration();
        boolean needData = r.needsCalibration();
        if (needData && cs.file() == null)
            throw new SquishException("--calibration TEXT_FILE is required by " + stages.stream().filter(s -> s.method().needsCalibration()).map(s -> s.method().name()).findFirst().orElse(""));
        if (sparkPartitions != null && spark == null) throw new SquishException("--spark-partitions applies only with --spark");
        if (sparkPartitions != null && sparkPartitions < 1) throw new SquishException("--spark-partitions must be at least 1, got " + sparkPartitions);
        if (activations != null && !List.of("auto", "heap", "disk").contains(activations))
            throw new SquishException("--activations must be auto, heap or disk, got '" + activations + "'");
        if (activations != null && spark != null)
            throw new SquishException("--activations does not apply with --spark: the executors keep the activations (memory, then their disks)");
        if (spark != null && !needData)
            throw new SquishException("--spark distributes the calibration activations; " + stages.getFirst().method().name() + " uses no calibration data");
        String calText = cs.file() != null ? Common.readText(cs.file(), "--calibration") : null;
        String evalText = eval != null ? Common.readText(eval, "--eval") : null;
        long t0 = System.nanoTime();
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("squish.recipe", String.join(" then ", stages.stream().map(s -> s.method().describe()).toList()));
        Path written;
        List<LayerReport> reports;
        long paramsBefore, bytesBefore, paramsAfter, bytesAfter;
        int L;
        Tokenizer tok;
        Map<String, Long> layerBytes = new HashMap<>();   // per "block linear", before compression (for --report)
        Profile prof = null;
        ProfileOutput.Rate rate = null;
        Profile.Result profiled = null;
        // Crash safety and bounded memory (docs/robustness.md): the output is assembled in a
        // temporary folder beside the target and renamed into place when complete, and each block
        // is written out and released as soon as it is compressed.
        // Spark first: an unreachable master is an input error before anything is loaded or written.
        try (AutoCloseable sparkRun = spark == null ? null : SparkOption.open(spark, verbose.verbose);
             Model m = Model.load(model); ModelWriter.Output out = ModelWriter.Output.create(model, output, force)) {
            paramsBefore = m.parameters();
            bytesBefore = m.bytes();
            tok = Common.tokenizer(model, m);
            r.checkLayers(m.arch.linearNames());
            L = cal.seqLen != null ? cal.seqLen : Math.min(cs.seqLen(), m.maxPositions());
            if (L > m.maxPositions()) throw new SquishException("--seq-len " + L + " exceeds the model's context of " + m.maxPositions());
            if (profile) {
                rate = ProfileOutput.prefillRate(m.width(), L);
                prof = Profile.start();
            }
            int[][] windows = calText == null ? null
                    : Sampler.sample(tok.encode(calText, "tokenize calibration"), cs.samples(), L, cs.sampling() == CalibrationSpec.Sampling.RANDOM, cs.seed());
            for (var b : m.blocks) for (var e : b.linears.entrySet()) layerBytes.put(b.index + " " + e.getKey(), e.getValue().bytes());
            ModelWriter.copyConfig(model, out.dir());
            try (ModelWriter.Streaming w = new ModelWriter.Streaming(m, out.dir().resolve(SafeTensors.SQUISH_FILE), meta)) {
                reports = new BlockPipeline(m, stages).tokenizer(t -> tok.encode(t, "tokenize finetune data")).run(windows, w::block,
                        spark == null ? localActivations() : SparkOption.source((dev.squish.spark.SparkRun) sparkRun, model, m, sparkPartitions));
                // again after the run: a whole-model plan may have decided more (OWL's per-block N, the blocks dropped)
                meta.put("squish.recipe", String.join(" then ", stages.stream().map(s -> s.method().describe()).toList()));
                w.finish();
            }
            paramsAfter = m.parameters();
            bytesAfter = m.bytes();
            if (dense) {
                Profile.Phase prev = Profile.enter(Profile.Phase.WRITE);
                try (Model c = Model.load(out.dir())) { ModelWriter.writeDense(c, out.dir().resolve("model.safetensors")); }
                finally { Profile.exit(prev); }
            }
            written = out.commit();
            if (prof != null) profiled = prof.stop();
        } catch (RuntimeException e) {
            throw e;
        } catch (Exception e) { // closing the Spark context
            throw new IllegalStateException(e);
        } finally {
            if (prof != null && profiled == null) prof.close();
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        Perplexity.Result ppl = null;
        if (evalText != null) {
            try (Model c = Model.load(written)) { ppl = Perplexity.evaluate(c, tok.encode(evalText, "tokenize eval"), L); }
        }
        if (!json) printTable(spec.commandLine().getErr(), reports);
        if (profiled != null) ProfileOutput.print(spec.commandLine().getErr(), profiled, rate);
        if (report != null)
            CompressReport.build(new CompressReport.Run(model, written, r,
                    CompressReport.commandLine(spec.commandLine().getParseResult().originalArgs()), reports,
                    paramsBefore, paramsAfter, bytesBefore, bytesAfter, layerBytes, ppl == null ? null : ppl.perplexity(), eval,
                    seconds, stages.stream().map(BlockPipeline.Stage::method).filter(x -> x instanceof dev.squish.train.FinetuneMethod)
                    .map(x -> (dev.squish.train.FinetuneMethod) x).toList())).write(report);
        Map<String, Object> res = new LinkedHashMap<>();
        res.put("output", written.toString());
        res.put("method", meta.get("squish.recipe"));
        res.put("parameters", paramsAfter);
        res.put("parameters_before", paramsBefore);
        res.put("bytes", bytesAfter);
        res.put("bytes_before", bytesBefore);
        res.put("seconds", seconds);
        if (ppl != null) res.put("perplexity", ppl.perplexity());
        List<Map<String, Object>> layers = new ArrayList<>();
        for (LayerReport lr : reports) {
            Map<String, Object> x = new LinkedHashMap<>();
            x.put("block", lr.block()); x.put("linear", lr.linear()); x.put("method", lr.method()); x.put("format", lr.format());
            x.put("shape", List.of(lr.rows(), lr.cols())); x.put("parameters", lr.parameters()); x.put("bytes", lr.bytes());
            x.put("sparsity", lr.sparsity()); x.put("relative_error", Double.isNaN(lr.relativeError()) ? null : lr.relativeError());
            x.put("seconds", lr.seconds());
            layers.add(x);
        }
        res.put("layers", layers);
        if (profiled != null) res.put("profile", ProfileOutput.json(profiled, rate));
        var out = spec.commandLine().getOut();
        if (json) out.println(Common.json(res));
        else {
            out.printf("wrote %s: %s; %,d -> %,d parameters, %,d -> %,d bytes, %.1f s%n", written, meta.get("squish.recipe"),
                    paramsBefore, paramsAfter, bytesBefore, bytesAfter, seconds);
            if (ppl != null) out.printf("perplexity %.4f%n", ppl.perplexity());
        }
        return 0;
    }

    /**
     * The single-machine activations: on the heap, or spilled to a mapped temporary file when they
     * would take more than a quarter of the maximum heap (the rest holds one block's weights in
     * float32 and float64, its Hessians and the methods' work arrays) or when asked.
     */
    private Activations.Source localActivations() {
        String mode = activations == null ? "auto" : activations;
        return (m, s) -> {
            long bytes = SpilledActivations.bytes(m, s.length, s[0].length);
            boolean disk = mode.equals("disk") || (mode.equals("auto") && bytes > Runtime.getRuntime().maxMemory() / 4);
            return disk ? SpilledActivations.embed(m, s, null) : HeapActivations.embed(m, s);
        };
    }

    static void printTable(PrintWriter err, List<LayerReport> reports) {
        err.printf("%-5s %-18s %-10s %-14s %-10s %9s %10s %8s%n", "block", "linear", "method", "format", "shape", "sparsity", "rel.error", "time");
        for (LayerReport r : reports)
            err.printf("%-5d %-18s %-10s %-14s %-10s %8.2f%% %10s %7.2fs%n", r.block(), r.linear(), r.method(), r.format(),
                    r.rows() + "x" + r.cols(), 100 * r.sparsity(), Double.isNaN(r.relativeError()) ? "-" : String.format("%.4f", r.relativeError()), r.seconds());
        err.flush();
    }
}
