package dev.squish.train;

import dev.squish.SquishException;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Consumer;

/**
 * The fine-tuning loop: next-token cross-entropy on windows of a token stream, AdamW, linear
 * warm-up then cosine decay to zero, global gradient-norm clipping, validation loss on held-out
 * windows, and checkpoints that make a killed run resumable exactly.
 *
 * <p>Exact resumption: the batch of step s depends only on (seed, s), the learning rate only on
 * s, and every kernel sums in a fixed order ({@link GradOps}), so continuing from a checkpoint
 * (weights, both moments, step) repeats the uninterrupted run's arithmetic bit for bit.
 */
public final class FineTune {
    private FineTune() {}

    public record Options(int steps, double lr, int batch, int seqLen, int loraRank, double loraAlpha, double minutes,
                          int warmup, double weightDecay, double clip, int evalEvery, int saveEvery, long seed,
                          String teacher, double kdWeight) {
        /** Without distillation. */
        public Options(int steps, double lr, int batch, int seqLen, int loraRank, double loraAlpha, double minutes,
                       int warmup, double weightDecay, double clip, int evalEvery, int saveEvery, long seed) {
            this(steps, lr, batch, seqLen, loraRank, loraAlpha, minutes, warmup, weightDecay, clip, evalEvery, saveEvery, seed, null, 0);
        }

        public Options {
            if (!(kdWeight >= 0 && kdWeight <= 1)) throw new SquishException("--kd-weight must be in [0, 1], got " + kdWeight);
            if (steps < 1) throw new SquishException("--steps must be at least 1, got " + steps);
            if (!(lr > 0) || !Double.isFinite(lr)) throw new SquishException("--lr must be a positive number, got " + lr);
            if (batch < 1) throw new SquishException("--batch must be at least 1, got " + batch);
            if (seqLen < 2) throw new SquishException("--seq-len must be at least 2, got " + seqLen);
            if (loraRank < 0) throw new SquishException("--lora-rank must be at least 1, got " + loraRank);
            if (!(minutes > 0)) throw new SquishException("--minutes must be positive, got " + minutes);
            if (warmup < 0) throw new SquishException("--warmup must be >= 0, got " + warmup);
            if (evalEvery < 1) throw new SquishException("--eval-every must be at least 1, got " + evalEvery);
            if (saveEvery < 1) throw new SquishException("--save-every must be at least 1, got " + saveEvery);
        }

        /** Default peak learning rate: 1e-4 for full fine-tuning, 1e-3 for LoRA adapters (rank > 0). */
        public static double defaultLr(int loraRank) { return loraRank > 0 ? 1e-3 : 1e-4; }

        /** Default LoRA scale numerator: 2R, so adapters are scaled by 2 (the LoRA paper's alpha = 2 r setting). */
        public static double defaultLoraAlpha(int loraRank) { return 2.0 * loraRank; }

        /** Default warm-up: a tenth of the steps, at most 50. */
        public static int defaultWarmup(int steps) { return Math.min(50, steps / 10); }

        /** What must match between a checkpoint and the run that resumes it (not the time budget). */
        String fingerprint(long dataHash) {
            return String.join(" ", "steps=" + steps, "lr=" + lr, "batch=" + batch, "seq_len=" + seqLen, "lora_rank=" + loraRank,
                    "lora_alpha=" + loraAlpha, "warmup=" + warmup, "weight_decay=" + weightDecay, "clip=" + clip, "seed=" + seed,
                    "data=" + Long.toHexString(dataHash)) + (teacher == null ? "" : " teacher=" + teacher + " kd_weight=" + kdWeight);
        }
    }

    /** One line of progress. valLoss is NaN on steps without a validation pass. */
    public record Progress(int step, int steps, double loss, double lr, double gradNorm, double tokensPerSecond, double etaSeconds, double valLoss) {}

    /**
     * @param stop why the loop ended: "steps" (all done) or "minutes" (time budget; the checkpoint is kept)
     */
    public record Result(int startStep, int step, double firstLoss, double lastLoss, double firstValLoss, double lastValLoss,
                         double seconds, long tokens, double tokensPerSecond, String stop, List<double[]> curve) {}

    /** Learning rate at (1-based) step t: linear warm-up, then cosine to zero at the last step. */
    public static double learningRate(Options o, int t) {
        if (t <= o.warmup()) return o.lr() * t / o.warmup();
        double p = (double) (t - o.warmup()) / Math.max(1, o.steps() - o.warmup());
        return o.lr() * 0.5 * (1 + Math.cos(Math.PI * Math.min(1, p)));
    }

