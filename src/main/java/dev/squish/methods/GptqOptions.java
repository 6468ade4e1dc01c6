package dev.squish.methods;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** GPTQ's options: the quantizer's, and act-order (columns in order of decreasing Hessian diagonal). */
public record GptqOptions(QuantOptions quant, boolean actOrder) implements MethodOptions {
    static final List<OptionSpec> OPTIONS = List.of(QuantOptions.BITS, QuantOptions.GROUP_SIZE, QuantOptions.SYM,
            OptionSpec.flag("act_order", "Quantize columns in order of decreasing Hessian diagonal.", null),
            QuantOptions.OUTLIERS_OPTION, QuantOptions.GGUF_TYPE);

    public GptqOptions {
        java.util.Objects.requireNonNull(quant, "quant");
        if (actOrder && quant.ggufType() != null) throw new OptionException("{act_order} does not combine with {gguf_type}: GPTQ on llama.cpp's grid sweeps its blocks in order");
    }

    static GptqOptions read(OptionReader r) {
        QuantOptions q = QuantOptions.read(r);
        Boolean actOrder = r.bool("act_order");
        return r.build(() -> new GptqOptions(q, actOrder != null && actOrder));
    }

    @Override public Map<String, Object> values() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("bits", quant.bits());
        m.put("group_size", quant.groupSize());
        m.put("sym", quant.sym());
        m.put("act_order", actOrder);
        m.put("outliers", quant.outliers());
        if (quant.ggufType() != null) m.put("gguf_type", quant.ggufType().name());
        return m;
    }
}
