package dev.squish.export;

import dev.squish.model.Architecture;
import dev.squish.model.Llama;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.squish.SquishException;
import dev.squish.formats.*;
import dev.squish.weights.GgmlLinear;
import dev.squish.weights.Linear;
import dev.squish.methods.GgufGptq;
import dev.squish.weights.WeightFormats;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Exports a Llama-family model folder (Hugging Face layout, or a Squish output folder: every
 * linear weight is read through {@link WeightFormats} and expanded to dense) to one GGUF file that
 * llama.cpp loads as architecture {@code llama}, following llama.cpp's {@code convert_hf_to_gguf.py}
 * (LlamaModel): metadata keys, tensor names, the Q/K row permutation for its rotary layout, and a
 * byte-level BPE vocabulary read from {@code tokenizer.json}.
 *
 * <p>Tensor types: 1-D tensors (norms) stay F32; 2-D tensors get the chosen type, except where
 * llama-quantize's {@code llama_tensor_get_type} (src/llama-quant.cpp) decides otherwise for a
 * single-type file: the output head ({@code output.weight}, or {@code token_embd.weight} when the
 * head is tied) is Q6_K for every block type but Q8_0, and Q8_0 when its rows do not fit the
 * chosen type's block; a k-quant tensor whose rows are not a multiple of 256 falls back as
 * llama-quantize does (Q2_K, Q3_K to IQ4_NL; Q4_K to Q5_0; Q5_K to Q5_1; Q6_K to Q8_0; F16 when
 * the fallback does not fit either). A 32-value block type that the rows cannot hold is an error
 * naming the tensor (llama-quantize refuses it too), raised before anything is written.
 * llama-quantize's per-layer mixtures (the _S/_M/_L presets that raise attn_v or ffn_down) are
 * not applied: every other 2-D tensor gets exactly the chosen type.
 */
public final class GgufExport implements Exporter {
    public GgufExport() {}

    @Override public String format() { return "gguf"; }

    @Override public List<String> types() { return java.util.Arrays.stream(Type.values()).map(Type::name).toList(); }

    @Override public Written export(Path modelDir, Path out, String type, Exporter.Calibration cal) {
        Type t = Type.parse(type);
        Result r = export(modelDir, out, t, cal == null ? null : new Calibration(cal.text(), cal.samples(), cal.seqLen()));
        List<String> notes = new ArrayList<>();
        if (r.fallbacks() > 0) notes.add(r.fallbacks() + " tensors in llama-quantize's fallback type: rows not a multiple of the block size");
        if (r.copied() > 0) notes.add(r.copied() + " tensors copied from the folder's codes on llama.cpp's grid, not re-quantized");
        return new Written(r.file(), t.name(), r.bytes(), r.tensors(), String.join("; ", notes));
    }

    static final ObjectMapper JSON = Json.MAPPER;

    /** Tensor storage types a whole export can use. */
    public enum Type {
        F32(GgmlType.F32, 0), F16(GgmlType.F16, 1), Q8_0(GgmlType.Q8_0, 7), Q5_0(GgmlType.Q5_0, 8), Q5_1(GgmlType.Q5_1, 9),
        Q4_0(GgmlType.Q4_0, 2), Q4_1(GgmlType.Q4_1, 3), Q6_K(GgmlType.Q6_K, 18), Q5_K(GgmlType.Q5_K, 16),
        Q4_K(GgmlType.Q4_K, 14), Q3_K(GgmlType.Q3_K, 11), Q2_K(GgmlType.Q2_K, 10);

        public final GgmlType ggml;
        /**
         * llama.cpp's {@code general.file_type} (enum llama_ftype). A single-type k-quant file is
         * labelled with the preset of that base type without the mixture bumps: Q3_K_S (11),
         * Q4_K_S (14), Q5_K_S (16); llama.cpp reads the label for display only.
         */
        public final int fileType;

        Type(GgmlType ggml, int fileType) { this.ggml = ggml; this.fileType = fileType; }

        public static Type parse(String s) {
            try { return valueOf(s.toUpperCase(Locale.ROOT).replace('-', '_')); } catch (IllegalArgumentException e) {
                throw new SquishException("unknown GGUF type '" + s + "' (" + NAMES + ")");
            }
        }

        /** The accepted names, for messages and help. */
        public static final String NAMES = "F32, F16, Q8_0, Q5_0, Q5_1, Q4_0, Q4_1, Q6_K, Q5_K, Q4_K, Q3_K, Q2_K";
    }

