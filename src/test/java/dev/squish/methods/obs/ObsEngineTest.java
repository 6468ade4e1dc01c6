package dev.squish.methods.obs;

import dev.squish.SquishException;
import org.ejml.data.DMatrixRMaj;
import org.ejml.dense.row.CommonOps_DDRM;
import org.ejml.dense.row.factory.DecompositionFactory_DDRM;
import org.ejml.interfaces.decomposition.CholeskyDecomposition_F64;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class ObsEngineTest {

    static double[] randomSpd(Random rnd, int n, int k) {
        double[] x = new double[k * n];
        for (int i = 0; i < x.length; i++) x[i] = rnd.nextGaussian();
        double[] h = new double[n * n];
        for (int t = 0; t < k; t++) for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) h[i * n + j] += x[t * n + i] * x[t * n + j];
        return h;
    }

    @Test
    void upperFactorOfInverseAgainstDirectInverse() {
        Random rnd = new Random(3);
        int n = 150;
        double[] h = randomSpd(rnd, n, 40); // rank 40 < n: only dampening makes it definite
        double[] hd = h.clone();
        double damp = ObsEngine.dampen(hd, n, 0.01);
        double mean = 0;
        for (int j = 0; j < n; j++) mean += h[j * n + j] / n;
        assertEquals(0.01 * mean, damp, 1e-12 * mean);
        double[] u = ObsEngine.inverseCholeskyUpper(hd, n);
        assertNotNull(u);
        for (int i = 0; i < n; i++) {
            assertTrue(u[i * n + i] > 0);
            for (int j = 0; j < i; j++) assertEquals(0.0, u[i * n + j], "U must be upper triangular");
        }
        DMatrixRMaj inv = new DMatrixRMaj(n, n);
        assertTrue(CommonOps_DDRM.invert(DMatrixRMaj.wrap(n, n, hd.clone()), inv)); // LU, not Cholesky
        DMatrixRMaj utu = new DMatrixRMaj(n, n);
        CommonOps_DDRM.multTransA(DMatrixRMaj.wrap(n, n, u), DMatrixRMaj.wrap(n, n, u), utu);
        double scale = CommonOps_DDRM.elementMaxAbs(inv);
        for (int i = 0; i < n * n; i++) assertEquals(inv.data[i], utu.data[i], 1e-9 * scale);
    }

    /** The reference's route with EJML: chol, cholesky_inverse (invertSPD), chol(upper). */
    static double[] referenceRoute(double[] h, int n) {
        DMatrixRMaj hinv = new DMatrixRMaj(n, n);
        assertTrue(CommonOps_DDRM.invertSPD(DMatrixRMaj.wrap(n, n, h.clone()), hinv));
        for (int i = 0; i < n; i++) for (int j = i + 1; j < n; j++) {
            double v = 0.5 * (hinv.data[i * n + j] + hinv.data[j * n + i]);
            hinv.data[i * n + j] = v; hinv.data[j * n + i] = v;
        }
        CholeskyDecomposition_F64<DMatrixRMaj> chol = DecompositionFactory_DDRM.chol(n, false);
        assertTrue(chol.decompose(hinv));
        return chol.getT(null).data;
    }

    @Test
    void sameFactorAsTheReferenceRouteThroughEjml() {
        Random rnd = new Random(6);
        for (int n : new int[]{1, 2, 7, 64, 203, 300}) { // 203, 300: two and three blocked panels
            double[] h = randomSpd(rnd, n, n + 5);
            ObsEngine.dampen(h, n, 0.01);
            double[] u = ObsEngine.inverseCholeskyUpper(h, n);
            double[] ref = referenceRoute(h, n);
            double scale = 0;
            for (double v : ref) scale = Math.max(scale, Math.abs(v));
            for (int i = 0; i < n * n; i++) assertEquals(ref[i], u[i], 1e-9 * scale, "n " + n + " entry " + i);
        }
    }

    @Test
    void notPositiveDefiniteGivesNull() {
        assertNull(ObsEngine.inverseCholeskyUpper(new double[]{1, 2, 2, 1}, 2));
        assertNull(ObsEngine.inverseCholeskyUpper(new double[]{0, 0, 0, 1}, 2));
    }

    @Test
    void deadColumnsAreZeroedAndGetUnitDiagonal() {
        Random rnd = new Random(4);
        int n = 6, rows = 3;
        double[] h = randomSpd(rnd, n, 10);
        for (int k = 0; k < n; k++) { h[2 * n + k] = 0; h[k * n + 2] = 0; }
        double[] w = new double[rows * n];
        for (int i = 0; i < w.length; i++) w[i] = 1 + i;
        ObsEngine.Prepared p = ObsEngine.prepare(h, n, w, rows, 0.01, "test");
        assertTrue(p.dead()[2]);
        assertFalse(p.dead()[1]);
        for (int r = 0; r < rows; r++) {
            assertEquals(0.0, w[r * n + 2]);
            assertEquals(1 + r * n + 1, w[r * n + 1]);
        }
        assertEquals(0.0, h[2 * n + 2], "the caller's H is not modified");
    }

    @Test
    void indefiniteHessianIsAClearError() {
        double[] h = {1, 3, 3, 1}; // eigenvalues -2 and 4: no dampening up to 1x mean(diag) helps
        SquishException e = assertThrows(SquishException.class, () -> ObsEngine.prepare(h, 2, null, 0, 0.01, "layers.0.mlp.down_proj"));
        assertTrue(e.getMessage().contains("layers.0.mlp.down_proj"), e.getMessage());
        double[] nan = {1, 0, 0, Double.NaN};
        assertThrows(SquishException.class, () -> ObsEngine.prepare(nan, 2, null, 0, 0.01, "x"));
    }

    @Test
    void nearlySingularHessianRetriesWithMoreDampening() {
        double[] h = {1, 1, 1, 1 - 1e-17}; // PSD up to rounding; 0 dampening cannot factor it
        ObsEngine.Prepared p = ObsEngine.prepare(h, 2, null, 0, 0.0, "x");
        assertTrue(p.percdampUsed() > 0);
    }

    @Test
    void actOrderPermutationRoundTrips() {
        Random rnd = new Random(5);
        int n = 17, rows = 4;
        double[] h = randomSpd(rnd, n, 30);
        h[3 * n + 3] = h[5 * n + 5]; // a tie: kept in original order
        int[] perm = ObsEngine.actOrder(h, n);
        for (int k = 1; k < n; k++) assertTrue(h[perm[k - 1] * n + perm[k - 1]] >= h[perm[k] * n + perm[k]]);
        int[] inv = ObsEngine.invert(perm);
        double[] hp = ObsEngine.permuteSymmetric(h, n, perm);
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) assertEquals(h[perm[i] * n + perm[j]], hp[i * n + j]);
        assertArrayEquals(h, ObsEngine.permuteSymmetric(hp, n, inv));
        double[] w = new double[rows * n];
        for (int i = 0; i < w.length; i++) w[i] = rnd.nextGaussian();
        assertArrayEquals(w, ObsEngine.permuteColumns(ObsEngine.permuteColumns(w, rows, n, perm), rows, n, inv));
        int p3 = -1, p5 = -1;
        for (int k = 0; k < n; k++) { if (perm[k] == 3) p3 = k; if (perm[k] == 5) p5 = k; }
        assertTrue(p3 < p5, "ties keep the original order");
    }
}
