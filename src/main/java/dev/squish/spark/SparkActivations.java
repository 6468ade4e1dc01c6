package dev.squish.spark;

import dev.squish.SquishException;
import dev.squish.calibration.Activations;
import dev.squish.calibration.HeapActivations;
import dev.squish.calibration.LinearStats;
import dev.squish.model.Block;
import dev.squish.model.Model;
import dev.squish.util.Profile;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.storage.StorageLevel;

import java.io.Serializable;
import java.util.*;
import java.util.function.Consumer;
import java.util.function.Supplier;
import java.util.function.UnaryOperator;

/**
 * Calibration activations partitioned across Spark executors: an RDD of (sample index, hidden
 * state), cached on the executors (memory, spilling to their disks) and replaced block by block.
 *
 * <ul>
 * <li>{@link #stats}: each partition runs the block on its samples and returns its partial
 * statistics (the sums of {@link LinearStats.Sums}); the driver adds them in partition order, so
 * the result is the one-pass statistics up to the order of floating-point additions.</li>
 * <li>{@link #advance}: the driver broadcasts the compressed block (its weights in their own
 * formats, {@link BlockCodec}) and each partition runs it to make the next block's inputs. A block
 * the methods did not change is not broadcast: the executors run the one they loaded.</li>
 * <li>{@link #forEachInput} (methods that observe the inputs themselves: AWQ's MLP search, ASVD,
 * DSnoT) streams the partitions to the driver one at a time, in sample order.</li>
 * </ul>
 * A lost executor's partitions are recomputed by Spark from the lineage (embedding, then every
 * block's broadcast), which gives the same values.
 */
final class SparkActivations implements Activations {
    record Act(int index, float[] x) implements Serializable {}

    record Tokens(int index, int[] tokens) implements Serializable {}

    /** The statistics of linears sharing one input (q/k/v), as sums. */
    record Group(String[] names, LinearStats.Sums sums) implements Serializable {}

    record Part(int partition, List<Group> groups) implements Serializable {}

    /** Opens the activations once the plans ran; remembers the blocks as loaded, to know which ones the methods changed. */
    static final class Source implements Activations.Source {
        final JavaSparkContext sc;
        final String dir;
        final int partitions;
        final Object embed;
        final Map<Integer, List<Object>> loaded = new HashMap<>();

        Source(JavaSparkContext sc, String dir, Model model, int partitions) {
            this.sc = sc; this.dir = dir; this.partitions = partitions;
            this.embed = model.embed;
            for (Block b : model.blocks) loaded.put(b.index, identity(b));
        }

        @Override public Activations open(Model model, int[][] samples) {
            if (model.embed != embed)
                throw new SquishException("--spark: a stage changed the embedding before the first block (slicegpt); run it without --spark");
            return new SparkActivations(this, samples);
        }
    }

    private final Source src;
    private final int samples, seqLen;
    private final List<Broadcast<byte[]>> broadcasts = new ArrayList<>();
    private JavaRDD<Act> rdd;

    private SparkActivations(Source src, int[][] tokens) {
        this.src = src;
        this.samples = tokens.length;
        this.seqLen = tokens[0].length;
        List<Tokens> list = new ArrayList<>();
        for (int i = 0; i < tokens.length; i++) list.add(new Tokens(i, tokens[i]));
        String dir = src.dir, ver = SparkRun.VERSION;
        Profile.Phase prev = Profile.enter(Profile.Phase.FORWARD);
        try {
            rdd = job(() -> {
                JavaRDD<Act> r = src.sc.parallelize(list, Math.min(src.partitions, list.size()))
                        .map(t -> new Act(t.index(), Executor.model(dir, ver).embed(t.tokens(), 0)))
                        .persist(StorageLevel.MEMORY_AND_DISK());
                r.count();
                return r;
            });
        } finally { Profile.exit(prev); }
    }

    @Override public int samples() { return samples; }

    @Override public int seqLen() { return seqLen; }

