package dev.squish.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.squish.methods.Methods;
import dev.squish.recipe.Recipe;
import dev.squish.recipe.Stage;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;

/**
 * Fuzz target for compression recipes (YAML): parse, build every stage's method from its options
 * as {@code compress} does, and check the layer filters against the Llama linears. Only
 * {@code SquishException} may escape.
 */
class RecipeFuzzTest {
    static final List<String> LINEARS = List.of("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
            "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj");

    /** Input: the recipe's YAML text. */
    @FuzzTest(maxDuration = "60s")
    void recipe(byte[] input) {
        Path dir = FuzzFiles.freshDir();
        String yaml = new String(input, StandardCharsets.UTF_8);
        FuzzFiles.expectOnlySquishErrors(() -> {
            Recipe r = Recipe.parse(yaml, "recipe.yaml", dir);
            for (Stage s : r.stages()) Methods.create(s.method(), s.options()).describe();
            r.checkLayers(LINEARS);
            r.describe();
        });
    }
}
