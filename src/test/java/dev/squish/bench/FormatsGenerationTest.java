package dev.squish.bench;
import dev.squish.eval.Generator;

import dev.squish.Fixtures;
import dev.squish.formats.Tokenizer;
import dev.squish.model.Block;
import dev.squish.model.KVCache;
import dev.squish.model.Model;
import dev.squish.weights.DenseLinear;
import dev.squish.weights.Linear;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every format the bench measures generates what a dense float32 model holding exactly the same
 * effective weights (each compressed linear's {@code toDense()}: zeroed, quantized or factorized)
 * generates: the same greedy tokens, and logits within 1e-4 relative at every step.
 */
class FormatsGenerationTest {
    static final int STEPS = 24;
    static BenchModel src;
    static int[] prompt;

    @BeforeAll static void load() {
        src = BenchModel.folder(Fixtures.LLAMA);
        prompt = Tokenizer.load(Fixtures.LLAMA).encode("In the beginning God created the heaven and the earth. And the earth was");
    }

    @AfterAll static void close() { src.close(); }

    @ParameterizedTest
    @EnumSource(value = BenchFormat.class, names = "STORED", mode = EnumSource.Mode.EXCLUDE)   // stored: not made from dense weights
    void compressedFormatGeneratesLikeItsDenseEquivalent(BenchFormat f) {
        try (Model m = src.build(f, false); Model dense = denseCopy(m)) {
            if (f != BenchFormat.DENSE_F32) {
                assertTrue(m.head.format().startsWith(formatPrefix(f)), f.id + " head is " + m.head.format());
                for (Block b : m.blocks)
                    for (Linear l : b.linears.values()) assertTrue(l.format().startsWith(formatPrefix(f)), f.id + ": " + l.format());
            }
            Run a = greedy(m), b = greedy(dense);
            assertArrayEquals(b.tokens, a.tokens, f.id + ": greedy tokens differ from the dense equivalent");
            for (int s = 0; s < STEPS; s++) {
                double err = relErr(a.logits.get(s), b.logits.get(s));
                assertTrue(err <= 1e-4, f.id + " step " + s + ": logits differ by " + err + " relative");
            }
            // the compression really changed the weights (except dense float32 itself)
            if (f != BenchFormat.DENSE_F32) {
                float[] orig = src.dense(0, "mlp.up_proj"), now = m.blocks.get(0).linear("mlp.up_proj").toDense();
                assertFalse(java.util.Arrays.equals(orig, now), f.id + " left the weights unchanged");
            }
        }
    }

    private static String formatPrefix(BenchFormat f) {
        return switch (f) {
            case DENSE_F32 -> "dense-f32";
            case DENSE_BF16 -> "dense-bf16";
            case SPARSE_50, SPARSE_70 -> "sparse";
            case NM_2_4 -> "2:4";
            case INT8 -> "int8";
            case INT4 -> "int4";
            case SPARSE_50_INT4 -> "sparse-int4";
            case LOWRANK_50 -> "lowrank";
            case STORED -> throw new IllegalArgumentException("stored");
        };
    }

    /** A float32 model whose every linear is the dense form of m's (same embedding, norms). */
    static Model denseCopy(Model m) {
        List<Block> blocks = new ArrayList<>();
        for (Block b : m.blocks) {
            Block c = new Block(b.index);
            b.linears.forEach((k, l) -> c.linears.put(k, new DenseLinear(l.rows(), l.cols(), l.toDense())));
            c.vectors.putAll(b.vectors);
            blocks.add(c);
        }
        Linear head = new DenseLinear(m.head.rows(), m.head.cols(), m.head.toDense());
        return Model.assemble(m.config, m.arch, m.embed, blocks, m.finalNorm, m.finalNormBias, head, null);
    }

    record Run(int[] tokens, List<float[]> logits) {}

    static Run greedy(Model m) {
        KVCache cache = m.newCache(prompt.length + STEPS + 1);
        float[] logits = m.forwardLast(prompt, 0, cache);
        int[] toks = new int[STEPS];
        List<float[]> all = new ArrayList<>();
        int pos = prompt.length;
        for (int s = 0; s < STEPS; s++) {
            all.add(logits);
            toks[s] = Generator.argmax(logits);
            logits = m.forwardLast(new int[]{toks[s]}, pos++, cache);
        }
        return new Run(toks, all);
    }

    static double relErr(float[] a, float[] b) {
        assertEquals(b.length, a.length);
        double d = 0, s = 0;
        for (int i = 0; i < a.length; i++) { d = Math.max(d, Math.abs(a[i] - b[i])); s = Math.max(s, Math.abs(b[i])); }
        return d / s;
    }
}
