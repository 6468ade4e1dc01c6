package dev.squish.export;

import dev.squish.formats.GgmlType;
import dev.squish.formats.GgufReader;
import dev.squish.formats.GgufTensor;
import dev.squish.formats.SafeTensors;
import dev.squish.weights.GgmlLinear;
import dev.squish.weights.Linear;
import dev.squish.weights.WeightFormats;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** {@code compress --gguf-type}: codes on llama.cpp's grid, copied by {@code export --gguf} without re-quantizing. */
class GgufCompressTest {
    static final Path LLAMA = Path.of("fixtures/models/kjv-llama-tiny");
    static final String TRAIN = "fixtures/data/kjv/train.txt";
    @TempDir Path tmp;

    record Run(int code, String out, String err) {}

    static Run run(String... args) {
        StringWriter o = new StringWriter(), e = new StringWriter();
        int code = dev.squish.cli.Main.run(args, new PrintWriter(o, true), new PrintWriter(e, true));
        return new Run(code, o.toString(), e.toString());
    }

    static byte[] bytes(GgufTensor t) { return t.data().toArray(ValueLayout.JAVA_BYTE); }

    static final List<String> BLOCK = List.of("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down");
    static final List<String> HF = List.of("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj");

    /** RTN on the ggml grid is ggml's reference quantizer: the copied file equals a direct export tensor for tensor. */
    @Test
    void rtnCodesAreCopiedAndEqualADirectExport() throws Exception {
        Path dir = tmp.resolve("rtn");
        Run r = run("compress", LLAMA.toString(), "-o", dir.toString(), "--method", "rtn", "--gguf-type", "q4_k", "--json");
        assertEquals(0, r.code(), r.err());
        try (SafeTensors st = SafeTensors.open(dir)) {
            assertEquals("ggml-q4_k", st.metadata().get(WeightFormats.META_PREFIX + "model.layers.0.mlp.up_proj"));
        }
        Path a = tmp.resolve("a.gguf"), b = tmp.resolve("b.gguf");
        r = run("export", dir.toString(), "--gguf", a.toString(), "--type", "Q4_K");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("42 tensors copied"), r.out());
        assertEquals(0, run("export", LLAMA.toString(), "--gguf", b.toString(), "--type", "Q4_K").code());
        try (GgufReader x = GgufReader.open(a); GgufReader y = GgufReader.open(b)) {
            assertEquals(y.tensors().size(), x.tensors().size());
            for (GgufTensor t : y.tensors()) {
                assertEquals(t.type(), x.tensor(t.name()).type(), t.name());
                assertArrayEquals(bytes(t), bytes(x.tensor(t.name())), t.name());
            }
        }
    }

    /** GPTQ's codes reach the file unchanged: each block tensor is the folder's blocks, Q/K rows permuted as whole rows. */
    @Test
    void gptqCodesAreCopiedByteForByte() throws Exception {
        Path dir = tmp.resolve("gptq"), rtn = tmp.resolve("rtn");
        Run r = run("compress", LLAMA.toString(), "-o", dir.toString(), "--method", "gptq", "--gguf-type", "Q3_K",
                "--calibration", TRAIN, "--samples", "8", "--seq-len", "64", "--json");
        assertEquals(0, r.code(), r.err());
        assertEquals(0, run("compress", LLAMA.toString(), "-o", rtn.toString(), "--method", "rtn", "--gguf-type", "Q3_K", "--json").code());
        Path a = tmp.resolve("a.gguf");
        assertEquals(0, run("export", dir.toString(), "--gguf", a.toString(), "--type", "Q3_K").code());
        int differing = 0;
        try (GgufReader g = GgufReader.open(a); SafeTensors st = SafeTensors.open(dir); SafeTensors rt = SafeTensors.open(rtn)) {
            for (int l = 0; l < 6; l++)
                for (int i = 0; i < BLOCK.size(); i++) {
                    String prefix = "model.layers." + l + "." + HF.get(i);
                    GgmlLinear lin = (GgmlLinear) WeightFormats.read(st, prefix, false);
                    assertEquals(GgmlType.Q3_K, lin.type());
                    byte[] stored = lin.blocks();
                    GgufTensor t = g.tensor("blk." + l + "." + BLOCK.get(i) + ".weight");
                    assertEquals(GgmlType.Q3_K, t.type());
                    byte[] inFile = bytes(t);
                    int rb = lin.rowBytes(), rows = lin.rows();
                    int heads = i == 0 ? 8 : i == 1 ? 4 : 0;
                    for (int row = 0; row < rows; row++) {
                        int src = row;
                        if (heads > 0) {   // convert_hf_to_gguf's permute, written out: [2, hd/2] -> [hd/2, 2] per head
                            int h = row / 32, k = row % 32;
                            src = h * 32 + (k % 2) * 16 + k / 2;
                        }
                        assertArrayEquals(java.util.Arrays.copyOfRange(stored, src * rb, src * rb + rb),
                                java.util.Arrays.copyOfRange(inFile, row * rb, row * rb + rb), prefix + " row " + row);
                    }
                    if (!java.util.Arrays.equals(stored, ((GgmlLinear) WeightFormats.read(rt, prefix, false)).blocks())) differing++;
                }
        }
        assertTrue(differing >= 40, "GPTQ's codes should differ from round-to-nearest in (almost) every layer, " + differing + " of 42 do");
    }

    /**
     * With calibration text, RTN on the ggml grid is llama-quantize {@code --imatrix}: ggml's
     * importance-weighted quantizer with each layer's mean x_j^2, so its blocks differ from the
     * data-free run's; and layer 0's q_proj, whose inputs are the embeddings' RMSNorm (the same for
     * every method), equals {@code GgufWeightedQuant} with that importance computed here.
     */
    @Test
    void rtnWithCalibrationUsesTheImportanceMatrix() throws Exception {
        Path cal = tmp.resolve("cal"), plain = tmp.resolve("plain");
        Run r = run("compress", LLAMA.toString(), "-o", cal.toString(), "--method", "rtn", "--gguf-type", "Q2_K",
                "--calibration", TRAIN, "--samples", "4", "--seq-len", "64", "--sampling", "sequential", "--json");
        assertEquals(0, r.code(), r.err());
        assertEquals(0, run("compress", LLAMA.toString(), "-o", plain.toString(), "--method", "rtn", "--gguf-type", "Q2_K", "--json").code());
        int differing = 0;
        try (SafeTensors a = SafeTensors.open(cal); SafeTensors b = SafeTensors.open(plain)) {
            for (int l = 0; l < 6; l++)
                for (String n : HF) {
                    String prefix = "model.layers." + l + "." + n;
                    if (!java.util.Arrays.equals(((GgmlLinear) WeightFormats.read(a, prefix, false)).blocks(),
                            ((GgmlLinear) WeightFormats.read(b, prefix, false)).blocks())) differing++;
                }
            assertTrue(differing >= 40, "the importance matrix should change (almost) every layer, " + differing + " of 42 do");
            try (dev.squish.model.Model m = dev.squish.model.Model.load(LLAMA)) {
                int[] ids = dev.squish.formats.Tokenizer.load(LLAMA).encode(Files.readString(Path.of(TRAIN)), "t");
                int d = m.width(), n = 4 * 64;   // --sampling sequential: the first 4 windows of 64 tokens
                float[] emb = m.embed.toDense(), x = new float[n * d], xn = new float[n * d];
                for (int t = 0; t < n; t++) System.arraycopy(emb, ids[t] * d, x, t * d, d);
                dev.squish.model.Ops.rmsNorm(x, xn, m.blocks.get(0).vector("input_layernorm.weight"), n, d, m.config.normEps());
                double[] sq = new double[d];
                for (int t = 0; t < n; t++) for (int j = 0; j < d; j++) sq[j] += (double) xn[t * d + j] * xn[t * d + j];
                float[] imp = new float[d];
                for (int j = 0; j < d; j++) imp[j] = (float) (sq[j] / n);
                String q = "model.layers.0.self_attn.q_proj";   // stored in Hugging Face's row order, as the model's
                float[] w = m.blocks.get(0).linear("self_attn.q_proj").toDense();
                float[] ours = ((GgmlLinear) WeightFormats.read(a, q, false)).toDense();
                float[] expect = dev.squish.formats.GgufQuant.decode(GgmlType.Q2_K,
                        java.lang.foreign.MemorySegment.ofArray(dev.squish.formats.GgufWeightedQuant.encode(GgmlType.Q2_K, w, d, imp)), w.length);
                int same = 0;
                for (int i = 0; i < w.length; i++) if (ours[i] == expect[i]) same++;
                // the importance is summed in another order here (and in double), so a few blocks may differ
                assertTrue(same >= w.length * 0.97, same + "/" + w.length + " values as ggml's weighted quantizer with mean x^2");
            }
        }
    }

    @Test
    void awqRunsOnTheGgmlGrid() throws Exception {
        Path dir = tmp.resolve("awq");
        Run r = run("compress", LLAMA.toString(), "-o", dir.toString(), "--method", "awq", "--gguf-type", "Q4_0",
                "--calibration", TRAIN, "--samples", "4", "--seq-len", "64", "--json");
        assertEquals(0, r.code(), r.err());
        try (SafeTensors st = SafeTensors.open(dir)) {
            Linear l = WeightFormats.read(st, "model.layers.3.mlp.down_proj", false);
            assertEquals("ggml-q4_0", l.format());
        }
        Path a = tmp.resolve("a.gguf");
        r = run("export", dir.toString(), "--gguf", a.toString(), "--type", "Q4_0");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("42 tensors copied"), r.out());
    }

    @Test
    void badOptionsAreOneError() {
        for (String[] extra : List.of(new String[]{"--gguf-type", "Q9_K"}, new String[]{"--gguf-type", "Q4_K", "--bits", "4"},
                new String[]{"--gguf-type", "Q4_K", "--outliers", "0.01"})) {
            Path out = tmp.resolve("x");
            String[] args = new String[5 + extra.length];
            System.arraycopy(new String[]{"compress", LLAMA.toString(), "-o", out.toString(), "--method=rtn"}, 0, args, 0, 5);
            System.arraycopy(extra, 0, args, 5, extra.length);
            Run r = run(args);
            assertEquals(2, r.code(), r.err());
            List<String> lines = r.err().lines().filter(s -> s.startsWith("error: ")).toList();
            assertEquals(1, lines.size(), r.err());
            assertTrue(lines.get(0).contains("--gguf-type"), lines.get(0));
            assertFalse(Files.exists(out));
        }
        Run r = run("compress", LLAMA.toString(), "-o", tmp.resolve("y").toString(), "--method", "gptq", "--gguf-type", "Q4_K", "--act-order",
                "--calibration", TRAIN);
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("--act-order"), r.err());
    }
}
