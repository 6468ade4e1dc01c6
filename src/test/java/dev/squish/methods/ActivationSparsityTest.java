package dev.squish.methods;

import dev.squish.Fixtures;
import dev.squish.calibration.Sampler;
import dev.squish.export.ModelWriter;
import dev.squish.formats.Tokenizer;
import dev.squish.model.Block;
import dev.squish.model.KVCache;
import dev.squish.model.Llama;
import dev.squish.model.LinearObserver;
import dev.squish.model.Model;
import dev.squish.model.SparseMlp;
import dev.squish.weights.ActSparseLinear;
import dev.squish.weights.Linear;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * TEAL, CATS and MoE-ification on kjv-llama-tiny (calibration: 8 sequential windows of 128 tokens
 * of train.txt): at no sparsity (or all experts) the logits equal the dense model's to 1e-4; the
 * measured sparsity of each thresholded input on the calibration data is the target to within a
 * percent; decode (the gathered, column-skipping path) equals prefill; thresholds and expert maps
 * survive a write and load.
 */
class ActivationSparsityTest {
    static final int SAMPLES = 8, L = 128;
    static int[][] cal;
    static int[] probe;

    @TempDir Path dir;

    @BeforeAll static void data() throws Exception {
        Tokenizer tok = Tokenizer.load(Fixtures.LLAMA);
        cal = Sampler.sample(tok.encode(Files.readString(Fixtures.TRAIN)), SAMPLES, L, false, 0);
        probe = Arrays.copyOf(tok.encode(Files.readString(Fixtures.TEST)), 40);
    }

    static Model compressed(CompressionMethod... methods) {
        Model m = Model.load(Fixtures.LLAMA);
        new BlockPipeline(m, Arrays.stream(methods).map(c -> new BlockPipeline.Stage(c, null)).toList()).run(cal);
        return m;
    }

    static float[] logits(Model m) { return m.forward(probe, 0, m.newCache(probe.length)); }

    /** Logits of the last position after feeding the probe one token at a time (the decode path). */
    static float[] decodeLogits(Model m) {
        KVCache c = m.newCache(probe.length);
        float[] out = null;
        for (int i = 0; i < probe.length; i++) out = m.forwardLast(new int[]{probe[i]}, i, c);
        return out;
    }

    static void assertClose(float[] expected, float[] actual, double tol, String what) {
        double scale = 0;
        for (float v : expected) scale = Math.max(scale, Math.abs(v));
        for (int i = 0; i < expected.length; i++)
            if (Math.abs(expected[i] - actual[i]) > tol * Math.max(1, scale))
                fail(what + ": differs at " + i + ": " + expected[i] + " vs " + actual[i] + " (scale " + scale + ")");
    }

    static float[] lastRow(float[] logits, int vocab) { return Arrays.copyOfRange(logits, logits.length - vocab, logits.length); }

    @Test void atZeroSparsityEveryMethodReproducesTheDenseLogits() {
        try (Model dense = Model.load(Fixtures.LLAMA)) {
            float[] ref = logits(dense);
            for (CompressionMethod c : new CompressionMethod[]{new Teal(0), new Teal(new TealOptions(0, "greedy")), new Cats(0), new Moefy(8, 8, 0), new Moefy(8, 6, 2)}) {
                try (Model m = compressed(c)) {
                    assertClose(ref, logits(m), 1e-4, c.describe());
                    assertClose(lastRow(ref, m.vocab()), decodeLogits(m), 1e-4, c.describe() + " decode");
                }
            }
        }
    }

    /** Fraction of the entries of each thresholded input at most its threshold, on the calibration samples (block by block). */
    static void assertMeasuredSparsity(Model m, double target, double tol) {
        float[][] x = new float[cal.length][];
        for (int i = 0; i < cal.length; i++) x[i] = m.embed(cal[i], 0);
        KVCache cache = m.newCache(L);
        for (Block b : m.blocks) {
            long[] zero = new long[b.linears.size()], total = new long[b.linears.size()];
            List<String> names = List.copyOf(b.linears.keySet());
            LinearObserver obs = (name, in, n, cols) -> {
                if (!(b.linears.get(name) instanceof ActSparseLinear a) || a.threshold() == 0f) return;
                int k = names.indexOf(name);
                for (int i = 0; i < n * cols; i++) if (Math.abs(in[i]) <= a.threshold()) zero[k]++;
                total[k] += (long) n * cols;
            };
            for (int i = 0; i < x.length; i++) x[i] = m.arch.forwardBlock(b, x[i], L, 0, cache, obs);
            for (int k = 0; k < names.size(); k++) {
                if (total[k] == 0) continue;
                double f = (double) zero[k] / total[k];
                assertEquals(target, f, tol, "block " + b.index + " " + names.get(k));
            }
        }
    }

