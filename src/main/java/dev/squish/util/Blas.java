package dev.squish.util;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;


/**
 * A cache-blocked, parallel float64 matrix multiply {@code C += alpha * op(A) * op(B)} for the
 * compression solvers (Hessian accumulation, OBS lazy-batch updates, blocked Cholesky), in the
 * Goto/BLIS layout: B is packed in panels of {@link #KC} x {@link #NC} (kept in L2/L3), A in
 * blocks of {@link #MC} x {@link #KC} per task, and a register-tiled {@code MR x NR} Vector API
 * micro-kernel runs over the packed strips (4 rows x 3 vectors = 12 accumulators, leaving
 * registers for the 3 loaded B vectors and the broadcast A value).
 *
 * <p>Why float64 and not float32: the Hessians are sums of up to 128 x 2048 = 262,144 token
 * outer products and are then inverted; with a float32 running sum the relative rounding error
 * after N additions is up to N * 6e-8 (about 1.5% at N = 262,144), the same order as the
 * dampening (1% of the mean diagonal) that keeps H positive definite, while float64's 1.1e-16
 * keeps it far below. The OBS updates feed errors of earlier columns into later ones over
 * thousands of columns, and the solvers' results must not depend on the blocking; so every
 * product here is float64, at half the float32 lane count.
 *
 * <p>Triangle modes compute only the tiles of C that touch the upper ({@code j >= i}) or lower
 * ({@code j <= i}) triangle and write only that triangle: a symmetric rank-k update at half the
 * work. Results differ from a naive triple loop only by the order of the additions (and the
 * fused multiply-adds), never by which terms are summed.
 *
 * <p>Every call reports its useful floating-point operations (2 per multiply-add of the entries
 * written) to {@link Profile}, for {@code compress --profile}.
 */
public final class Blas {
    private Blas() {}

    public enum Tri { FULL, UPPER, LOWER }

    private static final VectorSpecies<Double> S = DoubleVector.SPECIES_PREFERRED;
    private static final int V = S.length();
    static final int MR = 4, NR = 3 * V;
    /** Depth of one packed panel: a 256 x NR strip of B (48 KB at 8 lanes) stays near L1, an MC x KC block of A (192 KB) in L2. */
    public static final int KC = 256;
    static final int MC = 96;
    /** Columns of one packed B panel (KC x NC doubles = 3 MB at NR = 24), shared by all tasks from L3. */
    static final int NC = NR * 64;

    /** Floating-point operations counted so far (this class's and every kernel's that reports to {@link Profile}). */
    public static long flops() { return Profile.flops(); }

    /** Adds work done by other kernels (the OBS column sweeps) to the count. */
    public static void count(long flops) { Profile.addFlops(flops); }

    /** Plain {@code C += A * B}, all row-major and dense, in parallel. */
    public static void gemm(int m, int n, int k, double[] a, double[] b, double[] c) {
        gemm(false, false, m, n, k, 1.0, a, 0, k, b, 0, n, c, 0, n, Tri.FULL, true);
    }

