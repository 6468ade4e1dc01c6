package dev.squish.formats;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.squish.SquishException;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Streams tensors into a safetensors file without holding them in memory: tensor bytes are
 * appended to a side file as they arrive, and {@link #finish()} writes the header followed by the
 * data. Header is padded with spaces to a multiple of 8 bytes, as the reference writer does.
 */
public final class SafeTensorsWriter implements AutoCloseable {
    private record Entry(DType dtype, long[] shape, long begin, long end) {}

    private final Path target;
    private final Path dataFile;
    private final FileChannel data;
    private final Map<String, Entry> entries = new LinkedHashMap<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();
    private long offset;
    private boolean finished;

    public SafeTensorsWriter(Path target) {
        this.target = target;
        this.dataFile = target.resolveSibling(target.getFileName() + ".data-part");
        try {
            this.data = FileChannel.open(dataFile, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE);
        } catch (IOException e) {
            throw new SquishException(target + ": cannot write (" + e.getMessage() + ")", e);
        }
    }

    public SafeTensorsWriter metadata(String key, String value) { metadata.put(key, value); return this; }

    public void add(String name, DType dtype, long[] shape, MemorySegment bytes) {
        if (entries.containsKey(name)) throw new IllegalArgumentException("duplicate tensor " + name);
        long numel = 1;
        for (long d : shape) numel *= d;
        if (numel * dtype.bytes != bytes.byteSize())
            throw new IllegalArgumentException(name + ": " + bytes.byteSize() + " bytes for " + numel + " x " + dtype);
        try {
            long pos = 0, n = bytes.byteSize();
            while (pos < n) {
                long chunk = Math.min(n - pos, 1 << 24);
                ByteBuffer bb;
                if (bytes.isNative()) {
                    bb = bytes.asSlice(pos, chunk).asByteBuffer();
                } else { // heap segments over float[]/int[] have no ByteBuffer view: copy through bytes
                    byte[] buf = new byte[(int) chunk];
                    MemorySegment.copy(bytes, pos, MemorySegment.ofArray(buf), 0, chunk);
                    bb = ByteBuffer.wrap(buf);
                }
                while (bb.hasRemaining()) data.write(bb);
                pos += chunk;
            }
        } catch (IOException e) {
            throw new SquishException(target + ": write failed (" + e.getMessage() + ")", e);
        }
        entries.put(name, new Entry(dtype, shape.clone(), offset, offset + bytes.byteSize()));
        offset += bytes.byteSize();
    }

    public void addF32(String name, long[] shape, float[] values) {
        MemorySegment seg = MemorySegment.ofArray(new byte[values.length * 4]);
        MemorySegment.copy(values, 0, seg, TensorInfo.F32, 0, values.length);
        add(name, DType.F32, shape, seg);
    }

    public void addI32(String name, long[] shape, int[] values) {
        MemorySegment seg = MemorySegment.ofArray(new byte[values.length * 4]);
        MemorySegment.copy(values, 0, seg, TensorInfo.I32, 0, values.length);
        add(name, DType.I32, shape, seg);
    }

    public void addI16(String name, long[] shape, short[] values) {
        MemorySegment seg = MemorySegment.ofArray(new byte[values.length * 2]);
        MemorySegment.copy(values, 0, seg, TensorInfo.I16, 0, values.length);
        add(name, DType.I16, shape, seg);
    }

    public void addBytes(String name, DType dtype, long[] shape, byte[] values) {
        add(name, dtype, shape, MemorySegment.ofArray(values));
    }

    public boolean has(String name) { return entries.containsKey(name); }

    /** Writes the final file (header + data) and removes the side file. */
    public void finish() {
        if (finished) return;
        finished = true;
        ObjectNode root = SafeTensors.JSON.createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode m = root.putObject("__metadata__");
            metadata.forEach(m::put);
        }
        entries.forEach((name, e) -> {
            ObjectNode t = root.putObject(name);
            t.put("dtype", e.dtype().name());
            var sh = t.putArray("shape");
            for (long d : e.shape()) sh.add(d);
            var off = t.putArray("data_offsets");
            off.add(e.begin());
            off.add(e.end());
        });
        byte[] header = root.toString().getBytes(StandardCharsets.UTF_8);
        int padded = (header.length + 7) / 8 * 8;
        byte[] h = new byte[padded];
        java.util.Arrays.fill(h, (byte) ' ');
        System.arraycopy(header, 0, h, 0, header.length);
        try {
            data.force(false);
            data.close();
            try (FileChannel out = FileChannel.open(target, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE);
                 FileChannel in = FileChannel.open(dataFile, StandardOpenOption.READ)) {
                ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded).flip();
                while (len.hasRemaining()) out.write(len);
                ByteBuffer hb = ByteBuffer.wrap(h);
                while (hb.hasRemaining()) out.write(hb);
                long pos = 0, size = in.size();
                while (pos < size) pos += in.transferTo(pos, size - pos, out);
                out.force(true);
            }
            Files.deleteIfExists(dataFile);
        } catch (IOException e) {
            throw new SquishException(target + ": write failed (" + e.getMessage() + ")", e);
        }
    }

    @Override public void close() {
        try {
            if (data.isOpen()) data.close();
            Files.deleteIfExists(dataFile);
        } catch (IOException ignored) { }
    }

    /** Convenience for tests and small files: writes all tensors at once. */
    public static void write(Path file, Map<String, float[]> values, Map<String, long[]> shapes) {
        try (SafeTensorsWriter w = new SafeTensorsWriter(file)) {
            values.forEach((k, v) -> w.addF32(k, shapes.get(k), v));
            w.finish();
        }
    }

}
