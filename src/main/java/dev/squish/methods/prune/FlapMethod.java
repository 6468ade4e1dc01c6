package dev.squish.methods.prune;

import dev.squish.SquishException;
import dev.squish.calibration.BlockContext;
import dev.squish.calibration.ModelContext;
import dev.squish.methods.*;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code flap}: FLAP structured pruning (see {@link Flap}) of a fraction of the blocks' linear
 * parameters, whole key/value groups and MLP channels, with bias compensation. Everything happens
 * in {@code plan}; the output is a smaller dense model.
 */
public final class FlapMethod implements CompressionMethod {
    /** @param remove fraction of the blocks' linear parameters removed; @param structure adaptive or uniform */
    public record Options(double remove, String structure) implements MethodOptions {
        public static final Range REMOVE = Range.closedOpen(0, 1);
        static final List<OptionSpec> OPTIONS = List.of(
                OptionSpec.number("remove", "Fraction of the blocks' linear parameters removed, in [0, 1) (flap, l2-structured)."),
                OptionSpec.text("structure", "flap: adaptive (default; one threshold across blocks) or uniform (every block keeps one shape)."));

        public Options {
            REMOVE.check("remove", remove);
            if (structure == null) structure = "adaptive";
            if (!structure.equals("adaptive") && !structure.equals("uniform"))
                throw new OptionException("{structure} must be adaptive or uniform, got '" + structure + "'");
        }

        static Options read(OptionReader r) {
            Double remove = r.number("remove", REMOVE);
            String structure = r.string("structure");
            return r.build(() -> {
                if (remove == null) throw new OptionException("missing {remove}");
                return new Options(remove, structure);
            });
        }

        @Override public Map<String, Object> values() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("remove", remove);
            m.put("structure", structure);
            return m;
        }
    }

    public static final class Descriptor extends AbstractDescriptor<Options> {
        public Descriptor() {
            super("flap", "FLAP: removes key/value groups and MLP channels by fluctuation, bias-compensated (Llama; GPT-2: MLP channels)",
                    Structural.KIND, Set.of(Need.CALIBRATION, Need.WHOLE_MODEL), Options.class, Options.OPTIONS, Options::read);
        }

        @Override public CompressionMethod create(Options o) { return new FlapMethod(o); }
    }

    static final Descriptor DESCRIPTOR = new Descriptor();
    private final Options options;

    public FlapMethod(Options options) { this.options = options; }

    @Override public MethodDescriptor<?> descriptor() { return DESCRIPTOR; }

    @Override public String describe() {
        return String.format(java.util.Locale.ROOT, "flap remove %s %s", OptionReader.fmt(options.remove()), options.structure());
    }

    @Override public void plan(ModelContext ctx) {
        if (ctx.samples() == null) throw new SquishException("flap needs --calibration TEXT_FILE");
        long t0 = System.nanoTime();
        var m = ctx.model();
        var before = Structural.shapes(m);
        int[] counts = options.structure().equals("uniform") ? Flap.uniformCounts(m, options.remove()) : null;
        Flap.Stats st = Flap.collect(m, ctx.samples());
        var scores = Flap.scores(m, st);
        boolean[][][] keep = counts != null ? Flap.uniform(scores, counts) : Flap.adaptive(m, scores, options.remove());
        Flap.apply(m, keep, st, true);
        Structural.reportShapes(ctx, name(), before, (System.nanoTime() - t0) / 1e9);
    }

    @Override public void compressBlock(BlockContext ctx) { }
}
