package dev.squish.cli;

import dev.squish.SquishException;
import dev.squish.calibration.Sampler;
import dev.squish.formats.Tokenizer;
import dev.squish.methods.Kind;
import dev.squish.methods.MethodDescriptor;
import dev.squish.methods.Methods;
import dev.squish.report.HtmlReport;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.*;

/**
 * {@code bin/squish demo}: compresses the bundled kjv-llama-tiny with a set of methods, prints
 * one comparison table and writes {@code squish-demo/report.html} and {@code results.json}.
 * The variants are data ({@link #VARIANTS}); one whose method is not implemented yet is skipped
 * with a note.
 */
@Command(name = "demo", mixinStandardHelpOptions = true, description = "Compress the bundled model with several methods; print a comparison table and write an HTML report.")
final class DemoCommand implements java.util.concurrent.Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin Common.Verbose verbose;
    @Option(names = "--out", paramLabel = "DIR", description = "Output folder (default: squish-demo in the current directory).")
    Path out = Path.of("squish-demo");
    @Option(names = "--quick", description = "A small, fast run (a few methods, little calibration, a slice of the test text).")
    boolean quick;
    @Option(names = "--methods", paramLabel = "LIST", split = ",",
            description = "Variants to run instead of the default set: METHOD (its default variants) or METHOD@SETTING, "
                    + "e.g. wanda,sparsegpt@2:4,gptq@int4,svd@0.8. The dense baseline always runs.")
    List<String> methods;
    @Option(names = "--samples", description = "Calibration windows (default 128; 16 with --quick).") Integer samples;
    @Option(names = "--seq-len", paramLabel = "L", description = "Calibration window length (default 256; 128 with --quick).") Integer seqLen;
    @Option(names = "--task-limit", paramLabel = "N", description = "Score the first N items of each bundled zero-shot task "
            + "(default " + TASK_LIMIT + ", " + QUICK_TASK_LIMIT + " with --quick; 0: all of them).") Integer taskLimit;

    /**
     * Items of each shipped task the demo scores per variant. Scoring all of both tasks takes about
     * six times the test-perplexity pass (about 310 k tokens against 53 k), so by default the demo
     * scores the first 250 of each (about the cost of the perplexity pass; standard error about 3 points)
     * and says so; --task-limit 0 scores all of them.
     */
    static final int TASK_LIMIT = 250, QUICK_TASK_LIMIT = 20;

    /** The shipped tasks, in table order. */
    static final List<String> TASKS = List.of("tasks/kjv-next-verse.jsonl", "tasks/kjv-last-word.jsonl");

    static final String MODEL = "models/kjv-llama-tiny";

    /** The default variants, in table order. */
    static final List<Trial.Spec> VARIANTS = List.of(
            Trial.Spec.dense(),
            prune("magnitude", "50%"), prune("magnitude", "2:4"),
            prune("wanda", "50%"), prune("wanda", "2:4"),
            prune("sparsegpt", "50%"), prune("sparsegpt", "2:4"),
            quant("rtn", 4), quant("gptq", 4), quant("awq", 4),
            lowRank("svd", 0.8), lowRank("asvd", 0.8), variant(Methods.get("slicegpt"), "20%"));

    /** The --quick set: three methods of the three kinds that are always present. */
    static final List<String> QUICK = List.of("wanda@50%", "sparsegpt@2:4", "rtn@int4");

    @Override public Integer call() {
        PrintWriter o = spec.commandLine().getOut(), err = spec.commandLine().getErr();
        long start = System.nanoTime();
        Path fixtures = fixtures();
        Path modelDir = fixtures.resolve(MODEL);
        List<Trial.Spec> chosen = select(methods != null ? methods : quick ? QUICK : null);
        List<String> notes = new ArrayList<>();
        List<Trial.Spec> runnable = new ArrayList<>();
        for (Trial.Spec s : chosen) {
            if (s.method() == null) { runnable.add(s); continue; }
            s.stage();   // bad settings from --methods are errors
            try {
                s.create();
                runnable.add(s);
            } catch (SquishException e) {   // a method not implemented (yet) in this build
                notes.add("skipped " + s.label() + ": " + s.method() + " is not available in this build");
            }
        }
        int n = samples != null ? samples : quick ? 16 : 128, L = seqLen != null ? seqLen : quick ? 128 : 256;
        Tokenizer tok = Tokenizer.load(modelDir);
        boolean anyData = runnable.stream().anyMatch(s -> s.method() != null && Methods.get(s.method()).needsCalibration());
        int[][] windows = null;
        Path train = fixtures.resolve("data/kjv/train.txt"), test = fixtures.resolve("data/kjv/test.txt");
        if (anyData) windows = Sampler.sample(tok.encode(Common.readText(train, "calibration"), "tokenize calibration"), n, L, false, 0);
        int[] evalTokens = tok.encode(Common.readText(test, "eval"), "tokenize test");
        int evalLen = 256;
        if (quick) evalTokens = Arrays.copyOf(evalTokens, Math.min(evalTokens.length, 16 * evalLen));
        if (taskLimit != null && taskLimit < 0) throw new SquishException("--task-limit must be 0 (all items) or more, got " + taskLimit);
        int limit = taskLimit != null ? taskLimit : quick ? QUICK_TASK_LIMIT : TASK_LIMIT;
        List<dev.squish.eval.TaskFile> tasks = TASKS.stream().map(t -> dev.squish.eval.TaskFile.read(fixtures.resolve(t))).toList();
        Trial.Setup setup = new Trial.Setup(modelDir, windows, evalTokens, evalLen, Trial.prompt(tok), quick ? 32 : 64, tasks, limit);

        err.printf("squish demo: %d variants of kjv-llama-tiny; calibration %s; perplexity on %s (%,d tokens)%n", runnable.size(),
                windows == null ? "none" : n + " x " + L + " tokens of train.txt", quick ? "a slice of test.txt" : "test.txt", evalTokens.length);
        for (String note : notes) err.println("note: " + note);
        List<Trial.Open> runs = new ArrayList<>();
        List<Trial.Result> results;
        try {
            for (int i = 0; i < runnable.size(); i++) {
                Trial.Spec s = runnable.get(i);
                err.printf("[%d/%d] %s%n", i + 1, runnable.size(), s.label());
                err.flush();
                Trial.Open r = Trial.open(setup, s);
                runs.add(r);
                err.printf("[%d/%d] %s: perplexity %.3f, %.2f MiB, %.1f s%n", i + 1, runnable.size(), s.label(),
                        r.result().perplexity(), r.result().bytes() / MIB, r.result().totalSeconds());
                err.flush();
            }
            results = Trial.measureDecode(runs, setup.prompt(), setup.decodeTokens(), quick ? 3 : 5);
        } finally {
            for (Trial.Open r : runs) r.close();
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        DemoReport.Table table = DemoReport.table(results);
        o.print(table.text());
        o.println(DemoReport.recommendation(results));
        o.print(DemoReport.taskLegend(results, tasks, limit));
        for (String note : notes) o.println("note: " + note);
        Map<String, Object> settings = new LinkedHashMap<>();
        settings.put("model", "kjv-llama-tiny");
        settings.put("calibration", windows == null ? null : Map.of("file", "train.txt", "samples", n, "seq_len", L, "sampling", "sequential"));
        settings.put("eval", Map.of("file", "test.txt", "tokens", evalTokens.length, "seq_len", evalLen, "slice", quick));
        settings.put("decode_tokens", setup.decodeTokens());
        Map<String, Object> taskSettings = new LinkedHashMap<>();
        for (var t : tasks) taskSettings.put(t.name(), Map.of("file", fixtures.relativize(t.file()).toString(), "items", t.items().size(),
                "scored", limit > 0 ? Math.min(limit, t.items().size()) : t.items().size()));
        settings.put("tasks", taskSettings);
        settings.put("cores", Runtime.getRuntime().availableProcessors());
        settings.put("seconds", seconds);
        HtmlReport report = DemoReport.build(results, table, settings, notes, modelDir, quick, tasks, limit);
        try {
            Files.createDirectories(out);
        } catch (IOException e) {
            throw new SquishException("cannot create " + out + ": " + e.getMessage());
        }
        Path html = out.resolve("report.html");
        report.write(html);
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("settings", settings);
        json.put("results", results.stream().map(Trial.Result::json).toList());
        json.put("notes", notes);
        Common.writeAtomically(out.resolve("results.json"), Common.json(json) + "\n");
        o.printf("%nwrote %s and %s (%.0f s in all)%n", html, out.resolve("results.json"), seconds);
        o.flush();
        return 0;
    }

    static final double MIB = 1024.0 * 1024.0;

    /** The variants for a --methods list (null: all defaults); always led by the dense baseline. */
    static List<Trial.Spec> select(List<String> items) {
        if (items == null) return VARIANTS;
        List<Trial.Spec> out = new ArrayList<>();
        out.add(Trial.Spec.dense());
        for (String raw : items) {
            String item = raw.strip().toLowerCase(Locale.ROOT);
            if (item.isEmpty() || item.equals("dense")) continue;
            int at = item.indexOf('@');
            String name = at < 0 ? item : item.substring(0, at);
            MethodDescriptor<?> m = Methods.byId(name).orElseThrow(() -> new SquishException("--methods: unknown method '" + name
                    + "' (known: " + String.join(", ", Methods.ids()) + ")"));
            List<Trial.Spec> add = at < 0 ? VARIANTS.stream().filter(v -> name.equals(v.method())).toList()
                    : List.of(variant(m, item.substring(at + 1)));
            if (add.isEmpty()) add = List.of(defaultVariant(m));
            for (Trial.Spec s : add) if (!out.contains(s)) out.add(s);
        }
        return out;
    }

    /** METHOD@SETTING: pruning 50%, 0.5 or 2:4; quantization int4 / int8; low rank and slicing a fraction. */
    static Trial.Spec variant(MethodDescriptor<?> m, String setting) {
        String name = m.id();
        try {
            Kind k = m.kind();
            if (k.equals(Kind.PRUNE)) return prune(name, setting);
            if (k.equals(Kind.QUANTIZE)) return quant(name, Integer.parseInt(setting.startsWith("int") ? setting.substring(3) : setting));
            if (k.equals(Kind.LOW_RANK)) return lowRank(name, fraction(setting));
            if (k.equals(Kind.SLICE)) return new Trial.Spec(name + " " + percent(fraction(setting)), name, Map.of("slice", fraction(setting)));
            throw new SquishException("--methods: " + name + " has no demo setting (the demo runs pruning, factorizing, slicing and quantizing methods)");
        } catch (NumberFormatException e) {
            throw new SquishException("--methods: cannot read the setting '" + setting + "' of " + name
                    + " (e.g. wanda@50%, sparsegpt@2:4, gptq@int4, svd@0.8)");
        }
    }

    private static Trial.Spec defaultVariant(MethodDescriptor<?> m) {
        Kind k = m.kind();
        return variant(m, k.equals(Kind.PRUNE) ? "50%" : k.equals(Kind.QUANTIZE) ? "4" : k.equals(Kind.LOW_RANK) ? "0.8" : "0.2");
    }

    static Trial.Spec prune(String method, String setting) {
        if (setting.contains(":")) return new Trial.Spec(method + " " + setting, method, Map.of("pattern", setting));
        double s = fraction(setting);
        return new Trial.Spec(method + " " + percent(s), method, Map.of("sparsity", s));
    }

    static Trial.Spec quant(String method, int bits) {
        return new Trial.Spec(method + " int" + bits + " g128", method, Map.of("bits", bits, "group_size", 128));
    }

    static Trial.Spec lowRank(String method, double keep) {
        return new Trial.Spec(method + " keep " + keep, method, Map.of("keep", keep));
    }

    private static double fraction(String s) {
        return s.endsWith("%") ? Double.parseDouble(s.substring(0, s.length() - 1)) / 100 : Double.parseDouble(s);
    }

    private static String percent(double f) {
        double p = f * 100;
        return (p == Math.rint(p) ? String.valueOf((long) p) : String.valueOf(p)) + "%";
    }

    /**
     * The bundled fixtures: next to the installation (the jar or classes folder sits in
     * ROOT/target), so {@code bin/squish demo} works from any directory; else above the working directory.
     */
    static Path fixtures() {
        List<Path> tried = new ArrayList<>();
        try {
            Path code = Path.of(DemoCommand.class.getProtectionDomain().getCodeSource().getLocation().toURI()).toAbsolutePath();
            for (Path p = code; p != null; p = p.getParent()) {
                tried.add(p);
                if (Files.isDirectory(p.resolve("fixtures").resolve(MODEL))) return p.resolve("fixtures");
                if (tried.size() > 3) break;
            }
        } catch (Exception e) {
            // no code source (unusual class loader): fall back to the working directory
        }
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent())
            if (Files.isDirectory(p.resolve("fixtures").resolve(MODEL))) return p.resolve("fixtures");
        throw new SquishException("cannot find the bundled model fixtures/" + MODEL + " next to the installation ("
                + (tried.isEmpty() ? "unknown" : tried.get(tried.size() - 1)) + ") or above the working directory; run the demo from a clone of the repository");
    }
}
