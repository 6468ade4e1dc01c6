package dev.squish.weights;

import dev.squish.util.Parallel;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import static dev.squish.weights.Kernels.BS;
import static dev.squish.weights.Kernels.L;
import static dev.squish.weights.Kernels.S;

/**
 * Column-blocked copy of a {@link QuantizedLinear}'s int4/int8 codes for decode under activation
 * sparsity (TEAL, CATS, MoE-ified down projections): built at load from the codes (the file keeps
 * {@link QuantizedLinear}'s layout), used by {@link ActSparseLinear} for one-token products.
 *
 * <p>Each input column's codes for all rows are contiguous ({@code rows * bits / 8} bytes: 1 KiB
 * for 2,048 int4 rows), so a column whose input is zero is never computed, and the kept columns
 * are read whole, in increasing address order, which the hardware prefetcher streams (the lesson
 * of {@link ColumnMajorLinear}: 4 KiB pieces of columns gave no gain at all). Blocks of 8/16/32
 * columns were not used: with TEAL's unstructured zeros at 50%, a block of 8 is all-zero with
 * probability 0.5^8 = 0.4%, so it would almost never be skipped; a column is the unit TEAL zeroes.
 *
 * <p>Within a column the codes are packed as in {@link InterleavedCodes}, but over rows: rows come
 * in tiles of {@code T = P * L} ({@code P = 32 / bits} codes per int lane); lane j of the tile's int
 * vector holds row {@code tile*T + k*L + j} in bits {@code k*bits ..}. One int vector load (64
 * bytes with AVX-512: 128 int4 codes) gives P float vectors of consecutive rows, each with one AND
 * that leaves the code in place ({@code q * 2^(k*bits)}, exact in float) and one conversion; the
 * last is shifted down instead (its AND would set the sign bit). The power of two is the same for
 * every row at position k, so it is folded into a copy of the scales ({@code s * 2^-(k*bits)}), not
 * into the inner loop.
 *
 * <p>The product is x-stationary: {@code acc += x_c * q[:, c]} over the kept columns of a group,
 * one whole column at a time into an accumulator in L1/L2 (8 KiB for 2,048 rows), short runs of
 * skipped columns read through ({@link #GAP_BYTES}); at the end of each group
 * {@code y += s_g * (acc - z_g * X_g)} with {@code X_g} the sum of the group's kept inputs (the zero-point identity of
 * {@link QuantizedLinear}). Scales are F32 and zeros U8 per (row, group), 5 bytes against the 64
 * bytes of one row's int4 codes in a group of 128 (the dense int4 layout reads 72 per row and
 * group, scale and scale * zero as F32). Threads take contiguous runs of groups holding about equal numbers
 * of kept columns, each with its own accumulators, summed at the end.
 */
final class ColumnQuantCodes {
    private static final VectorSpecies<Integer> IS = S.withLanes(int.class);
    /**
     * Runs of skipped columns up to this many bytes are read through (one int load per row tile,
     * nothing computed) so that the read stays one sequential stream; longer runs are jumped. On
     * this machine a restarted DRAM stream costs about 0.5 us (the hardware prefetcher drops the
     * stream at every jump and a 1 KiB column is over before it locks on again), the time to
     * stream 5 KiB. KernelBench, 2048x5632 int4-g128, one thread, CPU time, 256 MiB of copies
     * (load 9-10), ms per matvec at TEAL 0 / 40 / 50%, interleaved int4 0.85-0.87:
     * jumping every skipped column 0.76 / 0.85 / 0.76 (time follows the ~1,400 jumps, not the
     * kept columns); reading through runs up to 4 KiB 1.13 / 0.58 / 0.81; reading through every
     * run 0.63 / 0.54 / 0.48. Touching the next columns ahead instead (Java has no prefetch
     * instruction; a load stalls retirement) gave 0.59 / 0.73 / 0.71. So at TEAL's 40-50% the
     * gain is in compute (the int4 product is compute-bound here, 22-28% of the bandwidth bound
     * in bench), not in DRAM bytes; the skipped columns' bytes stop being read only in runs of
     * 16 KiB and more (structured zeros, an all-zero input).
     */
    static final int GAP_BYTES = 16384;
    /** Where the touched values go, so that the JIT keeps the loads. */
    static int sink;

    final int rows, cols, bits, group, groups;
    private final int per, tileRows, tiles, prow, wpc;
    private final int[] packed;     // [cols][tiles][L]
    private final float[] sk;       // [groups][prow]: scale * 2^-(k*bits) for the row's code position k (padding rows 0)
    private final byte[] zb;        // [groups][prow]: zero - 128 as a signed byte, when every zero is an integer in [0, 255]
    private final float[] zf;       // otherwise the zeros as floats
    private final float[] pow;      // 2^(k*bits) per code position (1 for the last, shifted one)

