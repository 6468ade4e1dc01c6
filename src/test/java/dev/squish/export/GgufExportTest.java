package dev.squish.export;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.squish.SquishException;
import dev.squish.formats.*;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.*;

import static org.junit.jupiter.api.Assertions.*;

class GgufExportTest {
    static final Path LLAMA = Path.of("fixtures/models/kjv-llama-tiny");
    @TempDir Path dir;

    /** Inverse of the Q/K permutation, written from the definition: GGUF row h*hd + 2i + j holds HF row h*hd + j*hd/2 + i. */
    static float[] unpermute(float[] g, int heads, int hd, int cols) {
        float[] out = new float[g.length];
        for (int h = 0; h < heads; h++)
            for (int r = 0; r < hd; r++) {
                int i = r / 2, j = r % 2;
                System.arraycopy(g, (h * hd + r) * cols, out, (h * hd + j * hd / 2 + i) * cols, cols);
            }
        return out;
    }

    @Test void f32ExportOfTheFixtureCarriesEverythingLlamaCppNeeds() {
        Path out = dir.resolve("kjv-f32.gguf");
        GgufExport.Result res = GgufExport.export(LLAMA, out, GgufExport.Type.F32);
        assertEquals(57, res.tensors());
        assertEquals(0, res.fallbacks());
        ModelConfig cfg = ModelConfig.load(LLAMA);
        try (GgufReader r = GgufReader.open(out); SafeTensors st = SafeTensors.open(LLAMA)) {
            assertEquals("llama", r.get("general.architecture").asString());
            assertEquals("kjv-llama-tiny", r.get("general.name").asString());
            assertEquals(512, r.get("llama.context_length").asLong());
            assertEquals(256, r.get("llama.embedding_length").asLong());
            assertEquals(6, r.get("llama.block_count").asLong());
            assertEquals(768, r.get("llama.feed_forward_length").asLong());
            assertEquals(8, r.get("llama.attention.head_count").asLong());
            assertEquals(4, r.get("llama.attention.head_count_kv").asLong());
            assertEquals(32, r.get("llama.rope.dimension_count").asLong());
            assertEquals(10000.0, r.get("llama.rope.freq_base").asDouble());
            assertEquals(GgufValue.Type.FLOAT32, r.get("llama.attention.layer_norm_rms_epsilon").type());
            assertEquals(1e-5f, (float) r.get("llama.attention.layer_norm_rms_epsilon").asDouble());
            assertEquals(4096, r.get("llama.vocab_size").asLong());
            assertEquals(0, r.get("general.file_type").asLong());
            assertEquals("gpt2", r.get("tokenizer.ggml.model").asString());
            assertEquals("gpt-2", r.get("tokenizer.ggml.pre").asString());
            List<String> tokens = r.get("tokenizer.ggml.tokens").asStrings();
            assertEquals(4096, tokens.size());
            assertEquals("<|endoftext|>", tokens.get(0));
            assertEquals("Ġthe", tokens.get(259));
            GgufValue types = r.get("tokenizer.ggml.token_type");
            assertEquals(3, types.longAt(0));
            for (int i = 1; i < 4096; i++) assertEquals(1, types.longAt(i));
            List<String> merges = r.get("tokenizer.ggml.merges").asStrings();
            assertEquals(3839, merges.size());
            assertEquals("t h", merges.get(0));
            assertEquals("Ġ th", merges.get(1));
            assertEquals(0, r.get("tokenizer.ggml.bos_token_id").asLong());
            assertEquals(0, r.get("tokenizer.ggml.eos_token_id").asLong());
            assertFalse(r.get("tokenizer.ggml.add_bos_token").asBoolean());

            assertArrayEquals(new long[]{4096, 256}, r.tensor("token_embd.weight").shape());
            assertArrayEquals(st.get("model.embed_tokens.weight").toFloatArray(), r.tensor("token_embd.weight").toFloatArray());
            assertArrayEquals(st.get("lm_head.weight").toFloatArray(), r.tensor("output.weight").toFloatArray());
            assertArrayEquals(st.get("model.norm.weight").toFloatArray(), r.tensor("output_norm.weight").toFloatArray());
            for (int l = 0; l < cfg.layers(); l++) {
                String p = "model.layers." + l + ".", b = "blk." + l + ".";
                assertEquals(GgmlType.F32, r.tensor(b + "attn_q.weight").type());
                float[] q = r.tensor(b + "attn_q.weight").toFloatArray(), k = r.tensor(b + "attn_k.weight").toFloatArray();
                float[] hfQ = st.get(p + "self_attn.q_proj.weight").toFloatArray(), hfK = st.get(p + "self_attn.k_proj.weight").toFloatArray();
                assertFalse(Arrays.equals(hfQ, q), "q is permuted");
                assertArrayEquals(hfQ, unpermute(q, 8, 32, 256));
                assertArrayEquals(hfK, unpermute(k, 4, 32, 256));
                assertArrayEquals(new long[]{128, 256}, r.tensor(b + "attn_k.weight").shape());
                for (String[] m : new String[][]{{"attn_v", "self_attn.v_proj"}, {"attn_output", "self_attn.o_proj"}, {"ffn_gate", "mlp.gate_proj"},
                        {"ffn_up", "mlp.up_proj"}, {"ffn_down", "mlp.down_proj"}, {"attn_norm", "input_layernorm"}, {"ffn_norm", "post_attention_layernorm"}})
                    assertArrayEquals(st.get(p + m[1] + ".weight").toFloatArray(), r.tensor(b + m[0] + ".weight").toFloatArray(), b + m[0]);
            }
            assertArrayEquals(new long[]{256, 768}, r.tensor("blk.0.ffn_down.weight").shape());
        }
    }