    /** What was written; {@code fallbacks} counts 2-D tensors whose rows the chosen type's blocks do not divide. */
    public record Result(Path file, long bytes, int tensors, int fallbacks, int copied) {}

    /**
     * The type of a 2-D tensor named {@code name} with rows of {@code cols} values in a file of
     * {@code type}, following llama-quantize's {@code llama_tensor_get_type} (see the class comment).
     * {@code head} is true for the output head ({@code output.weight}, or {@code token_embd.weight}
     * when there is no output.weight). Throws a {@link SquishException} naming the tensor when no
     * type llama.cpp would use fits the rows.
     */
    public static GgmlType tensorType(Type type, String name, boolean head, long cols) {
        GgmlType t = type.ggml;
        if (!t.isBlockQuantized()) return t;
        if (head) {
            if (cols % t.blockSize != 0) t = GgmlType.Q8_0;
            else if (t != GgmlType.Q8_0) t = GgmlType.Q6_K;
        }
        GgmlType fallback = GgufQuant.forRows(t, cols);
        if (fallback == null)
            throw new SquishException("tensor " + name + " has rows of " + cols + " values, which " + t + " (blocks of " + t.blockSize
                    + ") cannot hold; llama-quantize refuses it too (use --type F16 or F32)");
        return fallback;
    }

    /**
     * Calibration text for GPTQ on llama.cpp's grid ({@link GgufGptq}): {@code samples} windows of
     * {@code seqLen} tokens, taken in order from the start of the text.
     */
    public record Calibration(Path text, int samples, int seqLen) {}

    /** Exports {@code modelDir} to {@code out} with 2-D weights stored as {@code type}. */
    public static Result export(Path modelDir, Path out, Type type) { return export(modelDir, out, type, null); }

