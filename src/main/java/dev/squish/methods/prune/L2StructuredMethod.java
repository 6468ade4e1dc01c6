package dev.squish.methods.prune;

import dev.squish.calibration.BlockContext;
import dev.squish.calibration.ModelContext;
import dev.squish.methods.*;

import java.util.Set;

/** {@code l2-structured}: the data-free structured baseline (see {@link L2Structured}). */
public final class L2StructuredMethod implements CompressionMethod {
    public static final class Descriptor extends AbstractDescriptor<FlapMethod.Options> {
        public Descriptor() {
            super("l2-structured", "removes the key/value groups and MLP channels with the smallest column L2 norms, same shape in every block (Llama; GPT-2: MLP channels; data-free)",
                    Structural.KIND, Set.of(Need.WHOLE_MODEL), FlapMethod.Options.class, java.util.List.of(FlapMethod.Options.OPTIONS.get(0)),
                    r -> {
                        Double remove = r.number("remove", FlapMethod.Options.REMOVE);
                        return r.build(() -> {
                            if (remove == null) throw new OptionException("missing {remove}");
                            return new FlapMethod.Options(remove, "uniform");
                        });
                    });
        }

        @Override public CompressionMethod create(FlapMethod.Options o) { return new L2StructuredMethod(o.remove()); }
    }

    static final Descriptor DESCRIPTOR = new Descriptor();
    private final double remove;

    public L2StructuredMethod(double remove) {
        FlapMethod.Options.REMOVE.check("remove", remove);
        this.remove = remove;
    }

    @Override public MethodDescriptor<?> descriptor() { return DESCRIPTOR; }

    @Override public String describe() { return "l2-structured remove " + OptionReader.fmt(remove); }

    @Override public void plan(ModelContext ctx) {
        long t0 = System.nanoTime();
        var before = Structural.shapes(ctx.model());
        L2Structured.prune(ctx.model(), remove);
        Structural.reportShapes(ctx, name(), before, (System.nanoTime() - t0) / 1e9);
    }

    @Override public void compressBlock(BlockContext ctx) { }
}
