package dev.squish.robust;

import dev.squish.Fixtures;
import dev.squish.formats.DType;
import dev.squish.formats.SafeTensors;
import dev.squish.formats.SafeTensorsWriter;
import dev.squish.formats.TensorInfo;
import dev.squish.robust.ModelFiles.Run;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static dev.squish.robust.ModelFiles.cli;
import static org.junit.jupiter.api.Assertions.*;

/**
 * Bad values through the CLI: each must end with exit code 2 and exactly one {@code error:} line
 * naming what is wrong, with no stack trace, and compress must leave no output behind.
 */
class BadValuesTest {
    @TempDir static Path tmp;
    static Path text;

    @BeforeAll static void text() throws Exception {
        text = ModelFiles.text(tmp, "short.txt", Files.readString(Fixtures.VALID).substring(0, 3000));
    }

    /** Asserts the contract for bad input and returns the error line. */
    static String userError(Run r) {
        assertEquals(2, r.rc(), () -> "exit code; stderr: " + r.err());
        assertEquals(1, r.errorLines(), () -> "one error line expected: " + r.err());
        assertFalse(r.err().contains("\tat "), () -> "no stack trace expected: " + r.err());
        return r.err().lines().filter(l -> l.startsWith("error: ")).findFirst().orElseThrow();
    }

    static Path llamaCopy(String name) throws Exception { return ModelFiles.copy(Fixtures.LLAMA, tmp.resolve(name)); }

    @Test void nanWeightIsNamedByEvalAndCompress() throws Exception {
        Path m = llamaCopy("nan");
        String tensor = "model.layers.2.mlp.up_proj.weight";
        ModelFiles.setFloat(m, tensor, 256 * 5 + 7, Float.NaN);
        String e = userError(cli("eval", m.toString(), "--data", text.toString(), "--seq-len", "64"));
        assertTrue(e.contains(tensor) && e.contains("NaN") && e.contains("[5, 7]"), e);
        Path out = tmp.resolve("nan-out");
        e = userError(cli("compress", m.toString(), "-o", out.toString(), "--method", "magnitude", "--sparsity", "0.5"));
        assertTrue(e.contains(tensor) && e.contains("NaN"), e);
        assertFalse(Files.exists(out));
        try (var s = Files.list(tmp)) { assertTrue(s.noneMatch(p -> p.getFileName().toString().startsWith(".nan-out.tmp-")), "temporary folder removed"); }
    }

    @Test void infiniteGlobalIsNamed() throws Exception {
        Path m = llamaCopy("inf");
        ModelFiles.setFloat(m, "model.norm.weight", 3, Float.POSITIVE_INFINITY);
        String e = userError(cli("eval", m.toString(), "--data", text.toString(), "--seq-len", "64"));
        assertTrue(e.contains("model.norm.weight") && e.contains("Infinity"), e);
        e = userError(cli("generate", m.toString(), "--prompt", "In the beginning", "--max-tokens", "2"));
        assertTrue(e.contains("model.norm.weight"), e);
    }

    @Test void overflowingActivationsAreReportedPerBlock() throws Exception {
        Path m = llamaCopy("overflow");
        for (int i = 0; i < 256; i++) ModelFiles.setFloat(m, "model.layers.1.post_attention_layernorm.weight", i, 3e38f);
        String e = userError(cli("eval", m.toString(), "--data", text.toString(), "--seq-len", "64"));
        assertTrue(e.contains("block 1") && e.contains("weights are finite"), e);
        Path out = tmp.resolve("overflow-out");
        e = userError(cli("compress", m.toString(), "-o", out.toString(), "--method", "wanda", "--sparsity", "0.5",
                "--calibration", text.toString(), "--samples", "2", "--seq-len", "32"));
        assertTrue(e.contains("calibration activations") && e.contains("block 1"), e);
        assertFalse(Files.exists(out));
    }

