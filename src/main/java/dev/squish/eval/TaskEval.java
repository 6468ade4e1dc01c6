package dev.squish.eval;

import dev.squish.SquishException;
import dev.squish.formats.Tokenizer;
import dev.squish.model.Model;
import dev.squish.util.Progress;

import java.util.ArrayList;
import java.util.List;

/**
 * Scores a {@link TaskFile} as lm-evaluation-harness scores the corresponding output type
 * ({@code ConfigurableTask.construct_requests} and {@code process_results} in {@code lm_eval/api/task.py};
 * aggregation and standard errors from {@code lm_eval/api/metrics.py}):
 * <ul>
 *   <li>multiple_choice: one request {@code (context, target_delimiter + choice)} per choice;
 *       {@code acc} = argmax of the log-likelihoods is gold; {@code acc_norm} = argmax of each
 *       log-likelihood divided by its choice's length in characters (code points, as Python's
 *       {@code len}; the delimiter not counted) is gold. Ties go to the lowest index ({@code np.argmax}).</li>
 *   <li>partial ("multiple_input", WinoGrande): one request {@code (context_i, target_delimiter + continuation)}
 *       per context; acc as above; acc_norm divides by the length of each context, as the harness's
 *       {@code completion_len} is taken from the choices, which here are the contexts.</li>
 *   <li>last_word (output type {@code loglikelihood}, LAMBADA): one request {@code (context, continuation)},
 *       the continuation taken as written (the harness adds no delimiter for this type: LAMBADA's
 *       target carries its own leading space); {@code acc} = the continuation is greedy;
 *       {@code perplexity} = exp(-mean of the items' log-likelihoods), the harness's aggregation.</li>
 * </ul>
 * Standard errors are the harness's {@code mean_stderr}: sample standard deviation (n - 1) / sqrt(n);
 * undefined (NaN) below two items. The perplexity's standard error, which the harness bootstraps,
 * is not computed.
 */
public final class TaskEval {
    private TaskEval() {}

    public record Result(String name, TaskFile.Kind kind, int n, double acc, double accStderr,
                         double accNorm, double accNormStderr, double perplexity, double seconds) {
        /**
         * The metric tables show: acc_norm for multiple_choice (as papers report HellaSwag, ARC and
         * PIQA), acc for partial (WinoGrande) and last_word (LAMBADA).
         */
        public String headlineMetric() { return kind == TaskFile.Kind.MULTIPLE_CHOICE ? "acc_norm" : "acc"; }

        public double headline() { return kind == TaskFile.Kind.MULTIPLE_CHOICE ? accNorm : acc; }

        public double headlineStderr() { return kind == TaskFile.Kind.MULTIPLE_CHOICE ? accNormStderr : accStderr; }

        /** The JSON entry; undefined values (acc_norm of a last-word task, a stderr over one item) are null. */
        public java.util.Map<String, Object> json() {
            java.util.Map<String, Object> t = new java.util.LinkedHashMap<>();
            t.put("kind", kind.id);
            t.put("acc", num(acc));
            t.put("acc_stderr", num(accStderr));
            t.put("acc_norm", num(accNorm));
            t.put("acc_norm_stderr", num(accNormStderr));
            if (kind == TaskFile.Kind.LAST_WORD) t.put("perplexity", num(perplexity));
            t.put("n", n);
            t.put("seconds", seconds);
            return t;
        }

        private static Double num(double v) { return Double.isFinite(v) ? v : null; }
    }

    /** Per-item outcome: the requests' log-likelihoods and greedy flags (for tests and reports). */
    public record ItemScore(TaskFile.Item item, double[] logprobs, boolean[] greedy, boolean correct, boolean correctNorm) {}

    /** Evaluates the first {@code limit} items (all when limit <= 0 or larger than the task). */
    public static Result evaluate(Model model, Tokenizer tok, TaskFile task, int limit) {
        long t0 = System.nanoTime();
        List<ItemScore> scores = scoreItems(model, tok, task, limit);
        return aggregate(task, scores, (System.nanoTime() - t0) / 1e9);
    }

