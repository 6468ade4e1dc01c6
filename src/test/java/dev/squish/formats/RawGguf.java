package dev.squish.formats;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/** Hand-assembles GGUF bytes for tests (independent of GgufWriter, so files can be made wrong on purpose). */
final class RawGguf {
    final ByteArrayOutputStream out = new ByteArrayOutputStream();

    RawGguf u8(int v) { out.write(v); return this; }

    RawGguf u32(long v) { for (int i = 0; i < 4; i++) out.write((int) (v >>> (8 * i))); return this; }

    RawGguf u64(long v) { for (int i = 0; i < 8; i++) out.write((int) (v >>> (8 * i))); return this; }

    RawGguf f32(float v) { return u32(Float.floatToRawIntBits(v)); }

    RawGguf str(String s) { return bytes(s.getBytes(StandardCharsets.UTF_8)); }

    RawGguf bytes(byte[] b) { u64(b.length); out.writeBytes(b); return this; }

    RawGguf raw(byte[] b) { out.writeBytes(b); return this; }

    RawGguf header(long tensors, long kvs) { return u32(0x46554747).u32(3).u64(tensors).u64(kvs); }

    /** Tensor info; dims given in ggml order (row length first). */
    RawGguf info(String name, int type, long offset, long... ggmlDims) {
        str(name).u32(ggmlDims.length);
        for (long d : ggmlDims) u64(d);
        return u32(type).u64(offset);
    }

    RawGguf padTo(int alignment) {
        while (out.size() % alignment != 0) out.write(0);
        return this;
    }

    int size() { return out.size(); }

    byte[] toBytes() { return out.toByteArray(); }
}
