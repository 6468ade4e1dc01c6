package dev.squish.formats;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.squish.SquishException;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.*;

/**
 * A safetensors checkpoint: one file, or the shards listed by {@code model.safetensors.index.json}.
 * Files are memory-mapped read-only with the FFM API, so nothing is copied onto the heap until a
 * caller asks for a tensor's values. Every header is validated (well-formed JSON, known dtypes,
 * offsets inside the data area and non-overlapping, byte length = shape x dtype size); a problem
 * is a {@link SquishException} naming the file and tensor.
 */
public final class SafeTensors implements AutoCloseable {
    public static final ObjectMapper JSON = Json.MAPPER;
    /** Headers larger than this are refused (the reference implementation uses 100 MB). */
    static final long MAX_HEADER = 100L << 20;
    /** Squish's compact format: compressed weights with their formats in the metadata. Preferred when present. */
    public static final String SQUISH_FILE = "squish.safetensors";

    private final Arena arena = Arena.ofShared();
    private final Map<String, TensorInfo> tensors = new LinkedHashMap<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();
    private final List<Path> files = new ArrayList<>();

    private SafeTensors() {}

    /** Opens a model folder (index + shards, model.safetensors, or the only *.safetensors) or one file. */
    public static SafeTensors open(Path path) {
        SafeTensors st = new SafeTensors();
        try {
            if (Files.isDirectory(path)) {
                Path index = path.resolve("model.safetensors.index.json");
                if (Files.isRegularFile(path.resolve(SQUISH_FILE))) {
                    st.openFile(path.resolve(SQUISH_FILE));
                } else if (Files.isRegularFile(index)) {
                    st.openIndex(index);
                } else if (Files.isRegularFile(path.resolve("model.safetensors"))) {
                    st.openFile(path.resolve("model.safetensors"));
                } else {
                    List<Path> found = new ArrayList<>();
                    try (var s = Files.list(path)) {
                        s.filter(p -> p.getFileName().toString().endsWith(".safetensors")
                                && !p.getFileName().toString().startsWith("reference")
                                && !p.getFileName().toString().startsWith("reference_")).sorted().forEach(found::add);
                    }
                    if (found.isEmpty()) throw new SquishException(path + ": no *.safetensors weights found");
                    for (Path p : found) st.openFile(p);
                }
                // A compressed-tensors folder (llm-compressor): record each compressed module's format.
                if (!Files.isRegularFile(path.resolve(SQUISH_FILE))) CompressedTensors.annotate(path, st.tensors, st.metadata);
            } else if (Files.isRegularFile(path)) {
                st.openFile(path);
            } else {
                throw new SquishException(path + ": no such file or folder");
            }
            return st;
        } catch (IOException e) {
            st.close();
            throw new SquishException(path + ": cannot read (" + e.getMessage() + ")", e);
        } catch (RuntimeException e) {
            st.close();
            throw e;
        }
    }

    private void openIndex(Path index) throws IOException {
        JsonNode root;
        try {
            root = JSON.readTree(Files.readAllBytes(index));
        } catch (JsonProcessingException e) {
            throw new SquishException(index + ": malformed JSON (" + e.getOriginalMessage() + ")");
        }
        JsonNode map = root == null ? null : root.get("weight_map");
        if (map == null || !map.isObject()) throw new SquishException(index + ": missing \"weight_map\" object");
        Map<String, Set<String>> byFile = new LinkedHashMap<>();
        for (var it = map.fields(); it.hasNext(); ) {
            var e = it.next();
            if (!e.getValue().isTextual()) throw new SquishException(index + ": weight_map entry " + e.getKey() + " is not a file name");
            String f = e.getValue().asText();
            if (f.contains("/") || f.contains("\\") || f.equals("..") || f.isEmpty())
                throw new SquishException(index + ": weight_map entry " + e.getKey() + " names an invalid file '" + f + "'");
            byFile.computeIfAbsent(f, k -> new LinkedHashSet<>()).add(e.getKey());
        }
        Path dir = index.getParent();
        for (var e : byFile.entrySet()) {
            Path shard = dir.resolve(e.getKey());
            if (!Files.isRegularFile(shard)) throw new SquishException(shard + ": shard listed in " + index.getFileName() + " is missing");
            int before = tensors.size();
            openFile(shard);
            for (String name : e.getValue()) {
                TensorInfo t = tensors.get(name);
                if (t == null || !t.file().equals(shard))
                    throw new SquishException(shard + ": tensor " + name + " listed in " + index.getFileName() + " is not in this shard");
            }
            if (tensors.size() == before) throw new SquishException(shard + ": shard holds no tensors");
        }
    }

