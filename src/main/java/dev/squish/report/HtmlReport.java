package dev.squish.report;

import dev.squish.SquishException;
import java.io.IOException;
import java.math.BigDecimal;
import java.math.MathContext;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * One self-contained HTML report: a title, sections, paragraphs, tables and charts (inline SVG
 * drawn by JFreeChart), with embedded CSS and nothing loaded from the network.
 *
 * <pre>{@code
 * HtmlReport r = new HtmlReport("Squish demo");
 * r.paragraph("Compressed kjv-llama-tiny with four methods.");
 * r.table("Results", List.of("method", "perplexity"), List.of(List.of("dense", 21.4)));
 * r.lineChart("Perplexity vs sparsity", "sparsity", "perplexity", series, true);
 * r.barChart("Bytes per format", "format", "MiB", values);
 * r.write(Path.of("report.html"));
 * }</pre>
 *
 * Blocks appear in the order they are added. Not thread-safe.
 */
public final class HtmlReport {
    private final String title;
    private final StringBuilder body = new StringBuilder();
    private int charts;

    public HtmlReport(String title) {
        this.title = title;
    }

    /** A section heading ({@code <h2>}). */
    public HtmlReport section(String heading) {
        body.append("<h2>").append(escape(heading)).append("</h2>\n");
        return this;
    }

    /** A paragraph of plain text (escaped; blank lines are not special). */
    public HtmlReport paragraph(String text) {
        body.append("<p>").append(escape(text)).append("</p>\n");
        return this;
    }

    /** Preformatted text such as a command line or a recipe, in a monospace box. */
    public HtmlReport code(String text) {
        body.append("<pre><code>").append(escape(text)).append("</code></pre>\n");
        return this;
    }

    /**
     * A table. Cells may be strings, numbers (right-aligned, formatted to about 4 significant
     * digits; integers in full with thousands separators) or null (shown as a dash).
     *
     * @param title caption shown above the table, or null for none
     */
    public HtmlReport table(String title, List<String> headers, List<? extends List<?>> rows) {
        int cols = headers.size();
        boolean[] numeric = new boolean[cols];
        java.util.Arrays.fill(numeric, true);
        for (int r = 0; r < rows.size(); r++) {
            List<?> row = rows.get(r);
            if (row.size() != cols) {
                throw new IllegalArgumentException("table '" + title + "': row " + r + " has " + row.size()
                        + " cells, expected " + cols);
            }
            for (int c = 0; c < cols; c++) {
                Object v = row.get(c);
                if (v != null && !(v instanceof Number)) numeric[c] = false;
            }
        }
        body.append("<div class=\"table-wrap\"><table>\n");
        if (title != null) body.append("<caption>").append(escape(title)).append("</caption>\n");
        body.append("<thead><tr>");
        for (int c = 0; c < cols; c++) {
            body.append(numeric[c] && !rows.isEmpty() ? "<th class=\"num\">" : "<th>")
                .append(escape(headers.get(c))).append("</th>");
        }
        body.append("</tr></thead>\n<tbody>\n");
        for (List<?> row : rows) {
            body.append("<tr>");
            for (int c = 0; c < cols; c++) {
                body.append(numeric[c] ? "<td class=\"num\">" : "<td>").append(escape(formatCell(row.get(c)))).append("</td>");
            }
            body.append("</tr>\n");
        }
        body.append("</tbody></table></div>\n");
        return this;
    }

    /**
     * A line chart of several named series.
     *
     * @param series name -> points {@code [[x, y], ...]}, drawn in map order (use a LinkedHashMap);
     *               non-finite points (and non-positive y on a log axis) are left out and counted
     *               in the caption
     * @param logY   logarithmic y axis (e.g. perplexity, singular values)
     */
    public HtmlReport lineChart(String title, String xLabel, String yLabel, Map<String, double[][]> series, boolean logY) {
        String id = nextChartId();
        Charts.Rendered r = Charts.line(id, title, xLabel, yLabel, series, logY);
        figure(title, r, logY ? "log scale" : null);
        return this;
    }

    /**
     * A line chart as a standalone SVG document with a fixed size (for a plot file such as
     * {@code sweep --plot curve.svg}); non-finite points are left out.
     */
    public static String lineChartSvg(String title, String xLabel, String yLabel, Map<String, double[][]> series, boolean logY) {
        String svg = Charts.line("chart", title, xLabel, yLabel, series, logY, true).svg();
        svg = "<svg width='" + Charts.WIDTH + "' height='" + Charts.HEIGHT + "'" + svg.substring(4);
        return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + svg + "\n";
    }

    /** A bar chart of one value per category, in map order; non-finite values are left out. */
    public HtmlReport barChart(String title, String xLabel, String yLabel, Map<String, Double> values) {
        Map<String, Map<String, Double>> one = new LinkedHashMap<>();
        one.put(yLabel, values);
        figure(title, Charts.bar(nextChartId(), title, xLabel, yLabel, one), null);
        return this;
    }

    /**
     * A grouped bar chart: {@code groups} maps a series name (shown in the legend) to its values
     * per category, e.g. method -> (layer -> reconstruction error).
     */
    public HtmlReport groupedBarChart(String title, String xLabel, String yLabel,
                                      Map<String, ? extends Map<String, Double>> groups) {
        figure(title, Charts.bar(nextChartId(), title, xLabel, yLabel, groups), null);
        return this;
    }