    /**
     * {@code C[i][j] += alpha * sum_p op(A)[i][p] * op(B)[p][j]} for {@code i < m, j < n} (only
     * {@code j >= i} with UPPER, {@code j <= i} with LOWER), where
     * {@code op(A)[i][p] = transA ? a[aOff + p*lda + i] : a[aOff + i*lda + p]} and
     * {@code op(B)[p][j] = transB ? b[bOff + j*ldb + p] : b[bOff + p*ldb + j]};
     * C is row-major from {@code cOff} with row stride ldc. No entry of C written may be an entry
     * of A or B (they may share one array: the blocked Cholesky reads one panel and updates the
     * columns right of it).
     */
    public static void gemm(boolean transA, boolean transB, int m, int n, int k, double alpha,
                            double[] a, int aOff, int lda, double[] b, int bOff, int ldb,
                            double[] c, int cOff, int ldc, Tri tri, boolean parallel) {
        if (m < 0 || n < 0 || k < 0) throw new IllegalArgumentException("negative dimension " + m + "x" + n + "x" + k);
        if (m == 0 || n == 0 || k == 0 || alpha == 0) return;
        checkRange(a, aOff, transA ? k : m, transA ? m : k, lda, "A");
        checkRange(b, bOff, transB ? n : k, transB ? k : n, ldb, "B");
        checkRange(c, cOff, m, n, ldc, "C");
        long useful = 0;
        for (int jc = 0; jc < n; jc += NC) {
            int nc = Math.min(NC, n - jc);
            int strips = (nc + NR - 1) / NR;
            int mBlocks = (m + MC - 1) / MC;
            for (int pc = 0; pc < k; pc += KC) {
                int kc = Math.min(KC, k - pc);
                double[] bp = new double[strips * kc * NR];
                packB(transB, b, bOff, ldb, pc, kc, jc, nc, bp);
                // tasks: row blocks x column chunks, so that short-and-wide products still use every core
                int threads = parallel ? Parallel.threads() : 1;
                int chunks = Math.max(1, Math.min(strips, (2 * threads + mBlocks - 1) / mBlocks));
                int perChunk = (strips + chunks - 1) / chunks;
                int fjc = jc, fpc = pc, fkc = kc, fnc = nc;
                if (parallel && (long) m * nc * kc >= 1 << 18) {
                    Parallel.forRange(mBlocks * chunks, 1, (t0, t1) -> {
                        double[] ap = new double[MC * fkc];
                        for (int t = t0; t < t1; t++)
                            block(transA, alpha, a, aOff, lda, bp, c, cOff, ldc, tri, m, fjc, fnc, fpc, fkc,
                                    (t / chunks) * MC, (t % chunks) * perChunk, perChunk, ap);
                    });
                } else {
                    double[] ap = new double[MC * kc];
                    for (int t = 0; t < mBlocks * chunks; t++)
                        block(transA, alpha, a, aOff, lda, bp, c, cOff, ldc, tri, m, jc, nc, pc, kc,
                                (t / chunks) * MC, (t % chunks) * perChunk, perChunk, ap);
                }
            }
        }
        // useful work: 2k per entry of C written
        long entries;
        if (tri == Tri.FULL) entries = (long) m * n;
        else entries = triangleEntries(m, n, tri);
        Profile.addFlops(2L * k * entries);
    }

    /** Writes row r of a matrix with n columns into {@code dst[off .. off+n)}. */
    @FunctionalInterface
    public interface RowSource { void row(int r, double[] dst, int off); }

    /** Rows per GEMM in {@link #quadForms}: bounds its two work arrays to 256 x n doubles each (11.5 MB at n = 5632). */
    static final int QUAD_ROWS = 256;
    /**
     * Columns of H per block-column in {@link #quadForms}: a multiple of the micro-kernel's NR (so
     * no ragged strips but the last), small enough that the diagonal blocks (computed in full) add
     * little: the work is rows x n x (n + QUAD_COLS) / 2 multiply-adds, 0.52 of the full product at
     * n = 5632 and 0.55 at n = 2048 with 8-lane vectors (QUAD_COLS = 192).
     */
    static final int QUAD_COLS = 16 * NR;

    /**
     * {@code sum_r v_r^T H v_r} over the rows {@code v_r} of a rows x n matrix (H symmetric n x n,
     * row-major): the output error of a weight difference measured through a layer Hessian.
     *
     * <p>H is symmetric, so {@code v H v^T = sum_J v_J (2 H[<J, J]^T v_<J + H[J, J] v_J)} over
     * block-columns J of {@link #QUAD_COLS}: only the blocks on and above the diagonal are read and
     * multiplied, about half the multiply-adds of {@code V H} (the full product took 526 of the
     * 1,271 GFLOP of a 1B-shaped block's GPTQ, for a number that goes into the report only). Each
     * block-column is two GEMMs of {@link #QUAD_ROWS} rows (the strict upper part with alpha = 2,
     * exact in binary, then the diagonal block), followed by row dot products, in parallel; a
     * matrix-vector product per row streams all of H (32 MB at n = 2048) from memory once per row
     * instead. The result equals the full product up to the order of the additions (float64).
     */
    public static double quadForms(double[] h, int n, int rows, RowSource src) {
        if (h.length != (long) n * n) throw new IllegalArgumentException("H must be " + n + "x" + n);
        int chunk = Math.max(1, Math.min(rows, QUAD_ROWS));
        double[] v = new double[chunk * n], g = new double[chunk * n];
        double total = 0;
        for (int r0 = 0; r0 < rows; r0 += chunk) {
            int rc = Math.min(chunk, rows - r0);
            for (int r = 0; r < rc; r++) src.row(r0 + r, v, r * n);
            java.util.Arrays.fill(g, 0, rc * n, 0);
            for (int j0 = 0; j0 < n; j0 += QUAD_COLS) {
                int nb = Math.min(QUAD_COLS, n - j0);
                // g[:, J] = 2 V[:, <J] H[<J, J] + V[:, J] H[J, J]
                if (j0 > 0) gemm(false, false, rc, nb, j0, 2.0, v, 0, n, h, j0, n, g, j0, n, Tri.FULL, true);
                gemm(false, false, rc, nb, nb, 1.0, v, j0, n, h, j0 * n + j0, n, g, j0, n, Tri.FULL, true);
            }
            for (int i = 0; i < rc * n; i++) total += v[i] * g[i];
        }
        return total;
    }

