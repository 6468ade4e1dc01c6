package dev.squish.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.squish.bench.BenchFormat;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
        assertEquals(BenchFormat.ids(), squish);
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

    @Test void badInputsAreOneLineErrors() {
        CliTest.assertInputError(CliTest.run("bench", "--synthetic", "llama-7b"), "unknown synthetic model 'llama-7b'");
        CliTest.assertInputError(CliTest.run("bench", "--synthetic", "tiny", "--formats", "int3"), "unknown format 'int3'");
        CliTest.assertInputError(CliTest.run("bench", "--synthetic", "tiny", "--tokens", "0"), "--tokens");
        CliTest.assertInputError(CliTest.run("bench", "/no/such/model"), "/no/such/model");
        assertEquals(2, CliTest.run("bench").code());
    }
}