    public static List<ItemScore> scoreItems(Model model, Tokenizer tok, TaskFile task, int limit) {
        List<TaskFile.Item> items = limit > 0 && limit < task.items().size() ? task.items().subList(0, limit) : task.items();
        // Encode and check every request first, so an over-long item is reported before minutes of scoring.
        List<List<Loglikelihood.Request>> encoded = new ArrayList<>(items.size());
        for (TaskFile.Item it : items) {
            List<Loglikelihood.Request> reqs = new ArrayList<>();
            switch (task.kind()) {
                case MULTIPLE_CHOICE -> {
                    for (String c : it.choices()) reqs.add(Loglikelihood.encode(tok, it.contexts().get(0), task.delimiter() + c));
                }
                case PARTIAL -> {
                    for (String ctx : it.contexts()) reqs.add(Loglikelihood.encode(tok, ctx, task.delimiter() + it.choices().get(0)));
                }
                case LAST_WORD -> reqs.add(Loglikelihood.encode(tok, it.contexts().get(0), it.choices().get(0)));
            }
            for (Loglikelihood.Request r : reqs)
                if (r.positions() > model.maxPositions())
                    throw TaskFile.bad(task.file(), it.line(), "context and continuation take " + (r.context().length + r.continuation().length)
                            + " tokens, more than the model's window of " + model.maxPositions());
            encoded.add(reqs);
        }
        List<ItemScore> out = new ArrayList<>(items.size());
        try (Progress p = Progress.start("task " + task.name(), items.size())) {
            for (int i = 0; i < items.size(); i++) {
                out.add(scoreItem(model, task, items.get(i), encoded.get(i)));
                p.step();
            }
        }
        return out;
    }

    private static ItemScore scoreItem(Model model, TaskFile task, TaskFile.Item it, List<Loglikelihood.Request> reqs) {
        Loglikelihood.Score[] s = task.kind() == TaskFile.Kind.MULTIPLE_CHOICE
                ? Loglikelihood.scoreShared(model, reqs.get(0).context(), reqs.stream().map(Loglikelihood.Request::continuation).toList())
                : reqs.stream().map(r -> Loglikelihood.score(model, r)).toArray(Loglikelihood.Score[]::new);
        double[] lp = new double[s.length];
        boolean[] g = new boolean[s.length];
        for (int k = 0; k < s.length; k++) { lp[k] = s[k].logprob(); g[k] = s[k].greedy(); }
        return switch (task.kind()) {
            case MULTIPLE_CHOICE -> new ItemScore(it, lp, g, argmax(lp, null) == it.gold(), argmax(lp, lengths(it.choices())) == it.gold());
            case PARTIAL -> new ItemScore(it, lp, g, argmax(lp, null) == it.gold(), argmax(lp, lengths(it.contexts())) == it.gold());
            case LAST_WORD -> new ItemScore(it, lp, g, g[0], false);
        };
    }

    public static Result aggregate(TaskFile task, List<ItemScore> scores, double seconds) {
        int n = scores.size();
        double[] acc = new double[n], norm = new double[n];
        double ll = 0;
        for (int i = 0; i < n; i++) {
            ItemScore s = scores.get(i);
            acc[i] = s.correct() ? 1 : 0;
            norm[i] = s.correctNorm() ? 1 : 0;
            ll += s.logprobs()[0];
        }
        boolean lastWord = task.kind() == TaskFile.Kind.LAST_WORD;
        return new Result(task.name(), task.kind(), n, mean(acc), meanStderr(acc),
                lastWord ? Double.NaN : mean(norm), lastWord ? Double.NaN : meanStderr(norm),
                lastWord ? Math.exp(-ll / n) : Double.NaN, seconds);
    }

    /** np.argmax of lls (divided by lens when given): the first maximal index. */
    static int argmax(double[] lls, double[] lens) {
        int best = 0;
        for (int i = 1; i < lls.length; i++) {
            double a = lens == null ? lls[i] : lls[i] / lens[i], b = lens == null ? lls[best] : lls[best] / lens[best];
            if (a > b) best = i;
        }
        return best;
    }

    /** Lengths as Python's {@code len(str)}: code points. */
    static double[] lengths(List<String> strings) {
        double[] out = new double[strings.size()];
        for (int i = 0; i < out.length; i++) out[i] = strings.get(i).codePointCount(0, strings.get(i).length());
        return out;
    }

    static double mean(double[] x) {
        if (x.length == 0) throw new SquishException("no items to score");
        double s = 0;
        for (double v : x) s += v;
        return s / x.length;
    }

    /** The harness's mean_stderr: sample_stddev(arr) / sqrt(len(arr)), with sample_stddev over n - 1. */
    static double meanStderr(double[] x) {
        int n = x.length;
        if (n < 2) return Double.NaN;
        double mu = mean(x), ss = 0;
        for (double v : x) ss += (v - mu) * (v - mu);
        return Math.sqrt(ss / (n - 1)) / Math.sqrt(n);
    }
}
