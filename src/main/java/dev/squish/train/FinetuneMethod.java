package dev.squish.train;

import dev.squish.SquishException;
import dev.squish.calibration.ModelContext;
import dev.squish.methods.AbstractDescriptor;
import dev.squish.methods.CompressionMethod;
import dev.squish.methods.Kind;
import dev.squish.methods.MethodDescriptor;
import dev.squish.methods.MethodOptions;
import dev.squish.methods.OptionException;
import dev.squish.methods.OptionReader;
import dev.squish.methods.OptionSpec;
import dev.squish.methods.Range;
import dev.squish.methods.WholeModelMethod;
import dev.squish.model.Model;
import dev.squish.util.Progress;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Fine-tuning as a recipe stage ("sparsegpt 70% then finetune"): the {@link FineTune} loop over
 * the model the earlier stages produced, each weight kept in its format (masks, N:M patterns,
 * low-rank factors, quantized codes frozen), or LoRA adapters with {@code lora_rank}. The same
 * loop as {@code bin/squish finetune}, without checkpoints (compress writes its output only when
 * every stage is done; a killed compress leaves nothing behind).
 */
public final class FinetuneMethod implements WholeModelMethod {
    /** Moves values, keeps formats: may follow any stage, quantization included. */
    public static final Kind KIND = new Kind("finetune", Kind.Placement.ANY, false, Kind.Edit.TRAIN, "fine-tuning", "fine-tuning", null);

    public record Options(String data, int steps, double lr, int batch, int trainSeqLen, int loraRank, double minutes,
                          String teacher, double kdWeight) implements MethodOptions {
        static final List<OptionSpec> SPECS = List.of(
                OptionSpec.text("data", "Training text of a finetune stage; its last 5% is held out for the validation loss."),
                OptionSpec.integer("steps", "Optimizer steps of a finetune stage (default 200)."),
                OptionSpec.number("lr", "Peak learning rate (default 1e-4, or 1e-3 with --lora-rank)."),
                OptionSpec.integer("batch", "Sequences per fine-tuning step (default 8)."),
                OptionSpec.integer("train_seq_len", "Tokens per fine-tuning sequence (default 128)."),
                OptionSpec.integer("lora_rank", "Train rank-R adapters on the frozen model instead of the weights (default 0)."),
                OptionSpec.number("minutes", "Stop fine-tuning after this many minutes (default: no limit)."),
                OptionSpec.text("teacher", "Model folder to distil from (KL to its logits mixed with the LM loss)."),
                OptionSpec.number("kd_weight", "Weight of the KL term with a teacher, in [0, 1] (default 0.5)."));

        public Options {
            if (data == null || data.isBlank()) throw new OptionException("missing {data} (the training text)");
            if (steps < 1) throw new OptionException("{steps} must be at least 1, got " + steps);
            if (!(lr > 0) || !Double.isFinite(lr)) throw new OptionException("{lr} must be a positive number, got " + lr);
            if (batch < 1) throw new OptionException("{batch} must be at least 1, got " + batch);
            if (trainSeqLen < 2) throw new OptionException("{train_seq_len} must be at least 2, got " + trainSeqLen);
            if (loraRank < 0) throw new OptionException("{lora_rank} must be >= 0, got " + loraRank);
            if (!(minutes > 0)) throw new OptionException("{minutes} must be positive, got " + minutes);
            if (!(kdWeight >= 0 && kdWeight <= 1)) throw new OptionException("{kd_weight} must be in [0, 1], got " + kdWeight);
        }

        static Options read(OptionReader r) {
            String data = r.string("data"), teacher = r.string("teacher");
            Integer steps = r.integer("steps"), batch = r.integer("batch"), seq = r.integer("train_seq_len"), lora = r.integer("lora_rank");
            Double lr = r.number("lr", Range.openClosed(0, Double.MAX_VALUE)), minutes = r.number("minutes", Range.openClosed(0, Double.MAX_VALUE)),
                    kd = r.number("kd_weight", Range.closed(0, 1));
            return r.build(() -> {
                int rank = lora == null ? 0 : lora;
                return new Options(data, steps == null ? 200 : steps, lr != null ? lr : FineTune.Options.defaultLr(rank), batch == null ? 8 : batch,
                        seq == null ? 128 : seq, rank, minutes == null ? 1e9 : minutes, teacher, kd == null ? 0.5 : kd);
            });
        }

        @Override public Map<String, Object> values() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("data", data);
            m.put("steps", steps);
            m.put("lr", lr);
            m.put("batch", batch);
            m.put("train_seq_len", trainSeqLen);
            m.put("lora_rank", loraRank);
            if (minutes < 1e9) m.put("minutes", minutes);
            if (teacher != null) {
                m.put("teacher", teacher);
                m.put("kd_weight", kdWeight);
            }
            return m;
        }
    }

    public static final class Descriptor extends AbstractDescriptor<Options> {
        public Descriptor() {
            super("finetune", "recovery fine-tuning (a recipe stage after compression): AdamW on next-token loss, formats kept",
                    KIND, Set.of(), Options.class, Options.SPECS, Options::read);
        }

        @Override public CompressionMethod create(Options o) { return new FinetuneMethod(o); }
    }

    static final Descriptor DESCRIPTOR = new Descriptor();

    private final Options options;
    private FineTune.Result result;

    public FinetuneMethod(Options options) { this.options = options; }

    @Override public MethodDescriptor<?> descriptor() { return DESCRIPTOR; }

    @Override public String describe() {
        return "finetune " + options.steps() + " steps lr " + options.lr() + (options.loraRank() > 0 ? " lora " + options.loraRank() : "")
                + (options.teacher() != null ? " distilled" : "");
    }

    /** The loop's outcome (loss curve included), after {@link #apply}; null before. */
    public FineTune.Result result() { return result; }

    @Override public void apply(ModelContext ctx) {
        Model m = ctx.model();
        Path data = Path.of(options.data());
        String text;
        try {
            text = Files.readString(data, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new SquishException("finetune data " + data + ": cannot read (" + e.getMessage() + ")");
        }
        int[] ids = ctx.tokenize(text);
        int steps = options.steps();
        FineTune.Options o = new FineTune.Options(steps, options.lr(), options.batch(), options.trainSeqLen(), options.loraRank(),
                FineTune.Options.defaultLoraAlpha(options.loraRank()), options.minutes(), FineTune.Options.defaultWarmup(steps), 0, 1.0, Math.max(1, steps / 4), steps, 1,
                options.teacher(), options.teacher() == null ? 0 : options.kdWeight());
        FineTune.checkData(ids.length, o, "finetune data " + data);
        if (options.trainSeqLen() > m.maxPositions())
            throw new SquishException("finetune train_seq_len " + options.trainSeqLen() + " is above the model's context of " + m.maxPositions());
        if (options.teacher() != null && !Files.isDirectory(Path.of(options.teacher())))
            throw new SquishException("finetune teacher " + options.teacher() + ": no such model folder");
        TrainModel tm = new TrainModel(m, options.loraRank(), 2.0 * options.loraRank(), 1);
        try (Model teacher = options.teacher() == null ? null : Model.load(Path.of(options.teacher()));
             Progress p = Progress.start("finetune", steps)) {
            if (teacher != null) tm.distillFrom(teacher, options.kdWeight());
            result = FineTune.run(tm, ids, o, null, s -> {
                p.message(String.format("loss %.4f%s", s.loss(), Double.isNaN(s.valLoss()) ? "" : String.format(" val %.4f", s.valLoss())));
                p.step();
            });
        }
        tm.writeBack();
    }
}