    /** The held-out tail of the token stream: the last 5% (at least one window). */
    static int validationStart(int tokens, int seqLen) {
        int val = Math.max(seqLen + 1, tokens / 20);
        return tokens - val;
    }

    /** Checks the stream holds a batch of training windows and a validation window. */
    public static void checkData(int tokens, Options o, String what) {
        int need = o.batch() * (o.seqLen() + 1) + o.seqLen() + 1;
        if (tokens < need)
            throw new SquishException(what + ": " + tokens + " tokens, fewer than one batch (" + o.batch() + " x " + (o.seqLen() + 1)
                    + ") plus a validation window of " + (o.seqLen() + 1) + " (need " + need + ")");
    }

    static int[][] batch(int[] tokens, int trainEnd, Options o, int step) {
        SplittableRandom r = new SplittableRandom(o.seed() * 0x9E3779B97F4A7C15L + step);
        int[][] b = new int[o.batch()][];
        for (int i = 0; i < b.length; i++) {
            int start = r.nextInt(trainEnd - o.seqLen());
            b[i] = Arrays.copyOfRange(tokens, start, start + o.seqLen() + 1);
        }
        return b;
    }

    /** Up to 8 non-overlapping windows of the held-out tail (its cost is bounded: ~8 forward windows). */
    static int[][] validation(int[] tokens, int valStart, int seqLen) {
        List<int[]> w = new ArrayList<>();
        for (int s = valStart; s + seqLen + 1 <= tokens.length && w.size() < 8; s += seqLen + 1)
            w.add(Arrays.copyOfRange(tokens, s, s + seqLen + 1));
        return w.toArray(int[][]::new);
    }

    static double validationLoss(TrainModel tm, int[][] val, int batch) {
        double sum = 0;
        int n = 0;
        for (int i = 0; i < val.length; i += batch) {
            int[][] b = Arrays.copyOfRange(val, i, Math.min(val.length, i + batch));
            sum += tm.lmLoss(b) * b.length;
            n += b.length;
        }
        return sum / n;
    }

    public static long hash(int[] tokens) {
        long h = 1125899906842597L;
        for (int t : tokens) h = 31 * h + t;
        return h ^ tokens.length;
    }

    /**
     * Trains tm on the stream (resuming from {@code checkpoint} when it exists) until all steps are
     * done or the time budget is spent, saving a checkpoint every saveEvery steps and at the end.
     * A non-finite loss or gradient stops with a {@link SquishException}, the last checkpoint intact.
     */
    public static Result run(TrainModel tm, int[] tokens, Options o, Path checkpoint, Consumer<Progress> progress) {
        checkData(tokens.length, o, "--data");
        long t0 = System.nanoTime();
        int valStart = validationStart(tokens.length, o.seqLen());
        int[][] val = validation(tokens, valStart, o.seqLen());
        List<Param> ps = tm.trainable();
        AdamW.allocate(ps);
        String fp = o.fingerprint(hash(tokens));
        List<double[]> curve = new ArrayList<>();
        int start = 0;
        if (checkpoint != null && Files.exists(checkpoint)) start = load(checkpoint, ps, fp, curve);
        AdamW opt = new AdamW(o.weightDecay());
        double first = Double.NaN, last = Double.NaN, lastVal = Double.NaN;
        // The validation loss where this run starts (the curve's baseline): 8 forward windows.
        double firstVal = start < o.steps() ? validationLoss(tm, val, o.batch()) : Double.NaN;
        long tokensDone = 0;
        String stop = "steps";
        int step = start;
        long budget = (long) (o.minutes() * 60e9);
        while (step < o.steps()) {
            if (System.nanoTime() - t0 > budget) { stop = "minutes"; break; }
            int t = step + 1;
            int[][] b = batch(tokens, valStart, o, t);
            for (Param p : ps) p.zeroGrad();
            double loss = tm.loss(b, true);
            for (Param p : ps) p.maskGradient();
            double norm = AdamW.gradNorm(ps);
            if (!Double.isFinite(loss) || !Double.isFinite(norm))
                throw new SquishException("loss became non-finite at step " + t + " (learning rate " + learningRate(o, t) + "); "
                        + (checkpoint != null && Files.exists(checkpoint) ? "the last good checkpoint " + checkpoint + " is intact" : "no checkpoint was saved yet")
                        + "; try a lower --lr");
            double lr = learningRate(o, t);
            opt.step(ps, t, lr, o.clip() > 0 && norm > o.clip() ? o.clip() / norm : 1);
            step = t;
            tokensDone += (long) o.batch() * o.seqLen();
            if (Double.isNaN(first)) first = loss;
            last = loss;
            double v = Double.NaN;
            if (step % o.evalEvery() == 0 || step == o.steps()) {
                v = validationLoss(tm, val, o.batch());
                lastVal = v;
            }
            curve.add(new double[]{step, loss, v});
            if (checkpoint != null && (step % o.saveEvery() == 0 || step == o.steps())) save(checkpoint, ps, fp, step, curve);
            double secs = (System.nanoTime() - t0) / 1e9, tps = tokensDone / secs;
            double eta = Math.min((o.steps() - step) * secs / (step - start), Math.max(0, o.minutes() * 60 - secs));
            progress.accept(new Progress(step, o.steps(), loss, lr, norm, tps, eta, v));
        }
        if (checkpoint != null && step > start && stop.equals("minutes") && step % o.saveEvery() != 0) save(checkpoint, ps, fp, step, curve);
        double secs = (System.nanoTime() - t0) / 1e9;
        if (Double.isNaN(lastVal) || stop.equals("minutes")) {
            lastVal = validationLoss(tm, val, o.batch());
            if (Double.isNaN(firstVal)) firstVal = lastVal;
        }
        return new Result(start, step, first, last, firstVal, lastVal, secs, tokensDone, tokensDone / Math.max(1e-9, secs), stop, curve);
    }

