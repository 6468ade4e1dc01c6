package dev.squish.cli;

import dev.squish.SquishException;
import dev.squish.calibration.Activations;
import dev.squish.model.Model;
import dev.squish.spark.SparkRun;

import java.nio.file.Path;

/**
 * The {@code --spark MASTER} option of the commands. Spark's jars are not on bin/squish's usual
 * class path (they would add ~200 MB of jars to every start); bin/squish adds them when the
 * option is given. This class is the only one the commands touch for it, and only then, so a
 * run without the option never loads a Spark class.
 */
final class SparkOption {
    private SparkOption() {}

    static SparkRun open(String master, boolean verbose) {
        try {
            return SparkRun.open(master, verbose);
        } catch (NoClassDefFoundError e) {
            throw new SquishException("--spark: Apache Spark is not on the class path (bin/squish adds target/spark-lib for --spark; "
                    + "on a cluster use spark-submit, see docs/spark.md)");
        }
    }

    static dev.squish.eval.Perplexity.Result perplexity(SparkRun run, Path modelDir, Model m, int[] tokens, int seqLen, Integer partitions) {
        return run.perplexity(modelDir, m, tokens, seqLen, partitions != null ? partitions : run.defaultPartitions());
    }

    /** What an executor sends back of a sweep trial (the per-layer reports stay there). */
    record Outcome(String describe, double perplexity, long parameters, long bytes, double compressSeconds, double evalSeconds,
                   java.util.TreeMap<String, Integer> formats) implements java.io.Serializable {}

    /**
     * Sweep trials as Spark tasks, one per spec: each executor loads the model from modelDir (a path
     * it can read), compresses it with the spec's method on the given calibration windows and
     * measures the perplexity of the evaluation tokens, exactly as {@link Trial#run} does here.
     */
    static java.util.List<Trial.Result> trials(SparkRun run, Path modelDir, int[][] windows, int[] evalTokens, int seqLen,
                                               java.util.List<Trial.Spec> specs) {
        String dir = modelDir.toAbsolutePath().toString();
        java.util.List<Outcome> outs = run.map(new java.util.ArrayList<>(specs), spec -> {
            Trial.Result r = Trial.run(new Trial.Setup(Path.of(dir), windows, evalTokens, seqLen, null, 0), spec);
            return new Outcome(r.describe(), r.perplexity(), r.parameters(), r.bytes(), r.compressSeconds(), r.evalSeconds(),
                    new java.util.TreeMap<>(r.formats()));
        });
        java.util.List<Trial.Result> res = new java.util.ArrayList<>();
        for (int i = 0; i < specs.size(); i++) {
            Outcome o = outs.get(i);
            res.add(new Trial.Result(specs.get(i), o.describe(), o.perplexity(), o.parameters(), o.bytes(), Double.NaN,
                    o.compressSeconds(), o.evalSeconds(), java.util.List.of(), o.formats(), java.util.Map.of()));
        }
        return res;
    }

    static Activations.Source source(SparkRun run, Path modelDir, Model m, Integer partitions) {
        return run.activations(modelDir, m, partitions != null ? partitions : run.defaultPartitions());
    }
}
