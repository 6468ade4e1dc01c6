package dev.squish.formats;

import dev.squish.SquishException;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.*;

/**
 * Reads a GGUF file (versions 2 and 3, little-endian), memory-mapped read-only with the FFM API.
 * Everything is validated before use: magic and version, counts and string/array lengths against
 * the bytes actually left, UTF-8, value and tensor types, dimensions (1..4, non-negative, no
 * overflow), alignment (a power of two), tensor offsets (aligned, inside the data section, no
 * overlaps), duplicate keys and names. Any problem is a {@link SquishException} naming the file.
 */
public final class GgufReader implements AutoCloseable {
    /** Nesting limit for arrays of arrays. */
    static final int MAX_DEPTH = 8;
    static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final Path file;
    private final Arena arena;
    private final MemorySegment seg;
    private final long size;
    private long pos;
    private int version;
    private long alignment = GgufWriter.DEFAULT_ALIGNMENT;
    private long dataStart;
    private final Map<String, GgufValue> metadata = new LinkedHashMap<>();
    private final Map<String, GgufTensor> tensors = new LinkedHashMap<>();

    private GgufReader(Path file, Arena arena, MemorySegment seg) {
        this.file = file;
        this.arena = arena;
        this.seg = seg;
        this.size = seg.byteSize();
    }