    /**
     * As {@link #export(Path, Path, Type)}; with a calibration, every decoder linear and the output
     * head are quantized by GPTQ on the ggml grid of their type, from Hessians of the
     * full-precision model's inputs to each layer on the calibration text (not sequential: every
     * layer sees the original model's activations). Token embeddings, and tensors in a type
     * whose grid is not affine (the IQ4_NL fallback), keep ggml's round-to-nearest.
     */
    public static Result export(Path modelDir, Path out, Type type, Calibration cal) {
        ModelConfig cfg = ModelConfig.load(modelDir);
        if (cfg.family() == ModelConfig.Family.GPT2 && cal != null)
            throw new SquishException("--calibration: GPTQ on llama.cpp's grid supports the Llama family (llama, mistral, qwen2), not gpt2");
        boolean qwen2 = cfg.modelType().equals("qwen2");
        Vocab vocab = Vocab.load(modelDir, cfg);
        try (SafeTensors st = SafeTensors.open(modelDir)) {
            if (cfg.family() == ModelConfig.Family.GPT2) return exportGpt2(modelDir, out, type, cfg, vocab, st);
            if (st.metadata().containsKey("squish.reshaped"))
                throw new SquishException(modelDir + ": a sliced model (SliceGPT) has shortcut rotations and narrower blocks that GGUF's llama architecture cannot express; export the model before slicing");
            // Blocks of different shapes (FLAP's adaptive structure): llama.cpp's "deci" architecture
            // (Llama with per-layer head counts and MLP widths, as convert_hf_to_gguf.py writes for
            // DeciLM / Nemotron-51B) takes per-layer arrays; same tensors and rotary layout as llama.
            List<dev.squish.model.Architecture.LayerShape> shapes = dev.squish.model.Model.layerShapes(st, cfg);
            if (qwen2 && shapes != null)
                throw new SquishException(modelDir + ": blocks of different shapes are written as llama.cpp's deci architecture, which has no q/k/v biases; qwen2 needs them");
            // llama.cpp's qwen2 (this version) sizes Q and the output projection by n_embd
            if (qwen2 && cfg.heads() * cfg.headDim() != cfg.hidden())
                throw new SquishException(modelDir + ": llama.cpp's qwen2 needs num_attention_heads * head_dim = hidden_size, got " + cfg.heads() + " * " + cfg.headDim() + " != " + cfg.hidden());
            String arch = qwen2 ? "qwen2" : shapes == null ? "llama" : "deci";
            GgufWriter w = new GgufWriter(out);
            w.put("general.architecture", GgufValue.string(arch));
            w.put("general.name", GgufValue.string(modelDir.toAbsolutePath().normalize().getFileName().toString()));
            w.put(arch + ".vocab_size", GgufValue.u32(cfg.vocab()));
            w.put(arch + ".context_length", GgufValue.u32(cfg.maxPositions()));
            w.put(arch + ".embedding_length", GgufValue.u32(cfg.hidden()));
            w.put(arch + ".block_count", GgufValue.u32(cfg.layers()));
            if (shapes == null) {
                w.put(arch + ".feed_forward_length", GgufValue.u32(cfg.intermediate()));
                w.put(arch + ".attention.head_count", GgufValue.u32(cfg.heads()));
                w.put(arch + ".attention.head_count_kv", GgufValue.u32(cfg.kvHeads()));
            } else {
                w.put(arch + ".feed_forward_length", GgufValue.i32s(shapes.stream().mapToInt(x -> x.intermediate()).toArray()));
                w.put(arch + ".attention.head_count", GgufValue.i32s(shapes.stream().mapToInt(x -> x.heads()).toArray()));
                w.put(arch + ".attention.head_count_kv", GgufValue.i32s(shapes.stream().mapToInt(x -> x.kvHeads()).toArray()));
            }
            w.put(arch + ".attention.key_length", GgufValue.u32(cfg.headDim()));
            w.put(arch + ".attention.value_length", GgufValue.u32(cfg.headDim()));
            w.put(arch + ".rope.freq_base", GgufValue.f32((float) cfg.ropeTheta()));
            w.put(arch + ".rope.dimension_count", GgufValue.u32(cfg.headDim()));
            w.put(arch + ".attention.layer_norm_rms_epsilon", GgufValue.f32(cfg.normEps()));
            w.put("general.file_type", GgufValue.u32(type.fileType));
            w.put("general.quantization_version", GgufValue.u32(2)); // GGML_QNT_VERSION
            vocab.writeTo(w);

            if (cal != null && !type.ggml.isBlockQuantized())
                throw new SquishException("--calibration applies to quantized GGUF types, not " + type);
            Map<String, double[]> hessians = cal == null ? Map.of() : hessians(modelDir, cal);
            int[] fallbacks = {0, 0};   // tensors in a fallback type, tensors copied from stored ggml codes
            int h = cfg.hidden();
            boolean tied = cfg.tieEmbeddings() || !hasWeight(st, "lm_head");
            add2d(w, st, "token_embd.weight", "model.embed_tokens", cfg.vocab(), h, type, tied, fallbacks, null, hessians);
            for (int l = 0; l < cfg.layers(); l++) {
                String p = "model.layers." + l + ".", b = "blk." + l + ".";
                add1d(w, st, b + "attn_norm.weight", p + "input_layernorm.weight", h);
                int hd = cfg.headDim();
                int heads = shapes == null ? cfg.heads() : shapes.get(l).heads(), kv = shapes == null ? cfg.kvHeads() : shapes.get(l).kvHeads();
                int ff = shapes == null ? cfg.intermediate() : shapes.get(l).intermediate();
                add2d(w, st, b + "attn_q.weight", p + "self_attn.q_proj", heads * hd, h, type, false, fallbacks, qwen2 ? null : v -> permuteRows(v, heads, hd, h), hessians, qwen2 ? null : rowPermutation(heads, hd));
                add2d(w, st, b + "attn_k.weight", p + "self_attn.k_proj", kv * hd, h, type, false, fallbacks, qwen2 ? null : v -> permuteRows(v, kv, hd, h), hessians, qwen2 ? null : rowPermutation(kv, hd));
                add2d(w, st, b + "attn_v.weight", p + "self_attn.v_proj", kv * hd, h, type, false, fallbacks, null, hessians);
                add2d(w, st, b + "attn_output.weight", p + "self_attn.o_proj", h, heads * hd, type, false, fallbacks, null, hessians);
                add1d(w, st, b + "ffn_norm.weight", p + "post_attention_layernorm.weight", h);
                add2d(w, st, b + "ffn_gate.weight", p + "mlp.gate_proj", ff, h, type, false, fallbacks, null, hessians);
                add2d(w, st, b + "ffn_up.weight", p + "mlp.up_proj", ff, h, type, false, fallbacks, null, hessians);
                add2d(w, st, b + "ffn_down.weight", p + "mlp.down_proj", h, ff, type, false, fallbacks, null, hessians);
                // Biases (qwen2-style q/k/v, or the o_proj / down_proj biases that FLAP's compensation
                // adds), F32 like every 1-D tensor. llama.cpp's loader declares q/k/v biases as
                // n_embd / n_embd_gqa wide, so an all-zero one (written by the dense checkpoint to
                // satisfy transformers' attention_bias) is left out rather than risk a shape it refuses.
                if (qwen2) {
                    // llama.cpp's qwen2 requires the q/k/v biases (zeros where the checkpoint has none)
                    // and has no slot for o_proj / MLP biases; rotary pairs as Hugging Face (NEOX), no permutation
                    addBias(w, st, b + "attn_q.bias", p + "self_attn.q_proj.bias", heads * hd, null, true);
                    addBias(w, st, b + "attn_k.bias", p + "self_attn.k_proj.bias", kv * hd, null, true);
                    addBias(w, st, b + "attn_v.bias", p + "self_attn.v_proj.bias", kv * hd, null, true);
                    for (String x : List.of("self_attn.o_proj.bias", "mlp.gate_proj.bias", "mlp.up_proj.bias", "mlp.down_proj.bias"))
                        if (nonZero(st, p + x))
                            throw new SquishException(st.get(p + x).file() + ": tensor " + p + x + " is not zero, and llama.cpp's qwen2 has no such bias");
                    continue;
                }
                addBias(w, st, b + "attn_q.bias", p + "self_attn.q_proj.bias", heads * hd, v -> permuteRows(v, heads, hd, 1));
                addBias(w, st, b + "attn_k.bias", p + "self_attn.k_proj.bias", kv * hd, v -> permuteRows(v, kv, hd, 1));
                addBias(w, st, b + "attn_v.bias", p + "self_attn.v_proj.bias", kv * hd, null);
                addBias(w, st, b + "attn_output.bias", p + "self_attn.o_proj.bias", h, null);
                addBias(w, st, b + "ffn_gate.bias", p + "mlp.gate_proj.bias", ff, null);
                addBias(w, st, b + "ffn_up.bias", p + "mlp.up_proj.bias", ff, null);
                addBias(w, st, b + "ffn_down.bias", p + "mlp.down_proj.bias", h, null);
            }
            add1d(w, st, "output_norm.weight", "model.norm.weight", h);
            if (!tied) add2d(w, st, "output.weight", "lm_head", cfg.vocab(), h, type, true, fallbacks, null, hessians);
            w.finish();
            long bytes;
            try { bytes = Files.size(out); } catch (IOException e) { bytes = -1; }
            return new Result(out, bytes, w.tensorCount(), fallbacks[0], fallbacks[1]);
        }
    }