    ColumnQuantCodes(QuantizedLinear q) {
        this.rows = q.rows(); this.cols = q.cols(); this.bits = q.bits(); this.group = q.groupSize();
        this.groups = QuantGrid.groups(cols, group);
        this.per = 32 / bits;
        this.tileRows = per * L;
        this.tiles = (rows + tileRows - 1) / tileRows;
        this.prow = tiles * tileRows;
        this.wpc = tiles * L;
        this.packed = new int[Math.multiplyExact(cols, wpc)];
        this.pow = new float[per];
        for (int k = 0; k < per; k++) pow[k] = k == per - 1 ? 1f : Math.scalb(1f, k * bits);
        this.sk = new float[Math.multiplyExact(groups, prow)];
        boolean u8 = true;
        for (int r = 0; r < rows && u8; r++)
            for (int g = 0; g < groups; g++) { float z = q.zero(r, g); if (!(z >= 0 && z <= 255 && z == Math.rint(z))) { u8 = false; break; } }
        this.zb = u8 ? new byte[groups * prow + Kernels.PAD] : null;
        this.zf = u8 ? null : new float[groups * prow];
        for (int g = 0; g < groups; g++)
            for (int r = 0; r < rows; r++) {
                int i = g * prow + r;
                sk[i] = q.scale(r, g) / pow[(r % tileRows) / L];
                if (u8) zb[i] = (byte) ((int) q.zero(r, g) - 128); else zf[i] = q.zero(r, g);
            }
        if (u8) for (int g = 0; g < groups; g++) java.util.Arrays.fill(zb, g * prow + rows, (g + 1) * prow, (byte) -128);
        Parallel.forRange(cols, Math.max(1, Parallel.rowGrain(rows)), (c0, c1) -> {
            for (int c = c0; c < c1; c++)
                for (int r = 0; r < rows; r++) {
                    int t = r / tileRows, k = (r % tileRows) / L, j = r % L;
                    packed[c * wpc + t * L + j] |= q.code(r, c) << (k * bits);
                }
        });
    }

    private static final ThreadLocal<float[]> ACC = ThreadLocal.withInitial(() -> new float[0]);

    /** A per-thread accumulator of at least n floats (one per part would be 22 KiB of garbage per part for 5,632 rows). */
    private static float[] scratch(int n) {
        float[] a = ACC.get();
        if (a.length < n) ACC.set(a = new float[n]);
        return a;
    }

    /** Bytes this layout holds in memory (codes, scales, zeros). */
    long bytes() { return 4L * packed.length + 4L * sk.length + (zb != null ? zb.length : 4L * zf.length); }

    /**
     * y[0..rows) = sum over k < count of x[idx[k]] * W[:, idx[k]] (other entries of x taken as zero,
     * whatever they hold); idx increasing.
     */
    void matvecColumns(float[] x, int[] idx, int count, float[] y) {
        if (rows == 0) return;
        // kept columns per group: idx[gs[g] .. gs[g+1]) are group g's; xg[g] their input sum
        int[] gs = new int[groups + 1];
        float[] xg = new float[groups];
        for (int k = 0, g = 0; g < groups; g++) {
            int end = Math.min(cols, (g + 1) * group);
            float s = 0;
            gs[g] = k;
            for (; k < count && idx[k] < end; k++) s += x[idx[k]];
            xg[g] = s;
            gs[g + 1] = k;
        }
        // Four parts per thread, not one, so that a descheduled worker on a loaded machine does not
        // hold half of the product (the interleaved int4 kernel's row chunks work the same way).
        // Measured in the 1B int4 model's decode at TEAL 40%: one part per thread 0.83-0.97x of
        // int4 without thresholds (load 10-12), four 0.81x (load 5-8): no clear gain either way.
        int threads = (long) count * rows < (1 << 16) ? 1 : Math.min(4 * Parallel.threads(), groups);
        if (threads == 1) {
            float[] acc = scratch(prow), out = new float[prow];
            for (int g = 0; g < groups; g++) groupInto(x, idx, gs[g], gs[g + 1], count, g, xg[g], acc, out);
            System.arraycopy(out, 0, y, 0, rows);
            return;
        }
        // contiguous runs of groups with about count / parts kept columns each
        int[] from = new int[threads + 1];
        for (int t = 1, g = 0; t < threads; t++) {
            long want = (long) count * t / threads;
            while (g < groups && gs[g + 1] <= want) g++;
            from[t] = Math.max(from[t - 1], g);
        }
        from[threads] = groups;
        float[][] part = new float[threads][];
        Parallel.forRange(threads, 1, (t0, t1) -> {
            for (int t = t0; t < t1; t++) {
                float[] acc = scratch(prow), out = new float[prow];
                for (int g = from[t]; g < from[t + 1]; g++) groupInto(x, idx, gs[g], gs[g + 1], count, g, xg[g], acc, out);
                part[t] = out;
            }
        });
        int vEnd = S.loopBound(rows);
        float[] p0 = part[0];
        int r = 0;
        for (; r < vEnd; r += L) {
            FloatVector s = FloatVector.fromArray(S, p0, r);
            for (int t = 1; t < threads; t++) s = s.add(FloatVector.fromArray(S, part[t], r));
            s.intoArray(y, r);
        }
        for (; r < rows; r++) {
            float s = p0[r];
            for (int t = 1; t < threads; t++) s += part[t][r];
            y[r] = s;
        }
    }