    @Test void calibrationTextShorterThanOneWindow() throws Exception {
        Path tiny = ModelFiles.text(tmp, "tiny.txt", "In the beginning God created the heaven and the earth.");
        Path out = tmp.resolve("short-out");
        String e = userError(cli("compress", Fixtures.LLAMA.toString(), "-o", out.toString(), "--method", "wanda", "--sparsity", "0.5",
                "--calibration", tiny.toString(), "--samples", "4", "--seq-len", "128"));
        assertTrue(e.contains("shorter than one window of 128"), e);
        assertFalse(Files.exists(out));
        e = userError(cli("eval", Fixtures.LLAMA.toString(), "--data", tiny.toString(), "--seq-len", "128"));
        assertTrue(e.contains("fewer than one window of 128"), e);
    }

    @Test void emptyFiles() throws Exception {
        Path empty = ModelFiles.text(tmp, "empty.txt", "");
        assertTrue(userError(cli("eval", Fixtures.LLAMA.toString(), "--data", empty.toString())).contains("empty file"));
        assertTrue(userError(cli("compress", Fixtures.LLAMA.toString(), "-o", tmp.resolve("e-out").toString(), "--method", "wanda",
                "--sparsity", "0.5", "--calibration", empty.toString())).contains("empty file"));
        for (String f : new String[]{"config.json", "tokenizer.json", "model-00002-of-00002.safetensors", "model.safetensors.index.json"}) {
            Path m = llamaCopy("empty-" + f);
            Files.write(m.resolve(f), new byte[0]);
            String e = userError(cli("eval", m.toString(), "--data", text.toString(), "--seq-len", "64"));
            assertTrue(e.contains(f), f + ": " + e);
        }
    }

    @Test void tokenizerLargerThanEmbedding() throws Exception {
        // A model whose embedding and head keep only 4000 of the tokenizer's 4096 tokens.
        Path m = tmp.resolve("small-vocab");
        Files.createDirectories(m);
        for (String f : new String[]{"tokenizer.json", "tokenizer_config.json", "config.json"}) Files.copy(Fixtures.LLAMA.resolve(f), m.resolve(f));
        ModelFiles.editConfig(m, Map.of("vocab_size", 4000));
        try (SafeTensors st = SafeTensors.open(Fixtures.LLAMA); SafeTensorsWriter w = new SafeTensorsWriter(m.resolve("model.safetensors"))) {
            for (TensorInfo t : st.tensors()) {
                boolean vocabRows = t.name().equals("model.embed_tokens.weight") || t.name().equals("lm_head.weight");
                long[] shape = t.shape().clone();
                if (vocabRows) shape[0] = 4000;
                w.add(t.name(), DType.F32, shape, vocabRows ? t.data().asSlice(0, 4L * 4000 * shape[1]) : t.data());
            }
            w.finish();
        }
        String e = userError(cli("eval", m.toString(), "--data", text.toString(), "--seq-len", "64"));
        assertTrue(e.contains("4096 tokens") && e.contains("4000 rows"), e);
        // And the embedding disagreeing with config.json's vocab_size is caught at load.
        ModelFiles.editConfig(m, Map.of("vocab_size", 4096));
        e = userError(cli("eval", m.toString(), "--data", text.toString(), "--seq-len", "64"));
        assertTrue(e.contains("4000 rows") && e.contains("vocab_size is 4096"), e);
    }

    @Test void shapesDisagreeingWithConfig() throws Exception {
        Path m = llamaCopy("shapes");
        ModelFiles.editConfig(m, Map.of("intermediate_size", 512));
        String e = userError(cli("eval", m.toString(), "--data", text.toString(), "--seq-len", "64"));
        assertTrue(e.contains("model.layers.0.mlp.gate_proj.weight is 768x256") && e.contains("512x256"), e);
        ModelFiles.editConfig(m, Map.of("intermediate_size", 768, "hidden_size", 512));
        e = userError(cli("compress", m.toString(), "-o", tmp.resolve("shapes-out").toString(), "--method", "magnitude", "--sparsity", "0.5"));
        assertTrue(e.contains("hidden size is 512"), e);
        ModelFiles.editConfig(m, Map.of("hidden_size", 256, "num_hidden_layers", 7));
        e = userError(cli("eval", m.toString(), "--data", text.toString(), "--seq-len", "64"));
        assertTrue(e.contains("model.layers.6.") && e.contains("missing"), e);
    }
}