    private static boolean hasWeight(SafeTensors st, String prefix) {
        return st.has(prefix + ".weight") || st.metadata().containsKey(WeightFormats.META_PREFIX + prefix);
    }

    private static void add1d(GgufWriter w, SafeTensors st, String name, String hf, int n) {
        TensorInfo t = st.get(hf);
        if (t.rank() != 1 || t.dim(0) != n)
            throw new SquishException(t.file() + ": tensor " + hf + " has shape " + java.util.Arrays.toString(t.shape()) + ", expected [" + n + "]");
        w.addTensor(name, new long[]{n}, GgmlType.F32, t::toFloatArray);
    }

    /**
     * GPT-2 as llama.cpp's {@code gpt2} architecture (convert_hf_to_gguf.py's GPT2Model): Conv1D
     * weights transposed to [out, in] (Squish's own folders already store them so), the fused
     * {@code c_attn} as {@code attn_qkv}, LayerNorm weights and every bias F32, and
     * {@code output.weight} written as a copy of the token embedding when the head is tied (the
     * loader requires it). {@code position_embd.weight} stays F32, as llama-quantize leaves it.
     */
    private static Result exportGpt2(Path modelDir, Path out, Type type, ModelConfig cfg, Vocab vocab, SafeTensors st) {
        String act = cfg.activation();
        if (!act.equals("gelu_new") && !act.equals("gelu_pytorch_tanh"))
            throw new SquishException(modelDir + ": activation_function '" + act + "': llama.cpp's gpt2 computes the tanh approximation of GELU (gelu_new), not the exact one");
        if (st.metadata().containsKey("squish.reshaped") || st.metadata().containsKey(dev.squish.model.Model.LAYER_SHAPES))
            throw new SquishException(modelDir + ": blocks of changed or differing shapes have no llama.cpp gpt2 layout"
                    + " (its gpt2 takes one MLP width for all layers: FLAP's --structure uniform gives one)");
        String root = st.has("transformer.wte.weight") || st.metadata().containsKey(WeightFormats.META_PREFIX + "transformer.wte") ? "transformer." : "";
        boolean transposed = !st.metadata().containsKey("squish.version");   // plain HF Conv1D stores [in, out]
        int h = cfg.hidden(), ff = cfg.intermediate(), npos = cfg.maxPositions();
        GgufWriter w = new GgufWriter(out);
        w.put("general.architecture", GgufValue.string("gpt2"));
        w.put("general.name", GgufValue.string(modelDir.toAbsolutePath().normalize().getFileName().toString()));
        w.put("gpt2.vocab_size", GgufValue.u32(cfg.vocab()));
        w.put("gpt2.context_length", GgufValue.u32(npos));
        w.put("gpt2.embedding_length", GgufValue.u32(h));
        w.put("gpt2.feed_forward_length", GgufValue.u32(ff));
        w.put("gpt2.block_count", GgufValue.u32(cfg.layers()));
        w.put("gpt2.attention.head_count", GgufValue.u32(cfg.heads()));
        w.put("gpt2.attention.layer_norm_epsilon", GgufValue.f32(cfg.normEps()));
        w.put("general.file_type", GgufValue.u32(type.fileType));
        w.put("general.quantization_version", GgufValue.u32(2));
        vocab.writeTo(w);
        int[] fallbacks = {0, 0};
        Map<String, double[]> none = Map.of();
        boolean tied = !hasWeight(st, "lm_head");
        add2d(w, st, "token_embd.weight", root + "wte", cfg.vocab(), h, type, false, fallbacks, null, none, null, false);
        TensorInfo wpe = st.get(root + "wpe.weight");
        if (wpe.rank() != 2 || wpe.dim(0) != npos || wpe.dim(1) != h)
            throw new SquishException(wpe.file() + ": tensor " + wpe.name() + " has shape " + java.util.Arrays.toString(wpe.shape()) + ", expected [" + npos + ", " + h + "]");
        w.addTensor("position_embd.weight", new long[]{npos, h}, GgmlType.F32, wpe::toFloatArray);
        for (int l = 0; l < cfg.layers(); l++) {
            String p = root + "h." + l + ".", b = "blk." + l + ".";
            add1d(w, st, b + "attn_norm.weight", p + "ln_1.weight", h);
            add1d(w, st, b + "attn_norm.bias", p + "ln_1.bias", h);
            add2d(w, st, b + "attn_qkv.weight", p + "attn.c_attn", 3 * h, h, type, false, fallbacks, null, none, null, transposed);
            add1d(w, st, b + "attn_qkv.bias", p + "attn.c_attn.bias", 3 * h);
            add2d(w, st, b + "attn_output.weight", p + "attn.c_proj", h, h, type, false, fallbacks, null, none, null, transposed);
            add1d(w, st, b + "attn_output.bias", p + "attn.c_proj.bias", h);
            add1d(w, st, b + "ffn_norm.weight", p + "ln_2.weight", h);
            add1d(w, st, b + "ffn_norm.bias", p + "ln_2.bias", h);
            add2d(w, st, b + "ffn_up.weight", p + "mlp.c_fc", ff, h, type, false, fallbacks, null, none, null, transposed);
            add1d(w, st, b + "ffn_up.bias", p + "mlp.c_fc.bias", ff);
            add2d(w, st, b + "ffn_down.weight", p + "mlp.c_proj", h, ff, type, false, fallbacks, null, none, null, transposed);
            add1d(w, st, b + "ffn_down.bias", p + "mlp.c_proj.bias", h);
        }
        add1d(w, st, "output_norm.weight", root + "ln_f.weight", h);
        add1d(w, st, "output_norm.bias", root + "ln_f.bias", h);
        add2d(w, st, "output.weight", tied ? root + "wte" : "lm_head", cfg.vocab(), h, type, true, fallbacks, null, none, null, false);
        w.finish();
        long bytes;
        try { bytes = Files.size(out); } catch (IOException e) { bytes = -1; }
        return new Result(out, bytes, w.tensorCount(), fallbacks[0], fallbacks[1]);
    }

