package dev.squish.cli;

import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayInputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.xml.parsers.DocumentBuilderFactory;

/** Shared checks of the HTML reports written by the commands, and running the CLI in-process. */
final class ReportChecks {
    private ReportChecks() {}

    record Run(int rc, String out, String err) {}

    static Run cli(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        int rc = Main.run(args, new PrintWriter(out, true), new PrintWriter(err, true));
        return new Run(rc, out.toString(), err.toString());
    }

    static int count(String haystack, String needle) {
        int n = 0;
        for (int i = haystack.indexOf(needle); i >= 0; i = haystack.indexOf(needle, i + 1)) n++;
        return n;
    }

    /**
     * A complete HTML document that loads nothing (no scripts, stylesheets, images or fonts from
     * elsewhere), whose every figure holds exactly one well-formed SVG; returns the SVGs.
     */
    static List<String> selfContained(String html) throws Exception {
        assertTrue(html.startsWith("<!DOCTYPE html>"), "an HTML document");
        assertTrue(html.strip().endsWith("</html>"), "complete");
        String lower = html.toLowerCase(Locale.ROOT);
        for (String bad : List.of("<script", "<link", "<img", "<iframe", "<object", "<embed", "@import", "src=", "href="))
            assertFalse(lower.contains(bad), "loads something: " + bad);
        Matcher url = Pattern.compile("url\\(([^)]*)\\)").matcher(lower);
        while (url.find()) assertTrue(url.group(1).startsWith("#"), "only references within the page: " + url.group());
        // the only http(s) strings are SVG namespace names (identifiers, never fetched)
        assertEquals(count(html, "http"), count(html, "xmlns='http://www.w3.org/2000/svg'"), "no other URLs");
        assertEquals(count(html, "<figure>"), count(html, "<svg"), "one svg per chart");
        Matcher fig = Pattern.compile("<figure>.*?</figure>", Pattern.DOTALL).matcher(html);
        List<String> svgs = new ArrayList<>();
        while (fig.find()) {
            String f = fig.group();
            assertEquals(1, count(f, "<svg"), "one svg in a figure");
            String svg = f.substring(f.indexOf("<svg"), f.indexOf("</svg>") + 6);
            DocumentBuilderFactory dbf = DocumentBuilderFactory.newInstance();
            dbf.setNamespaceAware(true);
            dbf.newDocumentBuilder().parse(new ByteArrayInputStream(svg.getBytes(StandardCharsets.UTF_8)));
            svgs.add(svg);
        }
        return svgs;
    }

    /** The text cells of every row of the table with this caption. */
    static List<List<String>> table(String html, String caption) {
        int at = html.indexOf("<caption>" + caption + "</caption>");
        assertTrue(at >= 0, "table '" + caption + "'");
        String t = html.substring(at, html.indexOf("</table>", at));
        t = t.substring(t.indexOf("<tbody>"));
        List<List<String>> rows = new ArrayList<>();
        Matcher tr = Pattern.compile("<tr>(.*?)</tr>", Pattern.DOTALL).matcher(t);
        while (tr.find()) {
            List<String> cells = new ArrayList<>();
            Matcher td = Pattern.compile("<td[^>]*>(.*?)</td>").matcher(tr.group(1));
            while (td.find()) cells.add(td.group(1));
            rows.add(cells);
        }
        return rows;
    }
}
