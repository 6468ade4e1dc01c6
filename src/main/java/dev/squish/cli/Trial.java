package dev.squish.cli;

import dev.squish.methods.BlockPipeline;
import dev.squish.formats.Tokenizer;
import dev.squish.methods.CompressionMethod;
import dev.squish.calibration.LayerReport;
import dev.squish.model.Model;
import dev.squish.recipe.Recipe;
import dev.squish.recipe.Stage;
import dev.squish.eval.Generator;
import dev.squish.eval.Perplexity;
import dev.squish.eval.TaskEval;
import dev.squish.eval.TaskFile;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One compression run of a model, measured: compress a freshly loaded copy with one method
 * (or leave it dense), then perplexity, size and decode speed of the result in its compressed
 * formats. Shared by {@code demo} and {@code sweep}, which run many of these on the same
 * tokenized calibration windows and evaluation text.
 */
final class Trial {
    private Trial() {}

    /** What to run: a label for tables, and a method with recipe options (method null = the dense model). */
    record Spec(String label, String method, Map<String, Object> options) implements java.io.Serializable {
        static Spec dense() { return new Spec("dense", null, Map.of()); }

        /** The validated one-stage recipe (defaults filled in); throws SquishException for bad options or unknown names. */
        Stage stage() { return Recipe.single(method, options).stages().get(0); }

        /** The method object; throws SquishException for bad options or unknown names. */
        CompressionMethod create() { return stage().create(); }

        /** The equivalent {@code bin/squish compress} flags, for reports. */
        String flags() {
            if (method == null) return "";
            StringBuilder sb = new StringBuilder("--method ").append(method);
            for (var e : options.entrySet()) sb.append(" --").append(e.getKey().replace('_', '-')).append(' ').append(e.getValue());
            return sb.toString();
        }
    }

    /**
     * Inputs shared by all runs: calibration windows (null if none), evaluation tokens and window, decode
     * prompt, and zero-shot tasks scored on each result (the first {@code taskLimit} items; 0 = all).
     */
    record Setup(Path modelDir, int[][] windows, int[] evalTokens, int evalSeqLen, int[] prompt, int decodeTokens,
                 List<TaskFile> tasks, int taskLimit) {
        Setup(Path modelDir, int[][] windows, int[] evalTokens, int evalSeqLen, int[] prompt, int decodeTokens) {
            this(modelDir, windows, evalTokens, evalSeqLen, prompt, decodeTokens, List.of(), 0);
        }
    }

    /**
     * The measured outcome. {@code decodeTokensPerSecond} is NaN when decoding was not measured;
     * {@code compressSeconds} covers the block-by-block pipeline only.
     */
    record Result(Spec spec, String describe, double perplexity, long parameters, long bytes, double decodeTokensPerSecond,
                  double compressSeconds, double evalSeconds, List<LayerReport> layers, Map<String, Integer> formats,
                  Map<String, TaskEval.Result> tasks) {
        double totalSeconds() { return compressSeconds + evalSeconds; }

        Result withDecode(double tokensPerSecond) {
            return new Result(spec, describe, perplexity, parameters, bytes, tokensPerSecond, compressSeconds, evalSeconds, layers, formats, tasks);
        }

        /** The task entries for JSON output. */
        Map<String, Object> tasksJson() {
            Map<String, Object> t = new LinkedHashMap<>();
            tasks.forEach((k, v) -> t.put(k, v.json()));
            return t;
        }

        /** The headline accuracy of a task (acc_norm or acc, see {@link TaskEval.Result#headline}); NaN when not scored. */
        double task(String name) {
            TaskEval.Result t = tasks.get(name);
            return t == null ? Double.NaN : t.headline();
        }

        Map<String, Object> json() {
            Map<String, Object> o = new LinkedHashMap<>();
            o.put("label", spec.label());
            o.put("method", spec.method() == null ? "dense" : spec.method());
            o.put("options", spec.options());
            o.put("describe", describe);
            o.put("perplexity", Double.isFinite(perplexity) ? perplexity : null);
            o.put("parameters", parameters);
            o.put("bytes", bytes);
            o.put("decode_tokens_per_second", Double.isFinite(decodeTokensPerSecond) ? decodeTokensPerSecond : null);
            o.put("compress_seconds", compressSeconds);
            o.put("eval_seconds", evalSeconds);
            o.put("formats", formats);
            if (!tasks.isEmpty()) o.put("tasks", tasksJson());
            return o;
        }
    }

    static Map<String, Object> tasksJson(Result r) { return r.tasksJson(); }

