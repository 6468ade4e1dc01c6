package dev.squish.weights;

import dev.squish.util.Parallel;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.function.Supplier;

import static dev.squish.weights.Kernels.L;
import static dev.squish.weights.Kernels.S;

/**
 * Decode (matvec) microbenchmark of every weight format against dense float32, without JMH:
 * {@code java --add-modules jdk.incubator.vector -cp target/classes:target/lib/* dev.squish.weights.KernelBench [rows cols footprintMiB [n]]}.
 * Each format gets enough copies of the matrix to exceed {@code footprintMiB} (default 256, well
 * above the last-level cache) and the timed loop cycles through them, so weights come from DRAM as
 * in a real model. Prints the median time per matvec over 9 batches, effective weight bandwidth
 * and the speed-up over dense. With n > 1 it also times prefill (matmul with n tokens).
 * Also times two CSR layouts (int and short column indices) that SparseLinear was chosen against.
 */
public final class KernelBench {
    private KernelBench() {}

    public static void main(String[] args) {
        int rows = args.length > 0 ? Integer.parseInt(args[0]) : 2048;
        int cols = args.length > 1 ? Integer.parseInt(args[1]) : 5632;
        long footprint = (args.length > 2 ? Long.parseLong(args[2]) : 256) << 20;
        int n = args.length > 3 ? Integer.parseInt(args[3]) : 1;
        String only = System.getProperty("bench.only", "");
        System.out.printf("KernelBench %dx%d, %d threads, %d float lanes, footprint %d MiB, n=%d%n",
                rows, cols, Parallel.threads(), L, footprint >> 20, n);
        Random rnd = new Random(42);
        float[] w = new float[rows * cols];
        for (int i = 0; i < w.length; i++) w[i] = (float) rnd.nextGaussian();
        float[] w50 = prune(w, rnd, 0.5), w70 = prune(w, rnd, 0.7), w24 = nm(w, cols, 2, 4), w48 = nm(w, cols, 4, 8);

        List<Object[]> cases = new ArrayList<>();
        cases.add(new Object[]{"dense-f32", (Supplier<Linear>) () -> new DenseLinear(rows, cols, w)});
        cases.add(new Object[]{"dense-bf16", (Supplier<Linear>) () -> Bf16DenseLinear.fromDense(w, rows, cols)});
        cases.add(new Object[]{"sparse 50%", (Supplier<Linear>) () -> SparseLinear.fromDense(w50, rows, cols)});
        cases.add(new Object[]{"sparse 70%", (Supplier<Linear>) () -> SparseLinear.fromDense(w70, rows, cols)});
        cases.add(new Object[]{"csr-int 50%", (Supplier<Linear>) () -> new Csr(w50, rows, cols, false)});
        cases.add(new Object[]{"csr-int 70%", (Supplier<Linear>) () -> new Csr(w70, rows, cols, false)});
        cases.add(new Object[]{"csr-short 50%", (Supplier<Linear>) () -> new Csr(w50, rows, cols, true)});
        cases.add(new Object[]{"csr-short 70%", (Supplier<Linear>) () -> new Csr(w70, rows, cols, true)});
        cases.add(new Object[]{"2:4", (Supplier<Linear>) () -> NMSparseLinear.fromDense(w24, rows, cols, 2, 4)});
        cases.add(new Object[]{"4:8", (Supplier<Linear>) () -> NMSparseLinear.fromDense(w48, rows, cols, 4, 8)});
        cases.add(new Object[]{"int8-g128", (Supplier<Linear>) () -> QuantizedLinear.quantizeRtn(w, rows, cols, 8, 128, false)});
        cases.add(new Object[]{"int8-pc", (Supplier<Linear>) () -> QuantizedLinear.quantizeRtn(w, rows, cols, 8, cols, true)});
        cases.add(new Object[]{"int4-g128", (Supplier<Linear>) () -> QuantizedLinear.quantizeRtn(w, rows, cols, 4, 128, false)});
        cases.add(new Object[]{"int8-g128 rowmajor", (Supplier<Linear>) () -> rowMajor(() -> QuantizedLinear.quantizeRtn(w, rows, cols, 8, 128, false))});
        cases.add(new Object[]{"int4-g128 rowmajor", (Supplier<Linear>) () -> rowMajor(() -> QuantizedLinear.quantizeRtn(w, rows, cols, 4, 128, false))});
        cases.add(new Object[]{"int4-g32", (Supplier<Linear>) () -> QuantizedLinear.quantizeRtn(w, rows, cols, 4, 32, false)});
        cases.add(new Object[]{"lowrank k=" + rows / 8, (Supplier<Linear>) () -> LowRankLinear.of(
                Arrays.copyOf(w, rows * (rows / 8)), Arrays.copyOf(w, (rows / 8) * cols), rows, rows / 8, cols)});
        cases.add(new Object[]{"sparse50+int8-g128", (Supplier<Linear>) () -> SparseQuantizedLinear.quantizeRtn(w50, rows, cols, 8, 128, false)});
        cases.add(new Object[]{"sparse50+int4-g128", (Supplier<Linear>) () -> SparseQuantizedLinear.quantizeRtn(w50, rows, cols, 4, 128, false)});
        cases.add(new Object[]{"sparse50+int4-g128 packed", (Supplier<Linear>) () -> rowMajor(() -> SparseQuantizedLinear.quantizeRtn(w50, rows, cols, 4, 128, false))});
        // TEAL's run-time thresholds on this Gaussian x: |x| <= t for 40% (t = 0.5244) and 50% (0.6745) of the entries
        for (double[] st : new double[][]{{0, 0}, {40, 0.5244}, {50, 0.6745}}) {
            String p = " teal" + (int) st[0];
            float t = (float) st[1];
            cases.add(new Object[]{"dense-cm" + p, (Supplier<Linear>) () -> new ActSparseLinear(ColumnMajorLinear.of(w, rows, cols), t)});
            cases.add(new Object[]{"int8-g128" + p, (Supplier<Linear>) () -> ActSparseLinear.columnBlocked(QuantizedLinear.quantizeRtn(w, rows, cols, 8, 128, false), t)});
            cases.add(new Object[]{"int4-g128" + p, (Supplier<Linear>) () -> ActSparseLinear.columnBlocked(QuantizedLinear.quantizeRtn(w, rows, cols, 4, 128, false), t)});
        }
        cases.add(new Object[]{"int4-g128+0.5% out", (Supplier<Linear>) () -> OutlierLinear.fromDense(w, rows, cols, 4, 128, false, 0.005)});

        Linear[] dense = copies(() -> new DenseLinear(rows, cols, w), footprint);
        System.out.printf("%-20s %8s %10s %8s %10s %8s%s%n", "format", "MiB", "ms/matvec", "GB/s", "dense ms", "speedup",
                n > 1 ? "  ms/matmul  dense ms  speedup" : "");
        int repeat = Integer.getInteger("bench.repeat", 1);
        for (int rep = 0; rep < repeat; rep++) for (Object[] c : cases) {
            String name = (String) c[0];
            if (!only.isEmpty() && !name.matches(only)) continue;
            @SuppressWarnings("unchecked") Supplier<Linear> make = (Supplier<Linear>) c[1];
            Linear[] ls = copies(make, footprint);
            double[] t = timed(ls, dense, 1);
            String mm = "";
            if (n > 1) {
                double[] tm = timed(ls, dense, n);
                mm = String.format("  %9.3f %9.3f %7.2fx", tm[0], tm[1], tm[2]);
            }
            System.out.printf("%-20s %8.2f %10.3f %8.1f %10.3f %7.2fx%s%n", name, ls[0].bytes() / 1048576.0, t[0],
                    ls[0].bytes() / t[0] / 1e6, t[1], t[2], mm);
        }
    }