    @Test void quantizedExportsFollowLlamaCppTypeRules() throws IOException {
        Path q8 = dir.resolve("q8.gguf"), q4 = dir.resolve("q4.gguf");
        GgufExport.export(LLAMA, q8, GgufExport.Type.Q8_0);
        GgufExport.export(LLAMA, q4, GgufExport.Type.Q4_0);
        try (GgufReader r8 = GgufReader.open(q8); GgufReader r4 = GgufReader.open(q4); SafeTensors st = SafeTensors.open(LLAMA)) {
            assertEquals(7, r8.get("general.file_type").asLong());
            assertEquals(2, r4.get("general.file_type").asLong());
            for (GgufTensor t : r8.tensors())
                assertEquals(t.shape().length == 1 ? GgmlType.F32 : GgmlType.Q8_0, t.type(), t.name());
            for (GgufTensor t : r4.tensors()) {
                // llama-quantize stores the output head of a Q4_0 file as Q6_K
                GgmlType want = t.shape().length == 1 ? GgmlType.F32 : t.name().equals("output.weight") ? GgmlType.Q6_K : GgmlType.Q4_0;
                assertEquals(want, t.type(), t.name());
            }
            // quantized values are ggml's reference quantization of the (permuted) HF weights
            float[] hfQ = st.get("model.layers.2.self_attn.q_proj.weight").toFloatArray();
            float[] permuted = GgufExport.permuteRows(hfQ, 8, 32, 256);
            float[] expect8 = GgufQuant.decode(GgmlType.Q8_0, MemorySegment.ofArray(GgufQuant.encode(GgmlType.Q8_0, permuted, 256)), permuted.length);
            assertArrayEquals(expect8, r8.tensor("blk.2.attn_q.weight").toFloatArray());
            float[] emb = st.get("model.embed_tokens.weight").toFloatArray();
            float[] expect4 = GgufQuant.decode(GgmlType.Q4_0, MemorySegment.ofArray(GgufQuant.encode(GgmlType.Q4_0, emb, 256)), emb.length);
            assertArrayEquals(expect4, r4.tensor("token_embd.weight").toFloatArray());
            assertTrue(Files.size(q4) < Files.size(q8) && Files.size(q8) < 27_000_000 / 3);
        }
    }