    /** A finished run whose compressed model is still open (for measuring decode speed later); close it. */
    record Open(Result result, Model model) implements AutoCloseable {
        @Override public void close() { model.close(); }
    }

    /** Runs one spec on a freshly loaded model (the checkpoint is memory-mapped, so loading is cheap). */
    static Result run(Setup setup, Spec spec) {
        try (Open o = open(setup, spec)) {
            if (setup.prompt() == null) return o.result();
            return o.result().withDecode(decodeSpeed(o.model(), setup.prompt(), setup.decodeTokens(), 5));
        }
    }

    /** As {@link #run} but without measuring decode speed, and the compressed model is left open. */
    static Open open(Setup setup, Spec spec) {
        Model m = Model.load(setup.modelDir());
        try {
            String describe = "dense";
            List<LayerReport> layers = List.of();
            long t0 = System.nanoTime();
            if (spec.method() != null) {
                Stage st = spec.stage();
                CompressionMethod cm = st.create();
                describe = cm.describe();
                if (cm.needsCalibration() && setup.windows() == null)
                    throw new dev.squish.SquishException(spec.method() + " needs calibration text (--calibration)");
                BlockPipeline pipeline = new BlockPipeline(m, List.of(new BlockPipeline.Stage(cm, st.layers())));
                layers = List.copyOf(pipeline.run(cm.needsCalibration() ? setup.windows() : null));
            }
            double compressSeconds = (System.nanoTime() - t0) / 1e9;
            double perplexity;
            long e0 = System.nanoTime();
            try {
                perplexity = Perplexity.evaluate(m, setup.evalTokens(), setup.evalSeqLen()).perplexity();
            } catch (dev.squish.SquishException e) {
                if (!e.getMessage().contains("non-finite")) throw e;
                perplexity = Double.POSITIVE_INFINITY;   // the compressed model broke; a sweep shows it as such
            }
            Map<String, TaskEval.Result> tasks = new LinkedHashMap<>();
            if (!setup.tasks().isEmpty() && Double.isFinite(perplexity)) {   // a broken model gets no task scores
                Tokenizer tok = Tokenizer.load(setup.modelDir());
                for (TaskFile t : setup.tasks()) tasks.put(t.name(), TaskEval.evaluate(m, tok, t, setup.taskLimit()));
            }
            double evalSeconds = (System.nanoTime() - e0) / 1e9;
            Map<String, Integer> formats = new java.util.TreeMap<>();
            for (var b : m.blocks) for (var l : b.linears.values()) formats.merge(l.format(), 1, Integer::sum);
            return new Open(new Result(spec, describe, perplexity, m.parameters(), m.bytes(), Double.NaN, compressSeconds,
                    evalSeconds, layers, formats, tasks), m);
        } catch (RuntimeException | Error e) {
            m.close();
            throw e;
        }
    }

    /**
     * Decode speed of several models measured in interleaved rounds (model 1, 2, ..., then again),
     * keeping each model's best round, so that a slow spell of a busy machine does not fall on
     * one model only. Returns the results with their speeds filled in.
     */
    static List<Result> measureDecode(List<Open> runs, int[] prompt, int tokens, int rounds) {
        double[] best = new double[runs.size()];
        try (dev.squish.util.Progress p = dev.squish.util.Progress.start("decode speed", (long) rounds * runs.size())) {
            for (int w = 0; w < 2; w++)   // warm-up: let the JIT compile every format's kernels first
                for (Open o : runs) new Generator(o.model()).generate(prompt, Generator.Options.greedy(tokens), t -> { });
            for (int r = 0; r < rounds; r++)
                for (int i = 0; i < runs.size(); i++) {
                    p.message(runs.get(i).result().spec().label());
                    best[i] = Math.max(best[i], decodeSpeed(runs.get(i).model(), prompt, tokens, 1));
                    p.step();
                }
        }
        List<Result> out = new java.util.ArrayList<>();
        for (int i = 0; i < runs.size(); i++) out.add(runs.get(i).result().withDecode(best[i]));
        return out;
    }

    /** Greedy decode speed in tokens per second: the best of {@code runs} runs of {@code tokens} tokens. */
    static double decodeSpeed(Model m, int[] prompt, int tokens, int runs) {
        Generator g = new Generator(m);
        double best = 0;
        for (int i = 0; i < runs; i++) best = Math.max(best, g.generate(prompt, Generator.Options.greedy(tokens), t -> { }).decodeTokensPerSecond());
        return best;
    }

    /** Tokens of the fixed decode prompt. */
    static int[] prompt(Tokenizer tok) {
        return tok.encode("And God said, Let there be light: and there was light. And God saw the light, that it was good:");
    }
}
