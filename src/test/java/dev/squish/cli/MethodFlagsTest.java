package dev.squish.cli;

import static org.junit.jupiter.api.Assertions.*;

import dev.squish.Fixtures;
import dev.squish.methods.MethodDescriptor;
import dev.squish.methods.Methods;
import dev.squish.methods.OptionSpec;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** compress's method flags and help come from the method registry. */
class MethodFlagsTest {
    @TempDir Path tmp;

    @Test
    void helpListsEveryMethodAndEveryOptionFlag() {
        CliTest.Run r = CliTest.run("compress", "--help");
        assertEquals(0, r.code(), r.err());
        String help = r.out() + r.err();
        assertTrue(help.contains("Methods (--method):"), help);
        for (MethodDescriptor<?> d : Methods.all()) {
            assertTrue(help.contains(d.id()), d.id());
            for (OptionSpec o : d.options()) {
                assertTrue(help.contains(o.flagName()), o.flagName());
                if (o.negation() != null) assertTrue(help.contains("--" + o.negation()), o.negation());
            }
        }
    }

    @Test
    void negationsAndConflictsAreInputErrors() {
        String out = tmp.resolve("o").toString(), model = Fixtures.LLAMA.toString();
        CliTest.assertInputError(CliTest.run("compress", model, "-o", out, "--method", "rtn", "--bits", "4", "--sym", "--asym"), "--asym");
        CliTest.assertInputError(CliTest.run("compress", model, "-o", out, "--method", "rtn", "--bits", "4", "--outliers", "0.2"),
                "--outliers must be in [0, 0.1]");
        CliTest.assertInputError(CliTest.run("compress", model, "-o", out, "--method", "rtn", "--bits", "4", "--no-clip"), "--clip");
    }

    @Test
    void recipeWithMethodFlagsIsAnInputError() throws Exception {
        Path recipe = tmp.resolve("r.yaml");
        Files.writeString(recipe, "stages:\n  - {method: rtn, bits: 8}\n");
        CliTest.assertInputError(CliTest.run("compress", Fixtures.LLAMA.toString(), "-o", tmp.resolve("o").toString(),
                "--recipe", recipe.toString(), "--bits", "4"), "--bits does not apply with --recipe");
    }

    @Test
    void asymFlagReachesTheMethod() {
        Path out = tmp.resolve("asym");
        CliTest.Run r = CliTest.run("compress", Fixtures.LLAMA.toString(), "-o", out.toString(), "--method", "rtn", "--bits", "8", "--asym", "--json");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("rtn int8 g128 asym"), r.out());
    }
}
