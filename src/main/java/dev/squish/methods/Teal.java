package dev.squish.methods;

import dev.squish.calibration.BlockContext;
import dev.squish.model.Block;
import dev.squish.model.LinearObserver;
import dev.squish.weights.ActSparseLinear;
import dev.squish.weights.ColumnMajorLinear;
import dev.squish.weights.DenseLinear;
import dev.squish.weights.Linear;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * TEAL (Liu et al. 2024, FasterDecoding/TEAL): training-free activation sparsity. Each linear's
 * input is thresholded at run time, {@code x_j = 0 where |x_j| <= t}, with t calibrated on the
 * calibration activations so that a target fraction of the entries falls under it. Linears that
 * read one input (q/k/v, gate/up) share its threshold. A dense weight is stored column-major
 * ({@link ColumnMajorLinear}), so the zeroed entries' weight columns are never read; int4/int8
 * weights keep their stored layout and get a column-blocked decode copy at load
 * ({@link ActSparseLinear}); other formats get the masked input.
 *
 * <p>Thresholds are calibrated on the inputs the block sees in the sparsified model: block by
 * block on the outputs of the already-sparsified blocks (the pipeline's order), and within a block
 * input by input in forward order (q/k/v's input, then o_proj's on the outputs of the thresholded
 * q/k/v, ...), one calibration pass per input. The reference calibrates every threshold on the
 * dense model; here each threshold zeroes the target fraction of what it will actually see.
 *
 * <p>{@code greedy}: TEAL's block-wise greedy allocation. Within each block, starting from no
 * sparsity, the input whose next 5% step raises the block's output error the least per weight
 * column skipped gets the step, until the block skips the target fraction of its weight reads
 * (inputs weighted by the weights that read them). Errors are measured on up to 8 calibration
 * samples against the block's unsparsified output; thresholds come from the block's dense inputs.
 */
public final class Teal implements CompressionMethod {
    public static final class Descriptor extends AbstractDescriptor<TealOptions> {
        public Descriptor() {
            super("teal", "zeroes small activations at run time by calibrated thresholds, skipping their weight columns (TEAL)",
                    Kind.ACTIVATION, Set.of(Need.CALIBRATION), TealOptions.class, TealOptions.OPTIONS, TealOptions::read);
        }

        @Override public CompressionMethod create(TealOptions o) { return new Teal(o); }
    }

    static final Descriptor DESCRIPTOR = new Descriptor();
    static final double STEP = 0.05;
    static final int GREEDY_SAMPLES = 8;

    private final TealOptions o;

    public Teal(TealOptions o) { this.o = o; }

    public Teal(double sparsity) { this(new TealOptions(sparsity, "uniform")); }

    @Override public MethodDescriptor<?> descriptor() { return DESCRIPTOR; }

    @Override public String describe() {
        return String.format("teal %.0f%% %s", 100 * o.activationSparsity(), o.allocation());
    }

    /** The weight with its input thresholded at t: dense weights become column-major so that skipped columns are not read. */
    public static Linear wrap(Linear l, float t) {
        Linear base = l instanceof ActSparseLinear a ? a.base() : l;
        if (base instanceof DenseLinear d) base = ColumnMajorLinear.of(d.toDense(), d.rows(), d.cols());
        // GPT-2's float32 [in, out] checkpoint weight is already column-major: its mapped bytes, no copy
        else if (base instanceof dev.squish.weights.TransposedDenseLinear tr && tr.columnMajor() != null) base = tr.columnMajor();
        else if (base instanceof dev.squish.weights.TransposedDenseLinear tr) base = ColumnMajorLinear.of(tr.toDense(), tr.rows(), tr.cols());
        return new ActSparseLinear(base, t);
    }

    @Override public void compressBlock(BlockContext ctx) {
        if (o.allocation().equals("greedy")) greedy(ctx);
        else uniform(ctx);
    }

    private void uniform(BlockContext ctx) {
        Block b = ctx.block();
        List<String> todo = new ArrayList<>(ctx.selectedLinears());
        while (!todo.isEmpty()) {
            long t0 = System.nanoTime();
            String first = todo.get(0);
            ActivationSample s = new ActivationSample((long) ctx.samples() * ctx.seqLen() * b.linear(first).cols());
            List<String> group = new ArrayList<>(List.of(first));
            float[][] cur = new float[1][];
            ctx.forEachSample((name, x, n, cols) -> {
                if (name.equals(first)) { s.add(x, n, cols); cur[0] = x; }
                else if (x == cur[0] && todo.contains(name) && !group.contains(name)) group.add(name);
            });
            float t = s.threshold(o.activationSparsity());
            double sec = (System.nanoTime() - t0) / 1e9;
            for (String g : group) {
                ctx.replace(name(), g, wrap(b.linear(g), t), Double.NaN, sec / group.size());
                todo.remove(g);
            }
        }
    }

    /** One input of a block and the selected linears that read it. */
    private record Input(List<String> linears, ActivationSample sample, long weights) {}

    private void greedy(BlockContext ctx) {
        long t0 = System.nanoTime();
        Block b = ctx.block();
        List<String> selected = ctx.selectedLinears();
        // One pass over the block as it is: every input's magnitudes, grouped by the array the linears read.
        Map<String, ActivationSample> byName = new LinkedHashMap<>();
        IdentityHashMap<float[], String> owner = new IdentityHashMap<>();
        Map<String, List<String>> readers = new LinkedHashMap<>();
        ctx.forEachSample((name, x, n, cols) -> {
            if (!selected.contains(name)) return;
            String first = owner.get(x);
            if (first == null) {
                first = name;
                owner.clear();
                owner.put(x, name);
                byName.computeIfAbsent(name, k -> new ActivationSample((long) ctx.samples() * ctx.seqLen() * cols)).add(x, n, cols);
            }
            List<String> r = readers.computeIfAbsent(first, k -> new ArrayList<>());
            if (!r.contains(name)) r.add(name);
        });
        List<Input> inputs = new ArrayList<>();
        long total = 0;
        for (var e : readers.entrySet()) {
            long w = 0;
            for (String l : e.getValue()) w += (long) b.linear(l).rows() * b.linear(l).cols();
            inputs.add(new Input(e.getValue(), byName.get(e.getKey()), w));
            total += w;
        }
        Map<String, Linear> original = new LinkedHashMap<>();
        for (String l : selected) original.put(l, b.linear(l));
        int ns = Math.min(GREEDY_SAMPLES, ctx.samples());
        float[][] ref = blockOutputs(ctx, ns);
        double[] s = new double[inputs.size()];
        double target = o.activationSparsity() * total, done = 0;
        double err = 0;
        while (done < target - 1e-9 * total) {
            int best = -1;
            double bestScore = Double.POSITIVE_INFINITY, bestErr = 0, bestStep = 0;
            for (int i = 0; i < inputs.size(); i++) {
                double step = Math.min(STEP, Math.min(0.99 - s[i], (target - done) / inputs.get(i).weights()));
                if (step <= 1e-12) continue;
                s[i] += step;
                install(b, inputs, s, original, false);
                double e = error(ctx, ns, ref);
                s[i] -= step;
                double score = (e - err) / (step * inputs.get(i).weights());
                if (score < bestScore) { bestScore = score; best = i; bestErr = e; bestStep = step; }
            }
            if (best < 0) break;
            s[best] += bestStep;
            done += bestStep * inputs.get(best).weights();
            err = bestErr;
        }
        for (var e : original.entrySet()) b.linears.put(e.getKey(), e.getValue());
        double sec = (System.nanoTime() - t0) / 1e9;
        for (int i = 0; i < inputs.size(); i++) {
            float t = inputs.get(i).sample().threshold(s[i]);
            for (String l : inputs.get(i).linears()) ctx.replace(name(), l, wrap(original.get(l), t), Double.NaN, sec / selected.size());
        }
    }

    /** Puts each input's thresholds into the block (masking only, for trial runs, or column-major for good). */
    private static void install(Block b, List<Input> inputs, double[] s, Map<String, Linear> original, boolean last) {
        for (int i = 0; i < inputs.size(); i++) {
            float t = inputs.get(i).sample().threshold(s[i]);
            for (String l : inputs.get(i).linears())
                b.linears.put(l, last ? wrap(original.get(l), t) : ActSparseLinear.masking(original.get(l), t));
        }
    }

    private static float[][] blockOutputs(BlockContext ctx, int ns) {
        float[][] out = new float[ns][];
        var cache = ctx.model().newCache(ctx.seqLen());
        int[] i = {0};
        ctx.forEachInput(x -> {
            if (i[0] < ns) out[i[0]] = ctx.model().arch.forwardBlock(ctx.block(), x.clone(), ctx.seqLen(), 0, cache, LinearObserver.NONE).clone();
            i[0]++;
        });
        return out;
    }

    /** Squared error of the block's outputs against ref, relative to ref's squared norm. */
    private static double error(BlockContext ctx, int ns, float[][] ref) {
        float[][] y = blockOutputs(ctx, ns);
        double num = 0, den = 0;
        for (int i = 0; i < ns; i++)
            for (int j = 0; j < y[i].length; j++) { double d = y[i][j] - ref[i][j]; num += d * d; den += (double) ref[i][j] * ref[i][j]; }
        return den == 0 ? 0 : num / den;
    }
}
