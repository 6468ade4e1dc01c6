package dev.squish.formats;

import dev.squish.SquishException;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Writes a GGUF v3 file (little-endian), as specified in ggml's {@code docs/gguf.md}: header
 * (magic, version, tensor count, metadata count), metadata key/values, tensor infos (name, dims
 * in ggml order, i.e. reversed from row-major, type, offset into the data section), padding to
 * the alignment, then each tensor's data, each padded to the alignment.
 *
 * <p>Tensors are registered with a callback that produces their values; {@link #finish()} calls
 * the callbacks one at a time while streaming, so only one tensor is on the heap at once. Sizes
 * and offsets are known up front from shapes and types. The file is written next to the target
 * under a temporary name and moved into place when complete.
 */
public final class GgufWriter {
    public static final int MAGIC = 0x46554747; // "GGUF" read as a little-endian uint32
    public static final int VERSION = 3;
    public static final int DEFAULT_ALIGNMENT = 32;
    /** ggml's GGML_MAX_NAME: tensor names must be shorter. */
    public static final int MAX_NAME = 64;
    public static final String KEY_ALIGNMENT = "general.alignment";

    /** One tensor: its values (encoded by {@link GgufQuant} while writing), or its bytes already encoded. */
    private record Tensor(String name, long[] shape, GgmlType type, long bytes, Supplier<float[]> values, Supplier<byte[]> encoded) {}

    private final Path target;
    private final Map<String, GgufValue> metadata = new LinkedHashMap<>();
    private final List<Tensor> tensors = new ArrayList<>();
    private final Map<String, Tensor> byName = new LinkedHashMap<>();
    private int alignment = DEFAULT_ALIGNMENT;
    private boolean finished;

    public GgufWriter(Path target) { this.target = target; }

    /** Adds a metadata key/value (kept in insertion order). */
    public GgufWriter put(String key, GgufValue value) {
        if (key == null || key.isEmpty()) throw new IllegalArgumentException("empty metadata key");
        if (metadata.containsKey(key)) throw new IllegalArgumentException("duplicate metadata key " + key);
        if (key.equals(KEY_ALIGNMENT)) {
            if (value.type() != GgufValue.Type.UINT32) throw new IllegalArgumentException(KEY_ALIGNMENT + " must be UINT32");
            setAlignment(value.asLong());
        }
        metadata.put(key, value);
        return this;
    }

    /** Sets the data alignment (a power of two) and records it as {@code general.alignment}. */
    public GgufWriter alignment(int bytes) {
        metadata.remove(KEY_ALIGNMENT);
        return put(KEY_ALIGNMENT, GgufValue.u32(bytes));
    }

    private void setAlignment(long a) {
        if (a <= 0 || a > (1 << 30) || (a & (a - 1)) != 0) throw new IllegalArgumentException("alignment must be a power of two, got " + a);
        alignment = (int) a;
    }

    /**
     * Registers a tensor of row-major {@code shape} stored as {@code type}; {@code values} is called
     * once during {@link #finish()} and must return exactly shape's element count, row-major.
     * Q8_0/Q4_0 need the last dimension (the row length) to be a multiple of 32.
     */
    public void addTensor(String name, long[] shape, GgmlType type, Supplier<float[]> values) {
        add(name, shape, type, values, null);
    }

    /**
     * Adds a tensor whose bytes the caller encodes (ggml blocks, row by row, exactly
     * {@code type.bytes(n)} of them): a calibrated quantizer's codes are written as they are.
     */
    public void addEncodedTensor(String name, long[] shape, GgmlType type, Supplier<byte[]> bytes) {
        add(name, shape, type, null, bytes);
    }

    private void add(String name, long[] shape, GgmlType type, Supplier<float[]> values, Supplier<byte[]> encoded) {
        if (name == null || name.isEmpty()) throw new IllegalArgumentException("empty tensor name");
        if (name.getBytes(StandardCharsets.UTF_8).length >= MAX_NAME)
            throw new SquishException(target + ": tensor name " + name + " is too long for GGUF (at most " + (MAX_NAME - 1) + " bytes)");
        if (byName.containsKey(name)) throw new IllegalArgumentException("duplicate tensor " + name);
        if (shape.length < 1 || shape.length > 4) throw new IllegalArgumentException(name + ": GGUF tensors have 1 to 4 dimensions, got " + shape.length);
        long n = 1;
        for (long d : shape) {
            if (d <= 0) throw new IllegalArgumentException(name + ": dimension " + d);
            n = Math.multiplyExact(n, d);
        }
        if (n > Integer.MAX_VALUE - 8) throw new SquishException(target + ": tensor " + name + " has too many elements (" + n + ") for one array");
        if (!GgufQuant.canEncode(type))
            throw new IllegalArgumentException(name + ": writing " + type + " is not supported (" + GgufQuant.SUPPORTED + ")");
        long row = shape[shape.length - 1];
        if (row % type.blockSize != 0)
            throw new SquishException(target + ": tensor " + name + " has rows of " + row + " values; " + type + " needs a multiple of " + type.blockSize);
        Tensor t = new Tensor(name, shape.clone(), type, type.bytes(n), values, encoded);
        tensors.add(t);
        byName.put(name, t);
    }

    public int tensorCount() { return tensors.size(); }

    private long pad(long n) { return (n + alignment - 1) / alignment * alignment; }

    /** Writes the file (temporary name, then moved onto the target). */
    public void finish() {
        if (finished) throw new IllegalStateException("already finished");
        finished = true;
        Path dir = target.toAbsolutePath().getParent();
        Path tmp = dir.resolve(target.getFileName() + ".tmp-" + ProcessHandle.current().pid() + "-" + System.nanoTime());
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
                 LeOut out = new LeOut(new BufferedOutputStream(Channels.newOutputStream(ch), 1 << 20))) {
                out.u32(MAGIC);
                out.u32(VERSION);
                out.u64(tensors.size());
                out.u64(metadata.size());
                for (var e : metadata.entrySet()) {
                    out.string(e.getKey());
                    out.u32(e.getValue().type().id());
                    writeValue(out, e.getValue());
                }
                long offset = 0;
                for (Tensor t : tensors) {
                    out.string(t.name);
                    out.u32(t.shape.length);
                    for (int i = t.shape.length - 1; i >= 0; i--) out.u64(t.shape[i]); // ggml order: fastest-varying first
                    out.u32(t.type.id);
                    out.u64(offset);
                    offset += pad(t.bytes);
                }
                out.zeros(pad(out.count) - out.count);
                for (Tensor t : tensors) {
                    byte[] bytes;
                    if (t.encoded != null) {
                        bytes = t.encoded.get();
                        if (bytes == null || bytes.length != t.bytes)
                            throw new IllegalStateException(t.name + ": expected " + t.bytes + " bytes, got " + (bytes == null ? "null" : bytes.length));
                    } else {
                        float[] v = t.values.get();
                        long n = t.bytes / t.type.blockBytes * t.type.blockSize;
                        if (v == null || v.length != n)
                            throw new IllegalStateException(t.name + ": expected " + n + " values, got " + (v == null ? "null" : v.length));
                        bytes = GgufQuant.encode(t.type, v, t.shape[t.shape.length - 1]);
                    }
                    out.write(bytes);
                    out.zeros(pad(bytes.length) - bytes.length);
                }
                out.flush();
                ch.force(true);
            }
            try {
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            deleteQuietly(tmp);
            throw new SquishException(target + ": cannot write (" + e.getMessage() + ")", e);
        } catch (RuntimeException | Error e) {
            deleteQuietly(tmp);
            throw e;
        }
    }

    private static void deleteQuietly(Path p) {
        try { Files.deleteIfExists(p); } catch (IOException ignored) { }
    }

    private static void writeValue(LeOut out, GgufValue v) throws IOException {
        switch (v.type()) {
            case UINT8, INT8 -> out.write(new byte[]{(byte) v.asLong()});
            case UINT16, INT16 -> out.u16((int) v.asLong());
            case UINT32, INT32 -> out.u32((int) v.asLong());
            case UINT64, INT64 -> out.u64(v.asLong());
            case FLOAT32 -> out.u32(Float.floatToRawIntBits((Float) v.value()));
            case FLOAT64 -> out.u64(Double.doubleToRawLongBits((Double) v.value()));
            case BOOL -> out.write(new byte[]{(byte) (v.asBoolean() ? 1 : 0)});
            case STRING -> out.string(v.asString());
            case ARRAY -> writeArray(out, v);
        }
    }

    private static void writeArray(LeOut out, GgufValue v) throws IOException {
        out.u32(v.elementType().id());
        int n = v.length();
        out.u64(n);
        Object a = v.value();
        switch (v.elementType()) {
            case UINT8, INT8 -> out.write((byte[]) a);
            case UINT16, INT16 -> { for (short s : (short[]) a) out.u16(s); }
            case UINT32, INT32 -> { for (int x : (int[]) a) out.u32(x); }
            case UINT64, INT64 -> { for (long x : (long[]) a) out.u64(x); }
            case FLOAT32 -> { for (float x : (float[]) a) out.u32(Float.floatToRawIntBits(x)); }
            case FLOAT64 -> { for (double x : (double[]) a) out.u64(Double.doubleToRawLongBits(x)); }
            case BOOL -> { for (boolean x : (boolean[]) a) out.write(new byte[]{(byte) (x ? 1 : 0)}); }
            case STRING -> { for (Object s : (List<?>) a) out.string((String) s); }
            case ARRAY -> {
                for (Object e : (List<?>) a) {
                    GgufValue inner = (GgufValue) e;
                    if (inner.type() != GgufValue.Type.ARRAY) throw new IllegalArgumentException("nested array element is not an array");
                    writeArray(out, inner);
                }
            }
        }
    }

    /** Little-endian primitive output that counts bytes written. */
    private static final class LeOut implements AutoCloseable {
        private final OutputStream out;
        private final byte[] buf = new byte[8];
        long count;

        LeOut(OutputStream out) { this.out = out; }

        void write(byte[] b) throws IOException { out.write(b); count += b.length; }

        void u16(int v) throws IOException { buf[0] = (byte) v; buf[1] = (byte) (v >>> 8); out.write(buf, 0, 2); count += 2; }

        void u32(int v) throws IOException {
            for (int i = 0; i < 4; i++) buf[i] = (byte) (v >>> (8 * i));
            out.write(buf, 0, 4); count += 4;
        }

        void u64(long v) throws IOException {
            for (int i = 0; i < 8; i++) buf[i] = (byte) (v >>> (8 * i));
            out.write(buf, 0, 8); count += 8;
        }

        void string(String s) throws IOException {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            u64(b.length);
            write(b);
        }

        void zeros(long n) throws IOException {
            for (long i = 0; i < n; i++) out.write(0);
            count += n;
        }

        void flush() throws IOException { out.flush(); }

        @Override public void close() throws IOException { out.close(); }
    }
}