    // ---------------------------------------------------------------- checkpoints

    private static final int MAGIC = 0x53515443;   // "SQTC"

    /** Writes weights, moments, step and the loss curve to a temporary file renamed over the checkpoint. */
    static void save(Path file, List<Param> ps, String fingerprint, int step, List<double[]> curve) {
        Path abs = file.toAbsolutePath();
        Path tmp = abs.resolveSibling(abs.getFileName() + ".tmp");
        try {
            try (var out = new DataOutputStream(new BufferedOutputStream(Files.newOutputStream(tmp), 1 << 16))) {
                out.writeInt(MAGIC);
                out.writeUTF(fingerprint);
                out.writeInt(step);
                out.writeInt(ps.size());
                for (Param p : ps) {
                    out.writeUTF(p.name);
                    out.writeInt(p.w.length);
                    for (double[] a : new double[][]{p.w, p.m, p.v}) for (double x : a) out.writeDouble(x);
                }
                out.writeInt(curve.size());
                for (double[] c : curve) for (double x : c) out.writeDouble(x);
            }
            try (var ch = java.nio.channels.FileChannel.open(tmp, java.nio.file.StandardOpenOption.WRITE)) { ch.force(true); }
            try {
                Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            throw new SquishException("cannot write checkpoint " + file + ": " + e.getMessage());
        }
    }

    /** Restores a checkpoint into ps; returns its step. */
    static int load(Path file, List<Param> ps, String fingerprint, List<double[]> curve) {
        try (var in = new DataInputStream(new BufferedInputStream(Files.newInputStream(file), 1 << 16))) {
            if (in.readInt() != MAGIC) throw new SquishException(file + ": not a Squish fine-tuning checkpoint");
            String fp = in.readUTF();
            if (!fp.equals(fingerprint))
                throw new SquishException(file + ": checkpoint of a different run (" + fp + "; this run: " + fingerprint + "); delete it or repeat that run's options");
            int step = in.readInt(), n = in.readInt();
            if (n != ps.size()) throw new SquishException(file + ": checkpoint holds " + n + " tensors, this run trains " + ps.size());
            for (Param p : ps) {
                String name = in.readUTF();
                int len = in.readInt();
                if (!name.equals(p.name) || len != p.w.length)
                    throw new SquishException(file + ": checkpoint tensor " + name + " [" + len + "] where this run has " + p.name + " [" + p.w.length + "]");
                for (double[] a : new double[][]{p.w, p.m, p.v}) for (int i = 0; i < len; i++) a[i] = in.readDouble();
            }
            int c = in.readInt();
            for (int i = 0; i < c; i++) curve.add(new double[]{in.readDouble(), in.readDouble(), in.readDouble()});
            return step;
        } catch (java.io.EOFException e) {
            throw new SquishException(file + ": truncated checkpoint");
        } catch (IOException e) {
            throw new SquishException("cannot read checkpoint " + file + ": " + e.getMessage());
        }
    }
}
