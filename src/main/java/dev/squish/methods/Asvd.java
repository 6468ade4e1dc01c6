package dev.squish.methods;

import dev.squish.calibration.BlockContext;
import dev.squish.calibration.LinearStats;
import dev.squish.calibration.HessianAccumulator;
import dev.squish.weights.Linear;
import dev.squish.weights.LowRankLinear;
import org.ejml.data.DMatrixRMaj;
import org.ejml.dense.row.CommonOps_DDRM;
import org.ejml.dense.row.factory.DecompositionFactory_DDRM;
import org.ejml.interfaces.decomposition.CholeskyDecomposition_F64;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Activation-aware SVD by SVD-LLM's truncation-aware data whitening (Wang et al. 2024,
 * AIoT-MLSys-Lab/SVD-LLM {@code whitening} / {@code whitening_local_update}): with S the lower
 * Cholesky factor of the calibration inputs' {@code X X^T} (here {@code H = 2/N sum x x^T}, the
 * same up to a scale that cancels), take the SVD {@code W S = U diag(s) V^T}, keep k components and
 * store {@code A = U_k sqrt(S_k)}, {@code B = sqrt(S_k) V_k^T S^-1}. Truncating the whitened matrix
 * makes each dropped singular value exactly the output error {@code ||(W - A B) X||} it causes,
 * so the truncation is optimal for the layer's output on the calibration data (plain SVD is
 * optimal for the weights instead).
 *
 * <p>Block by block through the calibration pipeline, so each block sees its compressed
 * predecessors' outputs; within a block, one pass per distinct input (q/k/v, then o_proj, then
 * gate/up, then down_proj) measures that input through the linears already factorized, so each
 * linear is whitened by the inputs it will actually receive. Each pass accumulates only the input
 * it needs.
 *
 * <p>When {@code X X^T} is not positive definite (dead inputs), SVD-LLM adds
 * {@code (-lambda_min + 1e-6) I}; here the 1e-6 is relative to the mean of the diagonal, since H is
 * normalized by the token count.
 *
 * <p>{@code --allocation spectrum} allocates per block: the whitened singular values of the
 * block's selected matrices (from the block's inputs before any of its linears is factorized)
 * share the budget {@code keep * (parameters of those matrices)} with {@link RankAllocation}.
 */
public final class Asvd extends Factorizer {
    public static final class Descriptor extends Family {
        public Descriptor() { super("asvd", "activation-whitened truncated SVD (SVD-LLM)", java.util.Set.of(Need.CALIBRATION)); }

        @Override public CompressionMethod create(LowRankOptions o) { return new Asvd(o); }
    }

    static final Descriptor DESCRIPTOR = new Descriptor();

    public Asvd(LowRankOptions options) { super(options); }

    public Asvd(Double keep, Integer rank, String allocation) { this(new LowRankOptions(keep, rank, allocation)); }

    @Override public MethodDescriptor<?> descriptor() { return DESCRIPTOR; }

    @Override public void compressBlock(BlockContext ctx) {
        List<String> names = ctx.selectedLinears();
        int[] k = null;
        if (needsSpectra()) {
            List<RankAllocation.Item> items = new ArrayList<>();
            for (String name : names) {
                Linear l = ctx.block().linear(name);
                DMatrixRMaj ws = CommonOps_DDRM.mult(LowRank.matrix(l.toDense(), l.rows(), l.cols()), whitening(ctx.stats(name)), null);
                items.add(new RankAllocation.Item(l.rows(), l.cols(), LowRank.singularValues(ws)));
            }
            k = ranks(items);
            ctx.invalidate();
        }
        List<String> remaining = new ArrayList<>(names);
        while (!remaining.isEmpty()) {
            long t0 = System.nanoTime();
            // One pass through the block as it is now: the second moment of the next linear's input,
            // and which other remaining linears read that same input (q/k/v, gate/up).
            String target = remaining.get(0);
            Set<String> group = new LinkedHashSet<>(List.of(target));
            HessianAccumulator[] acc = new HessianAccumulator[1];
            float[][] last = new float[1][];
            ctx.forEachSample((name, x, n, cols) -> {
                if (name.equals(target)) {
                    if (acc[0] == null) acc[0] = new HessianAccumulator(cols);
                    acc[0].add(x, n);
                    last[0] = x;
                } else if (x == last[0] && remaining.contains(name)) {
                    group.add(name);
                }
            });
            double[] h = acc[0].hessian();
            double passSeconds = (System.nanoTime() - t0) / 1e9;
            for (String name : group) {
                long t1 = System.nanoTime();
                Linear l = ctx.block().linear(name);
                float[] w = l.toDense();
                int rank = k != null ? k[names.indexOf(name)] : ranks(List.of(new RankAllocation.Item(l.rows(), l.cols(), null)))[0];
                LowRankLinear c = factorize(w, l.rows(), l.cols(), h, rank);
                double err = LinearStats.relativeError(w, c.toDense(), l.rows(), l.cols(), h);
                ctx.replace(name(), name, c, err, (System.nanoTime() - t1) / 1e9 + (name.equals(target) ? passSeconds : 0));
                remaining.remove(name);
            }
        }
    }

    /** SVD-LLM's whitened rank-k factorization of w (rows x cols) for inputs with second moment h (cols x cols). */
    public static LowRankLinear factorize(float[] w, int rows, int cols, double[] h, int k) {
        DMatrixRMaj s = cholesky(h, cols);
        DMatrixRMaj ws = CommonOps_DDRM.mult(LowRank.matrix(w, rows, cols), s, null);
        DMatrixRMaj sInv = new DMatrixRMaj(cols, cols);
        if (!CommonOps_DDRM.invert(s, sInv)) throw new IllegalStateException("whitening matrix is singular");
        return LowRank.truncate(LowRank.svd(ws), Math.min(k, Math.min(rows, cols)), sInv);
    }

    private static DMatrixRMaj whitening(LinearStats st) { return cholesky(st.hessian.hessian(), st.cols); }

    /** Lower Cholesky factor of h, shifted to positive definite as SVD-LLM does when it is not. */
    static DMatrixRMaj cholesky(double[] h, int n) {
        DMatrixRMaj m = DMatrixRMaj.wrap(n, n, h.clone());
        CholeskyDecomposition_F64<DMatrixRMaj> chol = DecompositionFactory_DDRM.chol(n, true);
        if (chol.decompose(m.copy())) return lower(chol.getT(null));
        double mean = 0;
        for (int i = 0; i < n; i++) mean += h[i * n + i];
        mean = Math.max(mean / n, Double.MIN_NORMAL);
        var eig = DecompositionFactory_DDRM.eig(n, false, true);
        if (!eig.decompose(m.copy())) throw new IllegalStateException("eigenvalues of the input second moment did not converge");
        double min = Double.POSITIVE_INFINITY;
        for (int i = 0; i < n; i++) min = Math.min(min, eig.getEigenvalue(i).real);
        double shift = Math.max(0, -min) + 1e-6 * mean;
        for (int i = 0; i < n; i++) m.add(i, i, shift);
        if (!chol.decompose(m)) throw new IllegalStateException("input second moment is not positive definite after the shift");
        return lower(chol.getT(null));
    }

    private static DMatrixRMaj lower(DMatrixRMaj t) {
        for (int i = 0; i < t.numRows; i++) for (int j = i + 1; j < t.numCols; j++) t.set(i, j, 0);
        return t;
    }
}
