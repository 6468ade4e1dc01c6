package dev.squish.cli;

import dev.squish.SquishException;
import dev.squish.calibration.BlockPipeline;
import dev.squish.calibration.Sampler;
import dev.squish.formats.Tokenizer;
import dev.squish.methods.CompressionMethod;
import dev.squish.methods.LayerReport;
import dev.squish.methods.Methods;
import dev.squish.model.Model;
import dev.squish.runtime.ModelWriter;
import dev.squish.runtime.Perplexity;
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
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

@Command(name = "compress", description = "Compress a model (prune, factorize, quantize) block by block and write a new model folder.")
final class CompressCommand implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin Common.Verbose verbose;
    @Parameters(index = "0", paramLabel = "MODEL_DIR") Path model;
    @Option(names = {"-o", "--output"}, required = true, paramLabel = "OUT_DIR") Path output;
    @Option(names = "--method", paramLabel = "METHOD") String method;
    @Option(names = "--recipe", paramLabel = "RECIPE.yaml") Path recipe;
    @Option(names = "--sparsity") Double sparsity;
    @Option(names = "--pattern", description = "unstructured (default) or N:M, e.g. 2:4") String pattern;
    @Option(names = "--keep", description = "Fraction of each matrix's parameters kept (svd, asvd).") Double keep;
    @Option(names = "--rank") Integer rank;
    @Option(names = "--allocation", description = "uniform (default) or spectrum (svd, asvd).") String allocation;
    @Option(names = "--slice", description = "Fraction of the hidden dimension removed (slicegpt).") Double slice;
    @Option(names = "--bits") Integer bits;
    @Option(names = "--group-size") Integer groupSize;
    @Option(names = "--sym") Boolean sym;
    @Option(names = "--asym") Boolean asym;
    @Option(names = "--act-order", description = "GPTQ: quantize columns in order of decreasing Hessian diagonal.") Boolean actOrder;
    @Option(names = "--outliers", description = "Keep this fraction of each matrix in full precision (dense-and-sparse).") Double outliers;
    @Option(names = "--clip", negatable = true, description = "AWQ: search a clipping threshold per group (default on; --no-clip to skip).") Boolean clip;
    @Option(names = "--layers", paramLabel = "REGEX", description = "Only linears whose name in the block matches, e.g. 'mlp\\..*'.") String layers;
    @Option(names = "--calibration", paramLabel = "TEXT_FILE") Path calibration;
    @Option(names = "--samples", defaultValue = "128") int samples;
    @Option(names = "--seq-len", paramLabel = "L") Integer seqLen;
    @Option(names = "--sampling", defaultValue = "random", description = "sequential or random (default)") String sampling;
    @Option(names = "--seed", defaultValue = "0") long seed;
    @Option(names = "--dense", description = "Also write model.safetensors, plain float32 tensors that transformers and Jlama load.") boolean dense;
    @Option(names = "--eval", paramLabel = "TEXT_FILE", description = "Also measure the compressed model's perplexity on this text.") Path eval;
    @Option(names = "--force", description = "Replace OUT_DIR if it exists.") boolean force;
    @Option(names = "--json", description = "Print one JSON object on stdout.") boolean json;

    /** One stage as given on the command line or in a recipe. */
    record StageSpec(String method, Map<String, Object> options, Pattern layers) {}

    List<StageSpec> stages() {
        if ((method == null) == (recipe == null)) throw new SquishException("give exactly one of --method or --recipe");
        Map<String, Object> o = new LinkedHashMap<>();
        if (sparsity != null) o.put("sparsity", sparsity);
        if (pattern != null) o.put("pattern", pattern);
        if (keep != null) o.put("keep", keep);
        if (rank != null) o.put("rank", rank);
        if (allocation != null) o.put("allocation", allocation);
        if (slice != null) o.put("slice", slice);
        if (bits != null) o.put("bits", bits);
        if (groupSize != null) o.put("group_size", groupSize);
        if (sym != null && asym != null) throw new SquishException("give at most one of --sym and --asym");
        if (sym != null) o.put("sym", sym);
        if (asym != null) o.put("sym", !asym);
        if (actOrder != null) o.put("act_order", actOrder);
        if (outliers != null) o.put("outliers", outliers);
        if (clip != null) o.put("clip", clip);
        Pattern lp = null;
        if (layers != null) {
            try { lp = Pattern.compile(layers); } catch (PatternSyntaxException e) { throw new SquishException("--layers: invalid regular expression '" + layers + "'"); }
        }
        return List.of(new StageSpec(method, o, lp));
    }

    @Override public Integer call() {
        List<StageSpec> specs = stages();
        List<BlockPipeline.Stage> stages = new ArrayList<>();
        for (StageSpec s : specs) stages.add(new BlockPipeline.Stage(Methods.create(s.method(), s.options()), s.layers()));
        if (!sampling.equals("random") && !sampling.equals("sequential"))
            throw new SquishException("--sampling must be 'sequential' or 'random', got '" + sampling + "'");
        boolean needData = stages.stream().anyMatch(s -> s.method().needsCalibration());
        if (needData && calibration == null)
            throw new SquishException("--calibration TEXT_FILE is required by " + stages.stream().filter(s -> s.method().needsCalibration()).map(s -> s.method().name()).findFirst().orElse(""));
        String calText = calibration != null ? Common.readText(calibration, "--calibration") : null;
        String evalText = eval != null ? Common.readText(eval, "--eval") : null;
        long t0 = System.nanoTime();
        try (Model m = Model.load(model)) {
            long paramsBefore = m.parameters(), bytesBefore = m.bytes();
            Tokenizer tok = Tokenizer.load(model);
            int L = seqLen != null ? seqLen : Math.min(256, m.maxPositions());
            if (L > m.maxPositions()) throw new SquishException("--seq-len " + L + " exceeds the model's context of " + m.maxPositions());
            int[][] windows = calText == null ? null : Sampler.sample(tok.encode(calText), samples, L, sampling.equals("random"), seed);
            BlockPipeline pipeline = new BlockPipeline(m, stages);
            List<LayerReport> reports = pipeline.run(windows);
            Map<String, String> meta = new LinkedHashMap<>();
            meta.put("squish.recipe", String.join(" then ", stages.stream().map(s -> s.method().describe()).toList()));
            Path written = ModelWriter.write(m, output, dense, force, meta);
            double seconds = (System.nanoTime() - t0) / 1e9;
            Perplexity.Result ppl = null;
            if (evalText != null) ppl = Perplexity.evaluate(m, tok.encode(evalText), L);
            printTable(spec.commandLine().getErr(), reports);
            Map<String, Object> res = new LinkedHashMap<>();
            res.put("output", written.toString());
            res.put("method", meta.get("squish.recipe"));
            res.put("parameters", m.parameters());
            res.put("parameters_before", paramsBefore);
            res.put("bytes", m.bytes());
            res.put("bytes_before", bytesBefore);
            res.put("seconds", seconds);
            if (ppl != null) res.put("perplexity", ppl.perplexity());
            List<Map<String, Object>> layers = new ArrayList<>();
            for (LayerReport r : reports) {
                Map<String, Object> x = new LinkedHashMap<>();
                x.put("block", r.block()); x.put("linear", r.linear()); x.put("method", r.method()); x.put("format", r.format());
                x.put("shape", List.of(r.rows(), r.cols())); x.put("parameters", r.parameters()); x.put("bytes", r.bytes());
                x.put("sparsity", r.sparsity()); x.put("relative_error", Double.isNaN(r.relativeError()) ? null : r.relativeError());
                x.put("seconds", r.seconds());
                layers.add(x);
            }
            res.put("layers", layers);
            var out = spec.commandLine().getOut();
            if (json) out.println(Common.json(res));
            else {
                out.printf("wrote %s: %s; %,d -> %,d parameters, %,d -> %,d bytes, %.1f s%n", written, meta.get("squish.recipe"),
                        paramsBefore, m.parameters(), bytesBefore, m.bytes(), seconds);
                if (ppl != null) out.printf("perplexity %.4f%n", ppl.perplexity());
            }
            return 0;
        }
    }

    static void printTable(PrintWriter err, List<LayerReport> reports) {
        err.printf("%-5s %-18s %-10s %-14s %-10s %9s %10s %8s%n", "block", "linear", "method", "format", "shape", "sparsity", "rel.error", "time");
        for (LayerReport r : reports)
            err.printf("%-5d %-18s %-10s %-14s %-10s %8.2f%% %10s %7.2fs%n", r.block(), r.linear(), r.method(), r.format(),
                    r.rows() + "x" + r.cols(), 100 * r.sparsity(), Double.isNaN(r.relativeError()) ? "-" : String.format("%.4f", r.relativeError()), r.seconds());
        err.flush();
    }
}
