package dev.squish.cli;

import dev.squish.formats.Tokenizer;
import dev.squish.model.Model;
import dev.squish.eval.Perplexity;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;

@Command(name = "eval", description = "Perplexity over non-overlapping windows of a text file.")
final class EvalCommand implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin Common.Verbose verbose;
    @Parameters(index = "0", paramLabel = "MODEL_DIR") Path model;
    @Option(names = "--data", required = true, paramLabel = "TEXT_FILE") Path data;
    @Option(names = "--seq-len", paramLabel = "N", description = "Window length (default 256, at most the model's context).") Integer seqLen;
    @Option(names = "--json", description = "Print one JSON object on stdout.") boolean json;

    @Override public Integer call() {
        if (seqLen != null && seqLen < 2) throw new dev.squish.SquishException("--seq-len must be at least 2, got " + seqLen);
        String text = Common.readText(data, "--data");
        try (Model m = Model.load(model)) {
            Tokenizer tok = Common.tokenizer(model, m);
            int[] ids = tok.encode(text, "tokenize");
            int L = seqLen != null ? seqLen : Math.min(256, m.maxPositions());
            Perplexity.Result r = Perplexity.evaluate(m, ids, L);
            var out = spec.commandLine().getOut();
            if (json) {
                Map<String, Object> o = new LinkedHashMap<>();
                o.put("perplexity", r.perplexity());
                o.put("tokens", r.tokens());
                o.put("windows", r.windows());
                o.put("seq_len", L);
                o.put("seconds", r.seconds());
                out.println(Common.json(o));
            } else {
                out.printf("perplexity %.4f  (%d scored tokens, %d windows of %d, %.1f s)%n", r.perplexity(), r.tokens(), r.windows(), L, r.seconds());
            }
            return 0;
        }
    }
}