    @Test void tealThresholdsHitTheTargetOnTheCalibrationData() throws Exception {
        try (Model m = compressed(new Teal(0.4))) {
            for (Block b : m.blocks) for (Linear l : b.linears.values()) {
                assertInstanceOf(ActSparseLinear.class, l);
                assertEquals("actsparse+dense-f32-cm", l.format());
            }
            // q/k/v read one input and share its threshold
            Block b0 = m.blocks.get(0);
            assertEquals(((ActSparseLinear) b0.linear(Llama.Q)).threshold(), ((ActSparseLinear) b0.linear(Llama.V)).threshold());
            assertMeasuredSparsity(m, 0.4, 0.01);
            float[] prefill = lastRow(logits(m), m.vocab());
            assertClose(prefill, decodeLogits(m), 1e-4, "teal 40% decode vs prefill");
            // stored in the folder and applied on load
            Path out = ModelWriter.write(m, dir.resolve("teal"), false, false, Map.of());
            try (Model back = Model.load(out)) {
                assertClose(logits(m), logits(back), 1e-6, "after write and load");
                assertEquals(m.blocks.get(3).linear(Llama.DOWN).format(), back.blocks.get(3).linear(Llama.DOWN).format());
            }
        }
    }

    /**
     * TEAL after GPTQ int4: the thresholded int4 weights decode through the column-blocked layout
     * (ColumnQuantCodes); at 0% they equal the GPTQ model's logits, at 40% decode equals prefill
     * (which masks the input and runs the int4 tile kernels), and a written folder loads back.
     */
    @Test void tealOnGptqInt4DecodesByColumnsAndMatchesAtZero() throws Exception {
        // TEAL runs on the GPTQ model itself (GPTQ twice need not give the same codes to the last bit)
        try (Model m = compressed(new Gptq(4, 128, true, false))) {
            float[] ref = logits(m), refDecode = decodeLogits(m);
            new BlockPipeline(m, List.of(new BlockPipeline.Stage(new Teal(0), null))).run(cal);
            for (Block b : m.blocks) for (Linear l : b.linears.values()) assertEquals("actsparse+int4-g128", l.format());
            assertClose(ref, logits(m), 1e-4, "teal 0% on gptq, prefill");
            assertClose(refDecode, decodeLogits(m), 1e-4, "teal 0% on gptq, decode (masked)");
            columnBlocked(m);
            assertClose(refDecode, decodeLogits(m), 1e-4, "teal 0% on gptq, decode");
        }
        try (Model m = compressed(new Gptq(4, 128, true, false), new Teal(0.4))) {
            float[] prefill = lastRow(logits(m), m.vocab());
            columnBlocked(m);
            assertClose(prefill, decodeLogits(m), 1e-4, "teal 40% on gptq: decode (column-blocked int4) vs prefill (masked)");
            Path out = ModelWriter.write(m, dir.resolve("gptq-teal"), false, false, Map.of());
            try (Model back = Model.load(out)) {
                ActSparseLinear down = (ActSparseLinear) back.blocks.get(1).linear(Llama.DOWN);
                assertEquals("actsparse+int4-g128", down.format());
                assertClose(decodeLogits(m), decodeLogits(back), 1e-4, "after write and load (masked decode)");
            }
        }
    }

    /** Every thresholded int4 linear decoding through the column-blocked copy of its codes. */
    static void columnBlocked(Model m) {
        for (Block b : m.blocks) b.linears.replaceAll((k, l) -> {
            ActSparseLinear c = ActSparseLinear.columnBlocked(((ActSparseLinear) l).base(), ((ActSparseLinear) l).threshold());
            assertTrue(c.skipsColumns(), k);
            return c;
        });
    }