    // ---- float32 quadratic forms (the report's per-layer error) ----

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int FV = F.length(), NRF = 3 * FV;
    /** Depth of one float32 panel: a panel's products are summed in float32 (at most 256 terms), panels are added in float64. */
    static final int KCF = 256;
    /** Rows of V per float32 task: a 64 x 256 float block of V (64 KB) stays in L2 while a B strip (256 x NRF) is reused from L1 by its 16 row groups. */
    private static final int MCF = 64;

    /**
     * {@link #quadForms} with the products in float32 (twice the lanes of float64) and every sum
     * longer than {@link #KCF} terms in float64: {@code v H v^T = sum_j v_j g_j} with
     * {@code g_j = H_jj v_j + 2 sum_{p<j} H_pj v_p} (the upper triangle only, exactly: the half of
     * the work), where each {@code g_j} is summed in float32 over panels of 256 inputs and the
     * panels and the final dot products in float64. Every sum runs in a fixed order whatever the
     * vector width, the number of threads or the blocking of columns (lanes are columns, so each
     * column's panel sum adds its products one by one), so the value is reproducible.
     *
     * <p>For the report's per-layer error and AWQ's scale-search loss (which the reference takes as
     * a float32 MSE of outputs), not for the OBS solves: H and v are rounded to float32 (relative
     * 6e-8 per entry) and a panel's sum carries up to 256 x 6e-8 of the sum of its absolute
     * products. On the fixture (gptq, sparsegpt, wanda, awq; 32 x 256 calibration tokens) the
     * report's 42 errors per method moved by at most 1.7e-8 relative against float64 products, and
     * AWQ chose the same scales (outputs byte-identical, also with 128 x 256 tokens).
     */
    public static double quadFormsFloat(double[] h, int n, int rows, RowSource src) {
        if (h.length != (long) n * n) throw new IllegalArgumentException("H must be " + n + "x" + n);
        if (rows <= 0) return 0;
        // B, packed once for all row chunks (converting H costs about as much as the products of a
        // 256-row chunk over it): strip st holds columns st*NRF .. as [p][NRF] for p up to its
        // last column, 2 H[p][j] above the diagonal, H[j][j] on it, 0 below (about n^2/2 floats,
        // 64 MB at n = 5632 against H's 254 MB)
        int strips = (n + NRF - 1) / NRF;
        long[] at = new long[strips + 1];
        for (int st = 0; st < strips; st++) at[st + 1] = at[st] + (long) Math.min(n, (st + 1) * NRF) * NRF;
        float[] bp = new float[Math.toIntExact(at[strips])];
        Parallel.forRange(strips, 1, (s0, s1) -> {
            for (int st = s0; st < s1; st++) {
                int c0 = st * NRF, kmax = Math.min(n, c0 + NRF), base = (int) at[st];
                for (int p = 0; p < kmax; p++) {
                    int o = base + p * NRF, hp = p * n;
                    for (int jj = 0; jj < NRF; jj++) {
                        int j = c0 + jj;
                        bp[o + jj] = j >= n || p > j ? 0f : (float) (p == j ? h[hp + j] : 2 * h[hp + j]);
                    }
                }
            }
        });
        int chunk = Math.min(rows, QUAD_ROWS);
        int chunkPad = (chunk + MR - 1) / MR * MR;
        double[] v = new double[chunk * n], g = new double[chunk * n];
        float[] ap = new float[chunkPad * n];
        double total = 0;
        for (int r0 = 0; r0 < rows; r0 += chunk) {
            int rc = Math.min(chunk, rows - r0), groups = (rc + MR - 1) / MR;
            for (int r = 0; r < rc; r++) src.row(r0 + r, v, r * n);
            java.util.Arrays.fill(g, 0, rc * n, 0);
            // A: [row group][p][MR], rows past rc zero
            Parallel.forRange(groups, 1, (g0, g1) -> {
                for (int gi = g0; gi < g1; gi++) {
                    int base = gi * n * MR;
                    for (int rr = 0; rr < MR; rr++) {
                        int r = gi * MR + rr;
                        if (r >= rc) { for (int p = 0; p < n; p++) ap[base + p * MR + rr] = 0; continue; }
                        for (int p = 0; p < n; p++) ap[base + p * MR + rr] = (float) v[r * n + p];
                    }
                }
            });
            int rowBlocks = (groups * MR + MCF - 1) / MCF;
            Parallel.forRange(rowBlocks * strips, 1, (t0, t1) -> {
                float[] tmp = new float[MR * NRF];
                for (int t = t0; t < t1; t++) {
                    int rb = t / strips, st = t % strips;
                    int c0 = st * NRF, kmax = Math.min(n, c0 + NRF), nr = Math.min(NRF, n - c0), base = (int) at[st];
                    int gLo = rb * (MCF / MR), gHi = Math.min(groups, gLo + MCF / MR);
                    for (int p0 = 0; p0 < kmax; p0 += KCF) {
                        int kc = Math.min(KCF, kmax - p0);
                        for (int gi = gLo; gi < gHi; gi++) {
                            kernelFloat(ap, gi * n * MR + p0 * MR, bp, base + p0 * NRF, kc, tmp);
                            for (int rr = 0; rr < MR; rr++) {
                                int r = gi * MR + rr;
                                if (r >= rc) break;
                                int o = r * n + c0, to = rr * NRF;
                                for (int jj = 0; jj < nr; jj++) g[o + jj] += tmp[to + jj];
                            }
                        }
                    }
                }
            });
            for (int i = 0; i < rc * n; i++) total += v[i] * g[i];
            Profile.addFlops(2L * rc * ((long) n * (n + 1) / 2));
        }
        return total;
    }

