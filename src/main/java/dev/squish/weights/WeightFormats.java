package dev.squish.weights;

import dev.squish.SquishException;
import dev.squish.formats.SafeTensors;
import dev.squish.formats.TensorInfo;

/**
 * Reads a linear weight back from a checkpoint. Plain Hugging Face checkpoints hold
 * {@code PREFIX.weight}; Squish's compact format records each non-dense weight's format in the
 * safetensors metadata under {@code squish.format.PREFIX}.
 */
public final class WeightFormats {
    private WeightFormats() {}

    public static final String META_PREFIX = "squish.format.";

    /**
     * Loads the weight stored under {@code prefix}. {@code transposed} is for GPT-2's Conv1D, which
     * stores [in, out]; the result is always [out, in] (a {@link TransposedDenseLinear} over the
     * mapped [in, out] bytes for float32/16 tensors).
     */
    public static Linear read(SafeTensors st, String prefix, boolean transposed) {
        return read(st, prefix, st.metadata().get(META_PREFIX + prefix), transposed);
    }

    private static Linear read(SafeTensors st, String prefix, String fmt, boolean transposed) {
        if (fmt != null && fmt.startsWith(LoraLinear.PREFIX))
            return LoraLinear.read(st, prefix, read(st, prefix, fmt.substring(LoraLinear.PREFIX.length()), false));
        if (fmt != null && fmt.startsWith(ActSparseLinear.PREFIX))
            return ActSparseLinear.read(st, prefix, read(st, prefix, fmt.substring(ActSparseLinear.PREFIX.length()), false));
        if (fmt == null && !transposed && st.get(prefix + ".weight").dtype() == dev.squish.formats.DType.BF16)
            return Bf16DenseLinear.mapped(FormatIO.need(st, prefix + ".weight", dev.squish.formats.DType.BF16, -1, -1));  // served from the map, no float copy
        if (fmt == null && !transposed && st.get(prefix + ".weight").dtype() == dev.squish.formats.DType.F16)
            return F16DenseLinear.mapped(FormatIO.need(st, prefix + ".weight", dev.squish.formats.DType.F16, -1, -1));  // served from the map, no float copy
        if (fmt == null && transposed) {
            // GPT-2's Conv1D [in, out]: served from the map in that layout, not transposed onto the heap
            TensorInfo t = st.get(prefix + ".weight");
            if (t.rank() == 2 && TransposedDenseLinear.handles(t.dtype())) return TransposedDenseLinear.mapped(t);
        }
        if (fmt == null || fmt.equals("dense-f32")) return readDense(st, prefix + ".weight", transposed);
        // Compact formats always store [out, in]; transposed only applies to plain HF tensors.
        if (fmt.startsWith(GgmlLinear.PREFIX)) return GgmlLinear.read(st, prefix, fmt);
        if (CompressedTensorsIO.handles(fmt)) return CompressedTensorsIO.read(st, prefix, fmt);
        if (fmt.equals(Bf16DenseLinear.FORMAT)) return Bf16DenseLinear.read(st, prefix);
        if (fmt.equals(F16DenseLinear.FORMAT)) return F16DenseLinear.read(st, prefix);
        if (QuantizedLinear.parseFormat(fmt) != null) return QuantizedLinear.read(st, prefix, fmt);
        if (fmt.equals(SparseLinear.FORMAT)) return SparseLinear.read(st, prefix);
        if (fmt.startsWith("sparse-int")) return SparseQuantizedLinear.read(st, prefix, fmt);
        if (fmt.startsWith("outlier-")) return OutlierLinear.read(st, prefix);
        if (NMSparseLinear.parseFormat(fmt) != null) return NMSparseLinear.read(st, prefix, fmt);
        if (fmt.equals(LowRankLinear.FORMAT)) return LowRankLinear.read(st, prefix);
        if (fmt.equals(ColumnMajorLinear.FORMAT)) return ColumnMajorLinear.read(st, prefix);
        throw new SquishException(st.files().get(0) + ": weight " + prefix + " has unknown format '" + fmt + "'");
    }

    /**
     * A float32 copy of a dense tensor ([out, in] when {@code transposed}, from [in, out]). Block
     * linears of any checkpoint are served from the map instead ({@link #read}); this remains for
     * embeddings and heads, for types the mapped formats do not take, and as the reference the
     * mapped transposed weights are tested against.
     */
    public static DenseLinear readDense(SafeTensors st, String name, boolean transposed) {
        TensorInfo t = st.get(name);
        if (t.rank() != 2) throw new SquishException(t.file() + ": tensor " + name + " should be 2-D, has shape " + java.util.Arrays.toString(t.shape()));
        int r = t.dim(0), c = t.dim(1);
        if (transposed) {
            float[] src = t.toFloatArray();
            float[] dst = new float[src.length];
            for (int i = 0; i < r; i++) for (int j = 0; j < c; j++) dst[j * r + i] = src[i * c + j];
            return new DenseLinear(c, r, dst);
        }
        if (t.dtype() == dev.squish.formats.DType.F32) return new DenseLinear(r, c, t.data());
        return new DenseLinear(r, c, t.toFloatArray());
    }
}
