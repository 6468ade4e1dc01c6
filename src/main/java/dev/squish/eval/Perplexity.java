package dev.squish.eval;

import dev.squish.SquishException;
import dev.squish.model.KVCache;
import dev.squish.model.Model;
import dev.squish.model.NonFinite;
import dev.squish.util.Progress;

/**
 * Perplexity exactly as the fixtures' reference defines it: floor(n / L) non-overlapping windows
 * of L tokens (the remainder dropped), each run on its own from position 0, scoring the L - 1
 * next-token predictions of each window; exp(total NLL / scored tokens).
 */
public final class Perplexity {
    private Perplexity() {}

    public record Result(double perplexity, long tokens, int windows, double nll, double seconds) {}

    /** The window length and the text's size, checked (one error line each). */
    public static void check(Model model, int[] tokens, int seqLen) {
        if (seqLen < 2) throw new SquishException("--seq-len must be at least 2, got " + seqLen);
        if (seqLen > model.maxPositions())
            throw new SquishException("--seq-len " + seqLen + " exceeds the model's maximum context of " + model.maxPositions());
        if (tokens.length / seqLen == 0)
            throw new SquishException("the evaluation text has " + tokens.length + " tokens, fewer than one window of " + seqLen);
    }

    public static Result evaluate(Model model, int[] tokens, int seqLen) {
        check(model, tokens, seqLen);
        int windows = tokens.length / seqLen;
        long start = System.nanoTime();
        double nll = 0;
        KVCache cache = model.newCache(seqLen);
        try (Progress p = Progress.start("eval", windows)) {
            for (int w = 0; w < windows; w++) {
                nll += windowNll(model, java.util.Arrays.copyOfRange(tokens, w * seqLen, (w + 1) * seqLen), cache);
                p.step();
            }
        }
        long scored = (long) windows * (seqLen - 1);
        return new Result(Math.exp(nll / scored), scored, windows, nll, (System.nanoTime() - start) / 1e9);
    }

    /**
     * The summed negative log-likelihood of the window's last {@code win.length - 1} tokens, each
     * predicted from the ones before it (the window run on its own from position 0). Checked per
     * window so a bad model fails fast, naming the tensor or block at fault.
     */
    public static double windowNll(Model model, int[] win, KVCache cache) {
        int vocab = model.vocab();
        float[] logits = model.forward(win, 0, cache);
        double windowNll = 0;
        for (int t = 0; t < win.length - 1; t++) windowNll += nll(logits, t * vocab, vocab, win[t + 1]);
        if (!Double.isFinite(windowNll)) throw new SquishException(NonFinite.diagnose(model, win));
        return windowNll;
    }

    /** -log softmax(logits[off .. off+vocab))[target], computed stably in double. */
    static double nll(float[] logits, int off, int vocab, int target) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) max = Math.max(max, logits[off + i]);
        double sum = 0;
        for (int i = 0; i < vocab; i++) sum += Math.exp(logits[off + i] - max);
        return Math.log(sum) + max - logits[off + target];
    }
}
