package dev.squish.eval;

import dev.squish.SquishException;
import dev.squish.formats.Tokenizer;
import dev.squish.model.KVCache;
import dev.squish.model.Model;
import dev.squish.model.NonFinite;

import java.util.Arrays;
import java.util.List;

/**
 * Log-likelihoods of continuations after a context, computed the way lm-evaluation-harness computes
 * them for a causal model (its {@code TemplateLM.loglikelihood} / {@code _encode_pair} in
 * {@code lm_eval/api/model.py} and {@code HFLM._loglikelihood_tokens} in {@code lm_eval/models/huggingface.py}):
 * <ul>
 *   <li>trailing whitespace of the context is moved to the front of the continuation
 *       ({@code n_spaces = len(context) - len(context.rstrip())});</li>
 *   <li>the context's tokens are {@code tok(context)} and the continuation's are
 *       {@code tok(context + continuation)[len(tok(context)):]}, so a BPE merge across the boundary
 *       lands in the continuation (or, when it swallows the context's last token, shortens it);</li>
 *   <li>an empty context is replaced by the prefix token (end-of-text, else begin-of-text) and the
 *       continuation is encoded alone;</li>
 *   <li>no special tokens are added ({@code add_special_tokens=False} for causal models);</li>
 *   <li>the score is the sum of log-softmax of the continuation's tokens, and "greedy" says whether
 *       every continuation token is the argmax at its position (first index on ties, as
 *       {@code torch.argmax}).</li>
 * </ul>
 * Continuations that share a context are scored from one prefill of that context: the context runs
 * once through the prompt-processing (matrix-matrix) path into a KV cache, then each continuation
 * runs from position len(context) over the same cache. Attention at a position reads only the
 * cache up to it, so a continuation overwriting the previous one's positions changes nothing.
 * The harness truncates an over-long input from the left; here it is an input error instead,
 * so that every score is computed on the text the task file holds.
 */
public final class Loglikelihood {
    private Loglikelihood() {}

    /** A request in tokens: the context (never empty) and the continuation scored after it. */
    public record Request(int[] context, int[] continuation) {
        /** Positions the model must see: the context and all but the last continuation token. */
        public int positions() { return context.length + Math.max(0, continuation.length - 1); }
    }

    /** Summed log-probability of the continuation and whether greedy decoding would produce it. */
    public record Score(double logprob, boolean greedy) {}

    /** The harness's {@code _encode_pair} (and its empty-context rule). */
    public static Request encode(Tokenizer tok, String context, String continuation) {
        if (context.isEmpty()) {
            Integer prefix = tok.eosId() != null ? tok.eosId() : tok.bosId();
            if (prefix == null)
                throw new SquishException("an empty context needs an end-of-text or begin-of-text token, and the tokenizer has neither");
            return new Request(new int[]{prefix}, tok.encode(continuation));
        }
        int keep = rstripLength(context);
        if (keep < context.length()) {
            continuation = context.substring(keep) + continuation;
            context = context.substring(0, keep);
        }
        if (context.isEmpty()) return encode(tok, "", continuation);
        int[] whole = tok.encode(context + continuation);
        int[] ctx = tok.encode(context);
        int[] cont = ctx.length >= whole.length ? new int[0] : Arrays.copyOfRange(whole, ctx.length, whole.length);
        return new Request(ctx, cont);
    }

    /**
     * Length of {@code s} without trailing whitespace as Python's {@code str.rstrip()} counts it
     * (Unicode White_Space plus the separators \x1c-\x1f that Python also strips).
     */
    static int rstripLength(String s) {
        int end = s.length();
        while (end > 0) {
            int cp = s.codePointBefore(end);
            if (!isPythonSpace(cp)) break;
            end -= Character.charCount(cp);
        }
        return end;
    }

    static boolean isPythonSpace(int c) {
        return c >= 9 && c <= 13 || c >= 0x1c && c <= 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680
                || c >= 0x2000 && c <= 0x200A || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
    }

    /**
     * Scores continuations that share one context (the requests' contexts must be equal): one
     * prefill of the context, then one prompt-path pass per continuation from the cached context.
     */
    public static Score[] scoreShared(Model model, int[] context, List<int[]> continuations) {
        int need = context.length;
        for (int[] c : continuations) need = Math.max(need, context.length + Math.max(0, c.length - 1));
        if (need > model.maxPositions())
            throw new SquishException("a request of " + need + " tokens exceeds the model's context of " + model.maxPositions());
        int vocab = model.vocab();
        KVCache cache = model.newCache(need);
        float[] last = model.forwardLast(context, 0, cache);
        if (NonFinite.find(last) >= 0) throw new SquishException(NonFinite.diagnose(model, context));
        Score[] out = new Score[continuations.size()];
        for (int i = 0; i < out.length; i++) {
            int[] cont = continuations.get(i);
            if (cont.length == 0) { out[i] = new Score(0, true); continue; }   // the harness: sum over nothing, all() of nothing
            double lp = -Perplexity.nll(last, 0, vocab, cont[0]);
            boolean greedy = Generator.argmax(last) == cont[0];
            if (cont.length > 1) {
                float[] logits = model.forward(Arrays.copyOf(cont, cont.length - 1), context.length, cache);
                for (int t = 1; t < cont.length; t++) {
                    int off = (t - 1) * vocab;
                    lp -= Perplexity.nll(logits, off, vocab, cont[t]);
                    greedy &= argmax(logits, off, vocab) == cont[t];
                }
            }
            if (!Double.isFinite(lp)) {
                int[] all = Arrays.copyOf(context, context.length + cont.length);
                System.arraycopy(cont, 0, all, context.length, cont.length);
                throw new SquishException(NonFinite.diagnose(model, all));
            }
            out[i] = new Score(lp, greedy);
        }
        return out;
    }

    /** Scores requests one by one (each with its own context). */
    public static Score score(Model model, Request r) {
        return scoreShared(model, r.context(), List.of(r.continuation()))[0];
    }

    static int argmax(float[] v, int off, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) if (v[off + i] > v[off + best]) best = i;
        return best;
    }
}
