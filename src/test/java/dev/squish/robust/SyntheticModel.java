package dev.squish.robust;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.squish.Fixtures;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes a synthetic Llama model of any size quickly: config.json, the fixture's tokenizer, and
 * sharded safetensors of float32 weights filled in place (memory-mapped) by a xorshift generator,
 * uniform in +-1/sqrt(fan-in) so activations stay finite; norm weights are 1.
 */
final class SyntheticModel {
    private SyntheticModel() {}

    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    record Tensor(String name, long[] shape) {
        long bytes() { long n = 4; for (long d : shape) n *= d; return n; }
    }

    /** Writes the model into dir (created) and returns the total bytes of weights. */
    static long llama(Path dir, int hidden, int layers, int intermediate, int heads, int vocab, int shards) throws IOException {
        Files.createDirectories(dir);
        for (String f : new String[]{"tokenizer.json", "tokenizer_config.json"}) Files.copy(Fixtures.LLAMA.resolve(f), dir.resolve(f));
        ObjectNode cfg = ModelFiles.JSON.createObjectNode();
        cfg.put("model_type", "llama").put("hidden_size", hidden).put("num_hidden_layers", layers).put("intermediate_size", intermediate)
                .put("num_attention_heads", heads).put("num_key_value_heads", heads).put("vocab_size", vocab)
                .put("max_position_embeddings", 512).put("rms_norm_eps", 1e-5).put("rope_theta", 10000.0)
                .put("hidden_act", "silu").put("tie_word_embeddings", false);
        Files.writeString(dir.resolve("config.json"), cfg.toString());

        List<Tensor> all = new ArrayList<>();
        all.add(new Tensor("model.embed_tokens.weight", new long[]{vocab, hidden}));
        for (int i = 0; i < layers; i++) {
            String p = "model.layers." + i + ".";
            for (String l : new String[]{"q_proj", "k_proj", "v_proj", "o_proj"}) all.add(new Tensor(p + "self_attn." + l + ".weight", new long[]{hidden, hidden}));
            all.add(new Tensor(p + "mlp.gate_proj.weight", new long[]{intermediate, hidden}));
            all.add(new Tensor(p + "mlp.up_proj.weight", new long[]{intermediate, hidden}));
            all.add(new Tensor(p + "mlp.down_proj.weight", new long[]{hidden, intermediate}));
            all.add(new Tensor(p + "input_layernorm.weight", new long[]{hidden}));
            all.add(new Tensor(p + "post_attention_layernorm.weight", new long[]{hidden}));
        }
        all.add(new Tensor("model.norm.weight", new long[]{hidden}));
        all.add(new Tensor("lm_head.weight", new long[]{vocab, hidden}));

        long total = all.stream().mapToLong(Tensor::bytes).sum();
        long perShard = total / shards + 1;
        Map<String, String> weightMap = new LinkedHashMap<>();
        List<Tensor> shard = new ArrayList<>();
        long size = 0, seed = 0x9E3779B97F4A7C15L;
        int s = 0;
        for (int i = 0; i < all.size(); i++) {
            shard.add(all.get(i));
            size += all.get(i).bytes();
            if (size >= perShard || i == all.size() - 1) {
                String name = String.format("model-%05d-of-%05d.safetensors", ++s, shards);
                seed = writeShard(dir.resolve(name), shard, seed);
                for (Tensor t : shard) weightMap.put(t.name(), name);
                shard.clear();
                size = 0;
            }
        }
        ObjectNode index = ModelFiles.JSON.createObjectNode();
        index.putObject("metadata").put("total_size", total);
        ObjectNode wm = index.putObject("weight_map");
        weightMap.forEach(wm::put);
        Files.writeString(dir.resolve("model.safetensors.index.json"), index.toString());
        return total;
    }

    private static long writeShard(Path file, List<Tensor> tensors, long seed) throws IOException {
        ObjectNode h = ModelFiles.JSON.createObjectNode();
        long off = 0;
        for (Tensor t : tensors) {
            ObjectNode e = h.putObject(t.name());
            e.put("dtype", "F32");
            var sh = e.putArray("shape");
            for (long d : t.shape()) sh.add(d);
            e.putArray("data_offsets").add(off).add(off + t.bytes());
            off += t.bytes();
        }
        byte[] json = h.toString().getBytes(StandardCharsets.UTF_8);
        int hl = (json.length + 7) / 8 * 8;
        long dataStart = 8 + hl;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.READ, StandardOpenOption.WRITE);
             Arena arena = Arena.ofConfined()) {
            MemorySegment m = ch.map(FileChannel.MapMode.READ_WRITE, 0, dataStart + off, arena);
            m.set(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0, hl);
            for (int i = 0; i < hl; i++) m.set(ValueLayout.JAVA_BYTE, 8 + i, i < json.length ? json[i] : (byte) ' ');
            long pos = dataStart;
            for (Tensor t : tensors) {
                long n = t.bytes() / 4;
                if (t.shape().length == 1) {
                    for (long i = 0; i < n; i++) m.set(F32, pos + 4 * i, 1f);
                } else {
                    // Uniform in +-1/sqrt(fan-in): top 24 bits of a xorshift64 state mapped to [-1, 1).
                    float scale = (float) (1 / Math.sqrt(t.shape()[1])) / (1 << 23);
                    long x = seed;
                    for (long i = 0; i < n; i++) {
                        x ^= x << 13; x ^= x >>> 7; x ^= x << 17;
                        m.set(F32, pos + 4 * i, ((int) (x >>> 40) - (1 << 23)) * scale);
                    }
                    seed = x;
                }
                pos += 4 * n;
            }
            m.force();
        }
        return seed;
    }
}