    private String nextChartId() {
        return "chart" + (++charts);
    }

    private void figure(String title, Charts.Rendered r, String note) {
        body.append("<figure>\n");
        if (title != null) body.append("<figcaption>").append(escape(title)).append("</figcaption>\n");
        body.append(r.svg()).append('\n');
        StringBuilder n = new StringBuilder();
        if (note != null) n.append(note);
        if (r.omitted() > 0) {
            if (!n.isEmpty()) n.append("; ");
            n.append(r.omitted()).append(r.omitted() == 1 ? " point" : " points")
             .append(" not shown (infinite, NaN or not positive on a log axis)");
        }
        if (!n.isEmpty()) body.append("<div class=\"note\">").append(escape(n.toString())).append("</div>\n");
        body.append("</figure>\n");
    }

    /** The complete HTML document. */
    public String toHtml() {
        String generated = ZonedDateTime.now().format(DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm z", Locale.ROOT));
        return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                + "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                + "<title>" + escape(title) + "</title>\n<style>\n" + CSS + "</style>\n</head>\n<body>\n<main>\n"
                + "<h1>" + escape(title) + "</h1>\n" + body
                + "<footer>Generated by Squish on " + escape(generated) + "</footer>\n</main>\n</body>\n</html>\n";
    }

    /**
     * Writes the report to {@code file} (parent folders are created): first to a temporary file
     * next to it, then moved into place atomically, so readers never see a partial report.
     */
    public void write(Path file) {
        Path abs = file.toAbsolutePath();
        Path dir = abs.getParent();
        Path tmp = null;
        try {
            Files.createDirectories(dir);
            tmp = Files.createTempFile(dir, abs.getFileName().toString() + ".tmp-", "");
            Files.writeString(tmp, toHtml(), StandardCharsets.UTF_8);
            if (Files.getFileStore(tmp).supportsFileAttributeView("posix")) {
                // temp files are created owner-only; a report is an ordinary shareable file
                Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rw-r--r--"));
            }
            try {
                Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            try {
                if (tmp != null) Files.deleteIfExists(tmp);
            } catch (IOException ignored) {
                // best effort
            }
            throw new SquishException("cannot write report " + file + ": " + e, e);
        }
    }

    static String formatCell(Object v) {
        if (v == null) return "\u2013";
        if (v instanceof Double || v instanceof Float) return formatNumber(((Number) v).doubleValue());
        if (v instanceof Number n) {
            if (v instanceof BigDecimal b) return formatNumber(b.doubleValue());
            return String.format(Locale.ROOT, "%,d", n.longValue());
        }
        return v.toString();
    }

    /** 4 significant digits below 1000, whole numbers with separators up to 1e9, exponent beyond. */
    static String formatNumber(double v) {
        if (Double.isNaN(v)) return "NaN";
        if (Double.isInfinite(v)) return v > 0 ? "\u221e" : "-\u221e";
        if (v == 0) return "0";
        double a = Math.abs(v);
        if (a >= 1e9 || a < 1e-3) {
            return String.format(Locale.ROOT, "%.3e", v);
        }
        if (a >= 1000) return String.format(Locale.ROOT, "%,d", Math.round(v));
        return new BigDecimal(v).round(new MathContext(4)).stripTrailingZeros().toPlainString();
    }

    static String escape(String s) {
        if (s == null) return "";
        StringBuilder sb = new StringBuilder(s.length() + 16);
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '<' -> sb.append("&lt;");
                case '>' -> sb.append("&gt;");
                case '&' -> sb.append("&amp;");
                case '"' -> sb.append("&quot;");
                case '\'' -> sb.append("&#39;");
                default -> sb.append(c);
            }
        }
        return sb.toString();
    }

    private static final String CSS = """
            :root { --fg: #222; --muted: #666; --line: #e3e3e3; --accent: #4e79a7; --stripe: #f7f8fa; }
            * { box-sizing: border-box; }
            body { margin: 0; color: var(--fg); background: #fff;
                   font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
            main { max-width: 960px; margin: 0 auto; padding: 32px 24px 48px; }
            h1 { font-size: 28px; margin: 0 0 16px; padding-bottom: 10px; border-bottom: 3px solid var(--accent); }
            h2 { font-size: 20px; margin: 36px 0 10px; }
            p { margin: 10px 0; max-width: 75ch; }
            pre { background: var(--stripe); border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px;
                  overflow-x: auto; font: 13px/1.45 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
            .table-wrap { overflow-x: auto; margin: 18px 0; }
            table { border-collapse: collapse; min-width: 50%; font-variant-numeric: tabular-nums; }
            caption { text-align: left; font-weight: 600; padding: 0 0 6px; }
            th, td { padding: 6px 12px; border-bottom: 1px solid var(--line); text-align: left; white-space: nowrap; }
            th { border-bottom: 2px solid #bbb; font-weight: 600; }
            tbody tr:nth-child(even) { background: var(--stripe); }
            .num { text-align: right; }
            figure { margin: 24px 0; padding: 12px 12px 8px; border: 1px solid var(--line); border-radius: 8px; }
            figcaption { font-weight: 600; margin: 0 0 6px 4px; }
            figure svg { display: block; width: 100%; height: auto; }
            .note { color: var(--muted); font-size: 13px; margin: 4px 4px 0; }
            footer { margin-top: 40px; color: var(--muted); font-size: 13px; border-top: 1px solid var(--line); padding-top: 10px; }
            """;
}
