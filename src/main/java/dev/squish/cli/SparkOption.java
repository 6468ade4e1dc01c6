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

    static Activations.Source source(SparkRun run, Path modelDir, Model m, Integer partitions) {
        return run.activations(modelDir, m, partitions != null ? partitions : run.defaultPartitions());
    }
}
