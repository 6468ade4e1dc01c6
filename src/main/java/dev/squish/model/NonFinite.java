package dev.squish.model;

import dev.squish.SquishException;
import dev.squish.weights.DenseLinear;
import dev.squish.weights.Linear;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Map;

/**
 * Detects NaN and infinite weights and activations and names where they are. The checks are
 * cheap by design: compression scans each block's weights once, just before compressing it (it
 * reads them anyway); calibration checks each block's outputs (n x width floats per sample);
 * evaluation checks each window's loss and only on failure runs {@link #diagnose}, which walks the
 * forward pass block by block and scans the guilty block's tensors to name one.
 */
public final class NonFinite {
    private NonFinite() {}

    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Index of the first NaN or infinite value, or -1. */
    public static long find(float[] v) {
        for (int i = 0; i < v.length; i++) if (!Float.isFinite(v[i])) return i;
        return -1;
    }

    /** Index (row-major) of the first non-finite weight, or -1; dense weights are scanned in place. */
    public static long find(Linear l) {
        if (l instanceof DenseLinear d) {
            MemorySegment s = d.segment();
            long n = s.byteSize() / 4;
            for (long i = 0; i < n; i++) if (!Float.isFinite(s.get(F32, 4 * i))) return i;
            return -1;
        }
        if (l instanceof dev.squish.weights.TransposedDenseLinear t) return t.firstNonFinite();
        return find(l.toDense());
    }

    /** Throws a {@link SquishException} naming the first tensor of block b with a non-finite value. */
    public static void checkBlock(Model m, Block b) {
        String p = m.arch.blockPrefix(b.index);
        for (Map.Entry<String, Linear> e : b.linears.entrySet()) {
            long at = find(e.getValue());
            if (at >= 0) throw weightError(m, p + e.getKey() + ".weight", e.getValue(), at);
        }
        for (Map.Entry<String, float[]> e : b.vectors.entrySet()) {
            long at = find(e.getValue());
            if (at >= 0) throw vectorError(m, p + e.getKey(), e.getValue(), (int) at);
        }
    }

    /** Throws a {@link SquishException} naming the first global tensor (embeddings, final norm, head) with a non-finite value. */
    public static void checkGlobals(Model m) {
        long at = find(m.embed);
        if (at >= 0) throw weightError(m, m.arch.embedName(), m.embed, at);
        if (m.positions != null && (at = find(m.positions)) >= 0) throw weightError(m, m.arch.positionName(), m.positions, at);
        if ((at = find(m.finalNorm)) >= 0) throw vectorError(m, m.arch.finalNormName(), m.finalNorm, (int) at);
        if (m.finalNormBias != null && (at = find(m.finalNormBias)) >= 0)
            throw vectorError(m, m.arch.finalNormBiasName(), m.finalNormBias, (int) at);
        if (!m.tiedHead && (at = find(m.head)) >= 0) throw weightError(m, m.arch.headName(), m.head, at);
    }

    /**
     * Explains why the forward pass over tokens produced non-finite values: the first tensor with a
     * non-finite value in the block where activations first go bad (or in the globals), or else
     * that finite weights overflowed float32 there.
     */
    public static String diagnose(Model m, int[] tokens) {
        int n = tokens.length;
        try {
            float[] x = m.embed(tokens, 0);
            if (find(x) >= 0) checkGlobals(m);
            KVCache cache = m.newCache(n);
            for (Block b : m.blocks) {
                x = m.arch.forwardBlock(b, x, n, 0, cache, LinearObserver.NONE);
                if (find(x) >= 0) {
                    checkBlock(m, b);
                    return m.dir + ": activations became non-finite in block " + b.index
                            + " although its weights are finite (values overflow float32)";
                }
            }
            checkGlobals(m);
        } catch (SquishException e) {
            return e.getMessage();
        }
        return m.dir + ": the model produced non-finite logits (values overflow float32 in the final norm or head)";
    }

    /** Throws when calibration activations (block outputs) hold a non-finite value. */
    public static void checkActivations(Model m, Block b, float[] x) {
        if (find(x) < 0) return;
        checkBlock(m, b);
        throw new SquishException(m.dir + ": calibration activations became non-finite in block " + b.index
                + " although its weights are finite (values overflow float32)");
    }

    private static SquishException weightError(Model m, String tensor, Linear l, long at) {
        float v = l instanceof DenseLinear d ? d.segment().get(F32, 4 * at) : l.toDense()[(int) at];
        return new SquishException(where(m, tensor) + ": tensor " + tensor + " holds " + v + " at [" + at / l.cols() + ", " + at % l.cols()
                + "]; NaN or infinite weights cannot be evaluated or compressed");
    }

    private static SquishException vectorError(Model m, String tensor, float[] v, int at) {
        return new SquishException(where(m, tensor) + ": tensor " + tensor + " holds " + v[at] + " at [" + at
                + "]; NaN or infinite weights cannot be evaluated or compressed");
    }

    private static String where(Model m, String tensor) {
        var t = m.weights.getOrNull(tensor);
        return t != null ? t.file().toString() : m.dir.toString();
    }
}
