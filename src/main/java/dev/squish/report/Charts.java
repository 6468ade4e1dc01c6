package dev.squish.report;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Paint;
import java.awt.geom.Ellipse2D;
import java.text.DecimalFormat;
import java.text.DecimalFormatSymbols;
import java.util.Locale;
import java.util.Map;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.StandardChartTheme;
import org.jfree.chart.axis.AxisLocation;
import org.jfree.chart.axis.CategoryAxis;
import org.jfree.chart.axis.CategoryLabelPositions;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.block.BlockBorder;
import org.jfree.chart.labels.StandardCategoryItemLabelGenerator;
import org.jfree.chart.plot.CategoryPlot;
import org.jfree.chart.plot.DefaultDrawingSupplier;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.category.BarRenderer;
import org.jfree.chart.renderer.category.StandardBarPainter;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.chart.ui.RectangleInsets;
import org.jfree.data.category.DefaultCategoryDataset;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;
import org.jfree.svg.SVGGraphics2D;
import org.jfree.svg.ViewBox;

/**
 * Builds JFreeChart charts with one consistent look and renders them to inline SVG (JFreeSVG),
 * which works headless and keeps the report a single file with vector graphics.
 */
final class Charts {
    private Charts() {}

    static {
        if (System.getProperty("java.awt.headless") == null) System.setProperty("java.awt.headless", "true");
        // Draw rotated labels (the y-axis title) with drawString so the SVG keeps them as <text>
        // (selectable, searchable) instead of glyph outlines; the old JDK bug it works around is gone.
        org.jfree.chart.text.TextUtils.setUseDrawRotatedStringWorkaround(false);
    }

    static final int WIDTH = 900;
    static final int HEIGHT = 440;

    /** Tableau 10: distinguishable, colour-blind friendly enough, prints well. */
    private static final Paint[] PALETTE = {
        new Color(0x4e79a7), new Color(0xf28e2b), new Color(0xe15759), new Color(0x76b7b2),
        new Color(0x59a14f), new Color(0xedc948), new Color(0xb07aa1), new Color(0xff9da7),
        new Color(0x9c755f), new Color(0xbab0ac)
    };
    private static final Color GRID = new Color(0xdddddd);
    private static final Color TEXT = new Color(0x333333);

    /**
     * Marker of the k-th round of colours: circles for the first 10 series, then squares,
     * triangles and diamonds, so that series sharing a colour stay distinguishable.
     */
    static java.awt.Shape marker(int k) {
        return switch (k % 4) {
            case 0 -> new Ellipse2D.Double(-3.5, -3.5, 7, 7);
            case 1 -> new java.awt.geom.Rectangle2D.Double(-3.5, -3.5, 7, 7);
            case 2 -> new java.awt.Polygon(new int[]{0, 4, -4}, new int[]{-4, 4, 4}, 3);
            default -> new java.awt.Polygon(new int[]{0, 4, 0, -4}, new int[]{-5, 0, 5, 0}, 4);
        };
    }

    /** A chart rendered to SVG, plus how many input points were left out (non-finite or, on a log axis, non-positive). */
    record Rendered(String svg, int omitted) {}

    static Rendered line(String id, String title, String xLabel, String yLabel, Map<String, double[][]> series, boolean logY) {
        return line(id, title, xLabel, yLabel, series, logY, false);
    }

