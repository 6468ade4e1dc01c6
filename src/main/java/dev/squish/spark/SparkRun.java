package dev.squish.spark;

import dev.squish.SquishException;
import dev.squish.calibration.Activations;
import dev.squish.model.Model;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.CRC32;

/**
 * A Spark application for one command ({@code compress --spark MASTER}): the driver is this JVM;
 * the calibration samples are partitioned across the executors, which run each block on their
 * partition and send back partial statistics (sums); the driver adds them, runs the methods and
 * broadcasts the compressed block (see {@link SparkActivations} and docs/spark.md).
 */
public final class SparkRun implements AutoCloseable {
    /**
     * This build of Squish: the implementation version and the CRC-32 of the jar holding this
     * class ({@code dev} when run from class folders, as in the test suite). An executor whose
     * value differs refuses the task rather than compute something else.
     */
    static final String VERSION = version();

    /** The executors' JVM flags: the Vector API and native access, as bin/squish passes them to the driver. */
    static final String EXECUTOR_FLAGS = "--add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED";

    private final JavaSparkContext sc;

    private SparkRun(JavaSparkContext sc) { this.sc = sc; }

    /**
     * Starts the application. A {@code spark://} master that no listed host answers within 5 s is
     * an input error at once (Spark itself would retry for a minute, then only log it); any master
     * Spark cannot use is one too.
     */
    public static SparkRun open(String master, boolean verbose) {
        if (master == null || master.isBlank()) throw new SquishException("--spark needs a master URL, e.g. local[2] or spark://HOST:7077");
        if (master.startsWith("spark://")) checkReachable(master);
        if (!verbose && System.getProperty("log4j2.configurationFile") == null) {
            var cfg = SparkRun.class.getResource("log4j2.properties");
            if (cfg != null) System.setProperty("log4j2.configurationFile", cfg.toString());
        }
        SparkConf conf = new SparkConf().setMaster(master).setAppName("squish")
                .set("spark.ui.enabled", "false")
                // each partition returns one block's statistics (up to ~130 MB per Hessian at 1B scale)
                .set("spark.driver.maxResultSize", "0")
                .set("spark.rpc.message.maxSize", "2047");
        if (!master.startsWith("local")) {
            // executors in their own JVMs: Squish's jar and libraries, and the JVM flags it needs
            List<String> jars = jars();
            if (!jars.isEmpty() && !conf.contains("spark.jars")) conf.setJars(jars.toArray(String[]::new));
            if (!conf.contains("spark.executor.extraJavaOptions")) conf.set("spark.executor.extraJavaOptions", EXECUTOR_FLAGS);
        }
        try {
            return new SparkRun(new JavaSparkContext(conf));
        } catch (RuntimeException e) {
            throw new SquishException("--spark " + master + ": " + firstLine(e), e);
        }
    }

    /** Default number of partitions: the cluster's default parallelism (the cores of local[N]). */
    public int defaultPartitions() { return sc.defaultParallelism(); }

    /** Activations partitioned across the executors for a model loaded from dir (a path every executor can read). */
    public Activations.Source activations(Path modelDir, Model driverModel, int partitions) {
        if (partitions < 1) throw new SquishException("--spark-partitions must be at least 1, got " + partitions);
        return new SparkActivations.Source(sc, modelDir.toAbsolutePath().toString(), driverModel, partitions);
    }

    /**
     * Runs {@code task} on every item, one Spark task per item (so a lost executor's items are
     * retried by Spark on another), and returns the results in the items' order whatever order the
     * tasks finished in. Each task first checks that its executor runs the driver's Squish.
     */
    public <T extends java.io.Serializable, R extends java.io.Serializable> List<R> map(List<T> items, SparkTask<T, R> task) {
        if (items.isEmpty()) return List.of();
        String ver = VERSION;
        List<Indexed<T>> in = new ArrayList<>();
        for (int i = 0; i < items.size(); i++) in.add(new Indexed<>(i, items.get(i)));
        List<Indexed<R>> out = new ArrayList<>(SparkActivations.job(() -> sc.parallelize(in, in.size()).map(x -> {
            Executor.checkVersion(ver);
            return new Indexed<>(x.index(), task.apply(x.value()));
        }).collect()));
        out.sort(java.util.Comparator.comparingInt(Indexed::index));
        List<R> res = new ArrayList<>();
        for (Indexed<R> r : out) res.add(r.value());
        return res;
    }