    /** A quantized matrix in the layout the interleaved one replaced (row-major, or packed survivors for sparse), for comparison in one run. */
    private static Linear rowMajor(Supplier<Linear> make) {
        QuantizedLinear.interleave = false;
        try { return make.get(); } finally { QuantizedLinear.interleave = true; }
    }

    /** Enough instances of one format to exceed the footprint (at most 64). */
    private static Linear[] copies(Supplier<Linear> make, long footprint) {
        Linear first = make.get();
        int n = (int) Math.max(1, Math.min(64, (footprint + first.bytes() - 1) / first.bytes()));
        Linear[] ls = new Linear[n];
        ls[0] = first;
        for (int i = 1; i < n; i++) ls[i] = make.get();
        return ls;
    }

    /**
     * With {@code -Dbench.cpu=true}: one thread (the work runs inside a one-worker fork-join pool)
     * and CPU time instead of wall time, which is robust to other processes on a shared machine;
     * use it with a small footprint to compare kernels' compute cost. Otherwise wall time with all threads.
     */
    private static double[] timed(Linear[] ls, Linear[] dense, int n) {
        if (!Boolean.getBoolean("bench.cpu")) return time(ls, dense, n);
        try (var pool = new java.util.concurrent.ForkJoinPool(1)) {
            return pool.submit(() -> time(ls, dense, n)).get();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static long now() {
        return Boolean.getBoolean("bench.cpu") ? java.lang.management.ManagementFactory.getThreadMXBean().getCurrentThreadCpuTime() : System.nanoTime();
    }

    /**
     * Alternates batches (about 100 ms each) of the format and of dense, 11 pairs after a warm-up,
     * so background load on a shared machine hits both alike. Returns {median ms of the format,
     * median ms of dense, median of the per-pair speed-ups}.
     */
    private static double[] time(Linear[] ls, Linear[] dense, int n) {
        Linear l0 = ls[0];
        float[] x = new float[n * l0.cols()], y = new float[n * l0.rows()];
        Random rnd = new Random(1);
        for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
        int bl = batch(ls, x, n, y), bd = batch(dense, x, n, y);
        double[] a = new double[11], d = new double[11], r = new double[11];
        for (int b = 0; b < a.length; b++) {
            a[b] = run(ls, x, n, y, bl);
            d[b] = run(dense, x, n, y, bd);
            r[b] = d[b] / a[b];
        }
        return new double[]{median(a), median(d), median(r)};
    }

    /** Warms up for about 0.5 s and returns the number of calls that take about 100 ms. */
    private static int batch(Linear[] ls, float[] x, int n, float[] y) {
        long t0 = now();
        int calls = 0;
        while (now() - t0 < 500_000_000L || calls < 3) { run(ls[calls % ls.length], x, n, y); calls++; }
        return (int) Math.max(2, 100e6 / ((now() - t0) / (double) calls));
    }

    /** Milliseconds per call over `calls` calls cycling through the copies. */
    private static double run(Linear[] ls, float[] x, int n, float[] y, int calls) {
        long s = now();
        for (int i = 0; i < calls; i++) run(ls[i % ls.length], x, n, y);
        return (now() - s) / 1e6 / calls;
    }

    private static double median(double[] v) {
        double[] c = v.clone();
        Arrays.sort(c);
        return c[c.length / 2];
    }

    private static void run(Linear l, float[] x, int n, float[] y) {
        if (n == 1) l.matvec(x, y); else l.matmul(x, n, y);
    }

    private static float[] prune(float[] w, Random rnd, double sparsity) {
        float[] p = w.clone();
        for (int i = 0; i < p.length; i++) if (rnd.nextDouble() < sparsity) p[i] = 0;
        return p;
    }

    /** Keeps the n largest-magnitude entries of every group of m columns. */
    private static float[] nm(float[] w, int cols, int n, int m) {
        float[] p = new float[w.length];
        Integer[] ord = new Integer[m];
        for (int r = 0; r < w.length / cols; r++)
            for (int c0 = 0; c0 < cols; c0 += m) {
                int base = r * cols + c0, width = Math.min(m, cols - c0);
                for (int i = 0; i < width; i++) ord[i] = i;
                Arrays.sort(ord, 0, width, (a, b) -> Float.compare(Math.abs(w[base + b]), Math.abs(w[base + a])));
                for (int i = 0; i < Math.min(n, width); i++) p[base + ord[i]] = w[base + ord[i]];
            }
        return p;
    }

    /**
     * CSR with gather, the layout SparseLinear was measured against: values + int or short column
     * indices (short indices are widened into a small int buffer, the Vector API gathers only
     * through int[]). Bench-only: matvec only.
     */
    static final class Csr implements Linear {
        private static final VectorSpecies<Short> SS = VectorSpecies.of(short.class, VectorShape.forBitSize(L * 16));
        private static final VectorSpecies<Integer> IS = S.withLanes(int.class);
        final int rows, cols;
        final int[] rowPtr, colI;
        final short[] colS;
        final float[] vals;

        Csr(float[] w, int rows, int cols, boolean shortIdx) {
            this.rows = rows; this.cols = cols;
            rowPtr = new int[rows + 1];
            int nnz = 0;
            for (float f : w) if (f != 0) nnz++;
            vals = new float[nnz];
            int[] ci = new int[nnz];
            int p = 0;
            for (int r = 0; r < rows; r++) {
                for (int c = 0; c < cols; c++) if (w[r * cols + c] != 0) { vals[p] = w[r * cols + c]; ci[p++] = c; }
                rowPtr[r + 1] = p;
            }
            if (shortIdx) {
                colS = new short[nnz];
                for (int i = 0; i < nnz; i++) colS[i] = (short) ci[i];
                colI = null;
            } else { colI = ci; colS = null; }
        }

        @Override public int rows() { return rows; }
        @Override public int cols() { return cols; }

        @Override public void matvec(float[] x, float[] y) {
            Parallel.forRange(rows, 16, (r0, r1) -> {
                int[] buf = new int[L];
                for (int r = r0; r < r1; r++) {
                    int p = rowPtr[r], end = rowPtr[r + 1];
                    FloatVector acc = FloatVector.zero(S);
                    for (; p + L <= end; p += L) {
                        FloatVector xv;
                        if (colI != null) xv = FloatVector.fromArray(S, x, 0, colI, p);
                        else {
                            ((IntVector) ShortVector.fromArray(SS, colS, p).convertShape(VectorOperators.S2I, IS, 0))
                                    .and(0xffff).intoArray(buf, 0);
                            xv = FloatVector.fromArray(S, x, 0, buf, 0);
                        }
                        acc = FloatVector.fromArray(S, vals, p).fma(xv, acc);
                    }
                    float s = acc.reduceLanes(VectorOperators.ADD);
                    for (; p < end; p++) s += vals[p] * x[colI != null ? colI[p] : colS[p] & 0xffff];
                    y[r] = s;
                }
            });
        }

        @Override public void matmul(float[] x, int n, float[] y) {
            float[] xt = new float[cols], yt = new float[rows];
            for (int t = 0; t < n; t++) {
                System.arraycopy(x, t * cols, xt, 0, cols);
                matvec(xt, yt);
                System.arraycopy(yt, 0, y, t * rows, rows);
            }
        }

        @Override public long bytes() { return 4L * vals.length + (colI != null ? 4L : 2L) * vals.length + 4L * (rows + 1); }
        @Override public long parameters() { return vals.length; }
        @Override public float[] toDense() { throw new UnsupportedOperationException("bench-only layout"); }
        @Override public String format() { return colI != null ? "csr-int" : "csr-short"; }
        @Override public void write(String prefix, dev.squish.formats.SafeTensorsWriter out) { throw new UnsupportedOperationException("bench-only layout"); }
    }
}