    /** As above; {@code drawTitle} draws the title inside the chart (for a standalone SVG file, which has no caption). */
    static Rendered line(String id, String title, String xLabel, String yLabel, Map<String, double[][]> series, boolean logY,
                         boolean drawTitle) {
        XYSeriesCollection data = new XYSeriesCollection();
        int omitted = 0, maxPoints = 0;
        for (Map.Entry<String, double[][]> e : series.entrySet()) {
            XYSeries s = new XYSeries(e.getKey(), true, true);
            for (double[] p : e.getValue()) {
                if (p == null || p.length != 2) {
                    throw new IllegalArgumentException("series '" + e.getKey() + "': each point must be [x, y]");
                }
                if (!Double.isFinite(p[0]) || !Double.isFinite(p[1]) || (logY && p[1] <= 0)) { omitted++; continue; }
                s.add(p[0], p[1]);
            }
            maxPoints = Math.max(maxPoints, s.getItemCount());
            data.addSeries(s);
        }
        JFreeChart chart = ChartFactory.createXYLineChart(null, xLabel, yLabel, data,
                PlotOrientation.VERTICAL, true, false, false);
        theme().apply(chart);
        if (drawTitle && title != null)
            chart.setTitle(new org.jfree.chart.title.TextTitle(title, new Font("SansSerif", Font.BOLD, 15), TEXT,
                    org.jfree.chart.ui.RectangleEdge.TOP, org.jfree.chart.ui.HorizontalAlignment.CENTER,
                    org.jfree.chart.ui.VerticalAlignment.CENTER, new RectangleInsets(8, 0, 4, 0)));
        XYPlot plot = chart.getXYPlot();
        stylePlotArea(plot);
        NumberAxis x = (NumberAxis) plot.getDomainAxis();
        x.setAutoRangeIncludesZero(false);
        x.setAutoRangeStickyZero(false);
        boolean wholeX = data.getSeriesCount() > 0;
        for (int i = 0; i < data.getSeriesCount(); i++)
            for (int j = 0; j < data.getItemCount(i); j++) wholeX &= data.getXValue(i, j) == Math.rint(data.getXValue(i, j));
        if (wholeX) x.setStandardTickUnits(NumberAxis.createIntegerTickUnits());   // block, rank or index: no 0.5 ticks
        x.setLowerMargin(0.03);   // keep the first and last markers clear of the plot edge
        x.setUpperMargin(0.03);
        if (logY) {
            NiceLogAxis y = new NiceLogAxis(yLabel);
            plot.setRangeAxis(y);
        } else {
            NumberAxis y = (NumberAxis) plot.getRangeAxis();
            y.setAutoRangeIncludesZero(false);
        }
        styleAxis(plot.getDomainAxis());
        styleAxis(plot.getRangeAxis());
        XYLineAndShapeRenderer r = new XYLineAndShapeRenderer(true, maxPoints <= 40);
        for (int i = 0; i < data.getSeriesCount(); i++) {
            r.setSeriesPaint(i, PALETTE[i % PALETTE.length]);
            r.setSeriesStroke(i, new BasicStroke(2f, BasicStroke.CAP_ROUND, BasicStroke.JOIN_ROUND));
            r.setSeriesShape(i, marker(i / PALETTE.length));
        }
        plot.setRenderer(r);
        styleLegend(chart, data.getSeriesCount() > 1);
        return new Rendered(toSvg(chart, id, title, WIDTH, HEIGHT), omitted);
    }

    /** groups: series name -> (category -> value); one series draws a plain bar chart. */
    static Rendered bar(String id, String title, String xLabel, String yLabel, Map<String, ? extends Map<String, Double>> groups) {
        DefaultCategoryDataset data = new DefaultCategoryDataset();
        int omitted = 0;
        java.util.Set<String> categories = new java.util.LinkedHashSet<>();
        int maxLabel = 0;
        for (Map.Entry<String, ? extends Map<String, Double>> g : groups.entrySet()) {
            for (Map.Entry<String, Double> v : g.getValue().entrySet()) {
                Double y = v.getValue();
                categories.add(v.getKey());
                maxLabel = Math.max(maxLabel, v.getKey().length());
                if (y == null || !Double.isFinite(y)) { omitted++; continue; }
                data.addValue(y, g.getKey(), v.getKey());
            }
        }
        int bars = categories.size() * Math.max(1, groups.size());
        // Many or long labels read better as horizontal bars, one row each.
        boolean horizontal = categories.size() > 12 || maxLabel > 16;
        JFreeChart chart = ChartFactory.createBarChart(null, xLabel, yLabel, data,
                horizontal ? PlotOrientation.HORIZONTAL : PlotOrientation.VERTICAL, groups.size() > 1, false, false);
        theme().apply(chart);
        CategoryPlot plot = chart.getCategoryPlot();
        stylePlotArea(plot);
        plot.setDomainGridlinesVisible(false);
        plot.setRangeAxisLocation(horizontal ? AxisLocation.BOTTOM_OR_RIGHT : AxisLocation.BOTTOM_OR_LEFT);
        styleAxis(plot.getDomainAxis());
        styleAxis(plot.getRangeAxis());
        CategoryAxis cat = plot.getDomainAxis();
        cat.setCategoryMargin(groups.size() > 1 ? 0.2 : 0.25);
        cat.setMaximumCategoryLabelLines(2);
        if (!horizontal && categories.size() > 8) cat.setCategoryLabelPositions(CategoryLabelPositions.UP_45);
        NumberAxis y = (NumberAxis) plot.getRangeAxis();
        y.setUpperMargin(0.12);
        y.setNumberFormatOverride(numberFormat());
        BarRenderer r = (BarRenderer) plot.getRenderer();
        r.setBarPainter(new StandardBarPainter());
        r.setShadowVisible(false);
        r.setDrawBarOutline(false);
        r.setItemMargin(0.05);
        r.setMaximumBarWidth(horizontal ? 0.9 : 0.12);
        for (int i = 0; i < groups.size(); i++) r.setSeriesPaint(i, PALETTE[i % PALETTE.length]);
        if (bars <= 40) {
            r.setDefaultItemLabelGenerator(new StandardCategoryItemLabelGenerator("{2}", numberFormat()));
            r.setDefaultItemLabelsVisible(true);
            r.setDefaultItemLabelFont(new Font("SansSerif", Font.PLAIN, 11));
            r.setDefaultItemLabelPaint(TEXT);
        }
        styleLegend(chart, groups.size() > 1);
        int height = horizontal ? Math.max(HEIGHT, 90 + bars * 20) : HEIGHT;
        return new Rendered(toSvg(chart, id, title, WIDTH, height), omitted);
    }

