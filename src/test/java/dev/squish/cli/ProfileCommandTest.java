package dev.squish.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.squish.Fixtures;
import dev.squish.calibration.BlockContext;
import dev.squish.model.Model;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** {@code compress --profile}: phases, their flop counts and memory, on stderr and in --json. */
class ProfileCommandTest {
    @TempDir Path tmp;

    @Test
    void profileCountsTheFlopsOfEveryPhase() throws Exception {
        int samples = 4, L = 64;
        CliTest.Run r = CliTest.run("compress", Fixtures.LLAMA.toString(), "-o", tmp.resolve("o").toString(), "--method", "gptq",
                "--bits", "4", "--calibration", Fixtures.TRAIN.toString(), "--samples", String.valueOf(samples), "--seq-len", String.valueOf(L),
                "--sampling", "sequential", "--profile", "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode p = new ObjectMapper().readTree(r.out()).get("profile");
        assertNotNull(p, r.out());
        assertTrue(p.get("prefill_gflops_per_s").asDouble() > 0);
        Map<String, JsonNode> phases = new HashMap<>();
        for (JsonNode ph : p.get("phases")) phases.put(ph.get("phase").asText(), ph);
        for (String name : new String[]{"forward", "statistics", "solve", "error", "write"})
            assertTrue(phases.containsKey(name), name + " missing: " + p);

        long forward = 0, statistics = 0;
        long tokens = (long) samples * L;
        try (Model m = Model.load(Fixtures.LLAMA)) {
            for (var b : m.blocks) {
                // each block runs forward twice per sample: once for statistics, once to make the next block's inputs
                forward += 2L * samples * BlockContext.forwardFlops(m, b, L);
                // one Hessian per distinct input (q/k/v share one, gate/up share one): the upper triangle of X^T X
                for (String name : new String[]{"self_attn.q_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.down_proj"}) {
                    long c = b.linear(name).cols();
                    statistics += tokens * c * (c + 1);
                }
            }
        }
        assertEquals(forward, phases.get("forward").get("flops").asLong());
        assertEquals(statistics, phases.get("statistics").get("flops").asLong());
        assertTrue(phases.get("solve").get("flops").asLong() > 0);
        assertEquals(0, phases.get("write").get("flops").asLong());
        JsonNode total = p.get("total");
        long sum = 0;
        double seconds = 0;
        for (JsonNode ph : p.get("phases")) { sum += ph.get("flops").asLong(); seconds += ph.get("seconds").asDouble(); }
        assertEquals(sum, total.get("flops").asLong());
        assertEquals(total.get("seconds").asDouble(), seconds, 0.05 * seconds + 0.01, "phases cover the run");
        double ratio = phases.get("forward").get("ratio_to_floor").asDouble();
        assertEquals(phases.get("forward").get("seconds").asDouble() / (forward / (p.get("prefill_gflops_per_s").asDouble() * 1e9)), ratio, 1e-9 * ratio);
        assertTrue(p.get("peak_heap_bytes").asLong() > 0);
        // CPU time: every thread's, so at least some of it in the forward phase, and the CPU ratio from it
        JsonNode fw = phases.get("forward");
        assertTrue(fw.get("cpu_seconds").asDouble() > 0, fw.toString());
        double cpuRatio = fw.get("cpu_seconds").asDouble() / (forward / (p.get("prefill_gflops_per_cpu_s").asDouble() * 1e9));
        assertEquals(cpuRatio, fw.get("ratio_to_floor_cpu").asDouble(), 1e-9 * cpuRatio);

        // without --json: the table on stderr
        CliTest.Run t = CliTest.run("compress", Fixtures.LLAMA.toString(), "-o", tmp.resolve("o2").toString(), "--method", "wanda",
                "--sparsity", "0.5", "--calibration", Fixtures.TRAIN.toString(), "--samples", "2", "--seq-len", "32", "--profile");
        assertEquals(0, t.code(), t.err());
        assertTrue(t.err().contains("profile: prefill GEMM"), t.err());
        assertTrue(t.err().lines().anyMatch(l -> l.startsWith("statistics ")), t.err());
        assertTrue(t.err().lines().anyMatch(l -> l.startsWith("peak heap ")), t.err());
    }
}
