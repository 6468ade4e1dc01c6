package dev.squish.export;

import dev.squish.methods.GgufGptq;

import dev.squish.SquishException;
import dev.squish.formats.GgmlType;
import dev.squish.formats.GgufCodes;
import dev.squish.formats.GgufQuant;
import dev.squish.formats.GgufReader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class GgufGptqTest {
    static final List<GgmlType> TYPES = List.of(GgmlType.Q8_0, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q4_0, GgmlType.Q4_1,
            GgmlType.Q6_K, GgmlType.Q5_K, GgmlType.Q4_K, GgmlType.Q3_K, GgmlType.Q2_K);
    @TempDir Path dir;

    static float[] gaussian(long seed, int n, double sigma) {
        Random r = new Random(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) (r.nextGaussian() * sigma);
        return x;
    }

    /** Codes read back from ggml's dequantized values through the affine grid, re-packed, give ggml's bytes. */
    @Test void packAndAffineGridReproduceGgmlsBlocks() {
        float[] x = gaussian(3, 8 * 256, 0.02);
        for (GgmlType t : TYPES) {
            byte[] ref = GgufQuant.encode(t, x, 256);
            float[] y = GgufQuant.decode(t, MemorySegment.ofArray(ref), x.length);
            byte[] re = ref.clone();
            float[] a = new float[t.blockSize], b = new float[t.blockSize];
            int[] L = new int[t.blockSize];
            for (int blk = 0; blk < x.length / t.blockSize; blk++) {
                int off = blk * t.blockBytes;
                GgufCodes.affine(t, ref, off, a, b);
                for (int p = 0; p < t.blockSize; p++) {
                    assertNotEquals(0f, a[p], t + " grid step");
                    L[p] = (int) Math.rint((y[blk * t.blockSize + p] - b[p]) / a[p]);
                    assertTrue(L[p] >= 0 && L[p] <= GgufCodes.maxCode(t), t + " code " + L[p]);
                }
                java.util.Arrays.fill(re, off, off + t.blockBytes, (byte) 0x5a); // scribble, then restore header from ref
                System.arraycopy(ref, off, re, off, t.blockBytes);
                GgufCodes.pack(t, new int[t.blockSize], re, off); // zero codes first: pack must overwrite every code bit
                GgufCodes.pack(t, L, re, off);
            }
            assertArrayEquals(ref, re, t + ": re-packed codes");
        }
    }

    /** Layer output error ||(W - Q) X||^2 over calibration inputs X whose columns are correlated. */
    static double outputError(float[] w, float[] q, int rows, int cols, float[] xs, int n) {
        double e = 0;
        for (int r = 0; r < rows; r++)
            for (int t = 0; t < n; t++) {
                double s = 0;
                for (int j = 0; j < cols; j++) s += (double) (w[r * cols + j] - q[r * cols + j]) * xs[t * cols + j];
                e += s * s;
            }
        return e;
    }

    @Test void gptqOnTheGgmlGridBeatsRoundToNearestOnTheLayerOutput() {
        int rows = 32, cols = 256, n = 1024;
        float[] w = gaussian(5, rows * cols, 0.05);
        // inputs with strongly correlated columns (a few shared factors plus noise), as activations are
        Random r = new Random(9);
        float[][] factors = new float[8][cols];
        for (float[] f : factors) for (int j = 0; j < cols; j++) f[j] = (float) r.nextGaussian();
        float[] xs = new float[n * cols];
        for (int t = 0; t < n; t++) {
            double[] c = new double[8];
            for (int k = 0; k < 8; k++) c[k] = r.nextGaussian();
            for (int j = 0; j < cols; j++) {
                double v = 0.3 * r.nextGaussian();
                for (int k = 0; k < 8; k++) v += c[k] * factors[k][j];
                xs[t * cols + j] = (float) v;
            }
        }
        var acc = new dev.squish.calibration.HessianAccumulator(cols);
        acc.add(xs, n);
        double[] h = acc.hessian();
        for (GgmlType t : List.of(GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.Q3_K, GgmlType.Q2_K, GgmlType.Q6_K)) {
            float[] rtn = GgufQuant.decode(t, MemorySegment.ofArray(GgufQuant.encode(t, w, cols)), w.length);
            byte[] g = GgufGptq.quantize(t, w, rows, cols, h, "test");
            assertEquals(t.bytes((long) rows * cols), g.length);
            float[] gq = GgufQuant.decode(t, MemorySegment.ofArray(g), w.length);
            double eR = outputError(w, rtn, rows, cols, xs, n), eG = outputError(w, gq, rows, cols, xs, n);
            System.out.printf("%s: output error RTN %.4g, GPTQ %.4g (%.2fx)%n", t, eR, eG, eR / eG);
            assertTrue(eG < 0.8 * eR, t + ": GPTQ " + eG + " vs RTN " + eR);
        }
    }

    @Test void identityHessianKeepsGgmlsHeadersAndNearestCodes() {
        int rows = 4, cols = 512;
        float[] w = gaussian(7, rows * cols, 0.1);
        double[] h = new double[cols * cols];
        for (int j = 0; j < cols; j++) h[j * cols + j] = 1;
        for (GgmlType t : List.of(GgmlType.Q4_K, GgmlType.Q6_K, GgmlType.Q2_K)) {
            byte[] ref = GgufQuant.encode(t, w, cols), g = GgufGptq.quantize(t, w, rows, cols, h, "id");
            float[] yr = GgufQuant.decode(t, MemorySegment.ofArray(ref), w.length), yg = GgufQuant.decode(t, MemorySegment.ofArray(g), w.length);
            int same = 0;
            for (int i = 0; i < w.length; i++) if (yr[i] == yg[i]) same++;
            // no error feedback with a diagonal H: ggml's header, and codes that round x as ggml's nearest_int does
            assertTrue(same >= w.length - 2, t + ": " + same + "/" + w.length + " values as ggml");
        }
    }

    /**
     * With an importance vector the block headers come from ggml's weighted search: under a
     * diagonal H (no error feedback) the values are those of {@link dev.squish.formats.GgufWeightedQuant}
     * with the same weights, and not those of the unweighted reference.
     */
    @Test void identityHessianWithImportanceKeepsTheWeightedHeaders() {
        int rows = 4, cols = 512;
        float[] w = gaussian(7, rows * cols, 0.1);
        double[] h = new double[cols * cols];
        for (int j = 0; j < cols; j++) h[j * cols + j] = 1;
        float[] imp = new float[cols];
        Random r = new Random(11);
        for (int j = 0; j < cols; j++) imp[j] = (float) Math.exp(2 * r.nextGaussian());
        for (GgmlType t : List.of(GgmlType.Q4_K, GgmlType.Q6_K, GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_0, GgmlType.Q5_1)) {
            byte[] wq = dev.squish.formats.GgufWeightedQuant.encode(t, w, cols, imp), g = GgufGptq.quantize(t, w, rows, cols, h, "id", imp);
            float[] yw = GgufQuant.decode(t, MemorySegment.ofArray(wq), w.length), yg = GgufQuant.decode(t, MemorySegment.ofArray(g), w.length);
            float[] yr = GgufQuant.decode(t, MemorySegment.ofArray(GgufQuant.encode(t, w, cols)), w.length);
            int same = 0, asRef = 0;
            for (int i = 0; i < w.length; i++) { if (yw[i] == yg[i]) same++; if (yr[i] == yg[i]) asRef++; }
            assertTrue(asRef < w.length * 0.95, t + ": " + asRef + "/" + w.length + " values as the unweighted reference");
            if (t.blockSize == 256) {
                // the k-quants re-round every value on the chosen header, as GPTQ's nearest code does
                assertTrue(same >= w.length - 2, t + ": " + same + "/" + w.length + " values as ggml's weighted quantizer");
            } else {
                // the 32-value types keep the codes of their search (made for another scale than the
                // least-squares one they store), GPTQ takes the nearest: the headers must agree
                int header = t == GgmlType.Q4_0 || t == GgmlType.Q5_0 ? 2 : 4;
                for (int b = 0; b < g.length / t.blockBytes; b++)
                    for (int k = 0; k < header; k++) assertEquals(wq[b * t.blockBytes + k], g[b * t.blockBytes + k], t + " block " + b + " header byte " + k);
            }
        }
        assertThrows(IllegalArgumentException.class, () -> GgufGptq.quantize(GgmlType.Q4_K, w, rows, cols, h, "id", new float[cols - 1]));
    }

    @Test void calibratedExportWritesDifferentCodesWithTheSameTypesAndRefusesFloatTypes() throws Exception {
        Path model = Path.of("fixtures/models/kjv-llama-tiny"), text = Path.of("fixtures/data/kjv/train.txt");
        Path rtn = dir.resolve("rtn.gguf"), cal = dir.resolve("cal.gguf");
        GgufExport.export(model, rtn, GgufExport.Type.Q4_0);
        GgufExport.export(model, cal, GgufExport.Type.Q4_0, new GgufExport.Calibration(text, 8, 64));
        assertEquals(Files.size(rtn), Files.size(cal));
        try (GgufReader a = GgufReader.open(rtn); GgufReader b = GgufReader.open(cal)) {
            assertArrayEquals(a.tensor("token_embd.weight").toFloatArray(), b.tensor("token_embd.weight").toFloatArray(), "embeddings stay RTN");
            for (String n : List.of("blk.0.attn_q.weight", "blk.5.ffn_down.weight", "output.weight")) {
                assertEquals(a.tensor(n).type(), b.tensor(n).type(), n);
                assertFalse(java.util.Arrays.equals(a.tensor(n).toFloatArray(), b.tensor(n).toFloatArray()), n + " is calibrated");
            }
        }
        var e = assertThrows(SquishException.class, () -> GgufExport.export(model, dir.resolve("f.gguf"), GgufExport.Type.F16, new GgufExport.Calibration(text, 8, 64)));
        assertTrue(e.getMessage().contains("--calibration"), e.getMessage());
        assertFalse(Files.exists(dir.resolve("f.gguf")));
    }
}
