package dev.squish.recipe;

import static org.junit.jupiter.api.Assertions.*;

import dev.squish.SquishException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Invalid recipes: each is a SquishException whose one-line message names file, stage and key. */
class RecipeErrorsTest {
    @TempDir Path dir;

    private String error(String yaml) {
        SquishException e = assertThrows(SquishException.class, () -> Recipe.parse(yaml, "recipe.yaml", dir));
        String m = e.getMessage();
        assertTrue(m.startsWith("recipe.yaml: "), m);
        assertFalse(m.contains("\n"), "one line: " + m);
        assertFalse(m.contains("org.yaml") || m.contains("Exception"), "no library internals: " + m);
        return m;
    }

    private static String stages(String... lines) {
        return "stages:\n" + String.join("\n", lines) + "\n";
    }

    @Test
    void badBitsNamesFileStageAndKey() {
        assertEquals("recipe.yaml: stage 2 (gptq): bits must be 4 or 8, got 3",
                error(stages("  - {method: magnitude, sparsity: 0.5}", "  - {method: gptq, bits: 3}")));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', quoteCharacter = '"', textBlock = """
        {method: magnitude}                                  | stage 1 (magnitude): missing sparsity
        {method: magnitude, sparsity: 1}                     | stage 1 (magnitude): sparsity must be in [0, 1), got 1
        {method: magnitude, sparsity: -0.1}                  | sparsity must be in [0, 1), got -0.1
        {method: magnitude, sparsity: half}                  | sparsity must be a number in [0, 1), got 'half'
        {method: magnitude, sparsity: '0.5'}                 | sparsity must be a number in [0, 1), got '0.5'
        {method: magnitude, sparsity: .nan}                  | sparsity must be a number in [0, 1), got NaN
        {method: magnitude, sparsity: [0.5]}                 | sparsity must be a number in [0, 1), got a list
        {method: magnitude, sparsity: }                      | sparsity has no value
        {method: wanda, sparsity: 0.5, pattern: 4:2}         | pattern must be 'unstructured' or N:M with 0 < N < M <= 32 (e.g. 2:4), got '4:2'
        {method: wanda, pattern: '0:4'}                      | got '0:4'
        {method: wanda, pattern: '2:64'}                     | got '2:64'
        {method: wanda, pattern: structured}                 | got 'structured'
        {method: wanda, pattern: 24}                         | pattern must be a string, got 24
        {method: wanda, pattern: '2:4', sparsity: 0.6}       | sparsity 0.6 does not match pattern 2:4, which keeps 2 of every 4 weights (sparsity 0.5)
        {method: svd}                                        | stage 1 (svd): needs keep or rank
        {method: svd, keep: 0.5, rank: 8}                    | give keep or rank, not both
        {method: svd, keep: 0}                               | keep must be in (0, 1], got 0
        {method: svd, keep: 1.5}                             | keep must be in (0, 1], got 1.5
        {method: asvd, rank: 0}                              | rank must be a positive integer, got 0
        {method: asvd, rank: 8.5}                            | rank must be an integer, got 8.5
        {method: asvd, rank: 99999999999}                    | rank is out of range, got 99999999999
        {method: svd, rank: 8, allocation: spectrum}         | allocation spectrum shares a keep budget between layers; it does not apply to a fixed rank
        {method: svd, keep: 0.5, allocation: greedy}         | allocation must be uniform or spectrum, got 'greedy'
        {method: slicegpt, slice: 1.0}                       | slice must be in [0, 1), got 1
        {method: slicegpt}                                   | missing slice
        {method: rtn}                                        | stage 1 (rtn): missing bits
        {method: rtn, bits: 4.0}                             | bits must be an integer, got 4
        {method: rtn, bits: '4'}                             | bits must be an integer, got '4'
        {method: rtn, bits: 4, group_size: 0}                | group_size must be a positive integer or -1 (one scale per output channel), got 0
        {method: rtn, bits: 4, group_size: -2}               | got -2
        {method: rtn, bits: 4, sym: 'yes'}                   | sym must be true or false, got 'yes'
        {method: rtn, bits: 4, outliers: 0.2}                | outliers must be in [0, 0.1], got 0.2
        {method: rtn, bits: 4, act_order: true}              | unknown key 'act_order'; rtn takes bits, group_size, sym, outliers, gguf_type, layers
        {method: awq, bits: 4, act_order: true}              | stage 1 (awq): unknown key 'act_order'; awq takes bits, group_size, sym, outliers, gguf_type, clip, layers
        {method: gptq, bits: 4, group-size: 64}              | unknown key 'group-size' (did you mean 'group_size'?)
        {method: gptq, bit: 4}                               | unknown key 'bit' (did you mean 'bits'?)
        {method: gptq, bits: 4, layers: 'mlp('}              | layers is not a valid regular expression: Unclosed group near index 4 in 'mlp('
        {method: gptq, bits: 4, layers: ''}                  | layers is empty; leave it out to apply to every layer
        {method: gptq, bits: 4, layers: 5}                   | layers must be a string, got 5
        {method: gtpq, bits: 4}                              | stage 1: unknown method 'gtpq' (did you mean 'gptq'?); known methods: magnitude, wanda, sparsegpt, svd, asvd, fwsvd, slicegpt, rtn, gptq, awq, dsnot, flap, l2-structured, drop-layers, teal, cats, moefy, finetune
        {method: quantize, bits: 4}                          | stage 1: unknown method 'quantize'; known methods: magnitude,
        {method: 5}                                          | stage 1: method must be a method name (magnitude, wanda, sparsegpt, svd, asvd, fwsvd, slicegpt, rtn, gptq, awq, dsnot, flap, l2-structured, drop-layers, teal, cats, moefy, finetune), got 5
        {bits: 4}                                            | stage 1: missing 'method' (one of magnitude,
        gptq                                                 | stage 1: expected a mapping with 'method', got 'gptq'
        """)
    void stageOptionErrors(String stage, String expected) {
        String m = error(stages("  - " + stage));
        assertTrue(m.contains(expected), "expected '" + expected + "' in: " + m);
    }

    @Test
    void stageOrderRules() {
        String twice = error(stages("  - {method: rtn, bits: 8}", "  - {method: gptq, bits: 4}"));
        assertEquals("recipe.yaml: stage 2 (gptq): quantizing twice (also stage 1 (rtn)); use one quantization stage", twice);
        assertTrue(error(stages("  - {method: gptq, bits: 4}", "  - {method: slicegpt, slice: 0.2}"))
                .contains("stage 2 (slicegpt): slicegpt after quantization (stage 1) makes no sense"));
        assertTrue(error(stages("  - {method: magnitude, sparsity: 0.5}", "  - {method: slicegpt, slice: 0.2}"))
                .contains("slicegpt must be the first stage"));
        assertTrue(error(stages("  - {method: slicegpt, slice: 0.2}", "  - {method: slicegpt, slice: 0.1}"))
                .contains("slicegpt twice"));
        assertEquals("recipe.yaml: stage 2 (magnitude): magnitude after quantization (stage 1) makes no sense;"
                + " quantization must be the last stage",
                error(stages("  - {method: awq, bits: 4}", "  - {method: magnitude, sparsity: 0.5}")));
        assertTrue(error(stages("  - {method: rtn, bits: 4}", "  - {method: svd, keep: 0.5}"))
                .contains("svd after quantization"));
        // activation sparsity reads the final weights: after quantization, never before a weight change
        assertEquals("recipe.yaml: stage 2 (gptq): gptq after activation sparsity (stage 1) makes no sense; activation sparsity"
                + " is calibrated on the final weights and must come after every stage that changes them",
                error(stages("  - {method: teal, activation_sparsity: 0.4}", "  - {method: gptq, bits: 4}")));
        assertTrue(error(stages("  - {method: teal, activation_sparsity: 0.4}", "  - {method: cats, activation_sparsity: 0.5}"))
                .contains("sparsifying activations twice"));
        assertTrue(error(stages("  - {method: teal, activation_sparsity: 1.0}")).contains("activation_sparsity must be in [0, 1), got 1"));
        assertTrue(error(stages("  - {method: moefy, experts: 8, top_k: 9}")).contains("top_k must be in [1, 8]"));
        assertTrue(error(stages("  - {method: moefy, experts: 8, top_k: 2, shared: 8}")).contains("shared must be in [0, 7]"));
    }

    @Test
    void activationSparsityFollowsQuantization() {
        Recipe r = Recipe.parse("stages:\n  - {method: gptq, bits: 4}\n  - {method: teal, activation_sparsity: 0.4}\n"
                + "  - {method: moefy, experts: 8, top_k: 2}\n", "recipe.yaml", dir);
        assertEquals(3, r.stages().size());
    }

    @Test
    void documentShapeErrors() {
        assertEquals("recipe.yaml: the recipe is empty; it needs a 'stages' list", error(""));
        assertEquals("recipe.yaml: the recipe is empty; it needs a 'stages' list", error("# only a comment\n\n"));
        assertTrue(error("- method: gptq\n").contains("expected a mapping with 'stages' (and optional 'calibration') at the top level, got a list"));
        assertTrue(error("just text\n").contains("got 'just text'"));
        assertEquals("recipe.yaml: missing 'stages' (a list of at least one stage)", error("calibration: {samples: 4}\n"));
        assertEquals("recipe.yaml: stages is empty; give at least one stage", error("stages: []\n"));
        assertTrue(error("stages: {method: gptq}\n").contains("stages must be a list"));
        assertTrue(error("stages:\n").contains("missing 'stages'"));
        assertTrue(error("stage:\n  - {method: rtn, bits: 4}\n").contains("unknown key 'stage' (did you mean 'stages'?)"));
    }

    @Test
    void calibrationErrors() {
        String ok = "stages:\n  - {method: rtn, bits: 8}\n";
        assertEquals("recipe.yaml: calibration: samples must be a positive integer, got 0",
                error("calibration: {samples: 0}\n" + ok));
        assertTrue(error("calibration: {seq_len: long}\n" + ok).contains("calibration: seq_len must be an integer, got 'long'"));
        assertTrue(error("calibration: {sampling: shuffled}\n" + ok)
                .contains("calibration: sampling must be random or sequential, got 'shuffled'"));
        assertTrue(error("calibration: {seed: 1.5}\n" + ok).contains("seed must be an integer, got 1.5"));
        assertTrue(error("calibration: {sample: 4}\n" + ok).contains("calibration: unknown key 'sample' (did you mean 'samples'?)"));
        assertTrue(error("calibration: train.txt\n" + ok).contains("calibration must be a mapping"));
        String missing = error("calibration: {file: nope/missing.txt}\n" + ok);
        assertTrue(missing.contains("calibration: file: no such file 'nope/missing.txt' (looked in " + dir + " and the working directory)"), missing);
        assertTrue(error("calibration: {file: fixtures}\n" + ok).contains("is a folder"));
    }

    @Test
    void yamlSyntaxErrorsGiveLineAndColumn() {
        String m = error("stages:\n  - method: gptq\n    bits: 4\n   sym: true\n");
        assertTrue(m.startsWith("recipe.yaml: invalid YAML at line 4, column "), m);
        assertTrue(error("stages: [ {method: rtn, bits: 8}\n").startsWith("recipe.yaml: invalid YAML at line "));
        assertTrue(error("stages:\n  - {method: rtn, bits: 8, bits: 4}\n").contains("duplicate key"));
        assertTrue(error("a: 1\n---\nb: 2\n").contains("invalid YAML"));
    }

    @Test
    void unsafeTagsAreRejected() {
        String m = error("stages:\n  - method: !!java.io.File /etc/passwd\n");
        assertTrue(m.contains("invalid YAML"), m);
    }

    @Test
    void yamlBombsFailFast() {
        String laughs = """
                a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
                b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
                c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
                d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
                e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
                f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
                g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
                stages: [*g]
                """;
        String m = assertTimeoutPreemptively(Duration.ofSeconds(20), () -> error(laughs));
        assertTrue(m.contains("invalid YAML"), m);
        String deep = "stages: " + "[".repeat(5000) + "]".repeat(5000) + "\n";
        assertTrue(assertTimeoutPreemptively(Duration.ofSeconds(20), () -> error(deep)).contains("invalid YAML"));
        String huge = "stages:\n" + "  - {method: rtn, bits: 8}\n".repeat(20_000);
        assertTrue(error(huge).contains("invalid YAML"));
    }

    @Test
    void fileErrors() throws Exception {
        SquishException e = assertThrows(SquishException.class, () -> Recipe.load(dir.resolve("none.yaml")));
        assertEquals(dir.resolve("none.yaml") + ": no such recipe file", e.getMessage());
        e = assertThrows(SquishException.class, () -> Recipe.load(dir));
        assertTrue(e.getMessage().endsWith("is a folder, not a recipe file"));
        Path bin = dir.resolve("bin.yaml");
        Files.write(bin, new byte[] {'s', 't', (byte) 0xff, (byte) 0xfe, 0});
        e = assertThrows(SquishException.class, () -> Recipe.load(bin));
        assertEquals(bin + ": not a text file (invalid UTF-8)", e.getMessage());
        Path big = dir.resolve("big.yaml");
        Files.writeString(big, "#".repeat(RecipeYaml.MAX_CHARS + 1));
        e = assertThrows(SquishException.class, () -> Recipe.load(big));
        assertTrue(e.getMessage().contains("too large"), e.getMessage());
    }

    @Test
    void checkLayersErrors() {
        Recipe r = Recipe.parse("stages:\n  - {method: svd, keep: 0.5}\n  - {method: magnitude, sparsity: 0.5, layers: down}\n",
                "recipe.yaml", dir);
        SquishException e = assertThrows(SquishException.class, () -> r.checkLayers(List.of("mlp.up_proj", "mlp.down_proj")));
        assertEquals("recipe.yaml: stage 2 (magnitude): mlp.down_proj is also changed by stage 1 (svd); a factorized layer"
                + " cannot also be pruned or factorized again (use 'layers' to give the stages different layers)", e.getMessage());
        Recipe none = Recipe.parse("stages:\n  - {method: rtn, bits: 4, layers: 'c_attn'}\n", "recipe.yaml", dir);
        e = assertThrows(SquishException.class, () -> none.checkLayers(List.of("self_attn.q_proj", "mlp.down_proj")));
        assertEquals("recipe.yaml: stage 1 (rtn): layers 'c_attn' matches none of the block's linear layers"
                + " (self_attn.q_proj, mlp.down_proj)", e.getMessage());
        Recipe twice = Recipe.parse("stages:\n  - {method: svd, keep: 0.5}\n  - {method: asvd, rank: 4}\n", "recipe.yaml", dir);
        assertThrows(SquishException.class, () -> twice.checkLayers(List.of("mlp.up_proj")));
    }

    @Test
    void commandLineErrorsNameFlags() {
        assertEquals("--sparsity does not apply to gptq; gptq takes --bits, --group-size, --sym, --act-order, --outliers, --gguf-type, --layers",
                assertThrows(SquishException.class, () -> Recipe.single("gptq", Map.of("sparsity", 0.5, "bits", 4))).getMessage());
        assertEquals("--bits must be 4 or 8, got 3",
                assertThrows(SquishException.class, () -> Recipe.single("rtn", Map.of("bits", 3))).getMessage());
        assertEquals("--group-size must be an integer, got 'big'",
                assertThrows(SquishException.class, () -> Recipe.single("rtn", Map.of("bits", 4, "group_size", "big"))).getMessage());
        assertEquals("--sparsity must be a number in [0, 1), got 'abc'",
                assertThrows(SquishException.class, () -> Recipe.single("magnitude", Map.of("sparsity", "abc"))).getMessage());
        assertEquals("missing --sparsity",
                assertThrows(SquishException.class, () -> Recipe.single("wanda", Map.of())).getMessage());
        assertTrue(assertThrows(SquishException.class, () -> Recipe.single("foo", Map.of())).getMessage()
                .startsWith("unknown method 'foo'; known methods: magnitude"));
        assertEquals("--calibration: no such file 'nope.txt'",
                assertThrows(SquishException.class, () -> Recipe.single("magnitude", Map.of("sparsity", 0.5),
                        Map.of("file", "nope.txt"))).getMessage());
        assertEquals("--sampling must be random or sequential, got 'x'",
                assertThrows(SquishException.class, () -> Recipe.single("magnitude", Map.of("sparsity", 0.5),
                        Map.of("sampling", "x"))).getMessage());
        assertEquals("--samples must be a positive integer, got -3",
                assertThrows(SquishException.class, () -> Recipe.single("magnitude", Map.of("sparsity", 0.5),
                        Map.of("samples", "-3"))).getMessage());
    }
}
