package dev.squish.export;

import com.fasterxml.jackson.databind.JsonNode;
import dev.squish.SquishException;
import dev.squish.eval.Perplexity;
import dev.squish.formats.CompressedTensors;
import dev.squish.formats.DType;
import dev.squish.formats.Json;
import dev.squish.formats.SafeTensors;
import dev.squish.formats.SafeTensorsWriter;
import dev.squish.formats.Tokenizer;
import dev.squish.model.Block;
import dev.squish.model.Model;
import dev.squish.weights.Linear;
import dev.squish.weights.NMSparseLinear;
import dev.squish.weights.QuantizedLinear;
import dev.squish.weights.SparseLinear;
import dev.squish.weights.WeightFormats;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.*;

import static org.junit.jupiter.api.Assertions.*;

/** compressed-tensors (vllm-project/compressed-tensors 0.14): packing, the config, round trips and a reference-shaped folder. */
class CompressedTensorsTest {
    static final Path LLAMA = Path.of("fixtures/models/kjv-llama-tiny");
    @TempDir Path tmp;

    // ---- golden packing, values worked out by hand from pack_to_int32 / numpy.packbits ----

    @Test
    void packToInt32Golden() {
        // the reference's docstring: num_bits 8, signed [1, 2] -> unsigned [129, 130] -> 0x00008281 = 33409
        assertArrayEquals(new int[]{33409}, CompressedTensors.packInt32(new int[]{129, 130}, 1, 2, 8));
        // int4, signed -8..7 -> unsigned 0..15: nibble i of word k holds value 8k + i, little-endian
        int[] v = new int[16];
        for (int i = 0; i < 16; i++) v[i] = i;
        assertArrayEquals(new int[]{0x76543210, 0xFEDCBA98}, CompressedTensors.packInt32(v, 1, 16, 4));
        assertEquals(-19088744, 0xFEDCBA98);   // the second word wraps negative, as torch's int32 sum
        // padding: signed [7, -8, 0] -> unsigned [15, 0, 8] -> 0xF | 0 << 4 | 8 << 8 = 0x80F
        assertArrayEquals(new int[]{0x80F}, CompressedTensors.packInt32(new int[]{15, 0, 8}, 1, 3, 4));
        // two rows of 9 int4 codes: 2 words each, the second word holds only column 8
        int[] two = {1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 14, 13, 12, 11, 10, 9, 8, 7};
        assertArrayEquals(new int[]{0x87654321, 9, 0x89ABCDEF, 7}, CompressedTensors.packInt32(two, 2, 9, 4));
        // packed_dim=0 (zero points): a [9, 2] tensor packs along rows into [2, 2]
        int[] zp = new int[18];
        for (int r = 0; r < 9; r++) { zp[r * 2] = r; zp[r * 2 + 1] = 15 - r; }
        assertArrayEquals(new int[]{0x76543210, 0x89ABCDEF, 8, 7}, CompressedTensors.packInt32Rows(zp, 9, 2, 4));
        assertArrayEquals(zp, CompressedTensors.unpackInt32Rows(CompressedTensors.packInt32Rows(zp, 9, 2, 4), 9, 2, 4));
        assertArrayEquals(two, CompressedTensors.unpackInt32(CompressedTensors.packInt32(two, 2, 9, 4), 2, 9, 4));
        // int8 along rows: [5, 1] -> words [0x04030201 + 0x80808080 offsets already applied by the caller]
        assertArrayEquals(new int[]{0x04030201, 0x05}, CompressedTensors.packInt32Rows(new int[]{1, 2, 3, 4, 5}, 5, 1, 8));
        assertThrows(IllegalArgumentException.class, () -> CompressedTensors.packInt32(new int[]{16}, 1, 1, 4));
    }

    @Test
    void packBitsGolden() {
        // numpy.packbits([1,0,1,1,0,0,0,0, 1], bitorder="little") = [0b00001101, 0b00000001]
        boolean[] m = {true, false, true, true, false, false, false, false, true};
        assertArrayEquals(new byte[]{13, 1}, CompressedTensors.packBits(m, 1, 9));
    }

