package dev.squish.train;

import dev.squish.SquishException;
import dev.squish.model.Block;
import dev.squish.model.Model;
import dev.squish.weights.Linear;
import dev.squish.weights.LoraLinear;
import dev.squish.weights.NMSparseLinear;
import dev.squish.weights.SparseLinear;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class FineTuneTest {
    @TempDir Path dir;

    /** A learnable stream: a fixed random sequence of 40 tokens repeated. */
    static int[] stream(int vocab, int len) {
        int[] base = TinyModels.batch(42, 1, 40, vocab)[0], t = new int[len];
        for (int i = 0; i < len; i++) t[i] = base[i % base.length];
        return t;
    }

    static FineTune.Options options(int steps, double lr, int lora) {
        return new FineTune.Options(steps, lr, 4, 12, lora, 2.0 * Math.max(1, lora), 60, 2, 0.01, 1.0, 5, 2, 17);
    }

    @Test void fewStepsLowerTheTrainingLoss() {
        Model m = TinyModels.llama(1, false);
        TrainModel tm = new TrainModel(m, 0, 0, 1);
        int[] tokens = stream(m.vocab(), 2000);
        int[][] probe = FineTune.batch(tokens, 1900, options(1, 1, 0), 999);
        double before = tm.loss(probe, false);
        FineTune.Result r = FineTune.run(tm, tokens, options(20, 1e-2, 0), null, p -> {});
        double after = tm.loss(probe, false);
        assertEquals(20, r.step());
        assertTrue(after < 0.8 * before, "loss " + before + " -> " + after);
        assertTrue(r.lastValLoss() < 0.8 * r.firstValLoss(), "validation " + r.firstValLoss() + " -> " + r.lastValLoss());
    }

    @Test void masksAndNMPatternsSurviveExactly() {
        Model m = TinyModels.llama(2, false);
        Block b0 = m.blocks.get(0);
        float[] up = b0.linear("mlp.up_proj").toDense();
        for (int i = 0; i < up.length; i += 3) up[i] = 0;
        b0.linears.put("mlp.up_proj", SparseLinear.fromDense(up, 24, 16));
        float[] gate = b0.linear("mlp.gate_proj").toDense();
        for (int i = 0; i < gate.length; i += 4) { gate[i + 1] = 0; gate[i + 3] = 0; }
        b0.linears.put("mlp.gate_proj", NMSparseLinear.fromDense(gate, 24, 16, 2, 4));
        TrainModel tm = new TrainModel(m, 0, 0, 1);
        FineTune.run(tm, stream(m.vocab(), 2000), options(8, 1e-2, 0), null, p -> {});
        tm.writeBack();
        Linear su = m.blocks.get(0).linear("mlp.up_proj"), sg = m.blocks.get(0).linear("mlp.gate_proj");
        assertInstanceOf(SparseLinear.class, su);
        assertInstanceOf(NMSparseLinear.class, sg);
        assertEquals("2:4", sg.format());
        checkPattern(up, su.toDense());
        checkPattern(gate, sg.toDense());
    }

    static void checkPattern(float[] before, float[] after) {
        int changed = 0;
        for (int i = 0; i < before.length; i++) {
            if (before[i] == 0) assertEquals(0f, after[i], "pruned entry " + i + " moved");
            else {
                assertNotEquals(0f, after[i], "kept entry " + i);
                if (after[i] != before[i]) changed++;
            }
        }
        assertTrue(changed > before.length / 3, "only " + changed + " kept weights trained");
    }

    /**
     * A run killed after step 5 (checkpoint at step 4) and resumed ends bit-identical to an
     * uninterrupted run: same batches, same schedule, fixed-order sums.
     */
    @Test void killedRunResumesToTheSameState() {
        int[] tokens = stream(23, 2000);
        FineTune.Options o = options(9, 5e-3, 0);
        TrainModel a = new TrainModel(TinyModels.gpt2(3, "gelu_new"), 0, 0, 1);
        FineTune.Result ra = FineTune.run(a, tokens, o, dir.resolve("a.ckpt"), p -> {});

        Path ck = dir.resolve("b.ckpt");
        TrainModel b = new TrainModel(TinyModels.gpt2(3, "gelu_new"), 0, 0, 1);
        RuntimeException kill = assertThrows(RuntimeException.class, () -> FineTune.run(b, tokens, o, ck, p -> {
            if (p.step() == 5) throw new RuntimeException("killed");
        }));
        assertEquals("killed", kill.getMessage());
        TrainModel c = new TrainModel(TinyModels.gpt2(3, "gelu_new"), 0, 0, 1);
        FineTune.Result rc = FineTune.run(c, tokens, o, ck, p -> {});
        assertEquals(4, rc.startStep());
        assertEquals(9, rc.step());
        List<Param> pa = a.trainable(), pc = c.trainable();
        for (int i = 0; i < pa.size(); i++) {
            assertArrayEquals(pa.get(i).w, pc.get(i).w, 0.0, pa.get(i).name);
            assertArrayEquals(pa.get(i).m, pc.get(i).m, 0.0, pa.get(i).name + " first moment");
            assertArrayEquals(pa.get(i).v, pc.get(i).v, 0.0, pa.get(i).name + " second moment");
        }
        assertEquals(ra.lastLoss(), rc.lastLoss(), 0.0);
        assertEquals(ra.lastValLoss(), rc.lastValLoss(), 0.0);
        assertEquals(ra.curve().size(), rc.curve().size());
    }

    @Test void checkpointOfAnotherRunIsRefused() {
        int[] tokens = stream(23, 2000);
        Path ck = dir.resolve("x.ckpt");
        FineTune.run(new TrainModel(TinyModels.llama(4, false), 0, 0, 1), tokens, options(2, 1e-3, 0), ck, p -> {});
        SquishException e = assertThrows(SquishException.class,
                () -> FineTune.run(new TrainModel(TinyModels.llama(4, false), 0, 0, 1), tokens, options(3, 1e-3, 0), ck, p -> {}));
        assertTrue(e.getMessage().contains("checkpoint of a different run"), e.getMessage());
    }

    @Test void divergenceStopsWithTheLastGoodCheckpointIntact() throws Exception {
        int[] tokens = stream(23, 2000);
        Path ck = dir.resolve("d.ckpt");
        // Adam moves each weight by about lr per step: 1e150 overflows the logits within a few steps.
        FineTune.Options o = new FineTune.Options(50, 1e150, 4, 12, 0, 1, 60, 0, 0, 0, 5, 1, 17);
        List<Integer> steps = new ArrayList<>();
        SquishException e = assertThrows(SquishException.class,
                () -> FineTune.run(new TrainModel(TinyModels.llama(5, false), 0, 0, 1), tokens, o, ck, p -> steps.add(p.step())));
        assertTrue(e.getMessage().contains("non-finite"), e.getMessage());
        if (steps.isEmpty()) { assertFalse(Files.exists(ck)); return; }
        int lastGood = steps.get(steps.size() - 1);
        TrainModel again = new TrainModel(TinyModels.llama(5, false), 0, 0, 1);
        AdamW.allocate(again.trainable());
        assertEquals(lastGood, FineTune.load(ck, again.trainable(), o.fingerprint(FineTune.hash(tokens)), new ArrayList<>()));
        for (Param p : again.trainable()) for (double w : p.w) assertTrue(Double.isFinite(w), p.name);
    }

    @Test void loraOnAFrozenSparseBaseTrainsOnlyTheAdapters() {
        Model m = TinyModels.llama(6, false);
        for (Block b : m.blocks) {
            float[] w = b.linear("mlp.down_proj").toDense();
            for (int i = 0; i < w.length; i += 4) { w[i] = 0; w[i + 1] = 0; }
            b.linears.put("mlp.down_proj", NMSparseLinear.fromDense(w, 16, 24, 2, 4));
        }
        float[] base = m.blocks.get(1).linear("mlp.down_proj").toDense();
        float[] embed = m.embed.toDense();
        TrainModel tm = new TrainModel(m, 2, 4, 1);
        int[] tokens = stream(m.vocab(), 2000);
        int[][] probe = FineTune.batch(tokens, 1900, options(1, 1, 0), 999);
        double before = tm.loss(probe, false);
        FineTune.run(tm, tokens, options(20, 2e-2, 2), null, p -> {});
        assertTrue(tm.loss(probe, false) < 0.9 * before);
        tm.writeBack();
        Linear d = m.blocks.get(1).linear("mlp.down_proj");
        LoraLinear l = assertInstanceOf(LoraLinear.class, d);
        assertArrayEquals(base, l.base().toDense(), 0f);
        assertArrayEquals(embed, m.embed.toDense(), 0f);
        assertInstanceOf(dev.squish.weights.DenseLinear.class, m.blocks.get(1).linear("self_attn.q_proj"), "adapters merge into dense weights");
    }

    @Test void tooLittleDataIsOneError() {
        SquishException e = assertThrows(SquishException.class, () -> FineTune.checkData(50, options(1, 1e-3, 0), "t.txt"));
        assertTrue(e.getMessage().startsWith("t.txt: 50 tokens, fewer than one batch"), e.getMessage());
    }
}
