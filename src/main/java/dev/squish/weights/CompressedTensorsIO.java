package dev.squish.weights;

import dev.squish.SquishException;
import dev.squish.formats.CompressedTensors;
import dev.squish.formats.DType;
import dev.squish.formats.SafeTensors;
import dev.squish.formats.TensorInfo;

import java.util.Arrays;

/**
 * Loads a module of a compressed-tensors folder ({@link CompressedTensors}) into Squish's own
 * formats, exactly: {@code pack-quantized} becomes a {@link QuantizedLinear} (unsigned code
 * {@code q + 2^(b-1)}, zero {@code zp + 2^(b-1)}, so {@code scale * (q - zero)} is the reference's
 * {@code (q - zp) * scale} bit for bit), {@code sparse-bitmask} a {@link SparseLinear} and
 * {@code sparse-24-bitmask} a 2:4 {@link NMSparseLinear}. Scales and values in F16/BF16 widen to
 * float32 exactly. Every inconsistency (shapes that disagree, offsets that do not match the
 * bitmask, a 2:4 group that does not keep two) is an error naming the tensor.
 */
final class CompressedTensorsIO {
    private CompressedTensorsIO() {}

    static boolean handles(String fmt) { return fmt.startsWith(CompressedTensors.FORMAT_PREFIX); }

    static Linear read(SafeTensors st, String prefix, String fmt) {
        String f = fmt.substring(CompressedTensors.FORMAT_PREFIX.length());
        if (f.startsWith(CompressedTensors.PACK_QUANTIZED + ":")) return packed(st, prefix, f.split(":"));
        if (f.equals(CompressedTensors.SPARSE_BITMASK)) return bitmask(st, prefix);
        if (f.equals(CompressedTensors.SPARSE_24)) return sparse24(st, prefix);
        throw FormatIO.bad(st, prefix + ".weight", "has unknown compressed-tensors format '" + f + "'");
    }

    /** {@code M.shape} / {@code M.weight_shape}: any integer dtype, 2 entries (the 2:4 format stores [2, 1]). */
    private static int[] shape(SafeTensors st, String name) {
        TensorInfo t = st.get(name);
        if (t.numel() != 2 || t.dtype().isFloat()) throw FormatIO.bad(st, name, "should hold the 2 dimensions of the weight, is " + t.dtype() + Arrays.toString(t.shape()));
        int[] s = t.toIntArray();
        if (s[0] < 0 || s[1] < 0) throw FormatIO.bad(st, name, "has a negative dimension " + Arrays.toString(s));
        return s;
    }

    private static QuantizedLinear packed(SafeTensors st, String prefix, String[] p) {
        int bits = Integer.parseInt(p[1]), group = Integer.parseInt(p[2]);
        boolean sym = p[3].equals("sym");
        int[] shape = shape(st, prefix + ".weight_shape");
        int rows = shape[0], cols = shape[1], pf = 32 / bits;
        int g = group > 0 ? Math.min(group, Math.max(cols, 1)) : Math.max(cols, 1), groups = QuantGrid.groups(cols, g);
        int[] packed = FormatIO.need(st, prefix + ".weight_packed", DType.I32, rows, (cols + pf - 1) / pf).toIntArray();
        int[] codes = CompressedTensors.unpackInt32(packed, rows, cols, bits);
        if (cols % pf != 0)
            for (int r = 0; r < rows; r++)
                if ((packed[r * ((cols + pf - 1) / pf) + cols / pf] >>> (bits * (cols % pf))) != 0)
                    throw FormatIO.bad(st, prefix + ".weight_packed", "has non-zero padding in row " + r);
        TensorInfo sc = st.get(prefix + ".weight_scale");
        if (!sc.dtype().isFloat()) throw FormatIO.bad(st, sc.name(), "should be a float tensor, is " + sc.dtype());
        float[] s = sc.toFloatArray();
        float[] scales;
        if (group < 0) {   // tensor strategy: one scale, repeated per row
            if (s.length != 1) throw FormatIO.bad(st, sc.name(), "should hold 1 scale (strategy tensor), is " + Arrays.toString(sc.shape()));
            scales = new float[rows];
            Arrays.fill(scales, s[0]);
        } else {
            FormatIO.need(st, sc.name(), sc.dtype(), rows, groups);
            scales = s;
        }
        int offset = 1 << (bits - 1);
        float[] zeros = new float[scales.length];
        if (sym) {
            Arrays.fill(zeros, offset);
        } else {
            int zr = (rows + pf - 1) / pf, zc = group < 0 ? 1 : groups;
            TensorInfo zt = st.getOrNull(prefix + ".weight_zero_point");
            if (zt == null) throw FormatIO.bad(st, prefix + ".weight_packed", "is asymmetric but " + prefix + ".weight_zero_point is missing");
            int[] z;
            if (group < 0) {    // tensor strategy: the zero point is stored unpacked
                z = zt.toIntArray();
                if (z.length != 1) throw FormatIO.bad(st, zt.name(), "should hold 1 zero point (strategy tensor), is " + Arrays.toString(zt.shape()));
                int v = z[0] + offset;
                Arrays.fill(zeros, v);
            } else {
                z = CompressedTensors.unpackInt32Rows(FormatIO.need(st, zt.name(), DType.I32, zr, zc).toIntArray(), rows, zc, bits);
                for (int i = 0; i < z.length; i++) zeros[i] = z[i];
            }
        }
        TensorInfo gi = st.getOrNull(prefix + ".weight_g_idx");
        if (gi != null) {
            int[] idx = gi.toIntArray();
            if (idx.length != cols) throw FormatIO.bad(st, gi.name(), "should hold " + cols + " group indices, has " + idx.length);
            for (int c = 0; c < cols; c++)
                if (idx[c] != c / g)
                    throw FormatIO.bad(st, gi.name(), "maps column " + c + " to group " + idx[c] + ": activation ordering with permuted groups is not supported (Squish's groups are contiguous)");
        }
        return QuantizedLinear.fromCodes(rows, cols, bits, g, codes, scales, zeros);
    }