    // ---- round trip Squish -> compressed-tensors -> Squish ----

    /** Replaces the fixture's linears by a mixture of formats and writes a Squish folder. */
    private Path squishModel(String name, boolean sym, boolean unstructured) {
        Path dir = tmp.resolve(name);
        try (Model m = Model.load(LLAMA)) {
            for (Block b : m.blocks)
                for (var e : b.linears.entrySet()) {
                    Linear l = e.getValue();
                    float[] w = l.toDense();
                    Linear n = switch (b.index % 3) {
                        case 0 -> QuantizedLinear.quantizeRtn(w, l.rows(), l.cols(), e.getKey().startsWith("mlp") ? 8 : 4,
                                e.getKey().startsWith("mlp") ? l.cols() : 64, sym);
                        case 1 -> unstructured ? SparseLinear.fromDense(prune(w, l.rows(), l.cols(), false), l.rows(), l.cols())
                                : NMSparseLinear.fromDense(prune(w, l.rows(), l.cols(), true), l.rows(), l.cols(), 2, 4);
                        default -> l;   // dense
                    };
                    e.setValue(n);
                }
            ModelWriter.write(m, dir, false, true, Map.of());
        }
        return dir;
    }

    /** Keeps the 2 largest of every 4 (2:4), or every value above the row's median magnitude. */
    static float[] prune(float[] w, int rows, int cols, boolean twoFour) {
        float[] o = w.clone();
        for (int r = 0; r < rows; r++) {
            if (twoFour) {
                for (int c0 = 0; c0 < cols; c0 += 4) {
                    Integer[] idx = {0, 1, 2, 3};
                    final int base = r * cols + c0;
                    Arrays.sort(idx, (a, b) -> Float.compare(Math.abs(w[base + b]), Math.abs(w[base + a])));
                    o[base + idx[2]] = 0; o[base + idx[3]] = 0;
                }
            } else {
                float[] a = new float[cols];
                for (int c = 0; c < cols; c++) a[c] = Math.abs(w[r * cols + c]);
                Arrays.sort(a);
                float med = a[cols / 2];
                for (int c = 0; c < cols; c++) if (Math.abs(w[r * cols + c]) < med) o[r * cols + c] = 0;
            }
        }
        return o;
    }

    private static void assertSameWeights(Model a, Model b) {
        for (int i = 0; i < a.blocks.size(); i++)
            for (var e : a.blocks.get(i).linears.entrySet()) {
                Linear x = e.getValue(), y = b.blocks.get(i).linears.get(e.getKey());
                assertEquals(x.getClass(), y.getClass(), "block " + i + " " + e.getKey());
                assertEquals(x.format(), y.format(), "block " + i + " " + e.getKey());
                assertArrayEquals(x.toDense(), y.toDense(), "block " + i + " " + e.getKey());
            }
        assertArrayEquals(a.head.toDense(), b.head.toDense());
        assertArrayEquals(a.embed.toDense(), b.embed.toDense());
    }

