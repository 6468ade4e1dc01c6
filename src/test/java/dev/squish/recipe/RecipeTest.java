package dev.squish.recipe;

import static org.junit.jupiter.api.Assertions.*;

import dev.squish.SquishException;
import dev.squish.methods.Kind;
import dev.squish.methods.Methods;
import dev.squish.methods.NM;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Valid recipes: what they parse to, defaults, path resolution, the --method form. */
class RecipeTest {
    @TempDir Path dir;

    private Recipe parse(String yaml) {
        return Recipe.parse(yaml, "recipe.yaml", dir);
    }

    @Test
    void fullExampleFromTheDocs() throws Exception {
        Files.createDirectories(dir.resolve("data"));
        Files.writeString(dir.resolve("data/calib.txt"), "In the beginning");
        Path file = dir.resolve("recipe.yaml");
        Files.writeString(file, """
                calibration:
                  file: data/calib.txt
                  samples: 64
                  seq_len: 128
                  sampling: sequential
                  seed: 7
                stages:
                  - method: sparsegpt
                    sparsity: 0.5
                    pattern: "2:4"
                    layers: "mlp\\\\..*"
                  - method: gptq
                    bits: 4
                    group_size: 128
                    sym: true
                """);
        Recipe r = Recipe.load(file);
        assertEquals(dir.resolve("data/calib.txt"), r.calibration().file());
        assertEquals(64, r.calibration().samples());
        assertEquals(128, r.calibration().seqLen());
        assertEquals(CalibrationSpec.Sampling.SEQUENTIAL, r.calibration().sampling());
        assertEquals(7, r.calibration().seed());
        assertEquals(2, r.stages().size());

        Stage s = r.stages().get(0);
        assertEquals("sparsegpt", s.method());
        assertEquals(Kind.PRUNE, s.kind());
        assertEquals(0.5, s.doubleOpt("sparsity"));
        assertEquals("2:4", s.stringOpt("pattern"));
        assertEquals(new NM(2, 4), s.nm());
        assertEquals(2, s.nm().zerosPerGroup());
        assertEquals("mlp\\..*", s.layers().pattern());
        assertTrue(s.appliesTo("mlp.down_proj"));
        assertFalse(s.appliesTo("self_attn.q_proj"));
        assertFalse(s.appliesTo("mlpXdown"));

        Stage q = r.stages().get(1);
        assertEquals(4, q.intOpt("bits"));
        assertEquals(128, q.intOpt("group_size"));
        assertTrue(q.boolOpt("sym"));
        assertFalse(q.boolOpt("act_order"));
        assertEquals(0.0, q.doubleOpt("outliers"));
        assertTrue(q.appliesTo("self_attn.q_proj"));
        assertTrue(r.needsCalibration());
        assertEquals(file.toString(), r.source());
    }

    @Test
    void exampleRecipeInDocsIsValid() {
        Recipe r = Recipe.load(Path.of("docs/recipe-example.yaml"));
        assertTrue(Files.isRegularFile(r.calibration().file()));
        assertEquals(Path.of("fixtures/data/kjv/train.txt").toAbsolutePath().normalize(), r.calibration().file().toAbsolutePath().normalize());
        assertEquals(List.of("sparsegpt", "gptq"), r.stages().stream().map(Stage::method).toList());
        assertEquals(new NM(2, 4), r.stages().get(0).nm());
        assertTrue(r.stages().get(0).appliesTo("mlp.gate_proj"));
        assertFalse(r.stages().get(0).appliesTo("self_attn.v_proj"));
        r.checkLayers(List.of("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"));
    }

    @Test
    void defaultsFilledIn() {
        Recipe r = parse("stages:\n  - method: rtn\n    bits: 8\n");
        assertEquals(CalibrationSpec.defaults(), r.calibration());
        assertNull(r.calibration().file());
        assertEquals(128, r.calibration().samples());
        assertEquals(256, r.calibration().seqLen());
        assertEquals(CalibrationSpec.Sampling.RANDOM, r.calibration().sampling());
        assertEquals(0, r.calibration().seed());
        Stage s = r.stages().get(0);
        assertEquals(Map.of("bits", 8, "group_size", 128, "sym", true, "outliers", 0.0), s.options());
        assertSame(Stage.ALL_LAYERS, s.layers());
        assertFalse(s.has("act_order"));
        assertEquals(7, s.intOpt("missing", 7));
        assertFalse(r.needsCalibration());
    }

    @Test
    void unquotedNmPatternIsTextNotBase60() {
        Stage s = parse("stages:\n  - method: wanda\n    pattern: 4:8\n").stages().get(0);
        assertEquals("4:8", s.stringOpt("pattern"));
        assertEquals(0.5, s.doubleOpt("sparsity"));
        Stage t = parse("stages:\n  - method: wanda\n    pattern: 1:4\n    sparsity: 0.75\n").stages().get(0);
        assertEquals(new NM(1, 4), t.nm());
        assertEquals(0.75, t.doubleOpt("sparsity"));
    }

