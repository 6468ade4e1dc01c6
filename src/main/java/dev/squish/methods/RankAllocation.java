package dev.squish.methods;

import dev.squish.SquishException;

import java.util.ArrayList;
import java.util.List;
import java.util.PriorityQueue;

/**
 * How many singular components each matrix keeps.
 *
 * <ul>
 *   <li>{@code uniform}: every matrix keeps the same fraction of its own parameters,
 *       {@code k = floor(keep * m * n / (m + n))}.</li>
 *   <li>{@code spectrum}: one budget, {@code keep * sum(m * n)} parameters over all the matrices
 *       allocated together, spent where the spectrum is heavy, as WeLore (Jaiswal et al. 2024)
 *       does: each matrix's singular values are normalized by its largest one, and one global
 *       threshold on the normalized values decides what is kept (a component j of matrix i is kept
 *       iff {@code s_ij / s_i1 >= t}), with t the lowest threshold whose kept components fit the
 *       budget (a component of an m x n matrix costs m + n parameters). Matrices whose spectrum
 *       decays fast (a heavy head, a light tail) get low ranks, flat ones keep more. Every matrix
 *       keeps at least rank 1 and at most its break-even rank {@code floor(m n / (m + n))}, beyond
 *       which factors cost more than the dense matrix.</li>
 * </ul>
 */
public final class RankAllocation {
    private RankAllocation() {}

    public static final List<String> NAMES = List.of("uniform", "spectrum");

    public static String check(String allocation) {
        if (!NAMES.contains(allocation))
            throw new SquishException("--allocation must be 'uniform' or 'spectrum', got '" + allocation + "'");
        return allocation;
    }

    /** One matrix to allocate: its shape and singular values (descending; only used by spectrum). */
    public record Item(int rows, int cols, double[] singularValues) {}

    /** Ranks, one per item, in order. */
    public static int[] allocate(String allocation, double keep, List<Item> items) {
        int[] k = new int[items.size()];
        if (allocation.equals("uniform")) {
            for (int i = 0; i < k.length; i++) k[i] = LowRank.rankForKeep(keep, items.get(i).rows(), items.get(i).cols());
            return k;
        }
        check(allocation);
        double budget = 0;
        for (Item it : items) budget += keep * (double) it.rows() * it.cols();
        // Greedy in order of decreasing normalized singular value == the lowest global threshold
        // that fits: the spectrum of each matrix is sorted, so what is kept is always a prefix.
        double spent = 0;
        int[] cap = new int[k.length];
        List<double[]> norm = new ArrayList<>();
        for (int i = 0; i < k.length; i++) {
            Item it = items.get(i);
            cap[i] = Math.min(LowRank.breakEvenRank(it.rows(), it.cols()), it.singularValues().length);
            double[] s = it.singularValues(), ns = new double[s.length];
            for (int j = 0; j < s.length; j++) ns[j] = s[0] > 0 ? s[j] / s[0] : 0;
            norm.add(ns);
            k[i] = 1; // every matrix keeps its leading component
            spent += it.rows() + it.cols();
        }
        PriorityQueue<int[]> next = new PriorityQueue<>((a, b) -> Double.compare(norm.get(b[0])[b[1]], norm.get(a[0])[a[1]]));
        for (int i = 0; i < k.length; i++) if (cap[i] > 1) next.add(new int[]{i, 1});
        while (!next.isEmpty()) {
            int[] c = next.poll();
            int i = c[0];
            Item it = items.get(i);
            int cost = it.rows() + it.cols();
            if (spent + cost > budget) break; // the threshold: nothing below this value is kept
            spent += cost;
            k[i] = c[1] + 1;
            if (k[i] < cap[i]) next.add(new int[]{i, k[i]});
        }
        return k;
    }
}
