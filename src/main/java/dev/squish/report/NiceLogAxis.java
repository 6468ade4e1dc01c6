package dev.squish.report;

import java.awt.Graphics2D;
import java.awt.geom.Rectangle2D;
import java.util.ArrayList;
import java.util.List;
import org.jfree.chart.axis.AxisState;
import org.jfree.chart.axis.LogAxis;
import org.jfree.chart.axis.NumberTick;
import org.jfree.chart.axis.ValueTick;
import org.jfree.chart.ui.RectangleEdge;
import org.jfree.chart.ui.TextAnchor;

/**
 * A vertical log axis whose ticks sit at round numbers. JFreeChart's {@link LogAxis} spaces ticks
 * evenly in log space (labels like 794.3, 631, 501.2); this puts them at round numbers, see
 * {@link #tickValues}. Hand-written because JFreeChart has no such tick policy for log axes.
 */
final class NiceLogAxis extends LogAxis {
    NiceLogAxis(String label) {
        super(label);
    }

    @Override
    @SuppressWarnings({"rawtypes", "unchecked"})
    public List refreshTicks(Graphics2D g2, AxisState state, Rectangle2D dataArea, RectangleEdge edge) {
        List<ValueTick> ticks = new ArrayList<>();
        for (double v : tickValues(getLowerBound(), getUpperBound())) {
            String label = tickLabel(v);
            if (RectangleEdge.isLeftOrRight(edge)) {
                TextAnchor anchor = edge == RectangleEdge.LEFT ? TextAnchor.CENTER_RIGHT : TextAnchor.CENTER_LEFT;
                ticks.add(new NumberTick(v, label, anchor, anchor, 0.0));
            } else {
                TextAnchor anchor = edge == RectangleEdge.BOTTOM ? TextAnchor.TOP_CENTER : TextAnchor.BOTTOM_CENTER;
                ticks.add(new NumberTick(v, label, anchor, anchor, 0.0));
            }
        }
        return ticks;
    }

    /** As table numbers, but tiny and huge ticks in short exponent form ({@code 1e-4}, {@code 2e9}). */
    static String tickLabel(double v) {
        double a = Math.abs(v);
        if (v == 0 || !Double.isFinite(v) || (a >= 1e-3 && a < 1e9)) return HtmlReport.formatNumber(v);
        int e = (int) Math.floor(Math.log10(a));
        double m = v / Math.pow(10, e);
        if (Math.abs(m) >= 9.9995) { m /= 10; e++; }
        String ms = new java.math.BigDecimal(m).round(new java.math.MathContext(3)).stripTrailingZeros().toPlainString();
        return ms + "e" + e;
    }

    /**
     * Round values in [lo, hi]: 1-2-5 multiples of powers of ten when that gives 3 to 12 ticks;
     * fewer than 3 (a narrow range) tries every multiple 1..9 and then evenly spaced round
     * numbers; more than 12 (many decades) keeps powers of ten only, every k-th if needed.
     */
    static List<Double> tickValues(double lo, double hi) {
        if (!(lo > 0) || !(hi > lo) || Double.isInfinite(hi)) return List.of();
        List<Double> v = multiples(lo, hi, new int[] {1, 2, 5});
        if (v.size() >= 3 && v.size() <= 12) return v;
        if (v.size() > 12) {
            int k0 = (int) Math.ceil(Math.log10(lo) - 1e-9), k1 = (int) Math.floor(Math.log10(hi) + 1e-9);
            int stride = Math.max(1, (k1 - k0 + 12) / 12);
            List<Double> p = new ArrayList<>();
            for (int k = k0; k <= k1; k += stride) p.add(Math.pow(10, k));
            return p;
        }
        v = multiples(lo, hi, new int[] {1, 2, 3, 4, 5, 6, 7, 8, 9});
        if (v.size() >= 3) return v;
        return linear(lo, hi);
    }

    /** Evenly spaced round numbers (step 1, 2 or 5 x 10^k), 3 to about 8 of them. */
    private static List<Double> linear(double lo, double hi) {
        double raw = (hi - lo) / 5;
        double p = Math.pow(10, Math.floor(Math.log10(raw)));
        double step = raw / p < 1.5 ? p : raw / p < 3.5 ? 2 * p : raw / p < 7.5 ? 5 * p : 10 * p;
        List<Double> v = new ArrayList<>();
        for (long i = (long) Math.ceil(lo / step); i * step <= hi * (1 + 1e-12) && v.size() < 20; i++) v.add(i * step);
        return v;
    }

    private static List<Double> multiples(double lo, double hi, int[] mult) {
        List<Double> v = new ArrayList<>();
        int k0 = (int) Math.floor(Math.log10(lo)), k1 = (int) Math.floor(Math.log10(hi));
        for (int k = k0; k <= k1 && v.size() <= 12; k++) {
            double p = Math.pow(10, k);
            for (int m : mult) {
                double x = m * p;
                if (x >= lo * (1 - 1e-12) && x <= hi * (1 + 1e-12)) v.add(x);
            }
        }
        return v;
    }
}
