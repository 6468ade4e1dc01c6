package dev.squish.export;
import dev.squish.eval.Generator;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import de.kherud.llama.InferenceParameters;
import de.kherud.llama.LlamaModel;
import de.kherud.llama.LlamaOutput;
import de.kherud.llama.ModelParameters;
import de.kherud.llama.args.CacheType;
import de.kherud.llama.args.LogFormat;
import dev.squish.formats.SafeTensors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.*;

import static org.junit.jupiter.api.Assertions.*;

/**
 * End-to-end check of the GGUF export with an independent client: llama.cpp (through the
 * de.kherud:llama Java binding, native library bundled) loads the exported fixture model, and its
 * tokenizer and greedy predictions are compared with the Hugging Face reference outputs
 * ({@code reference_logits.safetensors}: input ids and float32 logits of the first 256 test tokens).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class LlamaCppGgufTest {
    static final Path LLAMA = Path.of("fixtures/models/kjv-llama-tiny");
    static final String PROMPT = "In the beginning God created";

    Path f32, q8, q4, dir;
    int[] refIds;
    float[] refLogits;
    int vocab;
    String[] tokens;
    final Map<Character, Integer> byteOf = new HashMap<>();

    @BeforeAll void setUp(@TempDir Path dir) throws IOException {
        this.dir = dir;
        LlamaModel.setLogger(LogFormat.TEXT, (level, msg) -> { });
        f32 = dir.resolve("kjv-f32.gguf");
        q8 = dir.resolve("kjv-q8_0.gguf");
        GgufExport.export(LLAMA, f32, GgufExport.Type.F32);
        GgufExport.export(LLAMA, q8, GgufExport.Type.Q8_0);
        q4 = dir.resolve("kjv-q4_0.gguf");
        GgufExport.export(LLAMA, q4, GgufExport.Type.Q4_0);
        try (SafeTensors ref = SafeTensors.open(LLAMA.resolve("reference_logits.safetensors"))) {
            refIds = ref.get("input_ids").toIntArray();
            refLogits = ref.get("logits").toFloatArray();
            vocab = ref.get("logits").dim(1);
        }
        // the Hugging Face vocabulary, read straight from tokenizer.json (independent of the export)
        JsonNode tj = new ObjectMapper().readTree(LLAMA.resolve("tokenizer.json").toFile());
        tokens = new String[vocab];
        tj.get("model").get("vocab").fields().forEachRemaining(e -> tokens[e.getValue().asInt()] = e.getKey());
        for (JsonNode a : tj.get("added_tokens")) tokens[a.get("id").asInt()] = a.get("content").asText();
        // GPT-2 bytes_to_unicode: printable bytes map to themselves, the rest to U+0100 onwards
        int n = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            byteOf.put((char) (printable ? b : 256 + n++), b);
        }
    }

    /** Byte-level BPE decoding of token ids to text (special tokens excluded). */
    String decode(int[] ids, int from, int to) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int i = from; i < to; i++) for (char c : tokens[ids[i]].toCharArray()) out.write(byteOf.get(c));
        return out.toString(StandardCharsets.UTF_8);
    }

    LlamaModel load(Path gguf) {
        return new LlamaModel(new ModelParameters().setModel(gguf.toString()).setCtxSize(512).setThreads(1).setThreadsBatch(1).setGpuLayers(0).skipWarmup().disableLog()
                // float32 KV cache: llama.cpp's default F16 cache alone moves logits by ~0.1 on this model
                .setCacheTypeK(CacheType.F32).setCacheTypeV(CacheType.F32));
    }

    static InferenceParameters greedy(String prompt, int n) {
        return new InferenceParameters(prompt).setTemperature(0f).setRepeatPenalty(1f).setNPredict(n).setSeed(0)
                // evaluate every request from scratch, so no prediction depends on an earlier request (one run saw 61/64 with prefix caching on)
                .setCachePrompt(false);
    }

    List<String> continuation(LlamaModel m) {
        List<String> pieces = new ArrayList<>();
        for (LlamaOutput o : m.generate(greedy(PROMPT, 16))) if (!o.text.isEmpty()) pieces.add(o.text);
        return pieces;
    }

    int argmax(int row) {
        int best = 0;
        for (int v = 1; v < vocab; v++) if (refLogits[row * vocab + v] > refLogits[row * vocab + best]) best = v;
        return best;
    }

    double margin(int row) {
        int best = argmax(row);
        double second = Double.NEGATIVE_INFINITY;
        for (int v = 0; v < vocab; v++) if (v != best) second = Math.max(second, refLogits[row * vocab + v]);
        return refLogits[row * vocab + best] - second;
    }

    /**
     * Teacher-forced next-token check: for prefixes of the reference text, llama.cpp's greedy next
     * token must be the argmax of the Hugging Face logits at that position (where the reference's
     * top two logits differ by at least {@code minMargin}). Returns {agreed, checked}.
     */
    int[] agreement(LlamaModel m, double minMargin) {
        int agreed = 0, checked = 0;
        for (int k = 4; k <= refIds.length; k += 4) {
            if (margin(k - 1) < minMargin) continue;
            String next = m.complete(greedy(decode(refIds, 0, k), 1));
            int want = argmax(k - 1);
            String wantText = want == 0 ? "" : decode(new int[]{want}, 0, 1);
            checked++;
            if (next.equals(wantText)) agreed++;
            else System.out.println("DISAGREE k=" + k + " want=[" + wantText + "] got=[" + next + "] margin=" + margin(k - 1) + " tail=[" + decode(refIds, k - 3, k) + "]");
        }
        return new int[]{agreed, checked};
    }

    @Test void llamaCppTokenizesLikeHuggingFace() {
        try (LlamaModel m = load(f32)) {
            String text = decode(refIds, 0, refIds.length);
            assertArrayEquals(refIds, m.encode(text), "llama.cpp's BPE on the first 256 test tokens' text");
            int[] prompt = m.encode(PROMPT);
            // the reference text starts "Genesis 1\n\nIn the beginning God created ..."
            assertEquals(PROMPT, decode(refIds, 4, 9));
            assertArrayEquals(Arrays.copyOfRange(refIds, 4, 9), prompt, "no BOS is added and the prompt splits as in HF");
        }
    }

    @Test void greedyContinuationIsSensibleAndQ8AgreesWithF32() {
        List<String> a, b;
        try (LlamaModel m = load(f32)) { a = continuation(m); }
        try (LlamaModel m = load(q8)) { b = continuation(m); }
        System.out.println("llama.cpp F32 : " + PROMPT + String.join("", a));
        System.out.println("llama.cpp Q8_0: " + PROMPT + String.join("", b));
        assertEquals(16, a.size(), "16 tokens without hitting end-of-text: " + a);
        Set<String> vocabSet = new HashSet<>(Arrays.asList(tokens));
        for (String piece : a) {
            StringBuilder enc = new StringBuilder();
            for (byte x : piece.getBytes(StandardCharsets.UTF_8))
                for (var e : byteOf.entrySet()) if (e.getValue() == (x & 0xff)) enc.append(e.getKey());
            assertTrue(vocabSet.contains(enc.toString()), "each streamed piece is one vocabulary token: " + piece);
        }
        String text = String.join("", a);
        assertTrue(text.matches("[A-Za-z ,.;:'!?\\n]+"), "English-like KJV text: " + text);
        assertTrue(text.trim().split("\\s+").length >= 8, "several words: " + text);
        assertEquals(a.subList(0, 8), b.subList(0, 8), "Q8_0 and F32 agree on the first 8 greedy tokens");
    }

    /** Squish's greedy continuation of the prompt on the model as it is. */
    static String squishContinuation(dev.squish.model.Model m) {
        dev.squish.formats.Tokenizer tok = dev.squish.formats.Tokenizer.load(LLAMA);
        int[] out = new Generator(m).generate(tok.encode(PROMPT), Generator.Options.greedy(16), t -> { }).tokens();
        return tok.decode(out);
    }

    /** Inverse of {@link GgufExport#permuteRows}: llama.cpp's rotary row order back to Hugging Face's. */
    static float[] unpermute(float[] w, int heads, int headDim, int cols) {
        float[] out = new float[w.length];
        int half = headDim / 2;
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < half; i++)
                for (int j = 0; j < 2; j++) {
                    int src = h * headDim + i * 2 + j, dst = h * headDim + j * half + i;
                    System.arraycopy(w, src * cols, out, dst * cols, cols);
                }
        return out;
    }

    /**
     * The acceptance check: llama.cpp continues the reference prompt with the same greedy
     * tokens as Squish on the same weights: the original float32 weights for the F32 file, and
     * for the Q8_0 file the weights as Q8_0 stores them (dequantized from the GGUF file itself).
     */
    @Test void llamaCppContinuesLikeSquishOnTheSameWeights() {
        String llamaF32, llamaQ8;
        try (LlamaModel m = load(f32)) { llamaF32 = String.join("", continuation(m)); }
        try (LlamaModel m = load(q8)) { llamaQ8 = String.join("", continuation(m)); }
        try (dev.squish.model.Model m = dev.squish.model.Model.load(LLAMA)) {
            assertEquals(squishContinuation(m), llamaF32, "F32: llama.cpp vs Squish");
        }
        try (dev.squish.model.Model m = dev.squish.model.Model.load(LLAMA);
             dev.squish.formats.GgufReader g = dev.squish.formats.GgufReader.open(q8)) {
            var c = m.config;
            java.util.function.BiFunction<String, Integer, dev.squish.weights.DenseLinear> read = (name, heads) -> {
                var t = g.tensor(name);
                int rows = (int) t.shape()[0], cols = (int) t.shape()[1];
                float[] w = t.toFloatArray();
                if (heads != null) w = unpermute(w, heads, c.headDim(), cols);
                return new dev.squish.weights.DenseLinear(rows, cols, w);
            };
            m.embed = read.apply("token_embd.weight", null);
            m.head = read.apply("output.weight", null);
            String[][] names = {{"attn_q", "self_attn.q_proj"}, {"attn_k", "self_attn.k_proj"}, {"attn_v", "self_attn.v_proj"},
                    {"attn_output", "self_attn.o_proj"}, {"ffn_gate", "mlp.gate_proj"}, {"ffn_up", "mlp.up_proj"}, {"ffn_down", "mlp.down_proj"}};
            for (var b : m.blocks)
                for (String[] n : names) {
                    Integer heads = n[0].equals("attn_q") ? Integer.valueOf(c.heads()) : n[0].equals("attn_k") ? Integer.valueOf(c.kvHeads()) : null;
                    b.linears.put(n[1], read.apply("blk." + b.index + "." + n[0] + ".weight", heads));
                }
            assertEquals(squishContinuation(m), llamaQ8, "Q8_0: llama.cpp vs Squish on the Q8_0 weights");
        }
    }

    /** The fixture model with every linear weight replaced by the values a GGUF file stores (dequantized, Q/K unpermuted). */
    static dev.squish.model.Model squishOnGgufWeights(Path gguf) {
        dev.squish.model.Model m = dev.squish.model.Model.load(LLAMA);
        try (dev.squish.formats.GgufReader g = dev.squish.formats.GgufReader.open(gguf)) {
            var c = m.config;
            java.util.function.BiFunction<String, Integer, dev.squish.weights.DenseLinear> read = (name, heads) -> {
                var t = g.tensor(name);
                int rows = (int) t.shape()[0], cols = (int) t.shape()[1];
                float[] w = t.toFloatArray();
                if (heads != null) w = unpermute(w, heads, c.headDim(), cols);
                return new dev.squish.weights.DenseLinear(rows, cols, w);
            };
            m.embed = read.apply("token_embd.weight", null);
            m.head = read.apply("output.weight", null);
            String[][] names = {{"attn_q", "self_attn.q_proj"}, {"attn_k", "self_attn.k_proj"}, {"attn_v", "self_attn.v_proj"},
                    {"attn_output", "self_attn.o_proj"}, {"ffn_gate", "mlp.gate_proj"}, {"ffn_up", "mlp.up_proj"}, {"ffn_down", "mlp.down_proj"}};
            for (var b : m.blocks)
                for (String[] n : names) {
                    Integer heads = n[0].equals("attn_q") ? Integer.valueOf(c.heads()) : n[0].equals("attn_k") ? Integer.valueOf(c.kvHeads()) : null;
                    b.linears.put(n[1], read.apply("blk." + b.index + "." + n[0] + ".weight", heads));
                }
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
        return m;
    }

    /** Squish's greedy tokens for the prompt, and at each step the gap between its two largest logits. */
    record Greedy(int[] tokens, float[] gaps) {}

    static Greedy squishGreedy(dev.squish.model.Model m, int n) {
        int[] prompt = dev.squish.formats.Tokenizer.load(LLAMA).encode(PROMPT);
        var cache = m.newCache(prompt.length + n);
        float[] logits = m.forwardLast(prompt, 0, cache);
        int[] out = new int[n];
        float[] gaps = new float[n];
        for (int i = 0; i < n; i++) {
            int best = Generator.argmax(logits);
            float second = Float.NEGATIVE_INFINITY;
            for (int v = 0; v < logits.length; v++) if (v != best) second = Math.max(second, logits[v]);
            out[i] = best;
            gaps[i] = logits[best] - second;
            if (i + 1 < n) logits = m.forwardLast(new int[]{best}, prompt.length + i, cache);
        }
        return new Greedy(out, gaps);
    }

    /**
     * Largest top-2 logit gap at which a divergence between llama.cpp and Squish is tolerated.
     * llama.cpp multiplies quantized weights by activations that it quantizes itself (to Q8_0 or
     * Q8_K blocks) and F16 weights by F16 activations, so on the same weights its logits differ
     * from Squish's float32 ones by a few hundredths; a gap below this is a near-tie either may break.
     */
    static final float NEAR_TIE = 0.1f;

    /**
     * The acceptance check for every export type: llama.cpp greedily continues the
     * reference prompt with the same 16 tokens as Squish running the weights the file stores. A
     * divergence passes only where Squish's own top-2 gap at that step is below {@link #NEAR_TIE},
     * and the test prints it.
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.EnumSource(value = GgufExport.Type.class, names = {"F32", "Q8_0"}, mode = org.junit.jupiter.params.provider.EnumSource.Mode.EXCLUDE)
    void llamaCppContinuesLikeSquishOnEveryType(GgufExport.Type type) {
        Path file = dir.resolve("kjv-" + type.name().toLowerCase(Locale.ROOT) + ".gguf");
        GgufExport.export(LLAMA, file, type);
        assertLlamaCppContinuesLikeSquish(file, type.name());
    }

    /** The same check on a GPTQ-calibrated file (codes chosen by Squish on llama.cpp's grid). */
    @Test void llamaCppContinuesLikeSquishOnACalibratedFile() {
        Path file = dir.resolve("kjv-q4_k-gptq.gguf");
        GgufExport.export(LLAMA, file, GgufExport.Type.Q4_K, new GgufExport.Calibration(Path.of("fixtures/data/kjv/train.txt"), 16, 128));
        assertLlamaCppContinuesLikeSquish(file, "Q4_K GPTQ");
    }

    void assertLlamaCppContinuesLikeSquish(Path file, String type) {
        List<String> llama;
        try (LlamaModel m = load(file)) { llama = continuation(m); }
        Greedy sq;
        try (dev.squish.model.Model m = squishOnGgufWeights(file)) { sq = squishGreedy(m, 16); }
        List<String> squish = new ArrayList<>();
        for (int t : sq.tokens()) squish.add(decode(new int[]{t}, 0, 1));
        System.out.println("llama.cpp " + type + ": " + PROMPT + String.join("", llama));
        System.out.println("Squish    " + type + ": " + PROMPT + String.join("", squish));
        int i = 0;
        while (i < 16 && i < llama.size() && llama.get(i).equals(squish.get(i))) i++;
        if (i == 16) return;
        assertTrue(i < llama.size(), type + ": llama.cpp stopped after " + llama.size() + " tokens: " + llama);
        System.out.printf("%s: llama.cpp and Squish diverge at token %d (llama.cpp [%s], Squish [%s]) where Squish's top-2 logit gap is %.4f%n",
                type, i, llama.get(i), squish.get(i), sq.gaps()[i]);
        assertTrue(sq.gaps()[i] < NEAR_TIE, type + ": divergence at token " + i + " with a clear Squish margin " + sq.gaps()[i]
                + "\nllama.cpp: " + llama + "\nSquish:    " + squish);
    }

    @Test void llamaCppPredictionsMatchTheHuggingFaceLogits() {
        int[] f, q, q4r;
        try (LlamaModel m = load(f32)) { f = agreement(m, 1e-3); }
        try (LlamaModel m = load(q8)) { q = agreement(m, 0.5); }
        try (LlamaModel m = load(q4)) { q4r = agreement(m, 0.5); }
        System.out.printf("llama.cpp next-token agreement with HF argmax: F32 %d/%d, Q8_0 %d/%d, Q4_0 %d/%d%n", f[0], f[1], q[0], q[1], q4r[0], q4r[1]);
        assertTrue(f[1] >= 50, "enough positions checked: " + f[1]);
        assertEquals(f[1], f[0], "F32 GGUF in llama.cpp picks the HF argmax at every checked position");
        assertTrue(q[0] >= 0.9 * q[1], "Q8_0 agrees at >= 90% of clear-cut positions: " + q[0] + "/" + q[1]);
        // 4-bit weights move logits more, but a wrong nibble order or scale would collapse this
        assertTrue(q4r[0] >= 0.7 * q4r[1], "Q4_0 agrees at >= 70% of clear-cut positions: " + q4r[0] + "/" + q4r[1]);
    }
}
