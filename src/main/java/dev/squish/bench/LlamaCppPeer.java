package dev.squish.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.squish.export.GgufExport;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The llama.cpp rows of {@code squish bench MODEL_DIR --llama-bench PATH}: the user's own
 * {@code llama-bench} binary (built from llama.cpp's source; Squish ships none of it) runs on
 * Squish's GGUF export of the same folder in F32, Q8_0 and Q4_0, with the bench's thread count,
 * prompt length, decode length and repetitions ({@code -t -p -n -r}, JSON output). Each GGUF file
 * is written to a temporary folder, measured and deleted before the next, so at most one export
 * is on disk. A missing binary, a model that cannot be exported or a failing run is a note; the
 * Squish rows are never affected.
 */
final class LlamaCppPeer {
    private LlamaCppPeer() {}

    /** llama.cpp's type, and the Squish format whose row it is compared with. */
    record Variant(GgufExport.Type type, String squishFormat) {}

    static final List<Variant> VARIANTS = List.of(new Variant(GgufExport.Type.F32, BenchFormat.DENSE_F32.id),
            new Variant(GgufExport.Type.Q8_0, BenchFormat.INT8.id), new Variant(GgufExport.Type.Q4_0, BenchFormat.INT4.id));

    static final String ENGINE = "llama.cpp";

    /** The note printed when the option is absent. */
    static final String HOW_TO = "llama.cpp: no rows; add --llama-bench PATH (a llama-bench binary built from llama.cpp's source, "
            + "e.g. cmake -DGGML_NATIVE=ON) to measure it on Squish's GGUF export of the same weights";

    static List<Bench.Row> run(Path modelDir, Path binary, Bench.Options o, int threads, MemoryBandwidth.Result bandwidth,
                               List<String> notes, PrintWriter log) {
        List<Bench.Row> rows = new ArrayList<>();
        if (!Files.isRegularFile(binary) || !Files.isExecutable(binary)) {
            notes.add("llama.cpp: no rows; --llama-bench " + binary + " is not an executable file");
            return rows;
        }
        if (modelDir == null) {
            notes.add("llama.cpp: no rows; --llama-bench needs a model folder (a --synthetic model has no tokenizer to export to GGUF)");
            return rows;
        }
        Path dir = null;
        try {
            dir = Files.createTempDirectory("squish-bench-gguf");
            for (Variant v : VARIANTS) {
                Path gguf = dir.resolve(v.type().name().toLowerCase() + ".gguf");
                try {
                    long t0 = System.nanoTime();
                    GgufExport.Result ex = GgufExport.export(modelDir, gguf, v.type());
                    log.printf("llama.cpp %s: exported %.1f MB in %.1f s; running %s%n", v.type(), ex.bytes() / 1e6, (System.nanoTime() - t0) / 1e9, binary);
                    rows.add(measure(binary, gguf, v, o, threads, bandwidth, dir, log));
                } catch (RuntimeException | IOException e) {
                    notes.add("llama.cpp " + v.type() + ": failed: " + message(e));
                    log.printf("llama.cpp %s: failed: %s%n", v.type(), message(e));
                } finally {
                    Files.deleteIfExists(gguf);
                }
            }
        } catch (IOException e) {
            notes.add("llama.cpp: failed: " + message(e));
        } finally {
            if (dir != null) try (var files = Files.list(dir)) {
                for (Path p : files.toList()) Files.deleteIfExists(p);
                Files.deleteIfExists(dir);
            } catch (IOException ignored) { }
        }
        return rows;
    }

    private static Bench.Row measure(Path binary, Path gguf, Variant v, Bench.Options o, int threads, MemoryBandwidth.Result bandwidth,
                                     Path dir, PrintWriter log) throws IOException {
        List<String> cmd = List.of(binary.toString(), "-m", gguf.toString(), "-t", String.valueOf(threads), "-p", String.valueOf(o.prefill()),
                "-n", String.valueOf(o.tokens()), "-r", String.valueOf(o.reps()), "-o", "json");
        Path out = dir.resolve("out.json"), err = dir.resolve("err.txt");
        Process p = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        try {
            // generous: F32 prefill of a 7B model on two cores takes minutes, not hours
            if (!p.waitFor(2, TimeUnit.HOURS)) { p.destroyForcibly(); throw new IOException("llama-bench did not finish within 2 hours"); }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted");
        }
        String stdout = Files.readString(out, StandardCharsets.UTF_8);
        if (p.exitValue() != 0) throw new IOException("llama-bench exited with " + p.exitValue() + ": " + tail(Files.readString(err, StandardCharsets.UTF_8)));
        Bench.Row row = parse(stdout, v, bandwidth);
        log.printf("llama.cpp %s: decode %.2f tokens/s, prefill %.1f tokens/s%n", v.type(), row.decodeTps(), row.prefillTps());
        return row;
    }

    /**
     * One row from llama-bench's JSON output: an array with a prompt-processing entry
     * ({@code n_prompt > 0, n_gen = 0}) and a generation entry ({@code n_gen > 0}), each with its
     * mean tokens per second {@code avg_ts} and the file's tensor bytes {@code model_size}.
     */
    static Bench.Row parse(String json, Variant v, MemoryBandwidth.Result bandwidth) throws IOException {
        JsonNode arr;
        try {
            arr = new ObjectMapper().readTree(json);
        } catch (IOException e) {
            throw new IOException("llama-bench printed no JSON: " + tail(json));
        }
        if (arr == null || !arr.isArray()) throw new IOException("llama-bench printed no JSON array: " + tail(json));
        double decode = Double.NaN, prefill = Double.NaN;
        long size = 0;
        for (JsonNode e : arr) {
            double ts = e.path("avg_ts").asDouble(Double.NaN);
            size = Math.max(size, e.path("model_size").asLong(0));
            if (e.path("n_gen").asInt(0) > 0 && e.path("n_prompt").asInt(0) == 0) decode = ts;
            else if (e.path("n_prompt").asInt(0) > 0 && e.path("n_gen").asInt(0) == 0) prefill = ts;
        }
        if (!(decode > 0) || !(prefill > 0) || size <= 0)
            throw new IOException("llama-bench's JSON has no decode and prompt rows with avg_ts and model_size: " + tail(json));
        // model_size counts the token embedding too (a row lookup, not read per token): under 2% for 1B shapes
        return Bench.row(ENGINE, v.type().name(), size, new Bench.Speed(decode, prefill, Double.NaN), bandwidth);
    }

    /** Squish / llama.cpp ratio notes for the formats measured on both sides. */
    static List<String> ratios(List<Bench.Row> rows) {
        List<String> out = new ArrayList<>();
        for (Variant v : VARIANTS) {
            Bench.Row s = find(rows, "squish", v.squishFormat()), l = find(rows, ENGINE, v.type().name());
            if (s != null && l != null)
                out.add(String.format("squish %s / llama.cpp %s: decode %.2fx, prefill %.2fx", v.squishFormat(), v.type(),
                        s.decodeTps() / l.decodeTps(), s.prefillTps() / l.prefillTps()));
        }
        return out;
    }

    private static Bench.Row find(List<Bench.Row> rows, String engine, String format) {
        for (Bench.Row r : rows) if (r.engine().equals(engine) && r.format().equals(format)) return r;
        return null;
    }

    private static String tail(String s) {
        String t = s.strip().replace('\n', ' ');
        return t.isEmpty() ? "(no output)" : t.length() > 300 ? "..." + t.substring(t.length() - 300) : t;
    }

    private static String message(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t) t = t.getCause();
        return (t.getClass().getSimpleName() + ": " + t.getMessage()).replace('\n', ' ');
    }
}
