package dev.squish.robust;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.squish.cli.Main;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.RandomAccessFile;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

/** Test helpers: copies of model folders to damage, raw tensor edits, folder hashes, the CLI in-process. */
final class ModelFiles {
    private ModelFiles() {}

    static final ObjectMapper JSON = new ObjectMapper();

    record Run(int rc, String out, String err) {
        /** The error lines printed (each starting with "error: "). */
        long errorLines() { return err.lines().filter(l -> l.startsWith("error: ")).count(); }
    }

    static Run cli(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        int rc = Main.run(args, new PrintWriter(out), new PrintWriter(err));
        return new Run(rc, out.toString(), err.toString());
    }

    /** Copies the files of a model folder (not sub-folders). */
    static Path copy(Path src, Path dst) throws IOException {
        Files.createDirectories(dst);
        try (Stream<Path> s = Files.list(src)) {
            for (Path p : s.filter(Files::isRegularFile).toList()) Files.copy(p, dst.resolve(p.getFileName()));
        }
        return dst;
    }

    /** The shard of a model folder holding a tensor (via the index when there is one). */
    static Path shardOf(Path dir, String tensor) throws IOException {
        Path index = dir.resolve("model.safetensors.index.json");
        if (Files.exists(index)) return dir.resolve(JSON.readTree(index.toFile()).get("weight_map").get(tensor).asText());
        return dir.resolve("model.safetensors");
    }

    /** Overwrites element i of a float32 tensor in place. */
    static void setFloat(Path dir, String tensor, long i, float value) throws IOException {
        Path shard = shardOf(dir, tensor);
        try (RandomAccessFile f = new RandomAccessFile(shard.toFile(), "rw")) {
            byte[] len = new byte[8];
            f.readFully(len);
            long n = ByteBuffer.wrap(len).order(ByteOrder.LITTLE_ENDIAN).getLong();
            byte[] h = new byte[(int) n];
            f.readFully(h);
            JsonNode t = JSON.readTree(h).get(tensor);
            if (!t.get("dtype").asText().equals("F32")) throw new IllegalArgumentException(tensor + " is not F32");
            f.seek(8 + n + t.get("data_offsets").get(0).asLong() + 4 * i);
            f.write(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putFloat(value).array());
        }
    }

    /** Sets fields of config.json. */
    static void editConfig(Path dir, Map<String, Object> changes) throws IOException {
        Path cfg = dir.resolve("config.json");
        ObjectNode j = (ObjectNode) JSON.readTree(cfg.toFile());
        changes.forEach((k, v) -> j.set(k, JSON.valueToTree(v)));
        Files.writeString(cfg, j.toString());
    }

    /** SHA-256 of every file under dir, by relative path. */
    static Map<String, String> hashes(Path dir) throws Exception {
        Map<String, String> out = new TreeMap<>();
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.filter(Files::isRegularFile).toList()) {
                MessageDigest md = MessageDigest.getInstance("SHA-256");
                try (var in = Files.newInputStream(p)) {
                    byte[] buf = new byte[1 << 16];
                    for (int n; (n = in.read(buf)) > 0; ) md.update(buf, 0, n);
                }
                out.put(dir.relativize(p).toString(), HexFormat.of().formatHex(md.digest()));
            }
        }
        return out;
    }

    static Path text(Path dir, String name, String content) throws IOException {
        Path p = dir.resolve(name);
        Files.writeString(p, content, StandardCharsets.UTF_8);
        return p;
    }
}