    private static SparseLinear bitmask(SafeTensors st, String prefix) {
        int[] shape = shape(st, prefix + ".shape");
        int rows = shape[0], cols = shape[1], rb = (cols + 7) / 8;
        byte[] mask = FormatIO.bytes(FormatIO.need(st, prefix + ".bitmask", DType.U8, rows, rb), 0);
        TensorInfo vt = st.get(prefix + ".compressed");
        if (!vt.dtype().isFloat() || vt.rank() != 1) throw FormatIO.bad(st, vt.name(), "should be a 1-D float tensor, is " + vt.dtype() + Arrays.toString(vt.shape()));
        float[] values = vt.toFloatArray();
        int[] offsets = st.get(prefix + ".row_offsets").toIntArray();
        if (offsets.length != rows) throw FormatIO.bad(st, prefix + ".row_offsets", "should hold " + rows + " offsets, has " + offsets.length);
        float[] w = new float[Math.multiplyExact(rows, cols)];
        int p = 0;
        for (int r = 0; r < rows; r++) {
            if (offsets[r] != p) throw FormatIO.bad(st, prefix + ".row_offsets", "says row " + r + " starts at " + offsets[r] + " but the bitmask puts it at " + p);
            for (int c = 0; c < cols; c++)
                if ((mask[r * rb + c / 8] >> (c % 8) & 1) != 0) {
                    if (p >= values.length) throw FormatIO.bad(st, vt.name(), "holds " + values.length + " values, fewer than the bitmask marks");
                    w[r * cols + c] = values[p++];
                }
        }
        if (p != values.length) throw FormatIO.bad(st, vt.name(), "holds " + values.length + " values but the bitmask marks " + p);
        return SparseLinear.fromDense(w, rows, cols);
    }

    private static NMSparseLinear sparse24(SafeTensors st, String prefix) {
        int[] shape = shape(st, prefix + ".shape");
        int rows = shape[0], cols = shape[1], rb = (cols + 7) / 8;
        if (cols % 4 != 0) throw FormatIO.bad(st, prefix + ".shape", "has " + cols + " columns, not a multiple of 4 (2:4 groups)");
        byte[] mask = FormatIO.bytes(FormatIO.need(st, prefix + ".bitmask", DType.U8, rows, rb), 0);
        TensorInfo vt = st.get(prefix + ".compressed");
        if (!vt.dtype().isFloat()) throw FormatIO.bad(st, vt.name(), "should be a float tensor, is " + vt.dtype());
        FormatIO.need(st, vt.name(), vt.dtype(), rows, cols / 2);
        float[] values = vt.toFloatArray();
        float[] w = new float[Math.multiplyExact(rows, cols)];
        int p = 0;
        for (int r = 0; r < rows; r++)
            for (int c0 = 0; c0 < cols; c0 += 4) {
                int kept = 0;
                for (int c = c0; c < c0 + 4; c++)
                    if ((mask[r * rb + c / 8] >> (c % 8) & 1) != 0) { kept++; w[r * cols + c] = values[Math.min(p++, values.length - 1)]; }
                if (kept != 2) throw FormatIO.bad(st, prefix + ".bitmask", "keeps " + kept + " of columns " + c0 + ".." + (c0 + 3) + " in row " + r + ", 2:4 keeps exactly 2");
            }
        return NMSparseLinear.fromDense(w, rows, cols, 2, 4);
    }
}