    private static boolean nonZero(SafeTensors st, String hf) {
        TensorInfo t = st.getOrNull(hf);
        if (t == null) return false;
        for (float x : t.toFloatArray()) if (x != 0f) return true;
        return false;
    }

    private static void addBias(GgufWriter w, SafeTensors st, String name, String hf, int n, java.util.function.UnaryOperator<float[]> transform) {
        addBias(w, st, name, hf, n, transform, false);
    }

    /** {@code required}: written even when all zero or absent (zeros), for loaders that need the tensor. */
    private static void addBias(GgufWriter w, SafeTensors st, String name, String hf, int n, java.util.function.UnaryOperator<float[]> transform, boolean required) {
        TensorInfo t = st.getOrNull(hf);
        if (t == null) {
            if (required) w.addTensor(name, new long[]{n}, GgmlType.F32, () -> new float[n]);
            return;
        }
        if (t.rank() != 1 || t.dim(0) != n)
            throw new SquishException(t.file() + ": tensor " + hf + " has shape " + java.util.Arrays.toString(t.shape()) + ", expected [" + n + "]");
        float[] v = t.toFloatArray();
        boolean zero = true;
        for (float x : v) zero &= x == 0f;
        if (zero && !required) return;
        float[] out = transform == null ? v : transform.apply(v);
        w.addTensor(name, new long[]{n}, GgmlType.F32, () -> out);
    }

