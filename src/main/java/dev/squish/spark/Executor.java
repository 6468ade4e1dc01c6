package dev.squish.spark;

import dev.squish.SquishException;
import dev.squish.model.Block;
import dev.squish.model.Model;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What an executor JVM keeps between tasks: the model it loaded (mapped, from the same folder
 * path as the driver's: a shared file system on a cluster) and the last blocks the driver
 * broadcast, decoded once per JVM however many of its tasks read them.
 */
final class Executor {
    private Executor() {}

    private static final Map<String, Model> MODELS = new HashMap<>();
    /** Decoded broadcast blocks by broadcast id; at most a few (the current block's versions). */
    private static final LinkedHashMap<Long, BlockCodec.Decoded> BLOCKS = new LinkedHashMap<>();

    /** The model at dir, loaded once per JVM, after checking that this executor runs the driver's Squish. */
    static synchronized Model model(String dir, String driverVersion) {
        checkVersion(driverVersion);
        return MODELS.computeIfAbsent(dir, d -> Model.load(Path.of(d)));
    }

    /** Refuses to work for a driver that runs another build of Squish. */
    static void checkVersion(String driverVersion) {
        if (!driverVersion.equals(SparkRun.VERSION))
            throw new SquishException("--spark: an executor runs Squish " + SparkRun.VERSION + " but the driver runs " + driverVersion
                    + "; give the executors the driver's squish.jar (spark-submit --jars or spark.jars)");
    }

    /** The block a task should run: the loaded one, or the broadcast bytes decoded. */
    static synchronized Block block(Model m, int index, long broadcastId, byte[] bytes) {
        if (bytes == null) return m.blocks.get(index);
        BlockCodec.Decoded d = BLOCKS.get(broadcastId);
        if (d == null) {
            d = BlockCodec.decode(index, bytes);
            BLOCKS.put(broadcastId, d);
            // Earlier broadcasts belong to finished jobs (the driver runs one job at a time).
            while (BLOCKS.size() > 2) {
                var it = BLOCKS.entrySet().iterator();
                it.next().getValue().close();
                it.remove();
            }
        }
        return d.block();
    }
}
