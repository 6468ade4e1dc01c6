package dev.squish.methods;

import java.util.List;

/**
 * What the factorizing methods (svd, asvd) share: the size setting, either {@code --keep F} (each
 * matrix's factors hold F of its parameters, or with {@code --allocation spectrum} F of all the
 * matrices' parameters together) or {@code --rank R} (every matrix gets rank min(R, rows, cols)).
 */
public abstract class Factorizer implements CompressionMethod {
    protected final LowRankOptions options;
    protected final Double keep;
    protected final Integer rank;
    protected final String allocation;

    protected Factorizer(LowRankOptions options) {
        this.options = options;
        this.keep = options.keep();
        this.rank = options.rank();
        this.allocation = options.allocation();
    }

    /** The factorizing methods' descriptor: kind, options and how to read them. */
    public abstract static class Family extends AbstractDescriptor<LowRankOptions> {
        protected Family(String id, String help, java.util.Set<Need> needs) {
            super(id, help, Kind.LOW_RANK, needs, LowRankOptions.class, LowRankOptions.OPTIONS, LowRankOptions::read);
        }
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

    protected boolean needsSpectra() { return options.spectrum(); }
}
