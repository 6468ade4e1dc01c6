package dev.squish.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.squish.bench.BenchFormat;
import dev.squish.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Smoke test of {@code squish bench}: the JSON shape and every row; no timing assertions. */
class BenchCommandTest {
    @Test void quickSyntheticBenchHasEveryFormatAndThePeer() throws Exception {
        CliTest.Run r = CliTest.run("bench", "--synthetic", "tiny", "--quick", "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode j = new ObjectMapper().readTree(r.out());
        assertTrue(j.get("bandwidth_gb_s").asDouble() > 0, r.out());
        List<String> squish = new ArrayList<>(), jlama = new ArrayList<>();
        for (JsonNode row : j.get("rows")) {
            (row.get("engine").asText().equals("squish") ? squish : jlama).add(row.get("format").asText());
            assertTrue(row.get("weight_bytes").asLong() > 0, row.toString());
            assertTrue(row.get("decode_tokens_per_s").asDouble() > 0, row.toString());
            assertTrue(row.get("prefill_tokens_per_s").asDouble() > 0, row.toString());
            assertTrue(row.get("percent_of_bound").asDouble() > 0, row.toString());
        }
        assertEquals(BenchFormat.defaults().stream().map(f -> f.id).toList(), squish);
        JsonNode dense = j.get("rows").get(0);
        assertEquals(1.0, dense.get("speedup").asDouble(), 1e-12);
        // the dense row reads every linear and the head in float32: 4 bytes per parameter of tiny's shapes
        long h = 256, f = 768, kv = 128, layer = 2 * h * h + 2 * kv * h + 3 * h * f;
        assertEquals(4 * (6 * layer + 4096 * h), dense.get("weight_bytes").asLong());
        // Jlama F32 and Q4 run; Q8 has no matmul kernel in Jlama 0.8.4 and is reported in a note
        for (String v : List.of("F32", "Q4"))
            assertTrue(jlama.contains(v) || notesMention(j, "Jlama " + v), "Jlama " + v + ": " + r.out());
        assertTrue(jlama.contains("Q8") || notesMention(j, "Jlama Q8"), r.out());
    }

    private static boolean notesMention(JsonNode j, String s) {
        for (JsonNode n : j.get("notes")) if (n.asText().contains(s)) return true;
        return false;
    }

    private static List<String> notes(JsonNode j) {
        List<String> n = new ArrayList<>();
        for (JsonNode x : j.get("notes")) n.add(x.asText());
        return n;
    }

    private static List<String> rowsOf(JsonNode j, String engine) {
        List<String> f = new ArrayList<>();
        for (JsonNode row : j.get("rows")) if (row.get("engine").asText().equals(engine)) f.add(row.get("format").asText());
        return f;
    }

    private static JsonNode benchTiny(String... extra) throws Exception {
        List<String> args = new ArrayList<>(List.of("bench", Fixtures.LLAMA.toString(), "--quick", "--no-peer", "--formats", "int4-g128", "--json"));
        args.addAll(List.of(extra));
        CliTest.Run r = CliTest.run(args.toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        JsonNode j = new ObjectMapper().readTree(r.out());
        assertEquals(List.of("dense-f32", "int4-g128"), rowsOf(j, "squish"), r.out());
        return j;
    }

    /** Without the option a note says how to add the llama.cpp rows; a missing binary is a note and the Squish rows still print. */
    @Test void llamaBenchMissingOrAbsent(@TempDir Path tmp) throws Exception {
        JsonNode j = benchTiny();
        assertTrue(notes(j).stream().anyMatch(n -> n.contains("add --llama-bench PATH")), notes(j).toString());
        assertEquals(List.of(), rowsOf(j, "llama.cpp"));

        Path missing = tmp.resolve("no-such-llama-bench");
        j = benchTiny("--llama-bench", missing.toString());
        assertTrue(notes(j).stream().anyMatch(n -> n.contains(missing + " is not an executable file")), notes(j).toString());
        assertEquals(List.of(), rowsOf(j, "llama.cpp"));
    }

    /**
     * A binary that fails is a note per type; one that prints llama-bench's JSON gives a row per
     * type and the ratio notes. Both are shell scripts standing in for llama-bench (POSIX only).
     */
    @Test void llamaBenchFailingAndParsed(@TempDir Path tmp) throws Exception {
        assumeTrue(Files.isExecutable(Path.of("/bin/sh")), "needs /bin/sh");
        Path failing = tmp.resolve("failing.sh");
        Files.writeString(failing, "#!/bin/sh\necho 'error: unknown model architecture' >&2\nexit 3\n");
        failing.toFile().setExecutable(true);
        JsonNode j = benchTiny("--llama-bench", failing.toString());
        assertEquals(List.of(), rowsOf(j, "llama.cpp"));
        for (String t : List.of("F32", "Q8_0", "Q4_0"))
            assertTrue(notes(j).stream().anyMatch(n -> n.startsWith("llama.cpp " + t + ": failed") && n.contains("exited with 3")
                    && n.contains("unknown model architecture")), notes(j).toString());

        // the fake checks that it was given a GGUF file and the bench's settings, then answers like llama-bench -o json
        Path fake = tmp.resolve("fake.sh");
        Files.writeString(fake, """
                #!/bin/sh
                [ "$1" = "-m" ] && head -c 4 "$2" | grep -q GGUF || { echo "not a gguf: $2" >&2; exit 1; }
                [ "$3 $5 $7 $9" = "-t -p -n -r" ] || { echo "unexpected arguments: $*" >&2; exit 1; }
                echo '[{"model_size": 1000000, "n_prompt": 16, "n_gen": 0, "avg_ts": 200.0},'
                echo ' {"model_size": 1000000, "n_prompt": 0, "n_gen": 4, "avg_ts": 50.0}]'
                """);
        fake.toFile().setExecutable(true);
        j = benchTiny("--llama-bench", fake.toString());
        assertEquals(List.of("F32", "Q8_0", "Q4_0"), rowsOf(j, "llama.cpp"), j.toString());
        for (JsonNode row : j.get("rows"))
            if (row.get("engine").asText().equals("llama.cpp")) {
                assertEquals(50.0, row.get("decode_tokens_per_s").asDouble(), 1e-9);
                assertEquals(200.0, row.get("prefill_tokens_per_s").asDouble(), 1e-9);
                assertEquals(1000000, row.get("weight_bytes").asLong());
            }
        double int4 = 0;
        for (JsonNode row : j.get("rows"))
            if (row.get("format").asText().equals("int4-g128")) int4 = row.get("decode_tokens_per_s").asDouble();
        String want = String.format("squish int4-g128 / llama.cpp Q4_0: decode %.2fx", int4 / 50.0);
        assertTrue(notes(j).stream().anyMatch(n -> n.startsWith(want)), want + " in " + notes(j));
        assertTrue(notes(j).stream().noneMatch(n -> n.contains("add --llama-bench")), notes(j).toString());
    }

    @Test void badInputsAreOneLineErrors() {
        CliTest.assertInputError(CliTest.run("bench", "--synthetic", "llama-7b"), "unknown synthetic model 'llama-7b'");
        CliTest.assertInputError(CliTest.run("bench", "--synthetic", "tiny", "--formats", "int3"), "unknown format 'int3'");
        CliTest.assertInputError(CliTest.run("bench", "--synthetic", "tiny", "--tokens", "0"), "--tokens");
        CliTest.assertInputError(CliTest.run("bench", "/no/such/model"), "/no/such/model");
        assertEquals(2, CliTest.run("bench").code());
    }
}