    private static void add2d(GgufWriter w, SafeTensors st, String name, String prefix, int rows, int cols, Type type, boolean head,
                              int[] fallbacks, java.util.function.UnaryOperator<float[]> transform, Map<String, double[]> hessians) {
        add2d(w, st, name, prefix, rows, cols, type, head, fallbacks, transform, hessians, null, false);
    }

    private static void add2d(GgufWriter w, SafeTensors st, String name, String prefix, int rows, int cols, Type type, boolean head,
                              int[] fallbacks, java.util.function.UnaryOperator<float[]> transform, Map<String, double[]> hessians, int[] perm) {
        add2d(w, st, name, prefix, rows, cols, type, head, fallbacks, transform, hessians, perm, false);
    }

    /** {@code perm}: the row order the transform applies (dst row i = src row perm[i]), null when none. */
    private static void add2d(GgufWriter w, SafeTensors st, String name, String prefix, int rows, int cols, Type type, boolean head,
                              int[] fallbacks, java.util.function.UnaryOperator<float[]> transform, Map<String, double[]> hessians, int[] perm,
                              boolean transposed) {
        if (!hasWeight(st, prefix)) throw new SquishException(st.files().get(0).getParent() + ": tensor " + prefix + ".weight is missing");
        GgmlType t = tensorType(type, name, head, cols);
        if (cols % type.ggml.blockSize != 0) fallbacks[0]++;
        String fmt = st.metadata().get(WeightFormats.META_PREFIX + prefix);
        if (fmt != null && GgmlLinear.parseFormat(fmt) == t) {
            // codes already on llama.cpp's grid (compress --gguf-type): the blocks are copied, rows
            // reordered as whole byte ranges (a block never spans two rows), nothing re-quantized
            fallbacks[1]++;
            w.addEncodedTensor(name, new long[]{rows, cols}, t, () -> {
                Linear lin = WeightFormats.read(st, prefix, false);
                if (lin.rows() != rows || lin.cols() != cols)
                    throw new SquishException(st.files().get(0).getParent() + ": weight " + prefix + " is " + lin.rows() + "x" + lin.cols() + ", expected " + rows + "x" + cols);
                byte[] b = ((GgmlLinear) lin).blocks();
                if (perm == null) return b;
                int rb = ((GgmlLinear) lin).rowBytes();
                byte[] o = new byte[b.length];
                for (int i = 0; i < rows; i++) System.arraycopy(b, perm[i] * rb, o, i * rb, rb);
                return o;
            });
            return;
        }
        Supplier<float[]> values = () -> {
            Linear lin = WeightFormats.read(st, prefix, transposed);
            if (lin.rows() != rows || lin.cols() != cols)
                throw new SquishException(st.files().get(0).getParent() + ": weight " + prefix + " is " + lin.rows() + "x" + lin.cols() + ", expected " + rows + "x" + cols);
            float[] v = lin.toDense();
            return transform == null ? v : transform.apply(v);
        };
        double[] hess = hessians.get(prefix);
        if (hess != null && GgufCodes.supports(t)) {
            GgmlType tt = t;
            w.addEncodedTensor(name, new long[]{rows, cols}, t, () -> GgufGptq.quantize(tt, values.get(), rows, cols, hess, name));
        } else {
            w.addTensor(name, new long[]{rows, cols}, t, values);
        }
    }