    @Test
    void otherMethodsAndOptions() {
        Recipe r = parse("""
                stages:
                  - method: slicegpt
                    slice: 0.25
                  - method: magnitude
                    sparsity: 0.3
                    layers: mlp.down
                  - method: wanda
                    sparsity: .2
                    pattern: unstructured
                    layers: self_attn
                  - method: asvd
                    keep: 0.6
                    allocation: spectrum
                    layers: ^mlp\\.up_proj$
                  - method: gptq
                    bits: 4
                    group_size: -1
                    sym: false
                    act_order: yes
                    outliers: 0.01
                """);
        assertEquals(List.of("slicegpt", "magnitude", "wanda", "asvd", "gptq"), r.stages().stream().map(Stage::method).toList());
        assertEquals(0.25, r.stages().get(0).doubleOpt("slice"));
        assertNull(r.stages().get(1).nm());
        assertEquals(0.2, r.stages().get(2).doubleOpt("sparsity"));
        assertEquals("spectrum", r.stages().get(3).stringOpt("allocation"));
        Stage g = r.stages().get(4);
        assertEquals(-1, g.intOpt("group_size"));
        assertFalse(g.boolOpt("sym"));
        assertTrue(g.boolOpt("act_order"));
        assertEquals(0.01, g.doubleOpt("outliers"));
        r.checkLayers(List.of("self_attn.q_proj", "self_attn.o_proj", "mlp.up_proj", "mlp.down_proj"));
    }

    @Test
    void svdWithRankAndIntegerFraction() {
        Stage s = parse("stages:\n  - method: svd\n    rank: 64\n").stages().get(0);
        assertEquals(64, s.intOpt("rank"));
        assertFalse(s.has("keep"));
        assertEquals("uniform", s.stringOpt("allocation"));
        Stage k = parse("stages:\n  - method: svd\n    keep: 1\n").stages().get(0);
        assertEquals(1.0, k.doubleOpt("keep"));
        assertInstanceOf(Double.class, k.options().get("keep"));
    }

    @Test
    void twoPruningStagesAreFine() {
        Recipe r = parse("stages:\n  - {method: magnitude, sparsity: 0.2}\n  - {method: sparsegpt, sparsity: 0.5}\n");
        r.checkLayers(List.of("mlp.up_proj"));
        assertEquals(2, r.stages().size());
    }

    @Test
    void calibrationFileFallsBackToWorkingDirectory() {
        // the recipe's folder has no such file; the project root (the tests' working directory) does
        Recipe r = parse("calibration:\n  file: fixtures/data/kjv/train.txt\nstages:\n  - {method: magnitude, sparsity: 0.5}\n");
        assertEquals(Path.of("fixtures/data/kjv/train.txt"), r.calibration().file());
    }

    @Test
    void commandLineFormSharesValidationAndDefaults() {
        Map<String, Object> opts = new HashMap<>();
        opts.put("bits", "4");          // strings as a CLI might pass them
        opts.put("group_size", null);   // not given
        opts.put("sym", false);
        opts.put("act_order", "true");
        Recipe r = Recipe.single("gptq", opts);
        Stage s = r.stages().get(0);
        assertEquals(4, s.intOpt("bits"));
        assertEquals(128, s.intOpt("group_size"));
        assertFalse(s.boolOpt("sym"));
        assertTrue(s.boolOpt("act_order"));
        assertEquals("--method gptq", r.source());
        assertEquals(parse("stages:\n  - {method: gptq, bits: 4, sym: false, act_order: true}\n").stages(), r.stages());

        Map<String, Object> cal = new HashMap<>();
        cal.put("file", "fixtures/data/kjv/valid.txt");
        cal.put("samples", 16);
        cal.put("seq_len", "64");
        cal.put("sampling", "sequential");
        cal.put("seed", null);
        Recipe c = Recipe.single("magnitude", Map.of("sparsity", 0.5, "pattern", "2:4"), cal);
        assertEquals(new CalibrationSpec(Path.of("fixtures/data/kjv/valid.txt"), 16, 64,
                CalibrationSpec.Sampling.SEQUENTIAL, 0), c.calibration());
        assertEquals(0.5, c.stages().get(0).doubleOpt("sparsity"));
    }

    @Test
    void withCalibrationAndDescribe() {
        Recipe r = parse("stages:\n  - {method: svd, keep: 0.5, layers: mlp}\n");
        Recipe w = r.withCalibration(new CalibrationSpec(null, 8, 32, CalibrationSpec.Sampling.RANDOM, 3));
        assertEquals(8, w.calibration().samples());
        assertEquals(r.stages(), w.stages());
        assertEquals("calibration: 8 x 32 tokens, random (seed 3)\nstage 1: svd keep=0.5 allocation=uniform layers=mlp",
                w.describe());
    }

    @Test
    void methodTable() {
        assertEquals(List.of("magnitude", "wanda", "sparsegpt", "svd", "asvd", "fwsvd", "slicegpt", "rtn", "gptq", "awq",
                "dsnot", "flap", "l2-structured", "drop-layers", "teal", "cats", "moefy", "finetune"), Methods.ids());
        for (String m : List.of("magnitude", "svd", "rtn", "l2-structured")) assertFalse(Methods.get(m).needsCalibration());
        for (String m : List.of("wanda", "sparsegpt", "asvd", "slicegpt", "gptq", "awq", "dsnot", "flap", "drop-layers")) {
            assertTrue(Methods.get(m).needsCalibration());
        }
    }

    @Test
    void checkLayersAllowsDisjointFactorizationAndPruning() {
        Recipe r = parse("stages:\n  - {method: svd, rank: 8, layers: self_attn}\n  - {method: magnitude, sparsity: 0.5, layers: mlp}\n");
        r.checkLayers(List.of("self_attn.q_proj", "mlp.down_proj"));
    }
}
