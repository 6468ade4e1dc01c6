package dev.squish.methods;

import dev.squish.SquishException;

import java.util.List;

/**
 * What the factorizing methods (svd, asvd) share: the size setting, either {@code --keep F} (each
 * matrix's factors hold F of its parameters, or with {@code --allocation spectrum} F of all the
 * matrices' parameters together) or {@code --rank R} (every matrix gets rank min(R, rows, cols)).
 */
public abstract class Factorizer implements CompressionMethod {
    protected final Double keep;
    protected final Integer rank;
    protected final String allocation;

    /** keep and rank: exactly one non-null, or both null for the default keep 0.8. */
    protected Factorizer(Double keep, Integer rank, String allocation) {
        if (keep != null && rank != null) throw new SquishException("give at most one of --keep and --rank");
        if (keep == null && rank == null) keep = 0.8;
        if (keep != null && !(keep > 0 && keep <= 1)) throw new SquishException("--keep must be in (0, 1], got " + keep);
        if (rank != null && rank < 1) throw new SquishException("--rank must be at least 1, got " + rank);
        this.allocation = RankAllocation.check(allocation == null ? "uniform" : allocation);
        if (rank != null && this.allocation.equals("spectrum"))
            throw new SquishException("--allocation spectrum spends a --keep budget; it cannot be combined with --rank");
        this.keep = keep;
        this.rank = rank;
    }

    @Override public String describe() {
        return name() + (rank != null ? " rank " + rank : String.format(" keep %.3g", keep) + (allocation.equals("uniform") ? "" : " " + allocation));
    }

    /** Ranks for the given matrices (singular values are only read by the spectrum allocation). */
    protected int[] ranks(List<RankAllocation.Item> items) {
        if (rank != null) {
            int[] k = new int[items.size()];
            for (int i = 0; i < k.length; i++) k[i] = Math.min(rank, Math.min(items.get(i).rows(), items.get(i).cols()));
            return k;
        }
        return RankAllocation.allocate(allocation, keep, items);
    }

    protected boolean needsSpectra() { return rank == null && allocation.equals("spectrum"); }
}