    @Test
    void roundTripQuantizedAnd24() throws Exception {
        Path sq = squishModel("sq", false, false), ct = tmp.resolve("ct");
        Exporter.Written r = CompressedTensorsExport.export(sq, ct, false);
        assertEquals("pack-quantized+sparse-24-bitmask", r.type());
        JsonNode q = Json.MAPPER.readTree(ct.resolve("config.json").toFile()).get("quantization_config");
        assertEquals("compressed-tensors", q.get("quant_method").asText());
        assertEquals(2, q.get("config_groups").size(), "int4-g64 and int8 per channel: two schemes");
        assertEquals("sparse-24-bitmask", q.get("sparsity_config").get("format").asText());
        assertEquals("2:4", q.get("sparsity_config").get("sparsity_structure").asText());
        try (SafeTensors st = SafeTensors.open(ct)) {
            // reference names, dtypes and shapes (int4 g64 asym q_proj 256x256; 2:4 q_proj of block 1)
            assertEquals(DType.I32, st.get("model.layers.0.self_attn.q_proj.weight_packed").dtype());
            assertArrayEquals(new long[]{256, 32}, st.get("model.layers.0.self_attn.q_proj.weight_packed").shape());
            assertArrayEquals(new long[]{256, 4}, st.get("model.layers.0.self_attn.q_proj.weight_scale").shape());
            assertArrayEquals(new long[]{32, 4}, st.get("model.layers.0.self_attn.q_proj.weight_zero_point").shape());
            assertArrayEquals(new int[]{256, 256}, st.get("model.layers.0.self_attn.q_proj.weight_shape").toIntArray());
            assertArrayEquals(new long[]{768, 64}, st.get("model.layers.0.mlp.up_proj.weight_packed").shape(), "int8: 4 codes per word");
            assertArrayEquals(new long[]{768, 1}, st.get("model.layers.0.mlp.up_proj.weight_scale").shape(), "channel strategy");
            assertEquals(DType.U8, st.get("model.layers.1.self_attn.q_proj.bitmask").dtype());
            assertArrayEquals(new long[]{256, 32}, st.get("model.layers.1.self_attn.q_proj.bitmask").shape());
            assertArrayEquals(new long[]{256, 128}, st.get("model.layers.1.self_attn.q_proj.compressed").shape());
            assertArrayEquals(new long[]{2, 1}, st.get("model.layers.1.self_attn.q_proj.shape").shape());
            assertTrue(st.has("model.layers.2.self_attn.q_proj.weight"));
            assertFalse(st.has("model.layers.0.self_attn.q_proj.weight"));
        }
        try (Model a = Model.load(sq); Model b = Model.load(ct)) {
            assertSameWeights(a, b);
            int[] ids = Tokenizer.load(LLAMA).encode(Files.readString(Path.of("fixtures/data/kjv/test.txt")).substring(0, 12000));
            double pa = Perplexity.evaluate(a, ids, 128).perplexity(), pb = Perplexity.evaluate(b, ids, 128).perplexity();
            // same weights, same kernels: equal up to the run-to-run order of parallel sums (~1e-9)
            assertEquals(pa, pb, pa * 1e-7);
        }
    }

    @Test
    void roundTripSymmetricAndBitmask() throws Exception {
        Path sq = squishModel("sq", true, true), ct = tmp.resolve("ct");
        CompressedTensorsExport.export(sq, ct, false);
        JsonNode q = Json.MAPPER.readTree(ct.resolve("config.json").toFile()).get("quantization_config");
        for (JsonNode g : q.get("config_groups")) {
            assertTrue(g.get("weights").get("symmetric").asBoolean());
            assertTrue(g.get("weights").get("zp_dtype").isNull());
        }
        assertEquals("sparse-bitmask", q.get("sparsity_config").get("format").asText());
        try (SafeTensors st = SafeTensors.open(ct)) {
            assertFalse(st.has("model.layers.0.self_attn.q_proj.weight_zero_point"), "symmetric: no zero points");
            assertEquals(DType.I64, st.get("model.layers.1.self_attn.q_proj.row_offsets").dtype());
        }
        try (Model a = Model.load(sq); Model b = Model.load(ct)) {
            assertSameWeights(a, b);
            // a Squish folder written from the compressed-tensors one drops quantization_config
            Path again = tmp.resolve("again");
            ModelWriter.write(b, again, true, false, Map.of());
            assertFalse(Json.MAPPER.readTree(again.resolve("config.json").toFile()).has("quantization_config"));
            try (Model c = Model.load(again)) { assertSameWeights(a, c); }
        }
        // and back again: the compressed-tensors folder exports to an identical one
        Path ct2 = tmp.resolve("ct2");
        CompressedTensorsExport.export(ct, ct2, false);
        assertArrayEquals(Files.readAllBytes(ct.resolve("model.safetensors")), Files.readAllBytes(ct2.resolve("model.safetensors")));
        assertEquals(Files.readString(ct.resolve("config.json")), Files.readString(ct2.resolve("config.json")));
    }

