package dev.squish.cli;

import dev.squish.SquishException;
import dev.squish.export.ModelWriter;
import dev.squish.formats.Tokenizer;
import dev.squish.model.Model;
import dev.squish.train.FineTune;
import dev.squish.train.TrainModel;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;

@Command(name = "finetune", mixinStandardHelpOptions = true,
        description = "Recovery fine-tuning: next-token training on a text file, each weight kept in its format (masks and N:M patterns stay), or LoRA adapters on a frozen model.")
final class FinetuneCommand implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin Common.Verbose verbose;
    @Parameters(index = "0", paramLabel = "MODEL_DIR") Path model;
    @Option(names = {"-o", "--output"}, required = true, paramLabel = "OUT_DIR") Path output;
    @Option(names = "--data", required = true, paramLabel = "TEXT_FILE", description = "Training text; its last 5% is held out for the validation loss.") Path data;
    @Option(names = "--steps", paramLabel = "N", description = "Optimizer steps (default 200).") int steps = 200;
    @Option(names = "--lr", paramLabel = "X", description = "Peak learning rate (default 1e-4, or 1e-3 with --lora-rank).") Double lr;
    @Option(names = "--batch", paramLabel = "B", description = "Sequences per step (default 8).") int batch = 8;
    @Option(names = "--seq-len", paramLabel = "L", description = "Tokens per sequence (default 128).") int seqLen = 128;
    @Option(names = "--lora-rank", paramLabel = "R", description = "Train rank-R adapters on a frozen model instead of the weights (default 0: train the weights).") int loraRank;
    @Option(names = "--lora-alpha", paramLabel = "A", description = "LoRA scale numerator: adapters are scaled by A/R (default 2R).") Double loraAlpha;
    @Option(names = "--minutes", paramLabel = "M", description = "Stop after M minutes, save and write the model (default: no limit).") Double minutes;
    @Option(names = "--warmup", paramLabel = "N", description = "Linear warm-up steps before the cosine decay (default steps/10, at most 50).") Integer warmup;
    @Option(names = "--weight-decay", paramLabel = "X", description = "AdamW decoupled weight decay on matrices (default 0).") double weightDecay;
    @Option(names = "--clip", paramLabel = "X", description = "Clip the global gradient norm to X (default 1; 0 turns clipping off).") double clip = 1.0;
    @Option(names = "--eval-every", paramLabel = "N", description = "Validation loss every N steps (default 50).") int evalEvery = 50;
    @Option(names = "--save-every", paramLabel = "N", description = "Checkpoint every N steps (default 25).") int saveEvery = 25;
    @Option(names = "--seed", paramLabel = "N", description = "Seed of the batch sampling and the adapters (default 1).") long seed = 1;
    @Option(names = "--checkpoint", paramLabel = "FILE", description = "Checkpoint file (default OUT_DIR.checkpoint); an existing one is resumed.") Path checkpoint;
    @Option(names = "--teacher", paramLabel = "MODEL_DIR", description = "Distil from this model's logits (e.g. the uncompressed model): the loss mixes cross-entropy and KL(teacher || student).") Path teacher;
    @Option(names = "--kd-weight", paramLabel = "X", description = "Weight of the KL term with --teacher, in [0, 1] (default 0.5; 1 = distillation only).") double kdWeight = 0.5;
    @Option(names = "--report", paramLabel = "FILE.html", description = "Write an HTML report: settings, losses and the loss curve.") Path report;
    @Option(names = "--force", description = "Replace OUT_DIR if it exists.") boolean force;
    @Option(names = "--json", description = "Print one JSON object on stdout.") boolean json;

    @Override public Integer call() {
        if (loraRank < 0) throw new SquishException("--lora-rank must be at least 1, got " + loraRank);
        FineTune.Options o = new FineTune.Options(steps, lr != null ? lr : FineTune.Options.defaultLr(loraRank), batch, seqLen, loraRank,
                loraAlpha != null ? loraAlpha : FineTune.Options.defaultLoraAlpha(loraRank), minutes != null ? minutes : 1e9,
                warmup != null ? warmup : FineTune.Options.defaultWarmup(steps), weightDecay, clip, evalEvery, saveEvery, seed,
                teacher == null ? null : teacher.toAbsolutePath().normalize().toString(), teacher == null ? 0 : kdWeight);
        if (!(clip >= 0)) throw new SquishException("--clip must be >= 0, got " + clip);
        if (!(weightDecay >= 0)) throw new SquishException("--weight-decay must be >= 0, got " + weightDecay);
        if (Files.exists(output) && !force) throw new SquishException(output + " already exists (use --force to replace it)");
        String text = Common.readText(data, "--data");
        Path ck = checkpoint != null ? checkpoint : output.toAbsolutePath().resolveSibling(output.getFileName() + ".checkpoint");
        var err = spec.commandLine().getErr();
        var out = spec.commandLine().getOut();
        if (teacher != null && !Files.isDirectory(teacher)) throw new SquishException("--teacher " + teacher + ": no such model folder");
        try (Model m = Model.load(model); Model t = teacher == null ? null : Model.load(teacher)) {
            Tokenizer tok = Common.tokenizer(model, m);
            int[] ids = tok.encode(text, "tokenize");
            FineTune.checkData(ids.length, o, data.toString());
            if (seqLen > m.maxPositions()) throw new SquishException("--seq-len " + seqLen + " is above the model's context of " + m.maxPositions());
            TrainModel tm = new TrainModel(m, loraRank, o.loraAlpha(), seed);
            if (t != null) tm.distillFrom(t, kdWeight);
            boolean resumed = Files.exists(ck);
            if (resumed) err.printf("resuming from %s%n", ck);
            int every = Math.max(1, steps / 50);
            FineTune.Result r = FineTune.run(tm, ids, o, ck, p -> {
                if (p.step() % every == 0 || p.step() == p.steps() || !Double.isNaN(p.valLoss())) {
                    err.printf("step %d/%d  loss %.4f%s  lr %.2e  |g| %.3f  %.0f tok/s  ETA %s%n", p.step(), p.steps(), p.loss(),
                            Double.isNaN(p.valLoss()) ? "" : String.format("  val %.4f", p.valLoss()), p.lr(), p.gradNorm(),
                            p.tokensPerSecond(), eta(p.etaSeconds()));
                    err.flush();
                }
            });
            tm.writeBack();
            Map<String, String> meta = new LinkedHashMap<>();
            meta.put("squish.finetune", "steps=" + r.step() + " " + String.format("lr=%s batch=%d seq_len=%d lora_rank=%d", o.lr(), batch, seqLen, loraRank)
                    + (teacher == null ? "" : " kd_weight=" + kdWeight));
            ModelWriter.write(m, output, false, force, meta);
            if (r.stop().equals("steps")) {
                try { Files.deleteIfExists(ck); } catch (java.io.IOException e) { throw new SquishException("cannot delete " + ck + ": " + e.getMessage()); }
            }
            if (report != null) {
                var h = new dev.squish.report.HtmlReport("Squish finetune: " + model.getFileName());
                h.paragraph(String.format(java.util.Locale.ROOT, "Fine-tuned %s into %s: %d steps (%s) in %.1f s, %.0f training tokens/s.",
                        model, output, r.step(), r.stop().equals("steps") ? "all" : "stopped by the time budget", r.seconds(), r.tokensPerSecond()));
                h.section("Settings");
                h.code(CompressReport.commandLine(spec.commandLine().getParseResult().originalArgs()) + "\n\n" + meta.get("squish.finetune"));
                h.section("Loss");
                h.table("Before and after", java.util.List.of("", "first", "last"), java.util.List.of(
                        java.util.Arrays.asList("training loss (objective)", num(r.firstLoss()), num(r.lastLoss())),
                        java.util.Arrays.asList("validation loss (cross-entropy)", num(r.firstValLoss()), num(r.lastValLoss()))));
                ReportParts.lossCurve(h, "Loss per step", r);
                h.write(report);
            }
            Map<String, Object> j = new LinkedHashMap<>();
            j.put("output", output.toString());
            j.put("steps", r.step());
            j.put("resumed_from", r.startStep());
            j.put("stopped_by", r.stop());
            j.put("train_loss_first", num(r.firstLoss()));
            j.put("train_loss_last", num(r.lastLoss()));
            j.put("val_loss_first", num(r.firstValLoss()));
            j.put("val_loss_last", num(r.lastValLoss()));
            j.put("tokens", r.tokens());
            j.put("seconds", r.seconds());
            j.put("tokens_per_second", r.tokensPerSecond());
            j.put("checkpoint", r.stop().equals("steps") ? null : ck.toString());
            if (json) out.println(Common.json(j));
            else out.printf("fine-tuned %d steps (%s): train loss %.4f -> %.4f, validation %.4f -> %.4f, %.0f tokens/s over %.1f s; wrote %s%n",
                    r.step(), r.stop().equals("steps") ? "all" : "time budget reached; checkpoint " + ck + " kept", r.firstLoss(), r.lastLoss(),
                    r.firstValLoss(), r.lastValLoss(), r.tokensPerSecond(), r.seconds(), output);
            return 0;
        }
    }

    private static Double num(double v) { return Double.isFinite(v) ? v : null; }

    static String eta(double s) {
        if (!Double.isFinite(s)) return "-";
        long t = Math.round(s);
        return t >= 60 ? (t / 60) + "m" + String.format("%02d", t % 60) + "s" : t + "s";
    }
}
