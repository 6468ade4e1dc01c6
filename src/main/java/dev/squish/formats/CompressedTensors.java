package dev.squish.formats;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.squish.SquishException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * The compressed-tensors layout (the format llm-compressor writes and vLLM loads), as its reference
 * code vllm-project/compressed-tensors defines it (release 0.14, commit 6d32e346, the last one with
 * the sparse compressors in {@code compressors/sparse_compressors}):
 * <ul>
 *   <li>{@code config.json} holds {@code quantization_config} = {@code {version, quant_method:
 *       "compressed-tensors", sparsity_config, transform_config, config_groups, format, ...}}
 *       ({@code ModelCompressor.update_config}); each config group is a {@code QuantizationScheme}
 *       {@code {targets, weights, input_activations, output_activations, format}} whose
 *       {@code weights} are {@code QuantizationArgs} ({@code num_bits, type, symmetric, group_size,
 *       strategy, ...}).</li>
 *   <li>{@code pack-quantized} ({@code PackedQuantizationCompressor}): {@code M.weight_packed} int32
 *       [rows, ceil(cols / (32 / bits))] ({@link #packInt32}), {@code M.weight_scale} [rows, groups]
 *       in the model's float type, {@code M.weight_zero_point} int32 [ceil(rows / (32 / bits)),
 *       groups] packed along rows (asymmetric group/channel only), {@code M.weight_shape} [2].
 *       Codes are signed ({@code [-2^(b-1), 2^(b-1) - 1]}), {@code w = (q - zp) * scale}.</li>
 *   <li>{@code sparse-bitmask} ({@code BitmaskCompressor}): {@code M.shape} int64 [2],
 *       {@code M.compressed} the non-zeros in row-major order, {@code M.bitmask} uint8
 *       [rows, ceil(cols / 8)] ({@code numpy.packbits(..., bitorder="little")}), {@code M.row_offsets}
 *       int64 [rows].</li>
 *   <li>{@code sparse-24-bitmask} ({@code Sparse24BitMaskCompressor}): {@code M.shape} int64 [2, 1],
 *       {@code M.compressed} [rows, cols / 2] (two kept values of every group of 4), {@code M.bitmask}
 *       as above.</li>
 * </ul>
 *
 * <p>Reading: {@link SafeTensors#open} calls {@link #annotate} for a folder whose config.json says
 * {@code quant_method: compressed-tensors}; it records each compressed module's format in the
 * metadata as {@code squish.format.MODULE = ct:...} ({@link #FORMAT_PREFIX}), which the weights layer
 * turns into Squish's own formats. Anything the reference defines but Squish cannot hold (float or
 * block quantization, activation quantization, activation ordering with a non-trivial
 * {@code g_idx}, bits other than 4 and 8) is an error naming the key or tensor.
 */
public final class CompressedTensors {
    private CompressedTensors() {}

    public static final String QUANT_METHOD = "compressed-tensors";
    /** The reference release whose layout is written ({@code version} in the config). */
    public static final String VERSION = "0.14.0";
    public static final String PACK_QUANTIZED = "pack-quantized", SPARSE_BITMASK = "sparse-bitmask", SPARSE_24 = "sparse-24-bitmask";
    /** Metadata value prefix of a module read from a compressed-tensors folder. */
    public static final String FORMAT_PREFIX = "ct:";

    // ---- packing (compressors/quantized_compressors/pack_quantized.py) ----

    /**
     * {@code pack_to_int32(value, num_bits, packed_dim=1)} for a [rows, cols] tensor of signed codes
     * given here already offset to unsigned ({@code q + 2^(b-1)}, in [0, 2^b - 1]): each row is padded
     * with zeros to a multiple of {@code 32 / bits} and value i of every run lands at bits
     * {@code [bits i, bits (i + 1))} of one int32 (little-endian order; the top code's bit 31 wraps
     * the int32 negative, as torch's int32 sum does).
     */
    public static int[] packInt32(int[] unsigned, int rows, int cols, int bits) {
        int pf = 32 / bits, packed = (cols + pf - 1) / pf, mask = (1 << bits) - 1;
        int[] out = new int[Math.multiplyExact(rows, packed)];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                int v = unsigned[r * cols + c];
                if ((v & ~mask) != 0) throw new IllegalArgumentException("code " + v + " at (" + r + ", " + c + ") does not fit " + bits + " bits");
                out[r * packed + c / pf] |= v << (bits * (c % pf));
            }
        return out;
    }

    /** {@code pack_to_int32(value, num_bits, packed_dim=0)}: packs along rows, giving [ceil(rows / pf), cols]. */
    public static int[] packInt32Rows(int[] unsigned, int rows, int cols, int bits) {
        int[] t = new int[unsigned.length];
        for (int r = 0; r < rows; r++) for (int c = 0; c < cols; c++) t[c * rows + r] = unsigned[r * cols + c];
        int pf = 32 / bits, packedRows = (rows + pf - 1) / pf;
        int[] pt = packInt32(t, cols, rows, bits);    // [cols, packedRows]
        int[] out = new int[packedRows * cols];
        for (int c = 0; c < cols; c++) for (int k = 0; k < packedRows; k++) out[k * cols + c] = pt[c * packedRows + k];
        return out;
    }

    /** {@code unpack_from_int32(..., packed_dim=1)} without the final shift to signed: unsigned codes [rows, cols]. */
    public static int[] unpackInt32(int[] packed, int rows, int cols, int bits) {
        int pf = 32 / bits, pc = (cols + pf - 1) / pf, mask = (1 << bits) - 1;
        if (packed.length != (long) rows * pc) throw new IllegalArgumentException("expected " + rows * pc + " packed words, got " + packed.length);
        int[] out = new int[rows * cols];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) out[r * cols + c] = (packed[r * pc + c / pf] >>> (bits * (c % pf))) & mask;
        return out;
    }

    /** {@code unpack_from_int32(..., packed_dim=0)}: [ceil(rows / pf), cols] to unsigned codes [rows, cols]. */
    public static int[] unpackInt32Rows(int[] packed, int rows, int cols, int bits) {
        int pf = 32 / bits, mask = (1 << bits) - 1;
        int[] out = new int[rows * cols];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) out[r * cols + c] = (packed[(r / pf) * cols + c] >>> (bits * (r % pf))) & mask;
        return out;
    }

    /** {@code numpy.packbits(mask, axis=-1, bitorder="little")}: [rows, ceil(cols / 8)] bytes, column c at bit c % 8 of byte c / 8. */
    public static byte[] packBits(boolean[] mask, int rows, int cols) {
        int rb = (cols + 7) / 8;
        byte[] out = new byte[rows * rb];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) if (mask[r * cols + c]) out[r * rb + c / 8] |= (byte) (1 << (c % 8));
        return out;
    }

    // ---- config (quantization_config in config.json) ----

    /** The weight quantization of one config group (QuantizationArgs), as far as Squish reads it. */
    public record WeightArgs(int bits, boolean symmetric, String strategy, int groupSize, String actorder) {
        /** The metadata format {@code ct:pack-quantized:BITS:GROUP:sym|asym}, GROUP 0 for channel, -1 for tensor. */
        String format() {
            int g = strategy.equals("group") ? groupSize : strategy.equals("channel") ? 0 : -1;
            return FORMAT_PREFIX + PACK_QUANTIZED + ":" + bits + ":" + g + ":" + (symmetric ? "sym" : "asym");
        }
    }

    private record Group(String name, List<String> targets, WeightArgs weights, String format) {}

    /** Whether a config.json object declares compressed-tensors. */
    public static boolean declared(JsonNode config) {
        JsonNode q = config == null ? null : config.get("quantization_config");
        return q != null && q.isObject() && QUANT_METHOD.equals(q.path("quant_method").asText());
    }

    /**
     * If the folder's config.json declares compressed-tensors, records the format of every
     * compressed module of {@code st} in {@code metadata} ({@code squish.format.MODULE}); checks the
     * config against the tensors, naming the key or tensor at fault.
     */
    static void annotate(Path dir, Map<String, TensorInfo> tensors, Map<String, String> metadata) {
        Path file = dir.resolve("config.json");
        if (!Files.isRegularFile(file)) return;
        JsonNode root;
        try { root = Json.MAPPER.readTree(Files.readAllBytes(file)); } catch (IOException e) { return; } // ModelConfig reports it
        if (!declared(root)) return;
        String where = file + ": quantization_config";
        JsonNode q = root.get("quantization_config");
        String globalFormat = q.path("format").isTextual() ? q.get("format").asText() : null;
        List<Group> groups = new ArrayList<>();
        JsonNode cg = q.get("config_groups");
        if (cg != null && !cg.isNull()) {
            if (!cg.isObject()) throw new SquishException(where + ".config_groups must be an object");
            for (var it = cg.fields(); it.hasNext(); ) {
                var e = it.next();
                groups.add(group(where + ".config_groups." + e.getKey(), e.getKey(), e.getValue(), globalFormat));
            }
        }
        List<String> ignore = strings(q.get("ignore"), where + ".ignore");
        JsonNode sc = q.get("sparsity_config");
        String sparse = sc != null && sc.isObject() && sc.size() > 0 ? sc.path("format").asText(null) : null;
        if (sparse != null && !sparse.equals(SPARSE_BITMASK) && !sparse.equals(SPARSE_24) && !sparse.equals("dense"))
            throw new SquishException(where + ".sparsity_config.format '" + sparse + "' is not supported (" + SPARSE_BITMASK + ", " + SPARSE_24 + ", dense)");
        JsonNode tc = q.get("transform_config");
        if (tc != null && tc.isObject() && tc.path("config_groups").size() > 0)
            throw new SquishException(where + ".transform_config: online transforms (rotations) are not supported");

        Map<String, String> found = new LinkedHashMap<>();
        for (String name : tensors.keySet()) {
            if (name.endsWith(".weight_packed")) {
                String m = name.substring(0, name.length() - ".weight_packed".length());
                Group g = matchesAny(m, ignore) ? null : scheme(m, groups);
                if (g == null) throw new SquishException(tensors.get(name).file() + ": tensor " + name + " is packed but no group of " + where + ".config_groups targets module " + m);
                if (!PACK_QUANTIZED.equals(g.format))
                    throw new SquishException(where + ".config_groups." + g.name + ": format '" + g.format + "' is not supported (module " + m + " holds weight_packed; supported: " + PACK_QUANTIZED + ")");
                found.put(m, g.weights.format());
            } else if (name.endsWith(".bitmask")) {
                String m = name.substring(0, name.length() - ".bitmask".length());
                String kind = tensors.containsKey(m + ".row_offsets") ? SPARSE_BITMASK : SPARSE_24;
                if (sparse == null || !sparse.equals(kind))
                    throw new SquishException(where + ".sparsity_config.format is " + (sparse == null ? "missing" : "'" + sparse + "'")
                            + " but module " + m + " is stored as " + kind);
                found.put(m, FORMAT_PREFIX + kind);
            }
        }
        for (var e : found.entrySet()) metadata.put("squish.format." + e.getKey(), e.getValue());
        // a quantized model without packed tensors (e.g. int-quantized / float-quantized) stores another layout
        if (found.isEmpty() && !groups.isEmpty() && tensors.keySet().stream().anyMatch(n -> n.endsWith(".weight_scale")))
            throw new SquishException(where + ".format '" + globalFormat + "' is not supported (" + PACK_QUANTIZED + ", " + SPARSE_BITMASK + ", " + SPARSE_24 + ")");
    }

    private static Group group(String where, String name, JsonNode g, String globalFormat) {
        if (!g.isObject()) throw new SquishException(where + " must be a scheme object (preset names are not supported)");
        List<String> targets = strings(g.get("targets"), where + ".targets");
        for (String k : List.of("input_activations", "output_activations"))
            if (g.has(k) && !g.get(k).isNull())
                throw new SquishException(where + "." + k + ": activation quantization is not supported (weight-only schemes such as W4A16, W8A16)");
        JsonNode w = g.get("weights");
        if (w == null || !w.isObject()) throw new SquishException(where + ".weights must be an object");
        String type = w.path("type").asText("int");
        if (!type.equalsIgnoreCase("int")) throw new SquishException(where + ".weights.type '" + type + "' is not supported (int)");
        int bits = w.path("num_bits").asInt(8);
        if (bits != 4 && bits != 8) throw new SquishException(where + ".weights.num_bits " + w.path("num_bits") + " is not supported (4 or 8)");
        boolean sym = w.path("symmetric").asBoolean(true);
        JsonNode gsNode = w.get("group_size");
        Integer gs = gsNode == null || gsNode.isNull() ? null : gsNode.asInt();
        String strategy = w.hasNonNull("strategy") ? w.get("strategy").asText() : gs == null ? "tensor" : gs > 0 ? "group" : gs == -1 ? "channel" : null;
        if (strategy == null) throw new SquishException(where + ".weights.group_size " + gs + " is invalid (> 0 for group, -1 for channel)");
        if (!strategy.equals("group") && !strategy.equals("channel") && !strategy.equals("tensor"))
            throw new SquishException(where + ".weights.strategy '" + strategy + "' is not supported (group, channel, tensor)");
        if (strategy.equals("group") && (gs == null || gs <= 0))
            throw new SquishException(where + ".weights.group_size must be positive for strategy group, got " + gs);
        if (w.path("dynamic").asBoolean(false)) throw new SquishException(where + ".weights.dynamic: dynamic weight quantization is not supported");
        String actorder = w.hasNonNull("actorder") ? w.get("actorder").asText() : null;
        String format = g.hasNonNull("format") ? g.get("format").asText() : globalFormat;
        return new Group(name, targets, new WeightArgs(bits, sym, strategy, gs == null ? 0 : gs, actorder), format);
    }

    /**
     * The scheme of a module as {@code apply_quantization_config} picks it: targets map to the last
     * group naming them; among the matching targets exact names come first, then regexes (in sorted
     * order), then the class name ({@code match_targets}); the first one's scheme applies.
     */
    private static Group scheme(String module, List<Group> groups) {
        Map<String, Group> byTarget = new LinkedHashMap<>();
        for (Group g : groups) for (String t : g.targets) byTarget.put(t, g);
        List<String> names = new ArrayList<>(byTarget.keySet());
        names.sort(java.util.Comparator.comparing((String t) -> t.contains("re:")).thenComparing(t -> t));
        for (String t : names) if (!t.equals("Linear") && matches(module, t)) return byTarget.get(t);
        return byTarget.get("Linear");
    }

    private static List<String> strings(JsonNode n, String where) {
        List<String> out = new ArrayList<>();
        if (n == null || n.isNull()) return out;
        if (!n.isArray()) throw new SquishException(where + " must be a list of strings");
        for (JsonNode s : n) {
            if (!s.isTextual()) throw new SquishException(where + " must be a list of strings, has " + s);
            out.add(s.asText());
        }
        return out;
    }

    /**
     * compressed-tensors' {@code is_match} for a linear module: the target is the class name
     * {@code Linear}, the exact module name, or {@code re:REGEX} matched from the start of the name
     * (Python's {@code re.match}).
     */
    static boolean matches(String module, String target) {
        if (target.equals("Linear") || target.equals(module)) return true;
        if (target.startsWith("re:")) {
            try { return Pattern.compile(target.substring(3)).matcher(module).lookingAt(); } catch (PatternSyntaxException e) {
                throw new SquishException("quantization_config: target '" + target + "' is not a valid regular expression");
            }
        }
        return false;
    }

    private static boolean matchesAny(String module, List<String> targets) {
        for (String t : targets) if (matches(module, t)) return true;
        return false;
    }

    // ---- writing the config ----

    /** QuantizationArgs.model_dump() of a weight-only int scheme, with the reference's defaults. */
    public static ObjectNode weightArgs(int bits, boolean symmetric, int groupSize) {
        ObjectNode w = Json.MAPPER.createObjectNode();
        w.putNull("actorder");
        w.putNull("block_structure");
        w.put("dynamic", false);
        if (groupSize > 0) w.put("group_size", groupSize); else w.putNull("group_size");
        w.put("num_bits", bits);
        w.put("observer", "memoryless_minmax");
        w.putObject("observer_kwargs");
        w.putNull("scale_dtype");
        w.put("strategy", groupSize > 0 ? "group" : "channel");
        w.put("symmetric", symmetric);
        w.put("type", "int");
        if (symmetric) w.putNull("zp_dtype"); else w.put("zp_dtype", "torch.int8");  // serialize_dtype: None when symmetric
        return w;
    }

    /** A config group (QuantizationScheme.model_dump()) for pack-quantized weights. */
    public static ObjectNode scheme(List<String> targets, ObjectNode weights) {
        ObjectNode g = Json.MAPPER.createObjectNode();
        g.put("format", PACK_QUANTIZED);
        g.putNull("input_activations");
        g.putNull("output_activations");
        ArrayNode t = g.putArray("targets");
        targets.forEach(t::add);
        g.set("weights", weights);
        return g;
    }

    /** SparsityCompressionConfig.model_dump(). */
    public static ObjectNode sparsityConfig(String format, double globalSparsity, List<String> targets, List<String> ignore) {
        ObjectNode s = Json.MAPPER.createObjectNode();
        s.put("format", format);
        s.put("global_sparsity", globalSparsity);
        ArrayNode ig = s.putArray("ignore");
        ignore.forEach(ig::add);
        s.put("registry_requires_subclass", false);
        s.put("sparsity_structure", format.equals(SPARSE_24) ? "2:4" : "unstructured");
        ArrayNode t = s.putArray("targets");
        targets.forEach(t::add);
        return s;
    }

    /**
     * The {@code quantization_config} object as {@code ModelCompressor.update_config} writes it
     * (keys sorted, as its {@code json.dump(..., sort_keys=True)}): version, quant_method,
     * sparsity_config and transform_config ({} when absent), plus the QuantizationConfig fields when
     * there are config groups.
     */
    public static ObjectNode quantizationConfig(ObjectNode configGroups, List<String> ignore, ObjectNode sparsity, Double compressionRatio) {
        ObjectNode q = Json.MAPPER.createObjectNode();
        if (configGroups != null && configGroups.size() > 0) {
            q.set("config_groups", configGroups);
            q.put("format", PACK_QUANTIZED);
            if (compressionRatio == null) q.putNull("global_compression_ratio"); else q.put("global_compression_ratio", compressionRatio);
            ArrayNode ig = q.putArray("ignore");
            ignore.forEach(ig::add);
            q.putNull("kv_cache_scheme");
        }
        q.put("quant_method", QUANT_METHOD);
        if (configGroups != null && configGroups.size() > 0) q.put("quantization_status", "compressed");
        q.set("sparsity_config", sparsity == null ? Json.MAPPER.createObjectNode() : sparsity);
        q.set("transform_config", Json.MAPPER.createObjectNode());
        q.put("version", VERSION);
        return q;
    }
}
