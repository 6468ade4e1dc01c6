package dev.squish.export;

import de.kherud.llama.LlamaModel;
import de.kherud.llama.LlamaOutput;
import de.kherud.llama.ModelParameters;
import de.kherud.llama.args.CacheType;
import de.kherud.llama.args.LogFormat;
import dev.squish.eval.Generator;
import dev.squish.formats.GgmlType;
import dev.squish.formats.GgufReader;
import dev.squish.formats.SafeTensors;
import dev.squish.formats.SafeTensorsWriter;
import dev.squish.formats.Tokenizer;
import dev.squish.model.Model;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * GGUF export of GPT-2 (llama.cpp's {@code gpt2}: fused attn_qkv, LayerNorm biases, learned
 * positions) and Qwen2 (llama.cpp's {@code qwen2}: q/k/v biases, rotary pairs as Hugging Face's, no
 * Q/K permutation), checked against llama.cpp itself through its Java binding: its greedy
 * continuation of the prompt equals Squish's on the same model.
 */
class GgufArchitecturesTest {
    static final Path LLAMA = Path.of("fixtures/models/kjv-llama-tiny"), GPT2 = Path.of("fixtures/models/kjv-gpt2-tiny");
    static final String PROMPT = "In the beginning God created";
    @TempDir Path tmp;

    /** kjv-llama-tiny relabelled qwen2, with random q/k/v biases large enough to change the continuation. */
    static Path qwen2(Path dir, boolean biases) throws Exception {
        Files.createDirectories(dir);
        for (String f : List.of("tokenizer.json", "tokenizer_config.json")) Files.copy(LLAMA.resolve(f), dir.resolve(f));
        var cfg = (com.fasterxml.jackson.databind.node.ObjectNode) dev.squish.formats.Json.MAPPER.readTree(LLAMA.resolve("config.json").toFile());
        cfg.put("model_type", "qwen2");
        cfg.put("attention_bias", biases);
        Files.writeString(dir.resolve("config.json"), cfg.toString());
        Random rnd = new Random(3);
        try (SafeTensors st = SafeTensors.open(LLAMA); SafeTensorsWriter w = new SafeTensorsWriter(dir.resolve("model.safetensors"))) {
            for (var t : st.tensors()) w.add(t.name(), t.dtype(), t.shape(), t.data());
            if (biases)
                for (int l = 0; l < 6; l++)
                    for (String p : List.of("q_proj", "k_proj", "v_proj")) {
                        int n = p.equals("q_proj") ? 256 : 128;
                        float[] b = new float[n];
                        for (int i = 0; i < n; i++) b[i] = (float) (rnd.nextGaussian() * 0.3);
                        w.addF32("model.layers." + l + ".self_attn." + p + ".bias", new long[]{n}, b);
                    }
            w.finish();
        }
        return dir;
    }

    static List<String> llamaCpp(Path gguf) {
        LlamaModel.setLogger(LogFormat.TEXT, (level, msg) -> { });
        List<String> pieces = new ArrayList<>();
        try (LlamaModel m = new LlamaModel(new ModelParameters().setModel(gguf.toString()).setCtxSize(512).setThreads(1).setThreadsBatch(1)
                .setGpuLayers(0).skipWarmup().disableLog().setCacheTypeK(CacheType.F32).setCacheTypeV(CacheType.F32))) {
            for (LlamaOutput o : m.generate(LlamaCppGgufTest.greedy(PROMPT, 16))) if (!o.text.isEmpty()) pieces.add(o.text);
        }
        return pieces;
    }

    /** Squish's 16 greedy tokens as text pieces, and each step's top-2 logit gap. */
    record Greedy(List<String> pieces, float[] gaps) {}

    static Greedy squish(Path model) {
        Tokenizer tok = Tokenizer.load(model);
        try (Model m = Model.load(model)) {
            int[] prompt = tok.encode(PROMPT);
            var cache = m.newCache(prompt.length + 16);
            float[] logits = m.forwardLast(prompt, 0, cache);
            List<String> out = new ArrayList<>();
            float[] gaps = new float[16];
            for (int i = 0; i < 16; i++) {
                int best = Generator.argmax(logits);
                float second = Float.NEGATIVE_INFINITY;
                for (int v = 0; v < logits.length; v++) if (v != best) second = Math.max(second, logits[v]);
                gaps[i] = logits[best] - second;
                out.add(tok.decode(new int[]{best}));
                if (i + 1 < 16) logits = m.forwardLast(new int[]{best}, prompt.length + i, cache);
            }
            return new Greedy(out, gaps);
        }
    }

