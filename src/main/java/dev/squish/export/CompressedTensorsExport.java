package dev.squish.export;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.squish.SquishException;
import dev.squish.formats.CompressedTensors;
import dev.squish.formats.DType;
import dev.squish.formats.Json;
import dev.squish.formats.ModelConfig;
import dev.squish.formats.SafeTensorsWriter;
import dev.squish.model.Block;
import dev.squish.model.Model;
import dev.squish.weights.Bf16DenseLinear;
import dev.squish.weights.DenseLinear;
import dev.squish.weights.Linear;
import dev.squish.weights.NMSparseLinear;
import dev.squish.weights.QuantizedLinear;
import dev.squish.weights.SparseLinear;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Writes a model folder in the compressed-tensors layout ({@link CompressedTensors}: what
 * llm-compressor writes and vLLM / transformers load): {@code model.safetensors}, config.json with
 * {@code quantization_config}, and the tokenizer files. Each linear keeps its Squish format where
 * compressed-tensors has one:
 * <ul>
 *   <li>{@link QuantizedLinear} (int4 / int8, group or per-channel) to {@code pack-quantized}: the
 *       codes are the reference's signed codes plus {@code 2^(b-1)}, which is exactly what
 *       {@code pack_to_int32} packs; symmetric when every zero point of every quantized linear is
 *       {@code 2^(b-1)} (Squish's symmetric grid), else asymmetric with packed zero points.
 *       Scales are written as float32 (the reference writes the model's dtype; vLLM casts them
 *       to its compute dtype on load).</li>
 *   <li>{@link SparseLinear} and N:M other than 2:4 to {@code sparse-bitmask}; 2:4
 *       {@link NMSparseLinear} to {@code sparse-24-bitmask} when every sparse linear is 2:4 (the
 *       config holds one sparsity format).</li>
 *   <li>dense linears as {@code M.weight}; formats compressed-tensors has no layout for (low-rank,
 *       sparse + quantized, outliers, LoRA) are expanded to dense float32 and counted in the note.</li>
 * </ul>
 * Llama family only (GPT-2's Conv1D layers are no {@code Linear} that a scheme could target).
 */
public final class CompressedTensorsExport implements Exporter {
    public CompressedTensorsExport() {}

    @Override public String format() { return "compressed-tensors"; }

    /** The layout follows each linear's Squish format: there is no type to choose. */
    @Override public List<String> types() { return List.of("auto"); }

    private record QKey(int bits, int group, boolean sym) {}

    @Override public Written export(Path modelDir, Path out, String type, Calibration cal) {
        if (cal != null) throw new SquishException("--calibration applies to --gguf, not --compressed-tensors");
        if (type != null && !type.equalsIgnoreCase("auto")) throw new SquishException("--type applies to --gguf, not --compressed-tensors (each linear keeps its own format)");
        return export(modelDir, out, false);
    }

    /** Writes {@code modelDir} to the folder {@code out} (atomically; an existing one only with {@code force}). */
    public static Written export(Path modelDir, Path out, boolean force) {
        try (Model m = Model.load(modelDir)) {
            if (m.config.family() != ModelConfig.Family.LLAMA)
                throw new SquishException(modelDir + ": compressed-tensors export supports the Llama family (llama, mistral, qwen2); this is " + m.config.modelType());
            if (ModelWriter.reshaped(m)) throw new SquishException(modelDir + ": a sliced model (SliceGPT) has no plain checkpoint layout");
            ModelWriter.Shapes shapes = ModelWriter.shapes(m);
            if (!shapes.plain()) throw new SquishException(modelDir + ": no plain checkpoint can hold this model: " + shapes.why());

            Map<String, Linear> linears = new LinkedHashMap<>();
            for (Block b : m.blocks)
                for (var e : b.linears.entrySet()) linears.put(m.arch.blockPrefix(b.index) + e.getKey(), e.getValue());
            if (!m.tiedHead) linears.put(m.arch.headName().replace(".weight", ""), m.head);

            // Classify every linear; decide the symmetric flag and the sparsity format model-wide.
            boolean allSym = true, all24 = true;
            int sparseCount = 0;
            for (Linear l : linears.values()) {
                if (l instanceof QuantizedLinear q) allSym &= symmetric(q);
                else if (l instanceof SparseLinear) { all24 = false; sparseCount++; }
                else if (l instanceof NMSparseLinear nm) { all24 &= nm.n() == 2 && nm.m() == 4 && nm.cols() % 4 == 0; sparseCount++; }
            }
            String sparseFormat = sparseCount == 0 ? null : all24 ? CompressedTensors.SPARSE_24 : CompressedTensors.SPARSE_BITMASK;
            Map<QKey, List<String>> quant = new LinkedHashMap<>();
            List<String> sparse = new ArrayList<>(), plain = new ArrayList<>();
            int expanded = 0;
            long zeros = 0, params = 0;
            for (var e : linears.entrySet()) {
                Linear l = e.getValue();
                params += (long) l.rows() * l.cols();
                if (l instanceof QuantizedLinear q && zerosOnGrid(q)) {
                    int g = q.groupSize() >= q.cols() ? 0 : q.groupSize();
                    quant.computeIfAbsent(new QKey(q.bits(), g, allSym), k -> new ArrayList<>()).add(e.getKey());
                } else if (l instanceof SparseLinear || l instanceof NMSparseLinear) {
                    sparse.add(e.getKey());
                    zeros += (long) l.rows() * l.cols() - l.parameters();
                } else {
                    plain.add(e.getKey());
                    if (!(l instanceof DenseLinear) && !(l instanceof Bf16DenseLinear) && !(l instanceof dev.squish.weights.F16DenseLinear)) expanded++;
                }
            }

            ObjectNode cfg = ModelWriter.config(m);
            cfg.remove("quantization_config");
            ObjectNode groups = Json.MAPPER.createObjectNode();
            List<String> quantIgnore = new ArrayList<>(plain);
            quantIgnore.addAll(sparse);
            int gi = 0;
            for (var e : quant.entrySet()) {
                QKey k = e.getKey();
                List<String> targets = quant.size() == 1 ? List.of("Linear") : e.getValue();
                groups.set("group_" + gi++, CompressedTensors.scheme(targets, CompressedTensors.weightArgs(k.bits, k.sym, k.group)));
            }
            ObjectNode sparsity = null;
            if (sparseFormat != null) {
                List<String> sparseIgnore = new ArrayList<>(plain);
                for (var e : quant.values()) sparseIgnore.addAll(e);
                sparsity = CompressedTensors.sparsityConfig(sparseFormat, params == 0 ? 0 : (double) zeros / params, List.of("Linear"), sparseIgnore);
            }
            if (!quant.isEmpty() || sparsity != null)
                cfg.set("quantization_config", CompressedTensors.quantizationConfig(groups, quant.isEmpty() ? List.of() : quantIgnore, sparsity, null));

            Map<String, String> sparseFmt = new LinkedHashMap<>();
            for (String s : sparse) sparseFmt.put(s, sparseFormat);
            final int expandedCount = expanded;
            Path written = ModelWriter.writeFolder(modelDir, out, force, tmp -> {
                for (String f : ModelWriter.COPIED) {
                    Path src = modelDir.resolve(f);
                    if (!f.equals("config.json") && Files.isRegularFile(src)) ModelWriter.copy(src, tmp.resolve(f));
                }
                try {
                    Files.writeString(tmp.resolve("config.json"), Json.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsString(sorted(cfg)) + "\n");
                } catch (IOException ex) {
                    throw new SquishException(tmp.resolve("config.json") + ": cannot write (" + ex.getMessage() + ")");
                }
                try (SafeTensorsWriter w = new SafeTensorsWriter(tmp.resolve("model.safetensors"))) {
                    w.metadata("format", "pt");
                    m.embed.write(m.arch.embedName().replace(".weight", ""), w);
                    for (Block b : m.blocks) {
                        String p = m.arch.blockPrefix(b.index);
                        for (var e : b.linears.entrySet()) writeLinear(w, p + e.getKey(), e.getValue(), sparseFmt.get(p + e.getKey()), quant);
                        for (var e : b.vectors.entrySet()) w.addF32(p + e.getKey(), new long[]{e.getValue().length}, e.getValue());
                    }
                    w.addF32(m.arch.finalNormName(), new long[]{m.finalNorm.length}, m.finalNorm);
                    if (!m.tiedHead) {
                        String h = m.arch.headName().replace(".weight", "");
                        writeLinear(w, h, m.head, sparseFmt.get(h), quant);
                    }
                    w.finish();
                }
            });
            long bytes;
            try { bytes = Files.size(written.resolve("model.safetensors")); } catch (IOException e) { bytes = -1; }
            List<String> notes = new ArrayList<>();
            if (!quant.isEmpty()) notes.add(quant.values().stream().mapToInt(List::size).sum() + " linears pack-quantized");
            if (!sparse.isEmpty()) notes.add(sparse.size() + " linears " + sparseFormat);
            if (expandedCount > 0) notes.add(expandedCount + " linears in formats compressed-tensors has no layout for, written dense");
            String kind = !quant.isEmpty() && sparseFormat != null ? CompressedTensors.PACK_QUANTIZED + "+" + sparseFormat
                    : !quant.isEmpty() ? CompressedTensors.PACK_QUANTIZED : sparseFormat != null ? sparseFormat : "dense";
            return new Written(written, kind, bytes, linears.size(), String.join(", ", notes));
        }
    }

    /** Squish's symmetric grid: every zero point is 2^(bits-1), the reference's signed zero 0. */
    private static boolean symmetric(QuantizedLinear q) {
        int groups = groups(q);
        for (int r = 0; r < q.rows(); r++) for (int g = 0; g < groups; g++) if (q.zero(r, g) != (1 << (q.bits() - 1))) return false;
        return true;
    }

    /** Whether every zero point is an integer code (the reference stores them as integers). */
    private static boolean zerosOnGrid(QuantizedLinear q) {
        int groups = groups(q), maxq = (1 << q.bits()) - 1;
        for (int r = 0; r < q.rows(); r++)
            for (int g = 0; g < groups; g++) {
                float z = q.zero(r, g);
                if (!(z >= 0 && z <= maxq && z == Math.rint(z))) return false;
            }
        return true;
    }

    private static int groups(QuantizedLinear q) { return q.cols() == 0 ? 0 : (q.cols() + q.groupSize() - 1) / q.groupSize(); }

    private static void writeLinear(SafeTensorsWriter w, String module, Linear l, String sparseFormat, Map<QKey, List<String>> quant) {
        boolean quantized = quant.values().stream().anyMatch(x -> x.contains(module));
        if (quantized) writePacked(w, module, (QuantizedLinear) l, quant.keySet().iterator().next().sym());
        else if (sparseFormat != null) writeSparse(w, module, l, sparseFormat);
        else if (l instanceof DenseLinear || l instanceof Bf16DenseLinear || l instanceof dev.squish.weights.F16DenseLinear) l.write(module, w);
        else w.addF32(module + ".weight", new long[]{l.rows(), l.cols()}, l.toDense());
    }

    /** PackedQuantizationCompressor.compress_weight: weight_packed, weight_scale, weight_zero_point (asymmetric), weight_shape. */
    static void writePacked(SafeTensorsWriter w, String module, QuantizedLinear q, boolean sym) {
        int rows = q.rows(), cols = q.cols(), bits = q.bits(), groups = groups(q);
        int[] codes = new int[rows * cols];
        for (int r = 0; r < rows; r++) for (int c = 0; c < cols; c++) codes[r * cols + c] = q.code(r, c);
        int pf = 32 / bits;
        w.addI32(module + ".weight_packed", new long[]{rows, (cols + pf - 1) / pf}, CompressedTensors.packInt32(codes, rows, cols, bits));
        float[] scales = new float[rows * groups];
        int[] zeros = new int[rows * groups];
        for (int r = 0; r < rows; r++)
            for (int g = 0; g < groups; g++) { scales[r * groups + g] = q.scale(r, g); zeros[r * groups + g] = (int) q.zero(r, g); }
        w.addF32(module + ".weight_scale", new long[]{rows, groups}, scales);
        if (!sym)
            w.addI32(module + ".weight_zero_point", new long[]{(rows + pf - 1) / pf, groups}, CompressedTensors.packInt32Rows(zeros, rows, groups, bits));
        addI64(w, module + ".weight_shape", new long[]{2}, new long[]{rows, cols});
    }

    /**
     * BitmaskCompressor / Sparse24BitMaskCompressor. For 2:4, a group of four with fewer than two
     * non-zeros also marks its first zero positions (the reference's {@code topk} of |w| picks some
     * zero there; which one is not specified), so that every group keeps exactly two slots.
     */
    static void writeSparse(SafeTensorsWriter w, String module, Linear l, String format) {
        int rows = l.rows(), cols = l.cols();
        float[] d = l.toDense();
        boolean[] mask = new boolean[d.length];
        if (format.equals(CompressedTensors.SPARSE_24)) {
            float[] vals = new float[rows * cols / 2];
            int p = 0;
            for (int r = 0; r < rows; r++)
                for (int c0 = 0; c0 < cols; c0 += 4) {
                    int kept = 0;
                    for (int c = c0; c < c0 + 4; c++) if (d[r * cols + c] != 0) { mask[r * cols + c] = true; kept++; }
                    for (int c = c0; c < c0 + 4 && kept < 2; c++) if (!mask[r * cols + c]) { mask[r * cols + c] = true; kept++; }
                    for (int c = c0; c < c0 + 4; c++) if (mask[r * cols + c]) vals[p++] = d[r * cols + c];
                }
            addI64(w, module + ".shape", new long[]{2, 1}, new long[]{rows, cols});
            w.addF32(module + ".compressed", new long[]{rows, cols / 2}, vals);
            w.addBytes(module + ".bitmask", DType.U8, new long[]{rows, (cols + 7) / 8}, CompressedTensors.packBits(mask, rows, cols));
        } else {
            long[] offsets = new long[rows];
            int nnz = 0;
            for (int i = 0; i < d.length; i++) if (d[i] != 0) { mask[i] = true; nnz++; }
            float[] vals = new float[nnz];
            int p = 0;
            for (int r = 0; r < rows; r++) {
                offsets[r] = p;
                for (int c = 0; c < cols; c++) if (mask[r * cols + c]) vals[p++] = d[r * cols + c];
            }
            addI64(w, module + ".shape", new long[]{2}, new long[]{rows, cols});
            w.addF32(module + ".compressed", new long[]{nnz}, vals);
            w.addBytes(module + ".bitmask", DType.U8, new long[]{rows, (cols + 7) / 8}, CompressedTensors.packBits(mask, rows, cols));
            addI64(w, module + ".row_offsets", new long[]{rows}, offsets);
        }
    }

    static void addI64(SafeTensorsWriter w, String name, long[] shape, long[] values) {
        byte[] b = new byte[values.length * 8];
        java.nio.ByteBuffer.wrap(b).order(java.nio.ByteOrder.LITTLE_ENDIAN).asLongBuffer().put(values);
        w.addBytes(name, DType.I64, shape, b);
    }

    /** json.dump(..., sort_keys=True): every object's keys in sorted order. */
    static JsonNode sorted(JsonNode n) {
        if (n.isObject()) {
            ObjectNode o = Json.MAPPER.createObjectNode();
            TreeMap<String, JsonNode> t = new TreeMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = n.fields(); it.hasNext(); ) { var e = it.next(); t.put(e.getKey(), sorted(e.getValue())); }
            t.forEach(o::set);
            return o;
        }
        if (n.isArray()) {
            var a = Json.MAPPER.createArrayNode();
            for (JsonNode x : n) a.add(sorted(x));
            return a;
        }
        return n;
    }
}
