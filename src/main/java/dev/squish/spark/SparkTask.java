package dev.squish.spark;

import java.io.Serializable;

/**
 * A unit of work an executor runs ({@link SparkRun#map}): an evaluation window, a sweep trial. A
 * Squish type rather than Spark's {@code Function}, so the commands that build tasks need no Spark
 * class unless {@code --spark} is given.
 */
@FunctionalInterface
public interface SparkTask<T, R> extends Serializable {
    R apply(T item) throws Exception;
}