    record Indexed<V>(int index, V value) implements java.io.Serializable {}

    /**
     * Perplexity with the evaluation windows as Spark tasks (in {@code partitions} groups of
     * consecutive windows): each executor loads the model from {@code modelDir} (a path it can read)
     * and returns the negative log-likelihood of each of its windows; the driver adds them in
     * window order, as the single-machine loop does, so both give the same total.
     */
    public dev.squish.eval.Perplexity.Result perplexity(Path modelDir, Model driverModel, int[] tokens, int seqLen, int partitions) {
        dev.squish.eval.Perplexity.check(driverModel, tokens, seqLen);
        long start = System.nanoTime();
        int windows = tokens.length / seqLen, parts = Math.max(1, Math.min(partitions, windows));
        String dir = modelDir.toAbsolutePath().toString();
        List<int[]> ranges = new ArrayList<>();
        for (int p = 0; p < parts; p++) ranges.add(new int[]{(int) ((long) windows * p / parts), (int) ((long) windows * (p + 1) / parts)});
        String ver = VERSION;
        List<double[]> nlls = map(ranges, r -> {
            Model m = Executor.model(dir, ver);
            dev.squish.model.KVCache cache = m.newCache(seqLen);
            double[] out = new double[r[1] - r[0]];
            for (int w = r[0]; w < r[1]; w++)
                out[w - r[0]] = dev.squish.eval.Perplexity.windowNll(m, java.util.Arrays.copyOfRange(tokens, w * seqLen, (w + 1) * seqLen), cache);
            return out;
        });
        double nll = 0;
        for (double[] part : nlls) for (double v : part) nll += v;
        long scored = (long) windows * (seqLen - 1);
        return new dev.squish.eval.Perplexity.Result(Math.exp(nll / scored), scored, windows, nll, (System.nanoTime() - start) / 1e9);
    }

    @Override public void close() { sc.close(); }

    private static void checkReachable(String master) {
        String[] hosts = master.substring("spark://".length()).split(",");
        List<String> why = new ArrayList<>();
        for (String h : hosts) {
            int colon = h.lastIndexOf(':');
            String host = colon < 0 ? h : h.substring(0, colon);
            int port;
            try {
                port = colon < 0 ? 7077 : Integer.parseInt(h.substring(colon + 1));
            } catch (NumberFormatException e) {
                throw new SquishException("--spark " + master + ": bad port in " + h);
            }
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress(host, port), 5000);
                return;
            } catch (IOException e) {
                why.add(host + ":" + port + " (" + (e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage()) + ")");
            }
        }
        throw new SquishException("--spark " + master + ": cannot reach the Spark master at " + String.join(", ", why));
    }

    /** The Squish jar and its libraries (target/lib), which a standalone cluster's executors need. */
    private static List<String> jars() {
        List<String> out = new ArrayList<>();
        try {
            Path self = Path.of(SparkRun.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            if (!Files.isRegularFile(self)) return out;
            out.add(self.toString());
            Path lib = self.resolveSibling("lib");
            if (Files.isDirectory(lib)) try (var s = Files.list(lib)) { s.filter(p -> p.toString().endsWith(".jar")).sorted().forEach(p -> out.add(p.toString())); }
        } catch (Exception e) {
            // no jar (class folders): local masters only
        }
        return out;
    }

    private static String version() {
        String v = SparkRun.class.getPackage().getImplementationVersion();
        try {
            Path self = Path.of(SparkRun.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            if (!Files.isRegularFile(self)) return (v == null ? "" : v + " ") + "dev";
            CRC32 crc = new CRC32();
            try (InputStream in = Files.newInputStream(self)) {
                byte[] buf = new byte[1 << 16];
                for (int n; (n = in.read(buf)) > 0; ) crc.update(buf, 0, n);
            }
            return (v == null ? "" : v + " ") + Long.toHexString(crc.getValue());
        } catch (Exception e) {
            return v == null ? "unknown" : v;
        }
    }

    static String firstLine(Throwable e) {
        String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        int nl = m.indexOf('\n');
        return nl < 0 ? m : m.substring(0, nl);
    }
}