    /** The fields of the reference's pydantic models, as model_dump() writes them. */
    @Test
    void configFieldsAreTheReferences() throws Exception {
        Path sq = squishModel("sq", false, false), ct = tmp.resolve("ct");
        CompressedTensorsExport.export(sq, ct, false);
        JsonNode root = Json.MAPPER.readTree(ct.resolve("config.json").toFile());
        JsonNode q = root.get("quantization_config");
        assertEquals(Set.of("config_groups", "format", "global_compression_ratio", "ignore", "kv_cache_scheme", "quant_method",
                "quantization_status", "sparsity_config", "transform_config", "version"), keys(q));
        assertEquals("pack-quantized", q.get("format").asText());
        assertEquals("compressed", q.get("quantization_status").asText());
        JsonNode g = q.get("config_groups").elements().next();
        assertEquals(Set.of("targets", "weights", "input_activations", "output_activations", "format"), keys(g));
        assertEquals(Set.of("num_bits", "type", "symmetric", "group_size", "strategy", "block_structure", "dynamic", "actorder",
                "scale_dtype", "zp_dtype", "observer", "observer_kwargs"), keys(g.get("weights")));
        assertEquals(Set.of("format", "targets", "ignore", "global_sparsity", "sparsity_structure", "registry_requires_subclass"),
                keys(q.get("sparsity_config")));
        // sort_keys=True, as ModelCompressor.update_config dumps it
        List<String> order = new ArrayList<>();
        q.fieldNames().forEachRemaining(order::add);
        List<String> sortedOrder = new ArrayList<>(order);
        Collections.sort(sortedOrder);
        assertEquals(sortedOrder, order);
        // the rest of config.json is the input's
        assertEquals("llama", root.get("model_type").asText());
        assertEquals(256, root.get("hidden_size").asInt());
    }

    private static Set<String> keys(JsonNode n) {
        Set<String> s = new HashSet<>();
        n.fieldNames().forEachRemaining(s::add);
        return s;
    }

    // ---- a folder laid out exactly as the reference writes it, built by hand ----

    /** pack_to_int32 written from the reference's pseudocode: offset, pad, shift, sum as int32. */
    static int[] refPack(int[][] signed, int bits) {
        int pf = 32 / bits, rows = signed.length, cols = signed[0].length, words = (cols + pf - 1) / pf;
        int[] out = new int[rows * words];
        for (int r = 0; r < rows; r++)
            for (int k = 0; k < words; k++) {
                long sum = 0;
                for (int i = 0; i < pf; i++) {
                    int c = k * pf + i;
                    long u = c < cols ? signed[r][c] + (1 << (bits - 1)) : 0;   // pad value 0 after the offset
                    sum += u << (bits * i);
                }
                out[r * words + k] = (int) sum;
            }
        return out;
    }