    /** tmp[MR x NRF] = Apacked[MR x kc] * Bpacked[kc x NRF], in float32. */
    private static void kernelFloat(float[] ap, int ao, float[] bp, int bo, int kc, float[] tmp) {
        FloatVector c00 = FloatVector.zero(F), c01 = c00, c02 = c00;
        FloatVector c10 = c00, c11 = c00, c12 = c00;
        FloatVector c20 = c00, c21 = c00, c22 = c00;
        FloatVector c30 = c00, c31 = c00, c32 = c00;
        int aEnd = ao + kc * MR;
        for (int pa = ao, pb = bo; pa < aEnd; pa += MR, pb += NRF) {
            FloatVector b0 = FloatVector.fromArray(F, bp, pb);
            FloatVector b1 = FloatVector.fromArray(F, bp, pb + FV);
            FloatVector b2 = FloatVector.fromArray(F, bp, pb + 2 * FV);
            FloatVector x = FloatVector.broadcast(F, ap[pa]);
            c00 = b0.fma(x, c00); c01 = b1.fma(x, c01); c02 = b2.fma(x, c02);
            x = FloatVector.broadcast(F, ap[pa + 1]);
            c10 = b0.fma(x, c10); c11 = b1.fma(x, c11); c12 = b2.fma(x, c12);
            x = FloatVector.broadcast(F, ap[pa + 2]);
            c20 = b0.fma(x, c20); c21 = b1.fma(x, c21); c22 = b2.fma(x, c22);
            x = FloatVector.broadcast(F, ap[pa + 3]);
            c30 = b0.fma(x, c30); c31 = b1.fma(x, c31); c32 = b2.fma(x, c32);
        }
        c00.intoArray(tmp, 0); c01.intoArray(tmp, FV); c02.intoArray(tmp, 2 * FV);
        c10.intoArray(tmp, NRF); c11.intoArray(tmp, NRF + FV); c12.intoArray(tmp, NRF + 2 * FV);
        c20.intoArray(tmp, 2 * NRF); c21.intoArray(tmp, 2 * NRF + FV); c22.intoArray(tmp, 2 * NRF + 2 * FV);
        c30.intoArray(tmp, 3 * NRF); c31.intoArray(tmp, 3 * NRF + FV); c32.intoArray(tmp, 3 * NRF + 2 * FV);
    }

