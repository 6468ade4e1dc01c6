package dev.squish.cli;

import static org.junit.jupiter.api.Assertions.*;

import dev.squish.Fixtures;
import dev.squish.calibration.LayerReport;
import dev.squish.model.Model;
import dev.squish.report.HtmlReport;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.ejml.data.DMatrixRMaj;
import org.ejml.dense.row.CommonOps_DDRM;
import org.ejml.dense.row.factory.DecompositionFactory_DDRM;
import org.junit.jupiter.api.Test;

/** Singular-value spectra for the reports. */
class ReportPartsTest {
    /** A random matrix with orthonormal columns (Q of a QR decomposition). */
    static DMatrixRMaj orthonormal(int rows, int cols, Random rnd) {
        DMatrixRMaj a = new DMatrixRMaj(rows, cols);
        for (int i = 0; i < a.data.length; i++) a.data[i] = rnd.nextGaussian();
        var qr = DecompositionFactory_DDRM.qr(rows, cols);
        assertTrue(qr.decompose(a));
        return qr.getQ(null, true);
    }

    @Test
    void singularValuesOfAMatrixBuiltFromKnownOnesLargestFirst() {
        Random rnd = new Random(1);
        int rows = 40, cols = 24;
        double[] s = new double[cols];
        for (int i = 0; i < cols; i++) s[i] = Math.exp(-0.2 * i) * (1 + 0.01 * rnd.nextDouble());
        DMatrixRMaj u = orthonormal(rows, cols, rnd), v = orthonormal(cols, cols, rnd);
        DMatrixRMaj us = u.copy();
        for (int r = 0; r < rows; r++) for (int c = 0; c < cols; c++) us.set(r, c, u.get(r, c) * s[c]);
        DMatrixRMaj w = new DMatrixRMaj(rows, cols);
        CommonOps_DDRM.multTransB(us, v, w);
        float[] f = new float[rows * cols];
        for (int i = 0; i < f.length; i++) f[i] = (float) w.data[i];
        double[] got = ReportParts.singularValues(f, rows, cols);
        assertEquals(cols, got.length);
        for (int i = 0; i < cols; i++) assertEquals(s[i], got[i], 1e-5, "singular value " + i);
    }

    @Test
    void spectraChartAndRankTableFromLowRankLayers() throws Exception {
        try (Model m = Model.load(Fixtures.GPT2)) {
            var lin = m.blocks.get(0).linear("mlp.c_fc");
            int k = 40;
            LayerReport low = new LayerReport("svd", 0, "mlp.c_fc", "lowrank", lin.rows(), lin.cols(),
                    (long) k * (lin.rows() + lin.cols()), 0, 0, Double.NaN, 0);
            HtmlReport h = new HtmlReport("spectra");
            ReportParts.spectra(h, m, List.of(new String[]{"0", "mlp.c_fc"}, new String[]{"1", "attn.c_proj"}), Map.of("svd keep 0.5", List.of(low)));
            String html = h.toHtml();
            List<String> svgs = ReportChecks.selfContained(html);
            assertEquals(1, svgs.size());
            assertTrue(svgs.get(0).contains(">block 0 mlp.c_fc<") && svgs.get(0).contains(">block 1 attn.c_proj<"));
            List<List<String>> rows = ReportChecks.table(html, "Ranks kept by the low-rank runs");
            assertEquals(List.of("block 0 mlp.c_fc", lin.rows() + "x" + lin.cols(), "192", "svd keep 0.5", "40"), rows.get(0).subList(0, 5));
            double[] s = ReportParts.singularValues(lin.toDense(), lin.rows(), lin.cols());
            double kept = 0, total = 0;
            for (int i = 0; i < s.length; i++) { total += s[i] * s[i]; if (i < k) kept += s[i] * s[i]; }
            assertEquals(new java.math.BigDecimal(kept / total).round(new java.math.MathContext(4)).stripTrailingZeros().toPlainString(), rows.get(0).get(5));
            assertEquals(List.of("block 1 attn.c_proj", "192x192", "192", "svd keep 0.5", "unchanged", "\u2013"), rows.get(1));
        }
    }

    @Test
    void commandLinesWrapBeforeOptionsAndQuoteOddArguments() {
        List<String> args = List.of("compress", "fixtures/models/kjv-llama-tiny", "-o", "out/x", "--method", "sparsegpt", "--pattern", "2:4",
                "--calibration", "my data/train.txt", "--samples", "128", "--seq-len", "256", "--sampling", "sequential", "--eval",
                "fixtures/data/kjv/test.txt");
        String cmd = CompressReport.commandLine(args);
        for (String line : cmd.split("\n")) assertTrue(line.length() <= 90, line);
        assertTrue(cmd.contains("\\\n"), "continued lines");
        assertEquals("bin/squish " + String.join(" ", args).replace("my data/train.txt", "'my data/train.txt'"),
                cmd.replace(" \\\n   ", ""));
    }
}