    /** A tiny random Llama with tied embeddings: hidden size {@code h}, one layer, 2 heads of h/2, one kv head. */
    Path syntheticModel(String name, int h, int inter) throws IOException {
        Path m = dir.resolve(name);
        Files.createDirectories(m);
        ObjectMapper om = new ObjectMapper();
        ObjectNode c = (ObjectNode) om.readTree(LLAMA.resolve("config.json").toFile());
        c.put("hidden_size", h).put("num_attention_heads", 2).put("num_key_value_heads", 1).put("head_dim", h / 2)
                .put("intermediate_size", inter).put("num_hidden_layers", 1).put("tie_word_embeddings", true);
        om.writeValue(m.resolve("config.json").toFile(), c);
        Files.copy(LLAMA.resolve("tokenizer.json"), m.resolve("tokenizer.json"));
        Map<String, float[]> v = new LinkedHashMap<>();
        Map<String, long[]> s = new LinkedHashMap<>();
        Random rnd = new Random(5);
        int kv = h / 2;
        Object[][] spec = {{"model.embed_tokens.weight", 4096, h}, {"model.layers.0.input_layernorm.weight", h},
                {"model.layers.0.self_attn.q_proj.weight", h, h}, {"model.layers.0.self_attn.k_proj.weight", kv, h},
                {"model.layers.0.self_attn.v_proj.weight", kv, h}, {"model.layers.0.self_attn.o_proj.weight", h, h},
                {"model.layers.0.post_attention_layernorm.weight", h}, {"model.layers.0.mlp.gate_proj.weight", inter, h},
                {"model.layers.0.mlp.up_proj.weight", inter, h}, {"model.layers.0.mlp.down_proj.weight", h, inter}, {"model.norm.weight", h}};
        for (Object[] t : spec) {
            long[] shape = new long[t.length - 1];
            int n = 1;
            for (int i = 1; i < t.length; i++) { shape[i - 1] = (Integer) t[i]; n *= (Integer) t[i]; }
            float[] x = new float[n];
            for (int i = 0; i < n; i++) x[i] = (float) rnd.nextGaussian();
            v.put((String) t[0], x);
            s.put((String) t[0], shape);
        }
        SafeTensorsWriter.write(m.resolve("model.safetensors"), v, s);
        return m;
    }

    Path syntheticModel() throws IOException { return syntheticModel("tiny", 48, 64); }

    @Test void tiedHeadIsOmittedAndF16KeepsOddRows() throws IOException {
        Path m = syntheticModel();
        Path out = dir.resolve("tiny.gguf");
        GgufExport.Result res = GgufExport.export(m, out, GgufExport.Type.F16);
        try (GgufReader r = GgufReader.open(out); SafeTensors st = SafeTensors.open(m)) {
            assertFalse(r.has("output.weight"), "tied head: llama.cpp reuses token_embd");
            assertEquals(1 + 9 + 1, r.tensors().size());
            for (GgufTensor t : r.tensors()) assertEquals(t.shape().length == 1 ? GgmlType.F32 : GgmlType.F16, t.type(), t.name());
            assertEquals(0, res.fallbacks());
            // permutation with head_dim 24 and one kv head, through F16 rounding
            float[] k = unpermute(r.tensor("blk.0.attn_k.weight").toFloatArray(), 1, 24, 48);
            float[] hf = st.get("model.layers.0.self_attn.k_proj.weight").toFloatArray();
            for (int i = 0; i < hf.length; i++) assertEquals(Float.float16ToFloat(Float.floatToFloat16(hf[i])), k[i]);
        }
    }