    /** Up to 4 significant figures, thousands separators, no exponent for the usual ranges. */
    static DecimalFormat numberFormat() {
        return new DecimalFormat("#,##0.####", DecimalFormatSymbols.getInstance(Locale.ROOT)) {
            @Override
            public StringBuffer format(double v, StringBuffer sb, java.text.FieldPosition pos) {
                return sb.append(HtmlReport.formatNumber(v));
            }
        };
    }

    private static StandardChartTheme theme() {
        StandardChartTheme t = (StandardChartTheme) StandardChartTheme.createJFreeTheme();
        t.setExtraLargeFont(new Font("SansSerif", Font.BOLD, 16));
        t.setLargeFont(new Font("SansSerif", Font.PLAIN, 14));
        t.setRegularFont(new Font("SansSerif", Font.PLAIN, 12));
        t.setSmallFont(new Font("SansSerif", Font.PLAIN, 11));
        t.setChartBackgroundPaint(Color.WHITE);
        t.setPlotBackgroundPaint(Color.WHITE);
        t.setLegendBackgroundPaint(Color.WHITE);
        t.setAxisLabelPaint(TEXT);
        t.setTickLabelPaint(TEXT);
        t.setItemLabelPaint(TEXT);
        t.setLegendItemPaint(TEXT);
        t.setBarPainter(new StandardBarPainter());
        t.setShadowVisible(false);
        t.setDrawingSupplier(new DefaultDrawingSupplier(PALETTE, DefaultDrawingSupplier.DEFAULT_FILL_PAINT_SEQUENCE,
                DefaultDrawingSupplier.DEFAULT_OUTLINE_PAINT_SEQUENCE, DefaultDrawingSupplier.DEFAULT_STROKE_SEQUENCE,
                DefaultDrawingSupplier.DEFAULT_OUTLINE_STROKE_SEQUENCE, DefaultDrawingSupplier.DEFAULT_SHAPE_SEQUENCE));
        return t;
    }

    private static void stylePlotArea(org.jfree.chart.plot.Plot plot) {
        plot.setOutlineVisible(false);
        plot.setInsets(new RectangleInsets(8, 8, 8, 16));
        if (plot instanceof XYPlot p) {
            p.setDomainGridlinePaint(GRID);
            p.setRangeGridlinePaint(GRID);
            p.setDomainGridlineStroke(new BasicStroke(1f));
            p.setRangeGridlineStroke(new BasicStroke(1f));
        } else if (plot instanceof CategoryPlot p) {
            p.setRangeGridlinePaint(GRID);
            p.setRangeGridlineStroke(new BasicStroke(1f));
        }
    }

    private static void styleAxis(org.jfree.chart.axis.Axis a) {
        a.setAxisLinePaint(new Color(0x999999));
        a.setTickMarkPaint(new Color(0x999999));
        a.setLabelFont(new Font("SansSerif", Font.PLAIN, 13));
        a.setTickLabelFont(new Font("SansSerif", Font.PLAIN, 12));
    }

    private static void styleLegend(JFreeChart chart, boolean show) {
        if (chart.getLegend() == null) return;
        chart.getLegend().setVisible(show);
        chart.getLegend().setFrame(BlockBorder.NONE);
        chart.getLegend().setItemFont(new Font("SansSerif", Font.PLAIN, 12));
    }

    /**
     * Renders without width/height attributes but with a viewBox, so CSS scales it to the page
     * width. Namespace declarations the drawing does not use (xlink, jfreesvg) are dropped, and
     * the chart is labelled for screen readers.
     */
    private static String toSvg(JFreeChart chart, String id, String title, int width, int height) {
        SVGGraphics2D g = new SVGGraphics2D(width, height);
        g.setDefsKeyPrefix(id + "-");   // unique clip-path ids when several charts share one page
        chart.draw(g, new java.awt.Rectangle(0, 0, width, height));
        String svg = g.getSVGElement(id, false, new ViewBox(0, 0, width, height), null, null);
        int end = svg.indexOf('>');
        String open = svg.substring(0, end), rest = svg.substring(end);
        for (String prefix : new String[] {"xlink", "jfreesvg"}) {
            if (!rest.contains(prefix + ":")) open = open.replaceAll(" xmlns:" + prefix + "='[^']*'", "");
        }
        if (title != null) open += " role='img' aria-label='" + HtmlReport.escape(title) + "'";
        return open + rest;
    }
}