    @Test void greedyAllocationSkipsTheTargetShareOfWeightReads() {
        try (Model m = compressed(new Teal(new TealOptions(0.5, "greedy")))) {
            // parameter-weighted sparsity of each block's inputs, measured on calibration data
            float[][] x = new float[cal.length][];
            for (int i = 0; i < cal.length; i++) x[i] = m.embed(cal[i], 0);
            KVCache cache = m.newCache(L);
            for (Block b : m.blocks) {
                double[] skipped = {0}, all = {0};
                LinearObserver obs = (name, in, n, cols) -> {
                    ActSparseLinear a = (ActSparseLinear) b.linears.get(name);
                    long z = 0;
                    for (int i = 0; i < n * cols; i++) if (Math.abs(in[i]) <= a.threshold()) z++;
                    skipped[0] += (double) z / (n * cols) * a.rows() * a.cols();
                    all[0] += (double) a.rows() * a.cols();
                };
                double[] s0 = {0}, a0 = {0};
                for (int i = 0; i < x.length; i++) {
                    skipped[0] = 0; all[0] = 0;
                    x[i] = m.arch.forwardBlock(b, x[i], L, 0, cache, obs);
                    s0[0] += skipped[0]; a0[0] += all[0];
                }
                // thresholds come from the block's dense inputs; later inputs shift a little once earlier ones are sparse
                assertEquals(0.5, s0[0] / a0[0], 0.03, "block " + b.index);
            }
        }
    }

    @Test void catsDropsTheTargetShareOfChannelsInUpAndDown() {
        try (Model m = compressed(new Cats(0.5))) {
            for (Block b : m.blocks) {
                assertNotNull(b.vector(SparseMlp.CATS_THRESHOLD));
                assertEquals("actsparse+dense-f32-cm", b.linear(Llama.DOWN).format());
            }
            // down_proj's input is zero exactly on the dropped channels
            float[][] x = new float[cal.length][];
            for (int i = 0; i < cal.length; i++) x[i] = m.embed(cal[i], 0);
            KVCache cache = m.newCache(L);
            for (Block b : m.blocks) {
                long[] zt = new long[2];
                for (int i = 0; i < x.length; i++)
                    x[i] = m.arch.forwardBlock(b, x[i], L, 0, cache, (name, in, n, cols) -> {
                        if (!name.equals(Llama.DOWN)) return;
                        for (int j = 0; j < n * cols; j++) if (in[j] == 0f) zt[0]++;
                        zt[1] += (long) n * cols;
                    });
                assertEquals(0.5, (double) zt[0] / zt[1], 0.01, "block " + b.index);
            }
            assertClose(lastRow(logits(m), m.vocab()), decodeLogits(m), 1e-4, "cats decode vs prefill");
        }
    }

    @Test void moefyRunsTopKExpertsAndSurvivesAWrite() throws Exception {
        try (Model m = compressed(new Moefy(8, 2, 1))) {
            Block b = m.blocks.get(2);
            float[] moe = b.vector(SparseMlp.MOE), map = b.vector(SparseMlp.EXPERT_OF);
            assertArrayEquals(new float[]{2, 7, 1, 4}, moe);
            int[] size = new int[8];
            for (float e : map) size[(int) e]++;
            for (int s : size) assertEquals(768 / 8, s);   // balanced
            // each token runs 2 routed + 1 shared expert: 3/8 of the channels
            float[] x = m.embed(cal[0], 0);
            KVCache cache = m.newCache(L);
            for (Block blk : m.blocks) {
                long[] zt = new long[2];
                x = m.arch.forwardBlock(blk, x, L, 0, cache, (name, in, n, cols) -> {
                    if (!name.equals(Llama.DOWN)) return;
                    for (int j = 0; j < n * cols; j++) if (in[j] != 0f) zt[0]++;
                    zt[1] += (long) n * cols;
                });
                assertTrue(zt[0] <= 3 * zt[1] / 8, "block " + blk.index + ": " + zt[0] + " of " + zt[1] + " channels active");
            }
            assertClose(lastRow(logits(m), m.vocab()), decodeLogits(m), 1e-4, "moefy decode vs prefill");
            Path out = ModelWriter.write(m, dir.resolve("moefy"), false, false, Map.of());
            try (Model back = Model.load(out)) {
                assertClose(logits(m), logits(back), 1e-6, "after write and load");
            }
        }
    }

    @Test void moefyRefusesMoreExpertsThanChannels() {
        var e = assertThrows(dev.squish.SquishException.class, () -> compressed(new Moefy(769, 1, 0)).close());
        assertTrue(e.getMessage().contains("--experts 769 is more than the 768 MLP channels"), e.getMessage());
    }
}