    static long triangleEntries(int m, int n, Tri tri) {
        long e = 0;
        for (int i = 0; i < m; i++) e += tri == Tri.UPPER ? Math.max(0, n - i) : Math.min(n, i + 1);
        return e;
    }

    /** One MC row block x a range of NR strips of the packed B panel. */
    private static void block(boolean transA, double alpha, double[] a, int aOff, int lda, double[] bp,
                              double[] c, int cOff, int ldc, Tri tri, int m, int jc, int nc, int pc, int kc,
                              int ic, int s0, int sCount, double[] ap) {
        int strips = (nc + NR - 1) / NR;
        int s1 = Math.min(strips, s0 + sCount);
        if (s0 >= s1) return;
        int mc = Math.min(MC, m - ic);
        // skip the whole block when no tile touches the triangle
        int colLo = jc + s0 * NR, colHi = jc + Math.min(nc, s1 * NR) - 1;
        if (tri == Tri.UPPER && colHi < ic) return;
        if (tri == Tri.LOWER && colLo > ic + mc - 1) return;
        packA(transA, alpha, a, aOff, lda, ic, mc, pc, kc, ap);
        double[] tmp = null;
        for (int s = s0; s < s1; s++) {
            int j0 = jc + s * NR, nr = Math.min(NR, jc + nc - j0);
            for (int r = 0; r < mc; r += MR) {
                int i0 = ic + r, mr = Math.min(MR, m - i0);
                if (tri == Tri.UPPER && j0 + nr - 1 < i0) continue;
                if (tri == Tri.LOWER && j0 > i0 + mr - 1) continue;
                boolean inside = tri == Tri.FULL
                        || (tri == Tri.UPPER && j0 >= i0 + mr - 1)
                        || (tri == Tri.LOWER && j0 + nr - 1 <= i0);
                if (inside && mr == MR && nr == NR) {
                    kernel(ap, r * kc, bp, s * kc * NR, kc, c, cOff + i0 * ldc + j0, ldc);
                } else {
                    if (tmp == null) tmp = new double[MR * NR];
                    java.util.Arrays.fill(tmp, 0);
                    kernel(ap, r * kc, bp, s * kc * NR, kc, tmp, 0, NR);
                    for (int i = 0; i < mr; i++) {
                        int row = cOff + (i0 + i) * ldc;
                        for (int j = 0; j < nr; j++) {
                            int gi = i0 + i, gj = j0 + j;
                            if (tri == Tri.UPPER && gj < gi) continue;
                            if (tri == Tri.LOWER && gj > gi) continue;
                            c[row + gj] += tmp[i * NR + j];
                        }
                    }
                }
            }
        }
    }