    /**
     * Hessians {@code 2/N sum x x^T} of the inputs to every decoder linear ({@code model.layers.L.*},
     * shared by q/k/v and by gate/up, which read the same input) and of the output head
     * ({@code lm_head}), from the full-precision model on the calibration windows.
     */
    static Map<String, double[]> hessians(Path modelDir, Calibration cal) {
        String text;
        try { text = Files.readString(cal.text()); } catch (IOException e) {
            throw new SquishException(cal.text() + ": cannot read the calibration text (" + e.getMessage() + ")", e);
        }
        Map<String, dev.squish.calibration.HessianAccumulator> acc = new java.util.LinkedHashMap<>();
        try (dev.squish.model.Model m = dev.squish.model.Model.load(modelDir)) {
            int[] ids = dev.squish.formats.Tokenizer.load(modelDir).encode(text);
            int L = Math.min(cal.seqLen(), m.maxPositions());
            for (int[] s : dev.squish.calibration.Sampler.sample(ids, cal.samples(), L, false, 0)) {
                int n = s.length;
                dev.squish.model.KVCache cache = m.newCache(n);
                float[] x = m.embed(s, 0);
                for (dev.squish.model.Block b : m.blocks) {
                    String p = "model.layers." + b.index + ".";
                    dev.squish.model.LinearObserver obs = (lin, in, rowsIn, colsIn) -> {
                        String key = switch (lin) {
                            case "self_attn.q_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.down_proj" -> p + lin;
                            default -> null; // k/v and up read the same input as q and gate
                        };
                        if (key != null) acc.computeIfAbsent(key, k -> new dev.squish.calibration.HessianAccumulator(colsIn)).add(in, rowsIn);
                    };
                    x = m.arch.forwardBlock(b, x, n, 0, cache, obs);
                }
                m.arch.finalNorm(m, x, n);
                int width = x.length / n;
                acc.computeIfAbsent("lm_head", k -> new dev.squish.calibration.HessianAccumulator(width)).add(x, n);
            }
        }
        Map<String, double[]> out = new java.util.HashMap<>();
        for (var e : acc.entrySet()) {
            double[] hm = e.getValue().hessian();
            String k = e.getKey();
            out.put(k, hm);
            if (k.endsWith("self_attn.q_proj")) {
                String base = k.substring(0, k.length() - "q_proj".length());
                out.put(base + "k_proj", hm);
                out.put(base + "v_proj", hm);
            } else if (k.endsWith("mlp.gate_proj")) {
                out.put(k.substring(0, k.length() - "gate_proj".length()) + "up_proj", hm);
            }
        }
        return out;
    }

    /**
     * convert_hf_to_gguf.py's LlamaModel.permute: within each head, rows ordered as [2, hd/2]
     * (Hugging Face's rotate-half pairs i and i + hd/2) become [hd/2, 2] (llama.cpp's rotary pairs
     * adjacent rows 2i and 2i + 1). {@code heads} is the head count of this projection (the
     * key/value head count for k_proj).
     */
    /** The row order of {@link #permuteRows}: destination row i holds source row {@code perm[i]}. */
    static int[] rowPermutation(int heads, int headDim) {
        int[] perm = new int[heads * headDim];
        int half = headDim / 2;
        for (int hh = 0; hh < heads; hh++)
            for (int i = 0; i < half; i++)
                for (int j = 0; j < 2; j++) perm[hh * headDim + 2 * i + j] = hh * headDim + j * half + i;
        return perm;
    }

    public static float[] permuteRows(float[] w, int heads, int headDim, int cols) {
        if ((long) heads * headDim * cols != w.length) throw new IllegalArgumentException("shape mismatch");
        float[] out = new float[w.length];
        int half = headDim / 2;
        for (int hh = 0; hh < heads; hh++)
            for (int i = 0; i < half; i++)
                for (int j = 0; j < 2; j++) {
                    int dst = hh * headDim + 2 * i + j, src = hh * headDim + j * half + i;
                    System.arraycopy(w, src * cols, out, dst * cols, cols);
                }
        return out;
    }

    /** The byte-level BPE vocabulary of tokenizer.json, in GGUF's tokenizer.ggml.* form. */
    record Vocab(List<String> tokens, int[] types, List<String> merges, String pre, int bos, int eos) {
        static final int NORMAL = 1, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5;
        /** The Llama 3 split regex as it appears in tokenizer.json (llama.cpp pre-tokenizer "llama-bpe"). */
        static final String LLAMA3_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