    @Override public Map<String, LinearStats> stats(Model model, Block block) {
        Broadcast<byte[]> bc = broadcastIfChanged(block);
        String dir = src.dir, ver = SparkRun.VERSION;
        int L = seqLen, index = block.index;
        long id = bc == null ? -1 : bc.id();
        Profile.Phase prev = Profile.enter(Profile.Phase.STATISTICS);
        try {
            List<Part> parts = new ArrayList<>(job(() -> rdd.mapPartitionsWithIndex((pi, it) -> {
                Model m = Executor.model(dir, ver);
                Block b = Executor.block(m, index, id, bc == null ? null : bc.value());
                List<float[]> xs = new ArrayList<>();
                it.forEachRemaining(a -> xs.add(a.x()));
                List<Group> groups = new ArrayList<>();
                if (!xs.isEmpty()) {
                    Map<String, LinearStats> st = Activations.collect(m, b, new HeapActivations(xs.toArray(float[][]::new), L));
                    IdentityHashMap<LinearStats, List<String>> names = new IdentityHashMap<>();
                    for (var e : st.entrySet()) names.computeIfAbsent(e.getValue(), k -> new ArrayList<>()).add(e.getKey());
                    for (var e : names.entrySet()) groups.add(new Group(e.getValue().toArray(String[]::new), e.getKey().sums()));
                }
                return List.of(new Part(pi, groups)).iterator();
            }, true).collect()));
            parts.sort(Comparator.comparingInt(Part::partition));
            // Added in partition order (samples in order), whatever order the tasks finished in.
            Map<String, LinearStats> out = new HashMap<>();
            Map<String, LinearStats> byFirst = new HashMap<>();
            for (Part p : parts) {
                for (Group g : p.groups()) {
                    String key = String.join(",", new TreeSet<>(Arrays.asList(g.names())));
                    LinearStats s = LinearStats.of(g.sums());
                    LinearStats have = byFirst.get(key);
                    if (have == null) {
                        byFirst.put(key, s);
                        for (String n : g.names()) out.put(n, s);
                    } else {
                        have.merge(s);
                    }
                }
            }
            return out;
        } finally { Profile.exit(prev); }
    }

    @Override public void forEachInput(Consumer<float[]> f) {
        int[] next = {0};
        job(() -> {
            Iterator<Act> it = rdd.toLocalIterator();
            while (it.hasNext()) {
                Act a = it.next();
                if (a.index() != next[0]) throw new IllegalStateException("sample " + a.index() + " arrived where " + next[0] + " was expected");
                next[0]++;
                f.accept(a.x());
            }
            return null;
        });
    }

    @Override public void transform(UnaryOperator<float[]> f) {
        throw new SquishException("--spark: this method rewrites the calibration activations themselves (slicegpt); run it without --spark");
    }

    @Override public void advance(Model model, Block block) {
        Broadcast<byte[]> bc = broadcastIfChanged(block);
        String dir = src.dir, ver = SparkRun.VERSION;
        int L = seqLen, index = block.index;
        long id = bc == null ? -1 : bc.id();
        Profile.Phase prev = Profile.enter(Profile.Phase.FORWARD);
        try {
            JavaRDD<Act> old = rdd;
            rdd = job(() -> {
                JavaRDD<Act> r = old.mapPartitions(it -> {
                    Model m = Executor.model(dir, ver);
                    Block b = Executor.block(m, index, id, bc == null ? null : bc.value());
                    var cache = m.newCache(L);
                    List<Act> out = new ArrayList<>();
                    it.forEachRemaining(a -> out.add(new Act(a.index(), Activations.forward(m, b, a.x(), L, cache))));
                    return out.iterator();
                }, true).persist(StorageLevel.MEMORY_AND_DISK());
                r.count();
                return r;
            });
            old.unpersist(false);
        } finally { Profile.exit(prev); }
    }

    @Override public void close() {
        if (rdd != null) rdd.unpersist(false);
        for (Broadcast<byte[]> b : broadcasts) b.destroy();
        broadcasts.clear();
    }

    /** Null when the block is as loaded (the executors have it); else its bytes, broadcast once per version of the block. */
    private Broadcast<byte[]> broadcastIfChanged(Block block) {
        List<Object> now = identity(block);
        if (now.equals(src.loaded.get(block.index))) return null;
        if (!broadcasts.isEmpty() && now.equals(lastIdentity)) return broadcasts.getLast();
        Broadcast<byte[]> b = src.sc.broadcast(BlockCodec.encode(block));
        broadcasts.add(b);
        lastIdentity = now;
        return b;
    }

    private List<Object> lastIdentity;

    /** The block's linears and vectors by name and object identity (a method that changes one puts a new object). */
    static List<Object> identity(Block b) {
        List<Object> out = new ArrayList<>();
        for (var e : b.linears.entrySet()) { out.add(e.getKey()); out.add(new Id(e.getValue())); }
        for (var e : b.vectors.entrySet()) { out.add(e.getKey()); out.add(new Id(e.getValue())); }
        return out;
    }

    /** Identity, not equality, of a weight object. */
    private record Id(Object o) {
        @Override public boolean equals(Object other) { return other instanceof Id i && i.o == o; }
        @Override public int hashCode() { return System.identityHashCode(o); }
    }

    /** Runs Spark work; a task that failed on Squish's input checks becomes that error (exit 2), as on one machine. */
    static <T> T job(Supplier<T> work) {
        try {
            return work.get();
        } catch (RuntimeException e) {
            for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause())
                if (t instanceof SquishException se) throw new SquishException(se.getMessage(), e);
            String marker = SquishException.class.getName() + ": ";
            String m = String.valueOf(e.getMessage());
            int at = m.indexOf(marker);
            if (at >= 0) {
                String rest = m.substring(at + marker.length());
                int nl = rest.indexOf('\n');
                throw new SquishException(nl < 0 ? rest : rest.substring(0, nl), e);
            }
            throw e;
        }
    }
}