    private void openFile(Path file) throws IOException {
        MemorySegment seg;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) throw new SquishException(file + ": truncated (" + size + " bytes, no header)");
            seg = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
        } catch (NoSuchFileException e) {
            throw new SquishException(file + ": no such file");
        }
        files.add(file);
        parseHeader(file, seg);
    }

    private void parseHeader(Path file, MemorySegment seg) {
        long size = seg.byteSize();
        long n = seg.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
        if (n < 2 || n > MAX_HEADER) throw new SquishException(file + ": invalid header length " + Long.toUnsignedString(n));
        if (n > size - 8) throw new SquishException(file + ": header length " + n + " is longer than the file (" + size + " bytes)");
        byte[] hb = seg.asSlice(8, n).toArray(ValueLayout.JAVA_BYTE);
        JsonNode root;
        try {
            root = JSON.readTree(new String(hb, StandardCharsets.UTF_8));
        } catch (JsonProcessingException e) {
            throw new SquishException(file + ": malformed header JSON (" + e.getOriginalMessage() + ")");
        }
        if (root == null || !root.isObject()) throw new SquishException(file + ": header is not a JSON object");
        long dataStart = 8 + n;
        long dataLen = size - dataStart;
        MemorySegment data = seg.asSlice(dataStart, dataLen);
        List<long[]> ranges = new ArrayList<>();
        List<String> names = new ArrayList<>();
        for (var it = root.fields(); it.hasNext(); ) {
            var e = it.next();
            String name = e.getKey();
            JsonNode v = e.getValue();
            if (name.equals("__metadata__")) {
                if (!v.isObject()) throw new SquishException(file + ": __metadata__ is not an object");
                v.fields().forEachRemaining(m -> metadata.put(m.getKey(), m.getValue().isTextual() ? m.getValue().asText() : m.getValue().toString()));
                continue;
            }
            if (!v.isObject()) throw new SquishException(file + ": tensor " + name + ": entry is not an object");
            JsonNode dt = v.get("dtype"), sh = v.get("shape"), off = v.get("data_offsets");
            if (dt == null || !dt.isTextual()) throw new SquishException(file + ": tensor " + name + ": missing dtype");
            DType dtype = DType.parse(dt.asText());
            if (dtype == null) throw new SquishException(file + ": tensor " + name + ": unknown dtype '" + dt.asText() + "'");
            if (sh == null || !sh.isArray()) throw new SquishException(file + ": tensor " + name + ": missing shape");
            long[] shape = new long[sh.size()];
            long numel = 1;
            for (int i = 0; i < shape.length; i++) {
                JsonNode d = sh.get(i);
                if (!d.canConvertToLong() || !d.isIntegralNumber() || d.asLong() < 0)
                    throw new SquishException(file + ": tensor " + name + ": invalid shape " + sh);
                shape[i] = d.asLong();
                try { numel = Math.multiplyExact(numel, shape[i]); } catch (ArithmeticException ex) {
                    throw new SquishException(file + ": tensor " + name + ": shape " + sh + " overflows");
                }
            }
            if (off == null || !off.isArray() || off.size() != 2 || !off.get(0).isIntegralNumber() || !off.get(1).isIntegralNumber()
                    || !off.get(0).canConvertToLong() || !off.get(1).canConvertToLong())
                throw new SquishException(file + ": tensor " + name + ": invalid data_offsets");
            long begin = off.get(0).asLong(), end = off.get(1).asLong();
            if (begin < 0 || end < begin) throw new SquishException(file + ": tensor " + name + ": invalid data_offsets [" + begin + ", " + end + "]");
            if (end > dataLen) throw new SquishException(file + ": tensor " + name + ": data_offsets [" + begin + ", " + end + "] run past the end of the file (truncated?)");
            long expected;
            try { expected = Math.multiplyExact(numel, (long) dtype.bytes); } catch (ArithmeticException ex) {
                throw new SquishException(file + ": tensor " + name + ": byte size overflows");
            }
            if (end - begin != expected)
                throw new SquishException(file + ": tensor " + name + ": " + (end - begin) + " bytes for shape " + sh + " of " + dtype + " (expected " + expected + ")");
            if (tensors.containsKey(name)) throw new SquishException(file + ": tensor " + name + " appears twice in the checkpoint");
            tensors.put(name, new TensorInfo(name, dtype, shape, data.asSlice(begin, end - begin), file));
            ranges.add(new long[]{begin, end, names.size()});
            names.add(name);
        }
        ranges.sort(Comparator.comparingLong(r -> r[0]));
        for (int i = 1; i < ranges.size(); i++) {
            long[] a = ranges.get(i - 1), b = ranges.get(i);
            if (b[0] < a[1] && b[1] > b[0] && a[1] > a[0])
                throw new SquishException(file + ": tensors " + names.get((int) a[2]) + " and " + names.get((int) b[2]) + " overlap in the data area");
        }
    }

    public boolean has(String name) { return tensors.containsKey(name); }

    /** The tensor, or an error naming it and the checkpoint. */
    public TensorInfo get(String name) {
        TensorInfo t = tensors.get(name);
        if (t == null) throw new SquishException(where() + ": tensor " + name + " is missing");
        return t;
    }

    public TensorInfo getOrNull(String name) { return tensors.get(name); }

    public Set<String> names() { return Collections.unmodifiableSet(tensors.keySet()); }

    public Collection<TensorInfo> tensors() { return Collections.unmodifiableCollection(tensors.values()); }

    public Map<String, String> metadata() { return Collections.unmodifiableMap(metadata); }

    public List<Path> files() { return Collections.unmodifiableList(files); }

    String where() {
        if (files.isEmpty()) return "checkpoint";
        return files.size() == 1 ? files.get(0).toString() : files.get(0).getParent().toString();
    }

    @Override public void close() {
        try { arena.close(); } catch (IllegalStateException ignored) { }
    }
}
