package dev.squish.methods.prune;

import dev.squish.calibration.LayerReport;
import dev.squish.calibration.ModelContext;
import dev.squish.methods.Kind;
import dev.squish.model.Block;
import dev.squish.model.Model;
import dev.squish.weights.Linear;

/** What the structured methods (flap, l2-structured, drop-layers) share: their kind and their reports. */
final class Structural {
    private Structural() {}

    /**
     * Removing heads, channels or blocks comes first, once: it works on the whole model in
     * {@code plan} (FLAP and ShortGPT measure the dense model), and a stage before it would have
     * its statistics taken on weights that are then cut away.
     */
    static final Kind KIND = new Kind("structure", Kind.Placement.FIRST, true, Kind.Edit.NONE,
            "structured pruning", "removing structure", "removes heads, channels or whole blocks");

    /** One report line per linear whose shape the plan changed. */
    static void reportShapes(ModelContext ctx, String method, java.util.List<int[][]> shapesBefore, double seconds) {
        Model m = ctx.model();
        for (int l = 0; l < m.blocks.size(); l++) {
            Block b = m.blocks.get(l);
            int k = 0;
            for (String name : m.arch.linearNames()) {
                Linear li = b.linear(name);
                int[] was = shapesBefore.get(l)[k++];
                if (was[0] == li.rows() && was[1] == li.cols()) continue;
                ctx.report(new LayerReport(method, b.index, name, li.format(), li.rows(), li.cols(), li.parameters(), li.bytes(),
                        0, Double.NaN, seconds));
            }
        }
    }

    static java.util.List<int[][]> shapes(Model m) {
        java.util.List<int[][]> out = new java.util.ArrayList<>();
        for (Block b : m.blocks) {
            var names = m.arch.linearNames();
            int[][] s = new int[names.size()][];
            for (int i = 0; i < names.size(); i++) s[i] = new int[]{b.linear(names.get(i)).rows(), b.linear(names.get(i)).cols()};
            out.add(s);
        }
        return out;
    }
}