    /** llama-quantize's choices, type by type, for rows of 256 (fit everything) and 64 / 96 / 48 values. */
    @Test void tensorTypeFollowsLlamaQuantize() {
        record Row(GgufExport.Type type, GgmlType fits, GgmlType head, GgmlType rows64, GgmlType head64, GgmlType rows48) {}
        GgmlType F16 = GgmlType.F16, Q8 = GgmlType.Q8_0, Q6K = GgmlType.Q6_K;
        List<Row> rows = List.of(
                new Row(GgufExport.Type.F32, GgmlType.F32, GgmlType.F32, GgmlType.F32, GgmlType.F32, GgmlType.F32),
                new Row(GgufExport.Type.F16, F16, F16, F16, F16, F16),
                new Row(GgufExport.Type.Q8_0, Q8, Q8, Q8, Q8, null),
                new Row(GgufExport.Type.Q5_0, GgmlType.Q5_0, Q6K, GgmlType.Q5_0, Q8, null),
                new Row(GgufExport.Type.Q5_1, GgmlType.Q5_1, Q6K, GgmlType.Q5_1, Q8, null),
                new Row(GgufExport.Type.Q4_0, GgmlType.Q4_0, Q6K, GgmlType.Q4_0, Q8, null),
                new Row(GgufExport.Type.Q4_1, GgmlType.Q4_1, Q6K, GgmlType.Q4_1, Q8, null),
                new Row(GgufExport.Type.Q6_K, Q6K, Q6K, Q8, Q8, F16),
                new Row(GgufExport.Type.Q5_K, GgmlType.Q5_K, Q6K, GgmlType.Q5_1, Q8, F16),
                new Row(GgufExport.Type.Q4_K, GgmlType.Q4_K, Q6K, GgmlType.Q5_0, Q8, F16),
                new Row(GgufExport.Type.Q3_K, GgmlType.Q3_K, Q6K, GgmlType.IQ4_NL, Q8, F16),
                new Row(GgufExport.Type.Q2_K, GgmlType.Q2_K, Q6K, GgmlType.IQ4_NL, Q8, F16));
        assertEquals(GgufExport.Type.values().length, rows.size());
        for (Row r : rows) {
            assertEquals(r.fits, GgufExport.tensorType(r.type, "blk.0.attn_q.weight", false, 512), r.type + " rows of 512");
            assertEquals(r.head, GgufExport.tensorType(r.type, "output.weight", true, 512), r.type + " head, rows of 512");
            assertEquals(r.rows64, GgufExport.tensorType(r.type, "blk.0.attn_q.weight", false, 64), r.type + " rows of 64");
            assertEquals(r.head64, GgufExport.tensorType(r.type, "output.weight", true, 64), r.type + " head, rows of 64");
            if (r.rows48 != null) assertEquals(r.rows48, GgufExport.tensorType(r.type, "blk.0.ffn_up.weight", false, 48), r.type + " rows of 48");
            else {
                var e = assertThrows(SquishException.class, () -> GgufExport.tensorType(r.type, "blk.0.ffn_up.weight", false, 48));
                assertTrue(e.getMessage().contains("blk.0.ffn_up.weight") && e.getMessage().contains("48") && !e.getMessage().contains("\n"), e.getMessage());
            }
        }
    }

    /** Rows of 64 (attention, gate, up) and 96 (down) with a tied head: the k-quant fallbacks, end to end. */
    @Test void kQuantFallbacksOnRowsThatAreNotMultiplesOf256() throws IOException {
        Path m = syntheticModel("narrow", 64, 96);
        for (GgufExport.Type type : List.of(GgufExport.Type.Q4_K, GgufExport.Type.Q2_K)) {
            Path out = dir.resolve("narrow-" + type + ".gguf");
            GgufExport.Result res = GgufExport.export(m, out, type);
            GgmlType fb = type == GgufExport.Type.Q4_K ? GgmlType.Q5_0 : GgmlType.IQ4_NL;
            try (GgufReader r = GgufReader.open(out); SafeTensors st = SafeTensors.open(m)) {
                assertEquals(GgmlType.Q8_0, r.tensor("token_embd.weight").type(), "tied head whose rows do not fit " + type);
                for (String n : List.of("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"))
                    assertEquals(fb, r.tensor("blk.0." + n + ".weight").type(), n);
                assertEquals(8, res.fallbacks());
                float[] up = st.get("model.layers.0.mlp.up_proj.weight").toFloatArray();
                float[] expect = GgufQuant.decode(fb, MemorySegment.ofArray(GgufQuant.encode(fb, up, 64)), up.length);
                assertArrayEquals(expect, r.tensor("blk.0.ffn_up.weight").toFloatArray());
            }
        }
    }

    @Test void aTypeTheRowsCannotHoldIsRefusedAndNothingIsWritten() throws IOException {
        Path m = syntheticModel();
        Path out = dir.resolve("odd.gguf");
        for (GgufExport.Type type : List.of(GgufExport.Type.Q8_0, GgufExport.Type.Q4_K, GgufExport.Type.Q5_1)) {
            var e = assertThrows(SquishException.class, () -> GgufExport.export(m, out, type));
            // the tied head (token_embd) is checked first: its 48-value rows fit neither the type nor Q8_0
            assertTrue(e.getMessage().contains("token_embd.weight") && e.getMessage().contains("48"), e.getMessage());
            assertFalse(Files.exists(out));
            try (var s = Files.list(dir)) { assertEquals(1, s.count(), "only the model folder"); }
        }
    }

