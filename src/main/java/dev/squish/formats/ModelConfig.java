package dev.squish.formats;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.squish.SquishException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The parts of a Hugging Face {@code config.json} that Squish needs, for the Llama family (llama,
 * mistral, qwen2) and GPT-2. The original JSON is kept so an output folder can write it back.
 */
public record ModelConfig(
        Family family, String modelType, int hidden, int layers, int heads, int kvHeads, int headDim,
        int intermediate, int vocab, int maxPositions, float normEps, double ropeTheta,
        boolean tieEmbeddings, boolean attentionBias, boolean mlpBias, String activation, ObjectNode json) {

    public enum Family { LLAMA, GPT2 }

    public static final List<String> SUPPORTED = List.of("llama", "mistral", "qwen2", "gpt2");

    public static ModelConfig load(Path modelDir) {
        Path file = Files.isDirectory(modelDir) ? modelDir.resolve("config.json") : modelDir;
        if (!Files.isRegularFile(file)) throw new SquishException(file + ": missing config.json");
        JsonNode root;
        try {
            root = SafeTensors.JSON.readTree(Files.readAllBytes(file));
        } catch (JsonProcessingException e) {
            throw new SquishException(file + ": malformed JSON (" + e.getOriginalMessage() + ")");
        } catch (IOException e) {
            throw new SquishException(file + ": cannot read (" + e.getMessage() + ")");
        }
        if (root == null || !root.isObject()) throw new SquishException(file + ": not a JSON object");
        return parse((ObjectNode) root, file.toString());
    }

    public static ModelConfig parse(ObjectNode j, String where) {
        String type = text(j, "model_type", null);
        if (type == null) throw new SquishException(where + ": missing model_type (supported: " + String.join(", ", SUPPORTED) + ")");
        switch (type) {
            case "llama", "mistral", "qwen2" -> {
                int hidden = positive(j, "hidden_size", where);
                int heads = positive(j, "num_attention_heads", where);
                int kv = j.has("num_key_value_heads") && !j.get("num_key_value_heads").isNull() ? positive(j, "num_key_value_heads", where) : heads;
                if (heads % kv != 0) throw new SquishException(where + ": num_attention_heads " + heads + " is not a multiple of num_key_value_heads " + kv);
                int headDim = j.has("head_dim") && !j.get("head_dim").isNull() ? positive(j, "head_dim", where) : hidden / heads;
                if (headDim % 2 != 0) throw new SquishException(where + ": head_dim " + headDim + " must be even for rotary embeddings");
                double theta = 10000.0;
                if (j.has("rope_theta") && j.get("rope_theta").isNumber()) theta = j.get("rope_theta").asDouble();
                JsonNode rp = j.get("rope_parameters");
                if (rp != null && rp.isObject() && rp.has("rope_theta")) theta = rp.get("rope_theta").asDouble();
                JsonNode rs = j.get("rope_scaling");
                String ropeType = rp != null && rp.has("rope_type") ? rp.get("rope_type").asText() : rs != null && rs.isObject() && rs.has("rope_type") ? rs.get("rope_type").asText() : "default";
                if (!ropeType.equals("default"))
                    throw new SquishException(where + ": rope_type '" + ropeType + "' is not supported (only 'default')");
                String act = text(j, "hidden_act", "silu");
                if (!act.equals("silu")) throw new SquishException(where + ": hidden_act '" + act + "' is not supported (only 'silu')");
                boolean attnBias = type.equals("qwen2") ? !j.has("attention_bias") || j.get("attention_bias").asBoolean(true) : j.path("attention_bias").asBoolean(false);
                return new ModelConfig(Family.LLAMA, type, hidden, positive(j, "num_hidden_layers", where), heads, kv, headDim,
                        positive(j, "intermediate_size", where), positive(j, "vocab_size", where),
                        j.path("max_position_embeddings").asInt(2048), (float) j.path("rms_norm_eps").asDouble(1e-6), theta,
                        j.path("tie_word_embeddings").asBoolean(false), attnBias, j.path("mlp_bias").asBoolean(false), act, j);
            }
            case "gpt2" -> {
                int hidden = positive(j, "n_embd", where);
                int heads = positive(j, "n_head", where);
                if (hidden % heads != 0) throw new SquishException(where + ": n_embd " + hidden + " is not a multiple of n_head " + heads);
                int inner = j.has("n_inner") && !j.get("n_inner").isNull() ? positive(j, "n_inner", where) : 4 * hidden;
                String act = text(j, "activation_function", "gelu_new");
                if (!act.equals("gelu_new") && !act.equals("gelu") && !act.equals("gelu_pytorch_tanh"))
                    throw new SquishException(where + ": activation_function '" + act + "' is not supported (gelu_new, gelu)");
                return new ModelConfig(Family.GPT2, type, hidden, positive(j, "n_layer", where), heads, heads, hidden / heads,
                        inner, positive(j, "vocab_size", where), j.path("n_positions").asInt(1024),
                        (float) j.path("layer_norm_epsilon").asDouble(1e-5), 0, j.path("tie_word_embeddings").asBoolean(true),
                        true, true, act, j);
            }
            default -> throw new SquishException(where + ": unsupported model_type '" + type + "' (supported: " + String.join(", ", SUPPORTED) + ")");
        }
    }

    private static String text(JsonNode j, String key, String dflt) {
        JsonNode n = j.get(key);
        return n == null || n.isNull() ? dflt : n.asText();
    }

    private static int positive(JsonNode j, String key, String where) {
        JsonNode n = j.get(key);
        if (n == null || n.isNull()) throw new SquishException(where + ": missing " + key);
        if (!n.isIntegralNumber() || !n.canConvertToInt() || n.asInt() <= 0)
            throw new SquishException(where + ": " + key + " must be a positive integer, got " + n);
        return n.asInt();
    }

    public int qDim() { return heads * headDim; }

    public int kvDim() { return kvHeads * headDim; }
}