    /** Opens and validates a GGUF file. */
    public static GgufReader open(Path file) {
        if (!Files.isRegularFile(file)) throw new SquishException(file + ": no such file");
        Arena arena = Arena.ofShared();
        try {
            MemorySegment seg;
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
                long n = ch.size();
                if (n < 24) throw new SquishException(file + ": truncated (" + n + " bytes), not a GGUF file");
                seg = ch.map(FileChannel.MapMode.READ_ONLY, 0, n, arena);
            }
            GgufReader r = new GgufReader(file, arena, seg);
            r.parse();
            return r;
        } catch (IOException e) {
            arena.close();
            throw new SquishException(file + ": cannot read (" + e.getMessage() + ")", e);
        } catch (SquishException e) {
            arena.close();
            throw e;
        } catch (RuntimeException | OutOfMemoryError e) {
            // defensive: a gap in validation must still name the file and never escape raw
            arena.close();
            throw new SquishException(file + ": invalid GGUF file (" + e + ")", e);
        }
    }

    private SquishException bad(String what) {
        return new SquishException(file + ": " + what);
    }

    private void need(long n, String what) {
        if (n < 0 || n > size - pos) throw bad("truncated at byte " + pos + " while reading " + what + " (" + size + " bytes in file)");
    }

    private int u8(String what) { need(1, what); return seg.get(ValueLayout.JAVA_BYTE, pos++) & 0xff; }

    private short i16(String what) { need(2, what); short v = seg.get(I16, pos); pos += 2; return v; }

    private int i32(String what) { need(4, what); int v = seg.get(I32, pos); pos += 4; return v; }

    private long u32(String what) { return i32(what) & 0xffffffffL; }

    private long i64(String what) { need(8, what); long v = seg.get(I64, pos); pos += 8; return v; }

    /** A uint64 count or length that must fit in the remaining bytes at {@code minEach} bytes per item. */
    private long count(String what, long minEach) {
        long n = i64(what);
        if (n < 0 || (minEach > 0 && n > (size - pos) / minEach))
            throw bad(what + " " + Long.toUnsignedString(n) + " is impossible: only " + (size - pos) + " bytes follow at byte " + pos);
        return n;
    }

    private String string(String what) {
        long n = count(what + " length", 1);
        if (n > Integer.MAX_VALUE - 8) throw bad(what + " is too long (" + n + " bytes)");
        byte[] b = seg.asSlice(pos, n).toArray(ValueLayout.JAVA_BYTE);
        pos += n;
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(java.nio.ByteBuffer.wrap(b)).toString();
        } catch (CharacterCodingException e) {
            throw bad(what + " at byte " + (pos - n) + " is not valid UTF-8");
        }
    }

    private void parse() {
        int magic = i32("magic");
        if (magic != GgufWriter.MAGIC) throw bad("not a GGUF file (bad magic)");
        long v = u32("version");
        if (v != 2 && v != 3) throw bad("unsupported GGUF version " + v + " (2 and 3 are supported)");
        version = (int) v;
        // smallest tensor info: name length 8 + n_dims 4 + one dim 8 + type 4 + offset 8
        long nTensors = count("tensor count", 32);
        // smallest key/value: key length 8 + type 4 + a one-byte value
        long nKv = count("metadata count", 13);
        for (long i = 0; i < nKv; i++) {
            String key = string("metadata key #" + i);
            long typeId = u32("type of " + key);
            GgufValue.Type type = GgufValue.Type.fromId(typeId);
            if (type == null) throw bad("metadata " + key + " has unknown value type " + typeId);
            GgufValue value = value(key, type, 0);
            if (metadata.putIfAbsent(key, value) != null) throw bad("metadata key " + key + " appears twice");
        }
        GgufValue al = metadata.get(GgufWriter.KEY_ALIGNMENT);
        if (al != null) {
            if (al.type() != GgufValue.Type.UINT32) throw bad(GgufWriter.KEY_ALIGNMENT + " must be UINT32, is " + al.type());
            long a = al.asLong();
            if (a == 0 || (a & (a - 1)) != 0) throw bad(GgufWriter.KEY_ALIGNMENT + " " + a + " is not a power of two");
            alignment = a;
        }
        record Info(String name, long[] shape, GgmlType type, long offset, long bytes) {}
        List<Info> infos = new ArrayList<>();
        Set<String> names = new HashSet<>();
        for (long i = 0; i < nTensors; i++) {
            String name = string("tensor name #" + i);
            if (name.getBytes(StandardCharsets.UTF_8).length >= GgufWriter.MAX_NAME)
                throw bad("tensor name " + name + " is longer than " + (GgufWriter.MAX_NAME - 1) + " bytes");
            if (!names.add(name)) throw bad("tensor " + name + " appears twice");
            long nDims = u32("dimension count of tensor " + name);
            if (nDims < 1 || nDims > 4) throw bad("tensor " + name + " has " + nDims + " dimensions (1 to 4 allowed)");
            long[] shape = new long[(int) nDims];
            long numel = 1;
            for (int d = 0; d < nDims; d++) {
                long dim = i64("dimensions of tensor " + name);
                if (dim < 0) throw bad("tensor " + name + " has a negative dimension " + Long.toUnsignedString(dim));
                shape[(int) nDims - 1 - d] = dim; // file holds ggml order (row length first)
                try { numel = Math.multiplyExact(numel, dim); } catch (ArithmeticException e) {
                    throw bad("tensor " + name + " has too many elements " + Arrays.toString(shape));
                }
            }
            long typeId = u32("type of tensor " + name);
            GgmlType type = GgmlType.fromId(typeId);
            if (type == null) throw bad("tensor " + name + " has unknown ggml type " + typeId);
            long row = shape[shape.length - 1];
            if (row % type.blockSize != 0)
                throw bad("tensor " + name + " has rows of " + row + " values, not a multiple of the " + type + " block size " + type.blockSize);
            long offset = i64("offset of tensor " + name);
            if (offset < 0 || offset % alignment != 0)
                throw bad("tensor " + name + " has offset " + Long.toUnsignedString(offset) + ", not a multiple of the alignment " + alignment);
            long bytes;
            try { bytes = type.bytes(numel); } catch (ArithmeticException e) { throw bad("tensor " + name + " is too large"); }
            infos.add(new Info(name, shape, type, offset, bytes));
        }
        dataStart = (pos + alignment - 1) / alignment * alignment;
        if (!infos.isEmpty() && dataStart > size) throw bad("truncated: data section would start at byte " + dataStart + " of " + size);
        long dataLen = Math.max(0, size - dataStart);
        List<Info> sorted = new ArrayList<>(infos);
        sorted.sort(Comparator.comparingLong(Info::offset));
        for (int i = 0; i < sorted.size(); i++) {
            Info t = sorted.get(i);
            if (t.offset > dataLen || t.bytes > dataLen - t.offset)
                throw bad("tensor " + t.name + " (" + t.bytes + " bytes at data offset " + t.offset + ") runs past the end of the file (truncated?)");
            if (i > 0) {
                Info p = sorted.get(i - 1);
                if (p.bytes > 0 && t.bytes > 0 && p.offset + p.bytes > t.offset)
                    throw bad("tensors " + p.name + " and " + t.name + " overlap in the data section");
            }
        }
        for (Info t : infos)
            tensors.put(t.name, new GgufTensor(t.name, t.shape, t.type, t.offset, seg.asSlice(dataStart + t.offset, t.bytes), file));
    }

    private GgufValue value(String key, GgufValue.Type type, int depth) {
        String w = "value of " + key;
        return switch (type) {
            case UINT8 -> new GgufValue(type, null, (long) u8(w));
            case INT8 -> new GgufValue(type, null, (long) (byte) u8(w));
            case UINT16 -> new GgufValue(type, null, (long) (i16(w) & 0xffff));
            case INT16 -> new GgufValue(type, null, (long) i16(w));
            case UINT32 -> new GgufValue(type, null, u32(w));
            case INT32 -> new GgufValue(type, null, (long) i32(w));
            case UINT64, INT64 -> new GgufValue(type, null, i64(w));
            case FLOAT32 -> new GgufValue(type, null, Float.intBitsToFloat(i32(w)));
            case FLOAT64 -> new GgufValue(type, null, Double.longBitsToDouble(i64(w)));
            case BOOL -> new GgufValue(type, null, bool(w));
            case STRING -> new GgufValue(type, null, string(w));
            case ARRAY -> array(key, depth);
        };
    }

    private boolean bool(String what) {
        int b = u8(what);
        if (b > 1) throw bad(what + " is a bool with byte value " + b + " (must be 0 or 1)");
        return b == 1;
    }

    private GgufValue array(String key, int depth) {
        if (depth >= MAX_DEPTH) throw bad("metadata " + key + " nests arrays deeper than " + MAX_DEPTH);
        long typeId = u32("array element type of " + key);
        GgufValue.Type et = GgufValue.Type.fromId(typeId);
        if (et == null) throw bad("metadata " + key + " is an array of unknown type " + typeId);
        long n = count("array length of " + key, et.minBytes);
        if (n > Integer.MAX_VALUE - 8) throw bad("array " + key + " is too long (" + n + ")");
        int len = (int) n;
        String w = "elements of " + key;
        Object v;
        switch (et) {
            case UINT8, INT8 -> { need(len, w); v = seg.asSlice(pos, len).toArray(ValueLayout.JAVA_BYTE); pos += len; }
            case UINT16, INT16 -> { short[] a = new short[len]; for (int i = 0; i < len; i++) a[i] = i16(w); v = a; }
            case UINT32, INT32 -> { int[] a = new int[len]; for (int i = 0; i < len; i++) a[i] = i32(w); v = a; }
            case UINT64, INT64 -> { long[] a = new long[len]; for (int i = 0; i < len; i++) a[i] = i64(w); v = a; }
            case FLOAT32 -> { float[] a = new float[len]; for (int i = 0; i < len; i++) a[i] = Float.intBitsToFloat(i32(w)); v = a; }
            case FLOAT64 -> { double[] a = new double[len]; for (int i = 0; i < len; i++) a[i] = Double.longBitsToDouble(i64(w)); v = a; }
            case BOOL -> { boolean[] a = new boolean[len]; for (int i = 0; i < len; i++) a[i] = bool(w); v = a; }
            case STRING -> {
                List<String> a = new ArrayList<>(len);
                for (int i = 0; i < len; i++) a.add(string(key + "[" + i + "]"));
                v = Collections.unmodifiableList(a);
            }
            case ARRAY -> {
                List<GgufValue> a = new ArrayList<>(len);
                for (int i = 0; i < len; i++) a.add(array(key + "[" + i + "]", depth + 1));
                v = Collections.unmodifiableList(a);
            }
            default -> throw new AssertionError(et);
        }
        return new GgufValue(GgufValue.Type.ARRAY, et, v);
    }

    public Path file() { return file; }

    public int version() { return version; }

    public long alignment() { return alignment; }

    /** Byte offset in the file where the tensor data section begins. */
    public long dataStart() { return dataStart; }

    public Map<String, GgufValue> metadata() { return Collections.unmodifiableMap(metadata); }

    /** The value under {@code key}, or an error naming the file and key. */
    public GgufValue get(String key) {
        GgufValue v = metadata.get(key);
        if (v == null) throw bad("metadata key " + key + " is missing");
        return v;
    }

    public Collection<GgufTensor> tensors() { return Collections.unmodifiableCollection(tensors.values()); }

    public boolean has(String name) { return tensors.containsKey(name); }

    public GgufTensor tensor(String name) {
        GgufTensor t = tensors.get(name);
        if (t == null) throw bad("tensor " + name + " is missing");
        return t;
    }

    @Override public void close() {
        try { arena.close(); } catch (IllegalStateException ignored) { }
    }
}