    @Test void commandLineReportsTheTypeProblemOnOneLineWithExit2() throws IOException {
        Path m = syntheticModel();
        Path out = dir.resolve("cli.gguf");
        java.io.StringWriter o = new java.io.StringWriter(), e = new java.io.StringWriter();
        int code = dev.squish.cli.Main.run(new String[]{"export", m.toString(), "--gguf", out.toString(), "--type", "q2_k"},
                new java.io.PrintWriter(o, true), new java.io.PrintWriter(e, true));
        assertEquals(2, code, e.toString());
        List<String> lines = e.toString().lines().toList();
        assertEquals(1, lines.size(), e.toString());
        assertTrue(lines.get(0).startsWith("error: ") && lines.get(0).contains("token_embd.weight"), lines.get(0));
        assertFalse(Files.exists(out));
        code = dev.squish.cli.Main.run(new String[]{"export", m.toString(), "--gguf", out.toString(), "--type", "iq4_nl"},
                new java.io.PrintWriter(o, true), new java.io.PrintWriter(e, true));
        assertEquals(2, code);
        assertTrue(e.toString().contains("unknown GGUF type 'iq4_nl'"), e.toString());
        code = dev.squish.cli.Main.run(new String[]{"export", LLAMA.toString(), "--gguf", out.toString(), "--type", "q5_k"},
                new java.io.PrintWriter(o, true), new java.io.PrintWriter(e, true));
        assertEquals(0, code, e.toString());
        assertTrue(o.toString().contains("wrote") && o.toString().contains("Q5_K"), o.toString());
        try (GgufReader r = GgufReader.open(out)) { assertEquals(GgmlType.Q5_K, r.tensor("blk.0.ffn_down.weight").type()); }
    }

    @Test void kQuantExportStoresGgmlsQuantizationOfThePermutedWeights() throws IOException {
        Path out = dir.resolve("q3k.gguf");
        GgufExport.export(LLAMA, out, GgufExport.Type.Q3_K);
        try (GgufReader r = GgufReader.open(out); SafeTensors st = SafeTensors.open(LLAMA)) {
            assertEquals(11, r.get("general.file_type").asLong());
            assertEquals(GgmlType.Q6_K, r.tensor("output.weight").type());
            assertEquals(GgmlType.Q3_K, r.tensor("token_embd.weight").type());
            float[] permuted = GgufExport.permuteRows(st.get("model.layers.1.self_attn.k_proj.weight").toFloatArray(), 4, 32, 256);
            float[] expect = GgufQuant.decode(GgmlType.Q3_K, MemorySegment.ofArray(GgufQuant.encode(GgmlType.Q3_K, permuted, 256)), permuted.length);
            assertArrayEquals(expect, r.tensor("blk.1.attn_k.weight").toFloatArray());
            float[] head = st.get("lm_head.weight").toFloatArray();
            float[] expectHead = GgufQuant.decode(GgmlType.Q6_K, MemorySegment.ofArray(GgufQuant.encode(GgmlType.Q6_K, head, 256)), head.length);
            assertArrayEquals(expectHead, r.tensor("output.weight").toFloatArray());
        }
    }

    @Test void refusesWhatItCannotExport() throws IOException {
        // GPT-2 exports (GgufArchitecturesTest), but GPTQ on the ggml grid is Llama-family only
        var e = assertThrows(SquishException.class, () -> GgufExport.export(Path.of("fixtures/models/kjv-gpt2-tiny"), dir.resolve("g.gguf"), GgufExport.Type.Q4_0,
                new GgufExport.Calibration(Path.of("fixtures/data/kjv/train.txt"), 2, 32)));
        assertTrue(e.getMessage().contains("gpt2"), e.getMessage());
        assertFalse(Files.exists(dir.resolve("g.gguf")));
        Path m = syntheticModel();
        Files.delete(m.resolve("tokenizer.json"));
        e = assertThrows(SquishException.class, () -> GgufExport.export(m, dir.resolve("t.gguf"), GgufExport.Type.F32));
        assertTrue(e.getMessage().contains("tokenizer.json"), e.getMessage());
        assertThrows(SquishException.class, () -> GgufExport.Type.parse("iq4_nl"));
        assertEquals(GgufExport.Type.Q5_K, GgufExport.Type.parse("q5_k"));
        assertEquals(GgufExport.Type.Q8_0, GgufExport.Type.parse("q8_0"));
    }
}
