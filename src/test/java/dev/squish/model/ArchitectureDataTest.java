package dev.squish.model;

import static org.junit.jupiter.api.Assertions.*;

import dev.squish.Fixtures;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The architecture's data for the methods, checked against the fixture models' real weights:
 * shapes, scaling groups (producer width = readers' input width), residual branches (couplings: StructureTest).
 */
class ArchitectureDataTest {
    @Test
    void expectedShapesMatchTheWeights() {
        for (Path dir : new Path[]{Fixtures.LLAMA, Fixtures.GPT2})
            try (Model m = Model.load(dir)) {
                for (String l : m.arch.linearNames()) {
                    int[] e = m.arch.expectedShape(l);
                    Block b = m.blocks.get(0);
                    assertArrayEquals(new int[]{b.linear(l).rows(), b.linear(l).cols()}, e, dir + " " + l);
                }
                assertNull(m.arch.expectedShape("no.such_proj"));
            }
    }

    @Test
    void scalingGroupsConnectAProducerToItsReaders() {
        for (Path dir : new Path[]{Fixtures.LLAMA, Fixtures.GPT2})
            try (Model m = Model.load(dir)) {
                Block b = m.blocks.get(0);
                for (Architecture.ScalingGroup g : m.arch.scalingGroups(b)) {
                    int in = b.linear(g.linears().get(0)).cols();
                    for (String l : g.linears()) assertEquals(in, b.linear(l).cols(), g.name());
                    for (String v : g.producerVectors()) assertEquals(in, b.vector(v).length, g.name());
                    if (g.producerLinear() != null) assertTrue(b.linear(g.producerLinear()).rows() >= in, g.name());
                    assertTrue(g.producerLinear() != null ^ !g.producerVectors().isEmpty(), g.name());
                    if (g.mlpDown() != null) assertEquals(b.linear(g.linears().get(0)).rows(), b.linear(g.mlpDown()).cols());
                }
                for (String s : m.arch.scoreLinears()) assertTrue(m.arch.linearNames().contains(s), s);
            }
    }

    @Test
    void onlyTheLlamaFamilyHasRotatableBranches() {
        try (Model m = Model.load(Fixtures.LLAMA)) {
            List<Architecture.ResidualBranch> r = m.arch.rotatableBranches();
            assertEquals(2, r.size());
            Block b = m.blocks.get(0);
            for (Architecture.ResidualBranch br : r) {
                assertEquals(m.width(), b.vector(br.norm()).length);
                for (String l : br.readers()) assertEquals(m.width(), b.linear(l).cols(), l);
                assertEquals(m.width(), b.linear(br.writer()).rows(), br.writer());
            }
            assertEquals(List.of("attn_shortcut", "mlp_shortcut"), m.arch.shortcutNames());
            assertFalse(m.arch.sliced(b));
        }
        try (Model m = Model.load(Fixtures.GPT2)) {
            assertTrue(m.arch.rotatableBranches().isEmpty());
        }
    }
}