        static Vocab load(Path dir, ModelConfig cfg) {
            Path f = dir.resolve("tokenizer.json");
            if (!Files.isRegularFile(f)) throw new SquishException(f + ": missing tokenizer.json (needed for the GGUF vocabulary)");
            JsonNode root;
            try { root = JSON.readTree(Files.readAllBytes(f)); } catch (IOException e) {
                throw new SquishException(f + ": cannot read (" + e.getMessage() + ")", e);
            }
            JsonNode model = root == null ? null : root.get("model");
            if (model == null || !"BPE".equals(model.path("type").asText()) || !model.path("vocab").isObject())
                throw new SquishException(f + ": GGUF export supports byte-level BPE tokenizers only (model.type BPE with a vocab)");
            String pre = preTokenizer(f, root.get("pre_tokenizer"));
            int n = cfg.vocab();
            String[] toks = new String[n];
            int[] types = new int[n];
            for (var it = model.get("vocab").fields(); it.hasNext(); ) {
                var e = it.next();
                int id = e.getValue().asInt(-1);
                if (id < 0 || id >= n) throw new SquishException(f + ": token " + e.getKey() + " has id " + e.getValue() + " outside vocab_size " + n);
                toks[id] = e.getKey();
                types[id] = NORMAL;
            }
            for (JsonNode a : root.path("added_tokens")) {
                int id = a.path("id").asInt(-1);
                if (id < 0 || id >= n) throw new SquishException(f + ": added token " + a.path("content").asText() + " has id " + id + " outside vocab_size " + n);
                toks[id] = a.path("content").asText();
                types[id] = a.path("special").asBoolean(false) ? CONTROL : USER_DEFINED;
            }
            List<String> tokens = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                if (toks[i] == null) { toks[i] = "[PAD" + i + "]"; types[i] = UNUSED; } // as convert_hf_to_gguf.py pads
                tokens.add(toks[i]);
            }
            List<String> merges = new ArrayList<>();
            for (JsonNode m : model.path("merges")) {
                if (m.isTextual()) merges.add(m.asText());
                else if (m.isArray() && m.size() == 2) merges.add(m.get(0).asText() + " " + m.get(1).asText());
                else throw new SquishException(f + ": malformed merge " + m);
            }
            int bos = specialId(dir, cfg, "bos", tokens), eos = specialId(dir, cfg, "eos", tokens);
            return new Vocab(tokens, types, merges, pre, bos, eos);
        }

        /** Maps the tokenizer.json pre-tokenizer to llama.cpp's tokenizer.ggml.pre name (llama-vocab.cpp). */
        static String preTokenizer(Path f, JsonNode pt) {
            if (pt != null && "ByteLevel".equals(pt.path("type").asText()) && pt.path("use_regex").asBoolean(true))
                return "gpt-2"; // the GPT-2 split regex ('s|'t|... | ?\p{L}+| ?\p{N}+|...)
            if (pt != null && "Sequence".equals(pt.path("type").asText())) {
                JsonNode list = pt.path("pretokenizers");
                if (list.size() == 2 && "Split".equals(list.get(0).path("type").asText())
                        && LLAMA3_REGEX.equals(list.get(0).path("pattern").path("Regex").asText())
                        && "ByteLevel".equals(list.get(1).path("type").asText()) && !list.get(1).path("use_regex").asBoolean(true))
                    return "llama-bpe";
            }
            throw new SquishException(f + ": unsupported pre_tokenizer for GGUF export (supported: GPT-2 ByteLevel, Llama 3 split)");
        }

        static int specialId(Path dir, ModelConfig cfg, String which, List<String> tokens) {
            JsonNode id = cfg.json().get(which + "_token_id");
            if (id != null && id.isIntegralNumber()) return id.asInt();
            Path tc = dir.resolve("tokenizer_config.json");
            if (Files.isRegularFile(tc)) {
                try {
                    JsonNode t = JSON.readTree(Files.readAllBytes(tc)).get(which + "_token");
                    String s = t == null ? null : t.isTextual() ? t.asText() : t.path("content").asText(null);
                    if (s != null && tokens.contains(s)) return tokens.indexOf(s);
                } catch (IOException e) {
                    throw new SquishException(tc + ": cannot read (" + e.getMessage() + ")", e);
                }
            }
            return -1;
        }

        void writeTo(GgufWriter w) {
            w.put("tokenizer.ggml.model", GgufValue.string("gpt2"));
            w.put("tokenizer.ggml.pre", GgufValue.string(pre));
            w.put("tokenizer.ggml.tokens", GgufValue.strings(tokens));
            w.put("tokenizer.ggml.token_type", GgufValue.i32s(types));
            w.put("tokenizer.ggml.merges", GgufValue.strings(merges));
            if (bos >= 0) w.put("tokenizer.ggml.bos_token_id", GgufValue.u32(bos));
            if (eos >= 0) w.put("tokenizer.ggml.eos_token_id", GgufValue.u32(eos));
            w.put("tokenizer.ggml.add_bos_token", GgufValue.bool(false));
            w.put("tokenizer.ggml.add_eos_token", GgufValue.bool(false));
        }
    }
}