    /** All 16 tokens equal, except at a near-tie of Squish's own logits (then the rest may differ). */
    static void assertSameContinuation(Path model, Path gguf, String what) {
        List<String> llama = llamaCpp(gguf);
        Greedy sq = squish(model);
        System.out.println("llama.cpp " + what + ": " + PROMPT + String.join("", llama));
        System.out.println("Squish    " + what + ": " + PROMPT + String.join("", sq.pieces()));
        int i = 0;
        while (i < 16 && i < llama.size() && llama.get(i).equals(sq.pieces().get(i))) i++;
        if (i == 16) return;
        assertTrue(i < llama.size() && sq.gaps()[i] < LlamaCppGgufTest.NEAR_TIE,
                what + ": divergence at token " + i + " (Squish's top-2 gap " + sq.gaps()[i] + ")\nllama.cpp: " + llama + "\nSquish:    " + sq.pieces());
    }

    @Test
    void gpt2LoadsInLlamaCppAndContinuesLikeSquish() throws Exception {
        Path f = tmp.resolve("gpt2.gguf");
        GgufExport.Result r = GgufExport.export(GPT2, f, GgufExport.Type.F32);
        try (GgufReader g = GgufReader.open(f)) {
            assertEquals("gpt2", g.get("general.architecture").asString());
            assertArrayEquals(new long[]{576, 192}, g.tensor("blk.0.attn_qkv.weight").shape(), "[3 n_embd, n_embd], row-major");
            assertTrue(g.has("blk.3.ffn_down.bias") && g.has("output_norm.bias") && g.has("position_embd.weight"));
            // the tied head is written as a copy of the embedding (llama.cpp's gpt2 requires output.weight)
            assertArrayEquals(g.tensor("token_embd.weight").toFloatArray(), g.tensor("output.weight").toFloatArray());
        }
        assertEquals(53, r.tensors(), "token_embd, position_embd, 12 per block, output_norm weight and bias, output");
        assertSameContinuation(GPT2, f, "gpt2 F32");
        // quantized: 192-wide rows are no multiple of 256, so those tensors take llama-quantize's fallbacks
        Path q = tmp.resolve("gpt2-q4k.gguf");
        GgufExport.Result rq = GgufExport.export(GPT2, q, GgufExport.Type.Q4_K);
        assertEquals(3 * 4 + 2, rq.fallbacks(), "qkv, attn_output, ffn_up of each block, token_embd and the head");
        try (GgufReader g = GgufReader.open(q)) {
            assertEquals(GgmlType.Q5_0, g.tensor("blk.0.attn_qkv.weight").type());
            assertEquals(GgmlType.Q4_K, g.tensor("blk.0.ffn_down.weight").type());
            assertEquals(GgmlType.Q8_0, g.tensor("output.weight").type());
            assertEquals(GgmlType.F32, g.tensor("position_embd.weight").type());
        }
        assertEquals(16, llamaCpp(q).size(), "the quantized file loads and generates");
    }

    @Test
    void qwen2WithBiasesContinuesLikeSquish() throws Exception {
        Path model = qwen2(tmp.resolve("qwen2"), true), f = tmp.resolve("qwen2.gguf");
        GgufExport.export(model, f, GgufExport.Type.F32);
        try (GgufReader g = GgufReader.open(f)) {
            assertEquals("qwen2", g.get("general.architecture").asString());
            assertTrue(g.has("blk.5.attn_v.bias"));
        }
        // the biases change the model: Squish's continuation differs from the plain llama one
        assertNotEquals(squish(LLAMA).pieces(), squish(model).pieces());
        assertSameContinuation(model, f, "qwen2 F32");
    }

    /** Without biases a qwen2 export is the llama model: llama.cpp needs the zero biases written, and no Q/K permutation. */
    @Test
    void qwen2WithoutBiasesIsTheLlamaModel() throws Exception {
        Path model = qwen2(tmp.resolve("qwen2z"), false), f = tmp.resolve("qwen2z.gguf");
        GgufExport.export(model, f, GgufExport.Type.F32);
        try (GgufReader g = GgufReader.open(f)) {
            float[] b = g.tensor("blk.0.attn_q.bias").toFloatArray();
            assertEquals(256, b.length);
            for (float x : b) assertEquals(0f, x);
        }
        assertSameContinuation(LLAMA, f, "qwen2 (zero biases)");
    }
}