    /** C[MR x NR] += Apacked[MR x kc] * Bpacked[kc x NR] (A strip: kc groups of MR values; B strip: kc rows of NR). */
    private static void kernel(double[] ap, int ao, double[] bp, int bo, int kc, double[] c, int co, int ldc) {
        DoubleVector c00 = DoubleVector.zero(S), c01 = c00, c02 = c00;
        DoubleVector c10 = c00, c11 = c00, c12 = c00;
        DoubleVector c20 = c00, c21 = c00, c22 = c00;
        DoubleVector c30 = c00, c31 = c00, c32 = c00;
        int aEnd = ao + kc * MR;
        for (int pa = ao, pb = bo; pa < aEnd; pa += MR, pb += NR) {
            DoubleVector b0 = DoubleVector.fromArray(S, bp, pb);
            DoubleVector b1 = DoubleVector.fromArray(S, bp, pb + V);
            DoubleVector b2 = DoubleVector.fromArray(S, bp, pb + 2 * V);
            DoubleVector x = DoubleVector.broadcast(S, ap[pa]);
            c00 = b0.fma(x, c00); c01 = b1.fma(x, c01); c02 = b2.fma(x, c02);
            x = DoubleVector.broadcast(S, ap[pa + 1]);
            c10 = b0.fma(x, c10); c11 = b1.fma(x, c11); c12 = b2.fma(x, c12);
            x = DoubleVector.broadcast(S, ap[pa + 2]);
            c20 = b0.fma(x, c20); c21 = b1.fma(x, c21); c22 = b2.fma(x, c22);
            x = DoubleVector.broadcast(S, ap[pa + 3]);
            c30 = b0.fma(x, c30); c31 = b1.fma(x, c31); c32 = b2.fma(x, c32);
        }
        addRow(c, co, c00, c01, c02);
        addRow(c, co + ldc, c10, c11, c12);
        addRow(c, co + 2 * ldc, c20, c21, c22);
        addRow(c, co + 3 * ldc, c30, c31, c32);
    }

    private static void addRow(double[] c, int o, DoubleVector x0, DoubleVector x1, DoubleVector x2) {
        DoubleVector.fromArray(S, c, o).add(x0).intoArray(c, o);
        DoubleVector.fromArray(S, c, o + V).add(x1).intoArray(c, o + V);
        DoubleVector.fromArray(S, c, o + 2 * V).add(x2).intoArray(c, o + 2 * V);
    }

    /** ap[(r/MR)*kc*MR + p*MR + r%MR] = alpha * op(A)[ic + r][pc + p], rows past mc zero. */
    private static void packA(boolean transA, double alpha, double[] a, int aOff, int lda, int ic, int mc, int pc, int kc, double[] ap) {
        for (int r0 = 0; r0 < mc; r0 += MR) {
            int base = r0 * kc;
            int mr = Math.min(MR, mc - r0);
            for (int rr = 0; rr < MR; rr++) {
                if (rr >= mr) { for (int p = 0; p < kc; p++) ap[base + p * MR + rr] = 0; continue; }
                int i = ic + r0 + rr;
                if (transA) {
                    int o = aOff + pc * lda + i;
                    for (int p = 0; p < kc; p++, o += lda) ap[base + p * MR + rr] = alpha * a[o];
                } else {
                    int o = aOff + i * lda + pc;
                    for (int p = 0; p < kc; p++) ap[base + p * MR + rr] = alpha * a[o + p];
                }
            }
        }
    }

    /** bp[s*kc*NR + p*NR + j] = op(B)[pc + p][jc + s*NR + j], columns past nc zero. */
    private static void packB(boolean transB, double[] b, int bOff, int ldb, int pc, int kc, int jc, int nc, double[] bp) {
        int strips = (nc + NR - 1) / NR;
        for (int s = 0; s < strips; s++) {
            int j0 = s * NR, nr = Math.min(NR, nc - j0), base = s * kc * NR;
            if (!transB) {
                for (int p = 0; p < kc; p++) {
                    System.arraycopy(b, bOff + (pc + p) * ldb + jc + j0, bp, base + p * NR, nr);
                    // the padding stays zero: bp is freshly allocated per panel
                }
            } else {
                for (int j = 0; j < nr; j++) {
                    int o = bOff + (jc + j0 + j) * ldb + pc;
                    for (int p = 0; p < kc; p++) bp[base + p * NR + j] = b[o + p];
                }
            }
        }
    }

    private static void checkRange(double[] x, int off, int rows, int cols, int ld, String what) {
        if (ld < cols) throw new IllegalArgumentException(what + ": leading dimension " + ld + " < " + cols);
        if (off < 0 || (long) off + (long) (rows - 1) * ld + cols > x.length)
            throw new IllegalArgumentException(what + ": " + rows + "x" + cols + " (stride " + ld + ") from " + off + " exceeds " + x.length);
    }
}
