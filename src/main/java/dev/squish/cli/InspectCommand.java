package dev.squish.cli;

import dev.squish.formats.TensorInfo;
import dev.squish.model.Block;
import dev.squish.model.Model;
import dev.squish.weights.Linear;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.nio.file.Path;
import java.util.*;
import java.util.concurrent.Callable;

@Command(name = "inspect", mixinStandardHelpOptions = true, description = "Architecture, parameter count, dtypes and per-matrix format and sparsity.")
final class InspectCommand implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin Common.Verbose verbose;
    @Parameters(index = "0", paramLabel = "MODEL_DIR") Path model;
    @Option(names = "--json", description = "Print one JSON object on stdout.") boolean json;

    record Row(String name, String format, int rows, int cols, long parameters, double sparsity, long bytes) {}

    static double sparsity(Linear l) {
        float[] w = l.toDense();
        long zeros = 0;
        for (float v : w) if (v == 0f) zeros++;
        return w.length == 0 ? 0 : (double) zeros / w.length;
    }

    @Override public Integer call() {
        try (Model m = Model.load(model)) {
            var c = m.config;
            List<Row> rows = new ArrayList<>();
            for (Block b : m.blocks)
                for (var e : b.linears.entrySet()) {
                    Linear l = e.getValue();
                    rows.add(new Row(m.arch.blockPrefix(b.index) + e.getKey(), l.format(), l.rows(), l.cols(), l.parameters(), sparsity(l), l.bytes()));
                }
            if (!m.tiedHead) rows.add(new Row(m.arch.headName().replace(".weight", ""), m.head.format(), m.head.rows(), m.head.cols(), m.head.parameters(), sparsity(m.head), m.head.bytes()));
            Map<String, Long> dtypes = new TreeMap<>();
            for (TensorInfo t : m.weights.tensors()) dtypes.merge(t.dtype().name(), t.numel(), Long::sum);
            var out = spec.commandLine().getOut();
            if (json) {
                Map<String, Object> o = new LinkedHashMap<>();
                o.put("model_type", c.modelType());
                o.put("layers", m.blocks.size());
                o.put("hidden", m.width());
                o.put("heads", c.heads());
                o.put("kv_heads", c.kvHeads());
                o.put("vocab", c.vocab());
                o.put("parameters", m.parameters());
                o.put("bytes", m.bytes());
                o.put("dtypes", dtypes);
                List<Map<String, Object>> mats = new ArrayList<>();
                for (Row r : rows) {
                    Map<String, Object> x = new LinkedHashMap<>();
                    x.put("name", r.name()); x.put("format", r.format()); x.put("shape", List.of(r.rows(), r.cols()));
                    x.put("parameters", r.parameters()); x.put("sparsity", r.sparsity()); x.put("bytes", r.bytes());
                    mats.add(x);
                }
                o.put("matrices", mats);
                // Per-block shapes: after structured pruning (FLAP) blocks may differ in heads and MLP width.
                List<Map<String, Object>> blocks = new ArrayList<>();
                for (Block b : m.blocks) {
                    var s = m.arch.shape(b);
                    Map<String, Object> x = new LinkedHashMap<>();
                    x.put("block", b.index); x.put("heads", s.heads()); x.put("kv_heads", s.kvHeads()); x.put("intermediate", s.intermediate());
                    x.put("parameters", b.parameters());
                    blocks.add(x);
                }
                o.put("blocks", blocks);
                out.println(Common.json(o));
                return 0;
            }
            out.printf("model      %s (%s)%n", model, c.modelType());
            out.printf("shape      %d layers, hidden %d, %d heads, %d key/value heads, head dim %d, intermediate %d, vocab %d, context %d%n",
                    m.blocks.size(), m.width(), c.heads(), c.kvHeads(), c.headDim(), c.intermediate(), c.vocab(), m.maxPositions());
            out.printf("params     %,d (%s head)%n", m.parameters(), m.tiedHead ? "tied" : "untied");
            out.printf("weights    %,d bytes in memory formats; dtypes on disk: %s%n", m.bytes(), dtypes);
            out.printf("%n%-40s %-14s %-11s %12s %9s %12s%n", "matrix", "format", "shape", "params", "sparsity", "bytes");
            for (Row r : rows)
                out.printf("%-40s %-14s %-11s %,12d %8.2f%% %,12d%n", r.name(), r.format(), r.rows() + "x" + r.cols(), r.parameters(), 100 * r.sparsity(), r.bytes());
            return 0;
        }
    }
}
