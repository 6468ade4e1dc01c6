package dev.squish.eval;

import dev.squish.model.KVCache;
import dev.squish.model.Model;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.function.IntConsumer;

/**
 * Autoregressive generation with a KV cache: the prompt is prefilled in one pass, then one token
 * at a time is decoded. Greedy when temperature is 0, else temperature + nucleus (top-p) sampling
 * from a seeded generator, so a run is reproducible.
 */
public final class Generator {
    private final Model model;

    public Generator(Model model) { this.model = model; }

    public record Options(int maxTokens, double temperature, double topP, long seed, Integer stopToken) {
        public static Options greedy(int maxTokens) { return new Options(maxTokens, 0, 1, 0, null); }
    }

    public record Result(int[] tokens, double prefillSeconds, double decodeSeconds) {
        public double decodeTokensPerSecond() { return tokens.length <= 1 ? 0 : (tokens.length - 1) / decodeSeconds; }
    }

    /** Generates up to maxTokens tokens after the prompt; onToken sees each as it is produced. */
    public Result generate(int[] prompt, Options o, IntConsumer onToken) {
        if (prompt.length == 0) throw new dev.squish.SquishException("--prompt is empty (it must encode to at least one token)");
        int capacity = Math.min(model.maxPositions(), prompt.length + o.maxTokens());
        if (prompt.length >= model.maxPositions())
            throw new dev.squish.SquishException("the prompt has " + prompt.length + " tokens, at least the model's context of " + model.maxPositions());
        KVCache cache = model.newCache(capacity);
        Random rnd = new Random(o.seed());
        List<Integer> out = new ArrayList<>();
        long t0 = System.nanoTime();
        float[] logits = model.forwardLast(prompt, 0, cache);
        if (dev.squish.model.NonFinite.find(logits) >= 0) throw new dev.squish.SquishException(dev.squish.model.NonFinite.diagnose(model, prompt));
        long t1 = System.nanoTime();
        int pos = prompt.length;
        while (out.size() < o.maxTokens()) {
            int next = o.temperature() <= 0 ? argmax(logits) : sample(logits, o.temperature(), o.topP(), rnd);
            out.add(next);
            onToken.accept(next);
            if (o.stopToken() != null && next == o.stopToken()) break;
            if (pos >= capacity || out.size() >= o.maxTokens()) break;
            logits = model.forwardLast(new int[]{next}, pos++, cache);
        }
        long t2 = System.nanoTime();
        return new Result(out.stream().mapToInt(Integer::intValue).toArray(), (t1 - t0) / 1e9, (t2 - t1) / 1e9);
    }

    public static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
        return best;
    }

    static int sample(float[] logits, double temperature, double topP, Random rnd) {
        int n = logits.length;
        double max = Double.NEGATIVE_INFINITY;
        for (float l : logits) max = Math.max(max, l);
        double[] p = new double[n];
        double sum = 0;
        for (int i = 0; i < n; i++) { p[i] = Math.exp((logits[i] - max) / temperature); sum += p[i]; }
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) { p[i] /= sum; order[i] = i; }
        Arrays.sort(order, (a, b) -> Double.compare(p[b], p[a]));
        double cum = 0;
        int keep = 0;
        while (keep < n) { cum += p[order[keep]]; keep++; if (cum >= topP) break; }
        double r = rnd.nextDouble() * cum, acc = 0;
        for (int k = 0; k < keep; k++) { acc += p[order[k]]; if (r < acc) return order[k]; }
        return order[keep - 1];
    }
}
