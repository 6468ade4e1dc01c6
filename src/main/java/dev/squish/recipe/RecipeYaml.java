package dev.squish.recipe;

import dev.squish.SquishException;
import java.util.regex.Pattern;
import org.yaml.snakeyaml.DumperOptions;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;
import org.yaml.snakeyaml.error.Mark;
import org.yaml.snakeyaml.error.MarkedYAMLException;
import org.yaml.snakeyaml.error.YAMLException;
import org.yaml.snakeyaml.nodes.Tag;
import org.yaml.snakeyaml.representer.Representer;
import org.yaml.snakeyaml.resolver.Resolver;

/** Loads recipe text into plain maps, lists and scalars, safely, with errors fit for users. */
final class RecipeYaml {
    private RecipeYaml() {}

    /** Largest recipe accepted, in characters; real recipes are a few hundred. */
    static final int MAX_CHARS = 256 * 1024;

    /**
     * Parses one YAML document with SnakeYAML's safe constructor (no arbitrary classes), no
     * duplicate keys, and limits against "billion laughs" alias bombs, deep nesting and huge
     * input. Returns null for an empty document.
     */
    static Object load(String text, String source) {
        LoaderOptions opts = new LoaderOptions();
        opts.setAllowDuplicateKeys(false);
        opts.setMaxAliasesForCollections(20);
        opts.setAllowRecursiveKeys(false);
        opts.setNestingDepthLimit(20);
        opts.setCodePointLimit(MAX_CHARS);
        Yaml yaml = new Yaml(new SafeConstructor(opts), new Representer(new DumperOptions()), new DumperOptions(),
                opts, new RecipeResolver());
        try {
            return yaml.load(text);
        } catch (MarkedYAMLException e) {
            Mark m = e.getProblemMark() != null ? e.getProblemMark() : e.getContextMark();
            String where = m != null ? "line " + (m.getLine() + 1) + ", column " + (m.getColumn() + 1) + ": " : "";
            String problem = e.getProblem() != null ? e.getProblem() : firstLine(e.getMessage());
            // "but found another document" only makes sense after its context
            if (problem.startsWith("but ") && e.getContext() != null) problem = e.getContext() + " " + problem;
            throw new SquishException(source + ": invalid YAML at " + where + problem.trim(), e);
        } catch (YAMLException e) {
            throw new SquishException(source + ": invalid YAML: " + firstLine(e.getMessage()), e);
        } catch (StackOverflowError e) {
            throw new SquishException(source + ": invalid YAML: nested too deeply", e);
        }
    }

    private static String firstLine(String s) {
        if (s == null) return "unreadable document";
        int nl = s.indexOf('\n');
        return (nl >= 0 ? s.substring(0, nl) : s).trim();
    }

    /**
     * YAML 1.1's implicit types minus the surprising ones: {@code 2:4} would otherwise be read as
     * the base-60 integer 124, {@code 010} as octal 8 and {@code 2024-01-01} as a date. Numbers
     * here are plain decimal integers and floats; booleans, null and merge keys are as usual.
     */
    private static final class RecipeResolver extends Resolver {
        private static final Pattern DECIMAL_INT = Pattern.compile("^[-+]?(?:0|[1-9][0-9_]*)$");
        private static final Pattern DECIMAL_FLOAT = Pattern.compile(
                "^(?:[-+]?(?:\\.[0-9]+|[0-9][0-9_]*(?:\\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?"
                        + "|[-+]?\\.(?:inf|Inf|INF)|\\.(?:nan|NaN|NAN))$");

        @Override
        protected void addImplicitResolvers() {
            addImplicitResolver(Tag.BOOL, BOOL, "yYnNtTfFoO", 10);
            addImplicitResolver(Tag.INT, DECIMAL_INT, "-+0123456789");
            addImplicitResolver(Tag.FLOAT, DECIMAL_FLOAT, "-+0123456789.");
            addImplicitResolver(Tag.MERGE, MERGE, "<", 10);
            addImplicitResolver(Tag.NULL, NULL, "~nN\0", 10);
            addImplicitResolver(Tag.NULL, EMPTY, null, 10);
            addImplicitResolver(Tag.YAML, YAML, "!&*", 10);
        }
    }
}
