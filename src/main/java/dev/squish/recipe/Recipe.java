package dev.squish.recipe;

import dev.squish.SquishException;
import dev.squish.methods.Kind;
import dev.squish.methods.MethodDescriptor;
import dev.squish.methods.Methods;
import dev.squish.methods.OptionReader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;

/**
 * A validated compression plan: calibration settings and an ordered list of stages. Made from a
 * {@code --recipe FILE.yaml} ({@link #load}) or from the plain {@code --method} command line
 * ({@link #single}); both go through the same checks, and every problem is a
 * {@link SquishException} naming the file, the stage and the key. See {@code docs/recipes.md}.
 *
 * @param source where it came from, for messages: the recipe file as given, or {@code --method NAME}
 */
public record Recipe(CalibrationSpec calibration, List<Stage> stages, String source) {
    private static final List<String> TOP_KEYS = List.of("calibration", "stages");
    private static final List<String> CALIBRATION_KEYS = List.of("file", "samples", "seq_len", "sampling", "seed");

    public Recipe {
        stages = List.copyOf(stages);
        if (stages.isEmpty()) throw new IllegalArgumentException("a recipe needs at least one stage");
    }

    /** Reads and validates a recipe file. Relative calibration paths resolve against its folder, then the working directory. */
    public static Recipe load(Path file) {
        String src = file.toString();
        byte[] bytes;
        try {
            if (Files.isDirectory(file)) throw new SquishException(src + ": is a folder, not a recipe file");
            long size = Files.size(file);
            if (size > RecipeYaml.MAX_CHARS) {
                throw new SquishException(src + ": too large for a recipe (" + size + " bytes; at most "
                        + RecipeYaml.MAX_CHARS + ")");
            }
            bytes = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new SquishException(src + ": no such recipe file");
        } catch (IOException e) {
            throw new SquishException(src + ": cannot read recipe: " + e.getMessage(), e);
        }
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw new SquishException(src + ": not a text file (invalid UTF-8)");
        }
        Path dir = file.toAbsolutePath().getParent();
        return parse(text, src, dir);
    }

    /**
     * Parses recipe text.
     *
     * @param source  the name used in messages, e.g. the file name
     * @param baseDir folder that relative calibration paths resolve against first (may be null)
     */
    public static Recipe parse(String yaml, String source, Path baseDir) {
        Object doc = RecipeYaml.load(yaml, source);
        if (doc == null) throw new SquishException(source + ": the recipe is empty; it needs a 'stages' list");
        if (!(doc instanceof Map<?, ?> top)) {
            throw new SquishException(source + ": expected a mapping with 'stages' (and optional 'calibration') at the"
                    + " top level, got " + OptionReader.describe(doc));
        }
        new OptionReader(source + ": ", false, top).rejectUnknown(TOP_KEYS, "a recipe");
        CalibrationSpec cal = CalibrationSpec.defaults();
        if (top.containsKey("calibration")) {
            Object c = top.get("calibration");
            if (!(c instanceof Map<?, ?> cm)) {
                throw new SquishException(source + ": calibration must be a mapping (file, samples, seq_len, sampling,"
                        + " seed), got " + OptionReader.describe(c));
            }
            cal = calibration(new OptionReader(source + ": calibration: ", false, cm), baseDir);
        }
        Object st = top.get("stages");
        if (st == null) throw new SquishException(source + ": missing 'stages' (a list of at least one stage)");
        if (!(st instanceof List<?> list)) {
            throw new SquishException(source + ": stages must be a list (each item '- method: ...'), got "
                    + OptionReader.describe(st));
        }
        if (list.isEmpty()) throw new SquishException(source + ": stages is empty; give at least one stage");
        List<Stage> stages = new ArrayList<>();
        for (int i = 0; i < list.size(); i++) {
            String at = source + ": stage " + (i + 1);
            if (!(list.get(i) instanceof Map<?, ?> sm)) {
                throw new SquishException(at + ": expected a mapping with 'method', got " + OptionReader.describe(list.get(i)));
            }
            Object name = sm.get("method");
            if (name == null) {
                throw new SquishException(at + ": missing 'method' (one of " + String.join(", ", Methods.ids()) + ")");
            }
            MethodDescriptor<?> m = method(name, at + ": ", "method");
            Map<Object, Object> opts = new java.util.LinkedHashMap<>(sm);
            opts.remove("method");
            stages.add(StageRules.stage(m, new OptionReader(at + " (" + m.id() + "): ", false, opts)));
        }
        return checked(new Recipe(cal, stages, source));
    }

    /** The plain command-line form {@code --method NAME [options]} with default calibration. */
    public static Recipe single(String method, Map<String, ?> options) {
        return single(method, options, Map.of());
    }

    /**
     * The plain command-line form. Option keys are the recipe's ({@code sparsity}, {@code group_size}, ...),
     * calibration keys are {@code file}, {@code samples}, {@code seq_len}, {@code sampling}, {@code seed};
     * null values mean "not given", and strings are accepted for numbers and flags. Errors name
     * the flags ({@code --group-size}, {@code --calibration}).
     */
    public static Recipe single(String method, Map<String, ?> options, Map<String, ?> calibration) {
        MethodDescriptor<?> m = method(method, "", "--method");
        Stage s = StageRules.stage(m, new OptionReader("", true, options));
        CalibrationSpec cal = calibration(new OptionReader("", true, calibration), null);
        return checked(new Recipe(cal, List.of(s), "--method " + m.id()));
    }

    /**
     * Calibration settings from command-line values under the recipe's keys ({@code file},
     * {@code samples}, {@code seq_len}, {@code sampling}, {@code seed}; absent or null = default),
     * checked as a recipe's calibration block, with errors naming the flags.
     */
    public static CalibrationSpec calibrationFlags(Map<String, ?> flags) {
        return calibration(new OptionReader("", true, flags), null);
    }

    /** The same stages with other calibration settings (e.g. overridden from the command line). */
    public Recipe withCalibration(CalibrationSpec c) {
        return new Recipe(c, stages, source);
    }

    /** Whether any stage needs calibration activations. */
    public boolean needsCalibration() {
        return stages.stream().anyMatch(s -> s.descriptor().needsCalibration());
    }

    /**
     * Checks the stages' {@code layers} against the linear names of one block (e.g.
     * {@code self_attn.q_proj}, {@code mlp.down_proj}), once the model is known: every stage must
     * match at least one linear, and no linear may be factorized by one stage and also be pruned or
     * factorized by another ({@link Kind.Edit}).
     */
    public void checkLayers(Collection<String> linearNames) {
        for (int i = 0; i < stages.size(); i++) {
            Stage s = stages.get(i);
            if (linearNames.stream().noneMatch(s::appliesTo)) {
                throw new SquishException(where(i) + "layers '" + s.layers().pattern() + "' matches none of the"
                        + " block's linear layers (" + String.join(", ", linearNames) + ")");
            }
        }
        for (String name : linearNames) {
            for (int i = 0; i < stages.size(); i++) {
                Stage s = stages.get(i);
                Kind.Edit se = s.kind().edit();
                if (!s.appliesTo(name) || (se != Kind.Edit.FACTOR && se != Kind.Edit.MASK)) continue;
                for (int j = 0; j < i; j++) {
                    Stage t = stages.get(j);
                    Kind.Edit te = t.kind().edit();
                    boolean clash = t.appliesTo(name) && (te == Kind.Edit.FACTOR || te == Kind.Edit.MASK)
                            && (te == Kind.Edit.FACTOR || se == Kind.Edit.FACTOR);
                    if (clash) {
                        throw new SquishException(where(i) + name + " is also changed by stage " + (j + 1) + " ("
                                + t.method() + "); a factorized layer cannot also be pruned or factorized again"
                                + " (use 'layers' to give the stages different layers)");
                    }
                }
            }
        }
    }

    /** One line per stage, e.g. for logs and reports. */
    public String describe() {
        StringBuilder sb = new StringBuilder("calibration: ").append(calibration.describe());
        for (int i = 0; i < stages.size(); i++) sb.append("\nstage ").append(i + 1).append(": ").append(stages.get(i).describe());
        return sb.toString();
    }

    private String where(int i) {
        return source + ": stage " + (i + 1) + " (" + stages.get(i).method() + "): ";
    }

    private static Recipe checked(Recipe r) {
        String problem = StageRules.orderProblem(r.stages());
        if (problem != null) throw new SquishException(r.source() + ": " + problem);
        return r;
    }

    private static MethodDescriptor<?> method(Object name, String prefix, String key) {
        if (name instanceof String s) {
            var m = Methods.byId(s);
            if (m.isPresent()) return m.get();
            String near = OptionReader.nearest(s, Methods.ids());
            throw new SquishException(prefix + "unknown method '" + s + "'" + (near != null ? " (did you mean '" + near + "'?)" : "")
                    + "; known methods: " + String.join(", ", Methods.ids()));
        }
        throw new SquishException(prefix + key + " must be a method name (" + String.join(", ", Methods.ids()) + "), got "
                + OptionReader.describe(name));
    }

    private static CalibrationSpec calibration(OptionReader r, Path baseDir) {
        r.rejectUnknown(CALIBRATION_KEYS, "calibration");
        CalibrationSpec d = CalibrationSpec.defaults();
        Integer samples = r.integer("samples");
        if (samples != null && samples <= 0) throw r.error(r.name("samples") + " must be a positive integer, got " + samples);
        Integer seqLen = r.integer("seq_len");
        if (seqLen != null && seqLen <= 0) throw r.error(r.name("seq_len") + " must be a positive integer, got " + seqLen);
        String sampling = r.choice("sampling", List.of("random", "sequential"));
        Long seed = r.longValue("seed");
        String file = r.string("file");
        return new CalibrationSpec(file == null ? null : resolve(r, file, baseDir),
                samples == null ? d.samples() : samples, seqLen == null ? d.seqLen() : seqLen,
                sampling == null ? d.sampling() : CalibrationSpec.Sampling.valueOf(sampling.toUpperCase(java.util.Locale.ROOT)),
                seed == null ? d.seed() : seed);
    }

    private static Path resolve(OptionReader r, String file, Path baseDir) {
        if (file.isBlank()) throw r.error(r.name("file") + " is empty");
        Path p;
        try {
            p = Path.of(file);
        } catch (java.nio.file.InvalidPathException e) {
            throw r.error(r.name("file") + " is not a valid path: '" + file + "'");
        }
        List<Path> tried = new ArrayList<>();
        if (baseDir != null && !p.isAbsolute()) tried.add(baseDir.resolve(p).normalize());
        tried.add(p);
        for (Path t : tried) {
            if (Files.isRegularFile(t)) return t;
            if (Files.isDirectory(t)) throw r.error(r.name("file") + " '" + file + "' is a folder, not a text file");
        }
        throw r.error(r.name("file") + ": no such file '" + file + "'"
                + (tried.size() > 1 ? " (looked in " + baseDir + " and the working directory)" : ""));
    }
}
