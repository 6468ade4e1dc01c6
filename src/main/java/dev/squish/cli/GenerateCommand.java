package dev.squish.cli;

import dev.squish.SquishException;
import dev.squish.formats.Tokenizer;
import dev.squish.model.Model;
import dev.squish.eval.Generator;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.nio.file.Path;
import java.util.concurrent.Callable;

@Command(name = "generate", mixinStandardHelpOptions = true, description = "Continue a prompt (greedy, or temperature/top-p sampling with a seed).")
final class GenerateCommand implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin Common.Verbose verbose;
    @Parameters(index = "0", paramLabel = "MODEL_DIR") Path model;
    @Option(names = "--prompt", required = true) String prompt;
    @Option(names = "--max-tokens", defaultValue = "64") int maxTokens;
    @Option(names = "--temperature", defaultValue = "0", description = "0 = greedy (default).") double temperature;
    @Option(names = "--top-p", defaultValue = "1.0") double topP;
    @Option(names = "--seed", defaultValue = "0") long seed;

    @Override public Integer call() {
        if (maxTokens < 1) throw new SquishException("--max-tokens must be at least 1, got " + maxTokens);
        if (temperature < 0 || Double.isNaN(temperature)) throw new SquishException("--temperature must be >= 0, got " + temperature);
        if (!(topP > 0 && topP <= 1)) throw new SquishException("--top-p must be in (0, 1], got " + topP);
        try (Model m = Model.load(model)) {
            Tokenizer tok = Common.tokenizer(model, m);
            int[] ids = tok.encode(prompt);
            var out = spec.commandLine().getOut();
            out.print(prompt);
            out.flush();
            // Tokens may split UTF-8 characters: print bytes only once they decode cleanly.
            StreamingText stream = new StreamingText(tok, out);
            Generator.Result r = new Generator(m).generate(ids,
                    new Generator.Options(maxTokens, temperature, topP, seed, tok.eosId()), stream::accept);
            stream.flush();
            out.println();
            out.flush();
            var err = spec.commandLine().getErr();
            err.printf("%d tokens; prefill %.3f s (%d tokens), decode %.1f tokens/s%n", r.tokens().length, r.prefillSeconds(), ids.length, r.decodeTokensPerSecond());
            return 0;
        }
    }

    /** Decodes the growing token list and prints only the new complete characters. */
    static final class StreamingText {
        private final Tokenizer tok;
        private final java.io.PrintWriter out;
        private final java.util.List<Integer> ids = new java.util.ArrayList<>();
        private int printed;

        StreamingText(Tokenizer tok, java.io.PrintWriter out) { this.tok = tok; this.out = out; }

        void accept(int id) {
            if (tok.eosId() != null && id == tok.eosId()) return;
            ids.add(id);
            String s = tok.decode(ids.stream().mapToInt(Integer::intValue).toArray());
            int end = s.length();
            if (end > 0 && s.charAt(end - 1) == '\uFFFD') end--; // an incomplete character: wait for more bytes
            if (end > printed) { out.print(s.substring(printed, end)); out.flush(); printed = end; }
        }

        void flush() {
            String s = tok.decode(ids.stream().mapToInt(Integer::intValue).toArray());
            if (s.length() > printed) out.print(s.substring(printed));
            out.flush();
        }
    }

}
