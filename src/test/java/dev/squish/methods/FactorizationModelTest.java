package dev.squish.methods;

import dev.squish.Fixtures;
import dev.squish.methods.BlockPipeline;
import dev.squish.calibration.Sampler;
import dev.squish.formats.SafeTensors;
import dev.squish.formats.Tokenizer;
import dev.squish.model.Block;
import dev.squish.model.Model;
import dev.squish.export.ModelWriter;
import dev.squish.eval.Perplexity;
import dev.squish.weights.Linear;
import dev.squish.weights.LowRankLinear;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** svd and asvd on the Llama fixture: parameter counts, exactness at full rank, storage, asvd beats svd. */
class FactorizationModelTest {
    static final List<String> LINEARS = List.of("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
            "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj");

    static int[][] calibration(int samples, int len) throws Exception {
        Tokenizer tok = Tokenizer.load(Fixtures.LLAMA);
        return Sampler.sample(tok.encode(Files.readString(Fixtures.TRAIN)), samples, len, true, 0);
    }

    static Model compress(CompressionMethod method, int[][] samples) {
        Model m = Model.load(Fixtures.LLAMA);
        new BlockPipeline(m, List.of(new BlockPipeline.Stage(method, null))).run(samples);
        return m;
    }

    static float maxAbsDiff(float[] a, float[] b) {
        assertEquals(a.length, b.length);
        float d = 0;
        for (int i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
        return d;
    }

    static void assertReferenceLogits(Model m) {
        try (SafeTensors ref = SafeTensors.open(Fixtures.LLAMA.resolve("reference_logits.safetensors"))) {
            int[] ids = ref.get("input_ids").toIntArray();
            float diff = maxAbsDiff(m.forward(ids, 0, m.newCache(ids.length)), ref.get("logits").toFloatArray());
            assertTrue(diff < 1e-3, "max |logit diff| = " + diff);
        }
    }

    @Test
    void keepGivesTheRequestedParameterCounts() {
        try (Model orig = Model.load(Fixtures.LLAMA); Model m = compress(new Svd(0.8, null, "uniform"), null)) {
            long saved = 0;
            for (Block b : m.blocks) for (String name : LINEARS) {
                Linear l = b.linear(name);
                LowRankLinear lr = assertInstanceOf(LowRankLinear.class, l);
                int rows = l.rows(), cols = l.cols();
                int k = (int) Math.floor(0.8 * rows * cols / (rows + cols));
                assertEquals(k, lr.rank(), name);
                assertEquals((long) k * (rows + cols), l.parameters(), name);
                assertTrue(l.parameters() <= 0.8 * rows * cols);
                saved += (long) rows * cols - l.parameters();
            }
            assertEquals(orig.parameters() - saved, m.parameters());
        }
    }

    @Test
    void fullRankReproducesTheLogitsAndSurvivesSaving(@TempDir Path tmp) {
        try (Model m = compress(new Svd(null, 100_000, "uniform"), null)) {
            for (Block b : m.blocks) for (String name : LINEARS) {
                Linear l = b.linear(name);
                assertEquals(Math.min(l.rows(), l.cols()), ((LowRankLinear) l).rank());
            }
            assertReferenceLogits(m);
            Path out = ModelWriter.write(m, tmp.resolve("svd-full"), false, false, null);
            try (Model back = Model.load(out)) {
                assertInstanceOf(LowRankLinear.class, back.blocks.get(3).linear("mlp.down_proj"));
                assertEquals(m.parameters(), back.parameters());
                assertReferenceLogits(back);
            }
        }
    }

    @Test
    void asvdAtFullRankReproducesTheLogits() throws Exception {
        try (Model m = compress(new Asvd(null, 100_000, "uniform"), calibration(8, 64))) {
            assertReferenceLogits(m);
        }
    }

    @Test
    void spectrumAllocationSpendsTheGlobalBudgetUnevenly() {
        try (Model orig = Model.load(Fixtures.LLAMA); Model m = compress(new Svd(0.5, null, "spectrum"), null)) {
            long dense = 0, factors = 0;
            java.util.Set<Integer> qRanks = new java.util.HashSet<>();
            for (Block b : m.blocks) for (String name : LINEARS) {
                LowRankLinear l = (LowRankLinear) b.linear(name);
                dense += (long) l.rows() * l.cols();
                factors += l.parameters();
                assertTrue(l.rank() >= 1 && l.rank() <= LowRank.breakEvenRank(l.rows(), l.cols()));
                if (name.equals("self_attn.q_proj")) qRanks.add(l.rank());
            }
            assertTrue(factors <= 0.5 * dense, factors + " of " + dense);
            assertTrue(factors > 0.5 * dense - 1024, "the budget is spent up to one component: " + factors + " of " + dense);
            assertTrue(qRanks.size() > 1, "ranks differ across blocks: " + qRanks);
            assertEquals(orig.parameters() - dense + factors, m.parameters());
        }
    }

    /** The comparison: test perplexity at --keep 0.8, asvd (whitened) below plain svd. */
    @Test
    void asvdBeatsSvdOnTestPerplexity() throws Exception {
        int[] test = Tokenizer.load(Fixtures.LLAMA).encode(Files.readString(Fixtures.TEST));
        double svd, asvd;
        long svdParameters;
        try (Model m = compress(new Svd(0.8, null, "uniform"), null)) {
            svdParameters = m.parameters();
            svd = Perplexity.evaluate(m, test, 256).perplexity();
        }
        try (Model m = compress(new Asvd(0.8, null, "uniform"), calibration(32, 128))) {
            assertEquals(svdParameters, m.parameters(), "equal kept parameters");
            asvd = Perplexity.evaluate(m, test, 256).perplexity();
        }
        System.out.printf("test perplexity at keep 0.8: svd %.4f, asvd %.4f%n", svd, asvd);
        assertTrue(asvd < svd, "asvd " + asvd + " vs svd " + svd);
        assertTrue(svd > 25.77, "compression costs something");
    }
}