    /** out += group g's part of the product over the kept columns idx[k0 .. k1); acc is scratch of prow floats. */
    private void groupInto(float[] x, int[] idx, int k0, int k1, int count, int g, float xsum, float[] acc, float[] out) {
        if (k0 == k1) return;
        java.util.Arrays.fill(acc, 0, prow, 0f);
        if (bits == 4) columns4(x, idx, k0, k1, count, acc); else columns8(x, idx, k0, k1, count, acc);
        // out += sk * (acc - z * 2^(k*bits) * X_g), chunk by chunk of L rows (one code position each)
        int so = g * prow;
        FloatVector c128 = FloatVector.broadcast(S, 128f);
        for (int r = 0; r < prow; r += L) {
            FloatVector zx = FloatVector.broadcast(S, xsum * pow[(r % tileRows) / L]);
            FloatVector z = zb != null
                    ? ((FloatVector) ByteVector.fromArray(BS, zb, so + r).convertShape(VectorOperators.B2F, S, 0)).add(c128)
                    : FloatVector.fromArray(S, zf, so + r);
            FloatVector a = z.neg().fma(zx, FloatVector.fromArray(S, acc, r));
            a.fma(FloatVector.fromArray(S, sk, so + r), FloatVector.fromArray(S, out, r)).intoArray(out, r);
        }
    }

    /**
     * int4: acc[tile rows] += q * 2^(4k) * x_c over the kept columns, one column at a time, its row
     * tiles in address order (one sequential read of 1 KiB for 2,048 rows): per tile one int
     * vector, 8 code positions, each an accumulator load, FMA and store (the accumulator stays in
     * L1). Four columns per pass (one accumulator load and store per 4 FMAs) was the first form:
     * with every column kept it took 1.83 ms per 2048x5632 matvec against 0.58 ms for this one
     * (one thread, CPU time, weights from DRAM), because four streams 1 KiB apart, each advancing
     * by 64 bytes, are not what the hardware prefetcher follows.
     */
    private void columns4(float[] x, int[] idx, int k0, int k1, int count, float[] acc) {
        int touched = 0, gapCols = GAP_BYTES / Math.max(1, 4 * wpc);
        for (int k = k0; k < k1; k++) {
            int c = idx[k], b = c * wpc;
            FloatVector v = FloatVector.broadcast(S, x[c]);
            for (int t = 0; t < tiles; t++) {
                int ao = t * tileRows;
                IntVector w = IntVector.fromArray(IS, packed, b + t * L);
                for (int p = 0; p < 7; p++) {
                    int a = ao + p * L;
                    ((FloatVector) w.and(0xf << (4 * p)).convert(VectorOperators.I2F, 0)).fma(v, FloatVector.fromArray(S, acc, a)).intoArray(acc, a);
                }
                int a = ao + 7 * L;
                ((FloatVector) w.lanewise(VectorOperators.LSHR, 28).convert(VectorOperators.I2F, 0)).fma(v, FloatVector.fromArray(S, acc, a)).intoArray(acc, a);
            }
            // a short run of skipped columns is read through (one int per row tile, not computed): the stream stays whole
            int next = k + 1 < count ? idx[k + 1] : c + 1;
            if (next - c - 1 <= gapCols)
                for (int e = (c + 1) * wpc, end = next * wpc; e < end; e += L) touched ^= packed[e];
        }
        sink = touched;
    }

    /** int8: as {@link #columns4} with 4 code positions of 8 bits. */
    private void columns8(float[] x, int[] idx, int k0, int k1, int count, float[] acc) {
        int touched = 0, gapCols = GAP_BYTES / Math.max(1, 4 * wpc);
        for (int k = k0; k < k1; k++) {
            int c = idx[k], b = c * wpc;
            FloatVector v = FloatVector.broadcast(S, x[c]);
            for (int t = 0; t < tiles; t++) {
                int ao = t * tileRows;
                IntVector w = IntVector.fromArray(IS, packed, b + t * L);
                for (int p = 0; p < 3; p++) {
                    int a = ao + p * L;
                    ((FloatVector) w.and(0xff << (8 * p)).convert(VectorOperators.I2F, 0)).fma(v, FloatVector.fromArray(S, acc, a)).intoArray(acc, a);
                }
                int a = ao + 3 * L;
                ((FloatVector) w.lanewise(VectorOperators.LSHR, 24).convert(VectorOperators.I2F, 0)).fma(v, FloatVector.fromArray(S, acc, a)).intoArray(acc, a);
            }
            // a short run of skipped columns is read through (one int per row tile, not computed): the stream stays whole
            int next = k + 1 < count ? idx[k + 1] : c + 1;
            if (next - c - 1 <= gapCols)
                for (int e = (c + 1) * wpc, end = next * wpc; e < end; e += L) touched ^= packed[e];
        }
        sink = touched;
    }
}
