package dev.squish.train;

import dev.squish.SquishException;
import dev.squish.methods.BlockPipeline;
import dev.squish.methods.Methods;
import dev.squish.model.Block;
import dev.squish.model.Model;
import dev.squish.recipe.Recipe;
import dev.squish.weights.Linear;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class FinetuneStageTest {
    @TempDir Path dir;

    /** Text whose "tokens" are its characters mod the vocabulary: a learnable repeated pattern. */
    static java.util.function.Function<String, int[]> chars(int vocab) {
        return s -> s.chars().map(c -> c % vocab).toArray();
    }

    @Test void pruneThenFinetuneKeepsTheMaskAndLowersTheLoss() throws Exception {
        Model m = TinyModels.llama(11, false);
        Path data = dir.resolve("train.txt");
        StringBuilder sb = new StringBuilder();
        while (sb.length() < 3000) sb.append("in the beginning god created the heaven and the earth. ");
        Files.writeString(data, sb);
        var prune = new BlockPipeline.Stage(Methods.create("magnitude", Map.of("sparsity", 0.5)), null);
        FinetuneMethod ft = (FinetuneMethod) Methods.create("finetune",
                Map.of("data", data.toString(), "steps", 12, "lr", 1e-2, "batch", 4, "train_seq_len", 12));
        var stage = new BlockPipeline.Stage(ft, null);
        List<float[]> before = new ArrayList<>();
        new BlockPipeline(m, List.of(prune)).run(null);
        for (Block b : m.blocks) for (Linear l : b.linears.values()) before.add(l.toDense());
        Model again = TinyModels.llama(11, false);
        new BlockPipeline(again, List.of(prune, stage)).tokenizer(chars(again.vocab())).run(null);
        int i = 0, moved = 0;
        for (Block b : again.blocks) {
            for (Linear l : b.linears.values()) {
                float[] w = l.toDense(), p = before.get(i++);
                for (int j = 0; j < w.length; j++) {
                    assertEquals(p[j] == 0f, w[j] == 0f, "pruned entries stay exactly zero, kept ones stay non-zero");
                    if (w[j] != p[j]) moved++;
                }
            }
        }
        assertTrue(moved > 0, "fine-tuning changed the kept weights");
        FineTune.Result r = ft.result();
        assertEquals(12, r.step());
        assertTrue(r.lastValLoss() < r.firstValLoss(), "validation " + r.firstValLoss() + " -> " + r.lastValLoss());
    }

    @Test void recipeOrderAllowsFinetuneAfterQuantizationNotBeforeSlicing() {
        String ok = """
                stages:
                  - method: sparsegpt
                    sparsity: 0.7
                  - method: gptq
                    bits: 4
                  - method: finetune
                    data: train.txt
                    steps: 10
                    lora_rank: 4
                """;
        Recipe r = Recipe.parse(ok, "r.yaml", dir);
        assertEquals(List.of("sparsegpt", "gptq", "finetune"), r.stages().stream().map(s -> s.method()).toList());
        assertEquals(1e-3, r.stages().get(2).doubleOpt("lr"), 0, "LoRA's default learning rate");
        SquishException e = assertThrows(SquishException.class, () -> Recipe.parse("""
                stages:
                  - method: finetune
                    data: train.txt
                  - method: slicegpt
                    slice: 0.2
                """, "r.yaml", dir));
        assertTrue(e.getMessage().contains("must be the first stage"), e.getMessage());
        e = assertThrows(SquishException.class, () -> Recipe.parse("""
                stages:
                  - method: finetune
                    steps: 10
                """, "r.yaml", dir));
        assertTrue(e.getMessage().contains("data"), e.getMessage());
        e = assertThrows(SquishException.class, () -> Recipe.parse("""
                stages:
                  - method: finetune
                    data: t.txt
                    kd_weight: 1.5
                """, "r.yaml", dir));
        assertTrue(e.getMessage().contains("kd_weight"), e.getMessage());
    }
}
