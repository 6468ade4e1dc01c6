package dev.squish.spark;

import dev.squish.Fixtures;
import dev.squish.calibration.HeapActivations;
import dev.squish.methods.Gptq;
import dev.squish.methods.BlockPipeline;
import dev.squish.model.Block;
import dev.squish.model.LinearObserver;
import dev.squish.model.Model;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** A block broadcast to the executors computes exactly what the driver's block computes. */
class BlockCodecTest {
    @Test
    void decodedCompressedBlockGivesBitIdenticalOutputs() {
        try (Model m = Model.load(Fixtures.LLAMA)) {
            Random rnd = new Random(1);
            int[][] samples = new int[2][32];
            for (int[] s : samples) for (int i = 0; i < s.length; i++) s[i] = rnd.nextInt(m.vocab());
            Block b = m.blocks.get(0);
            var x = HeapActivations.embed(m, samples);
            var ctx = new dev.squish.calibration.BlockContext(m, b, x, null, new java.util.ArrayList<>());
            new Gptq(4, 128, true, false, 0).compressBlock(ctx);
            try (BlockCodec.Decoded d = BlockCodec.decode(0, BlockCodec.encode(b))) {
                assertEquals(b.linears.keySet(), d.block().linears.keySet());
                for (String n : b.linears.keySet()) {
                    assertEquals(b.linear(n).format(), d.block().linear(n).format(), n);
                    assertArrayEquals(b.linear(n).toDense(), d.block().linear(n).toDense(), n);
                }
                for (String n : b.vectors.keySet()) assertArrayEquals(b.vector(n), d.block().vector(n), n);
                for (float[] in : x.arrays()) {
                    float[] y1 = m.arch.forwardBlock(b, in.clone(), 32, 0, m.newCache(32), LinearObserver.NONE);
                    float[] y2 = m.arch.forwardBlock(d.block(), in.clone(), 32, 0, m.newCache(32), LinearObserver.NONE);
                    float[] y3 = m.arch.forwardBlock(b, in.clone(), 32, 0, m.newCache(32), LinearObserver.NONE);
                    assertArrayEquals(y1, y3, "same block twice");
                    assertArrayEquals(y1, y2, "decoded block");
                    float[][] other = new float[2][];
                    Thread[] ts = new Thread[2];
                    for (int t = 0; t < 2; t++) {
                        int tt = t;
                        ts[t] = new Thread(() -> other[tt] = m.arch.forwardBlock(d.block(), in.clone(), 32, 0, m.newCache(32), LinearObserver.NONE));
                        ts[t].start();
                    }
                    for (Thread t : ts) try { t.join(); } catch (InterruptedException e) { throw new RuntimeException(e); }
                    assertArrayEquals(y1, other[0], "another thread");
                    assertArrayEquals(y1, other[1], "two threads at once");
                }
            }
        }
    }
}
