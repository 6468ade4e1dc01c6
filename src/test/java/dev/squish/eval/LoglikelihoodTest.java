package dev.squish.eval;

import dev.squish.Fixtures;
import dev.squish.formats.Tokenizer;
import dev.squish.model.Model;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** The harness's context/continuation encoding and scoring, checked against direct computations. */
class LoglikelihoodTest {
    static Model model;
    static Tokenizer tok;

    @BeforeAll static void load() { model = Model.load(Fixtures.LLAMA); tok = Tokenizer.load(Fixtures.LLAMA); }
    @AfterAll static void close() { model.close(); }

    /** Sum of log-softmax over the continuation from one full-sequence forward pass, and the argmax check. */
    static Loglikelihood.Score direct(int[] ctx, int[] cont) { return direct(model, ctx, cont); }

    static Loglikelihood.Score direct(Model model, int[] ctx, int[] cont) {
        int[] all = concat(ctx, cont);
        int[] inp = Arrays.copyOf(all, all.length - 1);
        float[] logits = model.forward(inp, 0, model.newCache(inp.length));
        int v = model.vocab();
        double lp = 0;
        boolean greedy = true;
        for (int t = 0; t < cont.length; t++) {
            int pos = ctx.length - 1 + t;
            lp -= Perplexity.nll(logits, pos * v, v, cont[t]);
            greedy &= Loglikelihood.argmax(logits, pos * v, v) == cont[t];
        }
        return new Loglikelihood.Score(lp, greedy);
    }

    static int[] concat(int[] a, int[] b) {
        int[] all = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, all, a.length, b.length);
        return all;
    }

    @Test
    void trailingSpacesOfTheContextMoveToTheContinuation() {
        var a = Loglikelihood.encode(tok, "In the beginning God created the ", "heaven");
        var b = Loglikelihood.encode(tok, "In the beginning God created the", " heaven");
        assertArrayEquals(b.context(), a.context());
        assertArrayEquals(b.continuation(), a.continuation());
        assertArrayEquals(tok.encode("In the beginning God created the"), a.context());
        assertArrayEquals(tok.encode(" heaven"), a.continuation());
        // Without the move the context would end in a lone space token and the continuation would
        // be "heaven" without its space: different tokens, a different score.
        assertFalse(Arrays.equals(tok.encode("heaven"), a.continuation()));
        // Several kinds of trailing whitespace move together, in order.
        var c = Loglikelihood.encode(tok, "And God said \t\n", "Let");
        assertArrayEquals(tok.encode("And God said"), c.context());
        int[] whole = tok.encode("And God said \t\nLet");
        assertArrayEquals(Arrays.copyOfRange(whole, c.context().length, whole.length), c.continuation());
    }

    @Test
    void continuationIsTheWholeEncodingAfterTheContextTokens() {
        // "Go" + "d created": BPE merges across the boundary, so tok(ctx + cont) is not tok(ctx) + tok(cont).
        String ctx = "In the beginning Go", cont = "d created";
        int[] whole = tok.encode(ctx + cont), c = tok.encode(ctx);
        assertFalse(Arrays.equals(concat(c, tok.encode(cont)), whole), "the example must merge across the boundary");
        var r = Loglikelihood.encode(tok, ctx, cont);
        assertArrayEquals(c, r.context());
        assertArrayEquals(Arrays.copyOfRange(whole, c.length, whole.length), r.continuation());
    }

    @Test
    void emptyContextIsTheEndOfTextToken() {
        var r = Loglikelihood.encode(tok, "", "In the beginning");
        assertArrayEquals(new int[]{tok.eosId()}, r.context());
        assertArrayEquals(tok.encode("In the beginning"), r.continuation());
        // A whitespace-only context is empty once its spaces move to the continuation.
        var s = Loglikelihood.encode(tok, "  ", "In");
        assertArrayEquals(new int[]{tok.eosId()}, s.context());
        assertArrayEquals(tok.encode("  In"), s.continuation());
    }

    @Test
    void pythonRstripWhitespace() {
        assertEquals(3, Loglikelihood.rstripLength("abc \t\n\u000b\f\r\u001c\u001f\u00a0\u2003\u3000"));
        assertEquals(5, Loglikelihood.rstripLength("abc.\u200b"), "zero-width space is not whitespace");
        assertEquals(0, Loglikelihood.rstripLength("   "));
    }

    @Test
    void sharedContextScoresEqualSeparateFullPasses() {
        int[] ctx = tok.encode("And God said, Let there be light: and there");
        // Longest first, so later continuations run over a cache holding a longer one's stale entries.
        List<int[]> conts = List.of(tok.encode(" was light. And God saw the light, that it was good"),
                tok.encode(" was light."), tok.encode(" were"), tok.encode(" came a great darkness over all the land"));
        Loglikelihood.Score[] s = Loglikelihood.scoreShared(model, ctx, conts);
        for (int i = 0; i < conts.size(); i++) {
            var d = direct(ctx, conts.get(i));
            assertEquals(d.logprob(), s[i].logprob(), 1e-3 * Math.max(1, Math.abs(d.logprob())), "continuation " + i);
            assertEquals(d.greedy(), s[i].greedy(), "continuation " + i);
            assertTrue(s[i].logprob() < 0);
        }
        assertTrue(s[1].logprob() > s[3].logprob(), "the verse's own words are likelier than an invented ending");
    }

    @Test
    void greedyFlagIsTrueExactlyForTheArgmaxTokens() {
        int[] ctx = tok.encode("In the beginning God created the heaven and the");
        int[] greedy = new Generator(model).generate(ctx, Generator.Options.greedy(4), t -> {}).tokens();
        var g = Loglikelihood.scoreShared(model, ctx, List.of(greedy))[0];
        assertTrue(g.greedy());
        for (int t = 0; t < greedy.length; t++) {
            int[] other = greedy.clone();
            other[t] = (other[t] + 1) % model.vocab();
            var o = Loglikelihood.scoreShared(model, ctx, List.of(other))[0];
            assertFalse(o.greedy(), "token " + t + " changed");
            assertTrue(o.logprob() < g.logprob());
        }
    }

    @Test
    void emptyContinuationScoresZeroAndGreedyAsTheHarnessDoes() {
        var s = Loglikelihood.scoreShared(model, tok.encode("And God"), List.of(new int[0]));
        assertEquals(0.0, s[0].logprob());
        assertTrue(s[0].greedy());
    }
}
