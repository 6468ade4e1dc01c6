package dev.squish.methods.prune;

import dev.squish.SquishException;
import dev.squish.calibration.BlockContext;
import dev.squish.calibration.ModelContext;
import dev.squish.methods.*;
import dev.squish.model.Structure;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code drop-layers}: removes the n decoder blocks with the lowest ShortGPT block influence
 * (see {@link BlockInfluence}); the output is a shorter model of the same shape.
 */
public final class DropLayers implements CompressionMethod {
    /** @param blocks how many blocks to remove (on the command line also {@code --layers N} with this method) */
    public record Options(int blocks) implements MethodOptions {
        static final List<OptionSpec> OPTIONS = List.of(OptionSpec.integer("blocks",
                "drop-layers: number of decoder blocks removed (also --layers N with --method drop-layers)."));

        public Options {
            if (blocks < 0) throw new OptionException("{blocks} must be at least 0, got " + blocks);
        }

        static Options read(OptionReader r) {
            Integer n = r.integer("blocks");
            return r.build(() -> {
                if (n == null) throw new OptionException("missing {blocks}");
                return new Options(n);
            });
        }

        @Override public Map<String, Object> values() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("blocks", blocks);
            return m;
        }
    }

    public static final class Descriptor extends AbstractDescriptor<Options> {
        public Descriptor() {
            super("drop-layers", "removes the n blocks that change the hidden state least (ShortGPT block influence)",
                    Structural.KIND, Set.of(Need.CALIBRATION, Need.WHOLE_MODEL), Options.class, Options.OPTIONS, Options::read);
        }

        @Override public CompressionMethod create(Options o) { return new DropLayers(o.blocks()); }
    }

    static final Descriptor DESCRIPTOR = new Descriptor();
    private final int blocks;
    private double[] influence;
    private Set<Integer> dropped = Set.of();

    public DropLayers(int blocks) { this.blocks = new Options(blocks).blocks(); }

    @Override public MethodDescriptor<?> descriptor() { return DESCRIPTOR; }

    @Override public String describe() { return "drop-layers " + blocks + (dropped.isEmpty() ? "" : " (blocks " + dropped + ")"); }

    /** Block influence of every original block (after plan). */
    public double[] influence() { return influence; }

    public Set<Integer> dropped() { return dropped; }

    @Override public void plan(ModelContext ctx) {
        var m = ctx.model();
        if (blocks >= m.blocks.size())
            throw new SquishException("--layers " + blocks + ": the model has " + m.blocks.size() + " blocks and drop-layers keeps at least one");
        if (blocks == 0) return;
        if (ctx.samples() == null) throw new SquishException("drop-layers needs --calibration TEXT_FILE");
        influence = BlockInfluence.scores(m, ctx.samples());
        dropped = BlockInfluence.lowest(influence, blocks);
        Structure.removeBlocks(m, dropped);
    }

    @Override public void compressBlock(BlockContext ctx) { }
}
