package dev.squish.report;


import static org.junit.jupiter.api.Assertions.*;

import dev.squish.SquishException;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HtmlReportTest {
    @TempDir Path dir;

    private static HtmlReport sample() {
        HtmlReport r = new HtmlReport("Squish <demo>");
        r.paragraph("Perplexity & size of each method.");
        r.table("Results", List.of("method", "perplexity", "bytes"), List.of(
                List.of("dense", 21.4372, 12_845_056L),
                List.of("magnitude 50%", 35.91, 6_422_528L),
                Arrays.asList("gptq <4-bit>", 22.03, null)));
        Map<String, double[][]> s = new LinkedHashMap<>();
        s.put("magnitude", new double[][] {{0, 21.4}, {0.25, 23.0}, {0.5, 35.9}, {0.75, Double.POSITIVE_INFINITY}});
        s.put("wanda", new double[][] {{0, 21.4}, {0.25, 22.1}, {0.5, 27.9}});
        r.lineChart("Perplexity vs sparsity", "sparsity", "perplexity", s, true);
        LinkedHashMap<String, Double> bytes = new LinkedHashMap<>();
        bytes.put("F32", 48.9);
        bytes.put("Q8_0", 13.0);
        bytes.put("Q4_0", 6.9);
        r.barChart("Bytes per format", "format", "MiB", bytes);
        Map<String, Map<String, Double>> speed = new LinkedHashMap<>();
        speed.put("prefill", new LinkedHashMap<>(Map.of("dense", 900.0)));
        speed.put("decode", new LinkedHashMap<>(Map.of("dense", 300.0)));
        r.groupedBarChart("Speed", "format", "tokens/s", speed);
        return r;
    }

    private static int count(String haystack, String needle) {
        int n = 0;
        for (int i = haystack.indexOf(needle); i >= 0; i = haystack.indexOf(needle, i + 1)) n++;
        return n;
    }

    @Test
    void writesSelfContainedFileWithEveryRowAndOneSvgPerChart() throws Exception {
        Path f = dir.resolve("sub/report.html");
        sample().write(f);
        assertTrue(Files.isRegularFile(f));
        String html = Files.readString(f);
        assertTrue(html.startsWith("<!DOCTYPE html>"));
        assertTrue(html.contains("<title>Squish &lt;demo&gt;</title>"));
        for (String cell : List.of("<td>dense</td>", "21.44", "12,845,056", "<td>magnitude 50%</td>", "35.91",
                "6,422,528", "<td>gptq &lt;4-bit&gt;</td>", "22.03", "\u2013")) {
            assertTrue(html.contains(cell), "missing table cell " + cell);
        }
        assertEquals(3, count(html, "<svg"));
        assertEquals(3, count(html, "</svg>"));
        String lower = html.toLowerCase();
        for (String bad : List.of("src=\"http", "href=\"http", "<script", "<link", "@import", "url(http", "src='http", "href='http")) {
            assertFalse(lower.contains(bad), "external reference: " + bad);
        }
        assertTrue(html.contains("1 point not shown"), "omitted infinite point is reported");
        // the only http strings left are the SVG namespace name (an identifier, never fetched)
        assertEquals(count(html, "http"), count(html, "xmlns='http://www.w3.org/2000/svg'"));
        assertTrue(html.contains("role='img' aria-label='Perplexity vs sparsity'"));
        try (Stream<Path> files = Files.list(f.getParent())) {
            assertEquals(List.of(f), files.toList(), "no temporary files left behind");
        }
    }

    @Test
    void chartsAreWellFormedSvgWithLabelsAndUniqueIds() throws Exception {
        String html = sample().toHtml();
        Matcher m = Pattern.compile("<svg.*?</svg>", Pattern.DOTALL).matcher(html);
        Set<String> ids = new HashSet<>();
        Pattern id = Pattern.compile(" id=\"([^\"]+)\"");
        List<String> svgs = new ArrayList<>();
        while (m.find()) svgs.add(m.group());
        assertEquals(3, svgs.size());
        for (String svg : svgs) {
            DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
            f.setNamespaceAware(true);
            f.newDocumentBuilder().parse(new ByteArrayInputStream(svg.getBytes(StandardCharsets.UTF_8)));
            Matcher im = id.matcher(svg);
            while (im.find()) assertTrue(ids.add(im.group(1)), "duplicate id " + im.group(1));
        }
        assertTrue(svgs.get(0).contains(">magnitude<") && svgs.get(0).contains(">wanda<"), "legend names");
        assertTrue(svgs.get(0).contains(">perplexity<") && svgs.get(0).contains(">sparsity<"), "axis labels");
        assertTrue(svgs.get(1).contains(">Q4_0<") && svgs.get(1).contains(">48.9<"), "categories and value labels");
        assertTrue(svgs.get(2).contains(">prefill<") && svgs.get(2).contains(">decode<"), "grouped legend");
    }

    @Test
    void writeReplacesAnExistingReport() throws Exception {
        Path f = dir.resolve("r.html");
        Files.writeString(f, "old");
        new HtmlReport("New").paragraph("fresh").write(f);
        assertTrue(Files.readString(f).contains("<p>fresh</p>"));
    }

    @Test
    void unwritableTargetIsAUserErrorNamingTheFile() throws Exception {
        Path notADir = dir.resolve("file.txt");
        Files.writeString(notADir, "x");
        Path target = notADir.resolve("report.html");
        SquishException e = assertThrows(SquishException.class, () -> new HtmlReport("x").write(target));
        assertTrue(e.getMessage().contains(target.toString()), e.getMessage());
    }

    @Test
    void raggedTableIsRejected() {
        HtmlReport r = new HtmlReport("x");
        assertThrows(IllegalArgumentException.class,
                () -> r.table("t", List.of("a", "b"), List.of(List.of("1", "2"), List.of("3"))));
    }

    @Test
    void numericColumnsAreRightAligned() {
        String html = new HtmlReport("x").table(null, List.of("name", "value"),
                List.of(List.of("a", 1.5), List.of("b", 2))).toHtml();
        assertTrue(html.contains("<td>a</td><td class=\"num\">1.5</td>"), html);
        assertTrue(html.contains("<th>name</th><th class=\"num\">value</th>"));
    }

    @Test
    void numberFormatting() {
        assertEquals("21.44", HtmlReport.formatNumber(21.4372));
        assertEquals("0.5", HtmlReport.formatNumber(0.5));
        assertEquals("128", HtmlReport.formatNumber(128.0));
        assertEquals("1,235", HtmlReport.formatNumber(1234.567));
        assertEquals("12,345,679", HtmlReport.formatNumber(12_345_678.9));
        assertEquals("1.000e-04", HtmlReport.formatNumber(1e-4));
        assertEquals("2.500e+09", HtmlReport.formatNumber(2.5e9));
        assertEquals("0", HtmlReport.formatNumber(0));
        assertEquals("NaN", HtmlReport.formatNumber(Double.NaN));
        assertEquals("\u221e", HtmlReport.formatNumber(Double.POSITIVE_INFINITY));
        assertEquals("1,024", HtmlReport.formatCell(1024));
        assertEquals("\u2013", HtmlReport.formatCell(null));
        assertEquals("a&lt;b&amp;c&quot;", HtmlReport.escape("a<b&c\""));
    }

    @Test
    void logAxisTicksAreRoundNumbers() {
        assertEquals(List.of(20.0, 50.0, 100.0, 200.0, 500.0, 1000.0), NiceLogAxis.tickValues(19, 1100));
        assertEquals(List.of(22.0, 24.0, 26.0, 28.0, 30.0, 32.0, 34.0, 36.0), NiceLogAxis.tickValues(21, 36.5));
        assertEquals(List.of(20.0, 30.0, 40.0, 50.0, 60.0), NiceLogAxis.tickValues(15, 65));
        List<Double> many = NiceLogAxis.tickValues(1, 1e12);
        assertTrue(many.size() >= 3 && many.size() <= 12, many.toString());
        for (double v : many) assertEquals(0, Math.log10(v) % 1, 1e-9, "power of ten: " + v);
        assertEquals(List.of(), NiceLogAxis.tickValues(-1, 10));
    }

    @Test
    void emptyAndSinglePointChartsStillRender() {
        Map<String, double[][]> s = new LinkedHashMap<>();
        s.put("one", new double[][] {{1, 2}});
        s.put("none", new double[0][]);
        String html = new HtmlReport("x").lineChart("t", "x", "y", s, false)
                .barChart("b", "k", "v", new LinkedHashMap<>()).toHtml();
        assertEquals(2, count(html, "<svg"));
    }

    @Test
    void malformedPointIsRejected() {
        Map<String, double[][]> s = Map.of("bad", new double[][] {{1, 2, 3}});
        assertThrows(IllegalArgumentException.class, () -> new HtmlReport("x").lineChart("t", "x", "y", s, false));
    }
}
