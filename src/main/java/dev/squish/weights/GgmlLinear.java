package dev.squish.weights;

import dev.squish.SquishException;
import dev.squish.formats.DType;
import dev.squish.formats.GgmlType;
import dev.squish.formats.GgufQuant;
import dev.squish.formats.SafeTensors;
import dev.squish.formats.SafeTensorsWriter;
import dev.squish.formats.TensorInfo;
import dev.squish.util.Parallel;

import java.lang.foreign.MemorySegment;
import java.util.Locale;

/**
 * A weight stored as llama.cpp's quantized blocks (Q8_0 ... Q2_K, IQ4_NL): exactly the bytes a GGUF
 * tensor of that type holds, rows of {@code cols / blockSize} blocks, so {@code export --gguf} of the
 * same type copies them without re-quantizing (what {@code compress --gguf-type} produces: GPTQ or
 * AWQ codes chosen on llama.cpp's own grid).
 *
 * <p>Kernel: each row is decoded by ggml's dequantizer into a scratch row and multiplied there
 * (matvec: one row per task; prefill: {@link Kernels#matmulByRows} tiles). It is a storage format
 * for export and for evaluating what llama.cpp will compute, not a tuned kernel: the blocks'
 * mixed 2-6 bit fields are decoded by scalar code.
 *
 * <p>File: {@code PREFIX.ggml} U8 [rows, rowBytes], {@code PREFIX.shape} I32 [rows, cols]. Format
 * name {@code ggml-q4_k}, {@code ggml-q8_0}, ... (the type in lower case). Read back from a mapped
 * file, the blocks are served from the map.
 */
public final class GgmlLinear implements Linear {
    public static final String PREFIX = "ggml-";
    private final GgmlType type;
    private final int rows, cols, rowBytes;
    private final MemorySegment data;

    /** Wraps {@code data} (rows x rowBytes, not copied). */
    public GgmlLinear(GgmlType type, int rows, int cols, MemorySegment data) {
        if (!GgufQuant.canEncode(type) || !type.isBlockQuantized()) throw new IllegalArgumentException("not a ggml block type: " + type);
        if (cols % type.blockSize != 0) throw new IllegalArgumentException(type + " needs rows that are a multiple of " + type.blockSize + ", got " + cols);
        this.type = type; this.rows = rows; this.cols = cols;
        this.rowBytes = Math.toIntExact(type.bytes(cols));
        if (data.byteSize() != (long) rows * rowBytes) throw new IllegalArgumentException("expected " + (long) rows * rowBytes + " bytes, got " + data.byteSize());
        this.data = data;
    }

    public GgmlLinear(GgmlType type, int rows, int cols, byte[] data) { this(type, rows, cols, MemorySegment.ofArray(data)); }

    /** ggml's reference quantization (round to nearest with its scale searches) of a dense matrix. */
    public static GgmlLinear quantize(GgmlType type, float[] w, int rows, int cols) {
        FormatIO.checkDense(w, rows, cols);
        return new GgmlLinear(type, rows, cols, GgufQuant.encode(type, w, cols));
    }

    public GgmlType type() { return type; }
    public int rowBytes() { return rowBytes; }

    /** The blocks as stored (rows x rowBytes). */
    public byte[] blocks() { return data.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE); }

    @Override public int rows() { return rows; }
    @Override public int cols() { return cols; }

    private void decodeRow(int r, float[] dst, int off) { GgufQuant.decodeInto(type, data, (long) r * rowBytes, dst, off, cols); }

    @Override public void matvec(float[] x, float[] y) {
        Kernels.checkMatvec(this, x, y);
        Parallel.forRange(rows, Parallel.rowGrain(cols), (r0, r1) -> {
            float[] buf = new float[cols];
            for (int r = r0; r < r1; r++) {
                decodeRow(r, buf, 0);
                y[r] = Kernels.dot(buf, 0, x, 0, cols);
            }
        });
    }

    @Override public void matmul(float[] x, int n, float[] y) {
        Kernels.checkMatmul(this, x, n, y);
        if (n == 1) { matvec(x, y); return; }
        Kernels.matmulByRows(rows, cols, x, n, y, this::decodeRow);
    }

    @Override public long bytes() { return (long) rows * rowBytes; }
    @Override public long parameters() { return (long) rows * cols; }

    @Override public float[] toDense() {
        float[] out = new float[Math.multiplyExact(rows, cols)];
        for (int r = 0; r < rows; r++) decodeRow(r, out, r * cols);
        return out;
    }

    @Override public String format() { return PREFIX + type.name().toLowerCase(Locale.ROOT); }

    @Override public void write(String prefix, SafeTensorsWriter out) {
        out.add(prefix + ".ggml", DType.U8, new long[]{rows, rowBytes}, data);
        FormatIO.writeShape(out, prefix, rows, cols);
        out.metadata(WeightFormats.META_PREFIX + prefix, format());
    }

    /** The ggml type of a format name {@code ggml-q4_k}, or null. */
    public static GgmlType parseFormat(String fmt) {
        if (!fmt.startsWith(PREFIX)) return null;
        try {
            GgmlType t = GgmlType.valueOf(fmt.substring(PREFIX.length()).toUpperCase(Locale.ROOT));
            return t.isBlockQuantized() && GgufQuant.canEncode(t) ? t : null;
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    static GgmlLinear read(SafeTensors st, String prefix, String fmt) {
        GgmlType t = parseFormat(fmt);
        if (t == null) throw FormatIO.bad(st, prefix + ".ggml", "has unknown ggml format '" + fmt + "'");
        int[] shape = FormatIO.shape(st, prefix, 2);
        if (shape[1] % t.blockSize != 0)
            throw FormatIO.bad(st, prefix + ".shape", "has rows of " + shape[1] + " values, not a multiple of " + t + "'s block of " + t.blockSize);
        TensorInfo d = FormatIO.need(st, prefix + ".ggml", DType.U8, shape[0], t.bytes(shape[1]));
        return new GgmlLinear(t, shape[0], shape[1], d.data());
    }
}