    static byte[] bf16(float[] v) {
        ByteBuffer b = ByteBuffer.allocate(v.length * 2).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : v) b.putShort((short) (Float.floatToRawIntBits(f) >>> 16));
        return b.array();
    }

    static byte[] i64(long... v) {
        ByteBuffer b = ByteBuffer.allocate(v.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        for (long x : v) b.putLong(x);
        return b.array();
    }

    static final String LLM_COMPRESSOR_CONFIG = """
            {
              "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 16, "intermediate_size": 32,
              "num_attention_heads": 2, "num_hidden_layers": 1, "vocab_size": 8, "torch_dtype": "bfloat16",
              "quantization_config": {
                "config_groups": {
                  "group_0": {
                    "format": "pack-quantized",
                    "input_activations": null,
                    "output_activations": null,
                    "targets": ["Linear"],
                    "weights": {
                      "actorder": null, "block_structure": null, "dynamic": false, "group_size": 8, "num_bits": 4,
                      "observer": "minmax", "observer_kwargs": {}, "strategy": "group", "symmetric": false, "type": "int"
                    }
                  },
                  "group_1": {
                    "format": "pack-quantized",
                    "input_activations": null,
                    "output_activations": null,
                    "targets": ["re:.*down_proj$"],
                    "weights": {
                      "actorder": null, "block_structure": null, "dynamic": false, "group_size": null, "num_bits": 8,
                      "observer": "minmax", "observer_kwargs": {}, "strategy": "channel", "symmetric": true, "type": "int"
                    }
                  }
                },
                "format": "pack-quantized",
                "global_compression_ratio": null,
                "ignore": ["lm_head", "re:.*up_proj$"],
                "kv_cache_scheme": null,
                "quant_method": "compressed-tensors",
                "quantization_status": "compressed",
                "sparsity_config": {
                  "format": "sparse-bitmask", "global_sparsity": 0.5, "ignore": ["lm_head"],
                  "registry_requires_subclass": false, "sparsity_structure": "unstructured", "targets": ["Linear"]
                },
                "transform_config": {},
                "version": "0.9.4"
              }
            }
            """;

    @Test
    void readsAFolderLaidOutAsTheReferenceWritesIt() throws Exception {
        Path dir = tmp.resolve("ref");
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("config.json"), LLM_COMPRESSOR_CONFIG.replace("re:.*down_proj$", "model.layers.0.mlp.down_proj"));
        Random rnd = new Random(7);
        // q_proj: int4, group 8, asymmetric; 9 rows so the zero points' row packing pads
        int rows = 9, cols = 16, groups = 2;
        int[][] q = new int[rows][cols];
        int[][] zp = new int[rows][groups];
        float[] scale = new float[rows * groups];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) q[r][c] = rnd.nextInt(16) - 8;
            for (int g = 0; g < groups; g++) { zp[r][g] = rnd.nextInt(16) - 8; scale[r * groups + g] = (1 + rnd.nextInt(127)) / 1024f; }
        }
        q[0][0] = -8; q[0][1] = 7;   // both ends of the signed range
        int[][] zpT = new int[groups][rows];
        for (int r = 0; r < rows; r++) for (int g = 0; g < groups; g++) zpT[g][r] = zp[r][g];
        int[] zpPackedT = refPack(zpT, 4);               // pack_to_int32(zp, 4, packed_dim=0): transpose, pack, transpose
        int zrows = (rows + 7) / 8;
        int[] zpPacked = new int[zrows * groups];
        for (int g = 0; g < groups; g++) for (int k = 0; k < zrows; k++) zpPacked[k * groups + g] = zpPackedT[g * zrows + k];
        // down_proj: int8 per channel, symmetric (no zero point), 4 x 6 (6 not a multiple of 4: padding)
        int[][] q8 = new int[4][6];
        float[] s8 = new float[4];
        for (int r = 0; r < 4; r++) { for (int c = 0; c < 6; c++) q8[r][c] = rnd.nextInt(256) - 128; s8[r] = (1 + r) / 256f; }
        // gate_proj: sparse-bitmask, 3 x 10 with bf16 values
        float[] dense = new float[30];
        for (int i = 0; i < 30; i++) if (rnd.nextBoolean()) dense[i] = (rnd.nextInt(200) - 100) / 64f;
        boolean[] mask = new boolean[30];
        List<Float> vals = new ArrayList<>();
        long[] offsets = new long[3];
        for (int r = 0; r < 3; r++) {
            offsets[r] = vals.size();
            for (int c = 0; c < 10; c++) if (dense[r * 10 + c] != 0) { mask[r * 10 + c] = true; vals.add(dense[r * 10 + c]); }
        }
        float[] valArr = new float[vals.size()];
        for (int i = 0; i < valArr.length; i++) valArr[i] = vals.get(i);
        byte[] bits = new byte[3 * 2];
        for (int r = 0; r < 3; r++) for (int c = 0; c < 10; c++) if (mask[r * 10 + c]) bits[r * 2 + c / 8] |= (byte) (1 << (c % 8));

        try (SafeTensorsWriter w = new SafeTensorsWriter(dir.resolve("model.safetensors"))) {
            String p = "model.layers.0.self_attn.q_proj.";
            w.addI32(p + "weight_packed", new long[]{rows, 2}, refPack(q, 4));
            w.addBytes(p + "weight_scale", DType.BF16, new long[]{rows, groups}, bf16(scale));
            w.addI32(p + "weight_zero_point", new long[]{zrows, groups}, zpPacked);
            w.addBytes(p + "weight_shape", DType.I64, new long[]{2}, i64(rows, cols));
            p = "model.layers.0.mlp.down_proj.";
            w.addI32(p + "weight_packed", new long[]{4, 2}, refPack(q8, 8));
            w.addBytes(p + "weight_scale", DType.BF16, new long[]{4, 1}, bf16(s8));
            w.addBytes(p + "weight_shape", DType.I64, new long[]{2}, i64(4, 6));
            p = "model.layers.0.mlp.gate_proj.";
            w.addBytes(p + "shape", DType.I64, new long[]{2}, i64(3, 10));
            w.addBytes(p + "compressed", DType.BF16, new long[]{valArr.length}, bf16(valArr));
            w.addBytes(p + "bitmask", DType.U8, new long[]{3, 2}, bits);
            w.addBytes(p + "row_offsets", DType.I64, new long[]{3}, i64(offsets));
            w.finish();
        }
        try (SafeTensors st = SafeTensors.open(dir)) {
            Linear lq = WeightFormats.read(st, "model.layers.0.self_attn.q_proj", false);
            assertInstanceOf(QuantizedLinear.class, lq);
            assertEquals("int4-g8", lq.format());
            float[] d = lq.toDense();
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < cols; c++)   // the reference's dequantize: (x_q - zero_point) * scale
                    assertEquals((q[r][c] - zp[r][c / 8]) * scale[r * groups + c / 8], d[r * cols + c], "(" + r + ", " + c + ")");
            Linear l8 = WeightFormats.read(st, "model.layers.0.mlp.down_proj", false);
            assertEquals("int8-pc", l8.format());
            float[] d8 = l8.toDense();
            for (int r = 0; r < 4; r++) for (int c = 0; c < 6; c++) assertEquals(q8[r][c] * s8[r], d8[r * 6 + c]);
            Linear ls = WeightFormats.read(st, "model.layers.0.mlp.gate_proj", false);
            assertInstanceOf(SparseLinear.class, ls);
            assertArrayEquals(dense, ls.toDense());
        }
    }

    @Test
    void reads24AsTheReferenceWritesIt() throws Exception {
        Path dir = tmp.resolve("ref24");
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("config.json"), """
                {"model_type": "llama", "quantization_config": {"quant_method": "compressed-tensors", "version": "0.9.4",
                 "sparsity_config": {"format": "sparse-24-bitmask", "global_sparsity": 0.5, "ignore": [], "registry_requires_subclass": false,
                 "sparsity_structure": "2:4", "targets": ["Linear"]}, "transform_config": {}}}
                """);
        // 2 x 8: row 0 keeps columns {0,3} and {5,6}; row 1 keeps {1,2} and {4,7}
        float[] dense = {1, 0, 0, -2, 0, 3, 4, 0, 0, 5, -6, 0, 7, 0, 0, 8};
        byte[] bits = {(byte) 0b01101001, (byte) 0b10010110};
        float[] comp = {1, -2, 3, 4, 5, -6, 7, 8};
        try (SafeTensorsWriter w = new SafeTensorsWriter(dir.resolve("model.safetensors"))) {
            String p = "model.layers.0.mlp.up_proj.";
            w.addBytes(p + "shape", DType.I64, new long[]{2, 1}, i64(2, 8));
            w.addBytes(p + "compressed", DType.BF16, new long[]{2, 4}, bf16(comp));
            w.addBytes(p + "bitmask", DType.U8, new long[]{2, 1}, bits);
            w.finish();
        }
        try (SafeTensors st = SafeTensors.open(dir)) {
            Linear l = WeightFormats.read(st, "model.layers.0.mlp.up_proj", false);
            assertInstanceOf(NMSparseLinear.class, l);
            assertEquals("2:4", l.format());
            assertArrayEquals(dense, l.toDense());
        }
        assertArrayEquals(bits, CompressedTensors.packBits(new boolean[]{true, false, false, true, false, true, true, false,
                false, true, true, false, true, false, false, true}, 2, 8));
    }

    // ---- bad input ----

    private static int run(StringWriter err, String... args) {
        return dev.squish.cli.Main.run(args, new PrintWriter(new StringWriter(), true), new PrintWriter(err, true));
    }

    private static void assertOneError(int code, StringWriter err, String mentions) {
        assertEquals(2, code, err.toString());
        List<String> lines = err.toString().lines().filter(l -> l.startsWith("error: ")).toList();
        assertEquals(1, lines.size(), err.toString());
        assertTrue(lines.get(0).contains(mentions), lines.get(0));
    }

    @Test
    void badInputIsOneErrorAndNothingWritten() throws Exception {
        Path sq = squishModel("sq", false, false), ct = tmp.resolve("ct");
        StringWriter e = new StringWriter();
        assertOneError(run(e, "export", sq.toString(), "--compressed-tensors", ct.toString(), "--type", "Q4_0"), e, "--type");
        assertFalse(Files.exists(ct));
        e = new StringWriter();
        assertOneError(run(e, "export", sq.toString(), "--compressed-tensors", ct.toString(), "--gguf", tmp.resolve("x.gguf").toString()), e, "--compressed-tensors");
        assertFalse(Files.exists(ct));
        assertEquals(0, run(new StringWriter(), "export", sq.toString(), "--compressed-tensors", ct.toString()));

        // an unknown scheme: float weights (fp8), named by its key
        Path bad = tmp.resolve("bad");
        Files.createDirectories(bad);
        for (String f : List.of("model.safetensors", "tokenizer.json", "tokenizer_config.json")) Files.copy(ct.resolve(f), bad.resolve(f));
        String cfg = Files.readString(ct.resolve("config.json"));
        Files.writeString(bad.resolve("config.json"), cfg.replaceFirst("\"type\" : \"int\"", "\"type\" : \"float\""));
        e = new StringWriter();
        Path out = tmp.resolve("out.gguf");
        assertOneError(run(e, "export", bad.toString(), "--gguf", out.toString()), e, "quantization_config.config_groups.group_0.weights.type");
        assertFalse(Files.exists(out));
        // a sparsity format that disagrees with the tensors
        Files.writeString(bad.resolve("config.json"), cfg.replace("\"sparse-24-bitmask\"", "\"sparse-bitmask\""));
        e = new StringWriter();
        assertOneError(run(e, "eval", bad.toString(), "--data", "fixtures/data/kjv/test.txt"), e, "sparsity_config.format");
        // shapes that disagree: weight_shape says 255 columns but the packed rows hold 256
        Files.writeString(bad.resolve("config.json"), cfg);
        try (SafeTensors st = SafeTensors.open(ct)) {
            try (SafeTensorsWriter w = new SafeTensorsWriter(bad.resolve("model.safetensors"))) {
                for (var t : st.tensors()) {
                    if (t.name().equals("model.layers.0.self_attn.q_proj.weight_shape")) w.addBytes(t.name(), DType.I64, t.shape(), i64(256, 250));
                    else w.add(t.name(), t.dtype(), t.shape(), t.data());
                }
                w.finish();
            }
        }
        e = new StringWriter();
        assertOneError(run(e, "export", bad.toString(), "--compressed-tensors", tmp.resolve("ct3").toString()), e, "model.layers.0.self_attn.q_proj.weight_packed");
        assertFalse(Files.exists(tmp.resolve("ct3")));
        // GPT-2 has no Linear modules for a scheme to target
        e = new StringWriter();
        assertOneError(run(e, "export", "fixtures/models/kjv-gpt2-tiny", "--compressed-tensors", tmp.resolve("g").toString()), e, "Llama family");
        assertFalse(Files.exists(tmp.resolve("g")));
        assertThrows(SquishException.class, () -> CompressedTensorsExport.export(sq, ct, false), "exists without force");
    }
}
