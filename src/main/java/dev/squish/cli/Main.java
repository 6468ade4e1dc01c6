package dev.squish.cli;

import dev.squish.SquishException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.io.PrintWriter;

/**
 * Entry point of {@code bin/squish}. Exit codes follow the contract: 0 success, 2 bad input or
 * usage (one {@code error:} line on stderr), 1 internal error.
 */
@Command(name = "squish", mixinStandardHelpOptions = true, version = "squish 0.1.0",
        description = "Compress transformer language models and run them fast on CPUs.",
        subcommands = {EvalCommand.class, GenerateCommand.class, InspectCommand.class, CompressCommand.class, ExportCommand.class,
                DemoCommand.class, SweepCommand.class, BenchCommand.class, FinetuneCommand.class})
public final class Main implements Runnable {
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Override public void run() { spec.commandLine().usage(spec.commandLine().getErr()); }

    public static void main(String[] args) {
        System.setProperty("java.awt.headless", "true");
        int rc;
        try {
            rc = run(args, new PrintWriter(System.out, true), new PrintWriter(System.err, true));
        } catch (OutOfMemoryError e) {
            System.err.println("error: out of memory; give the JVM more with SQUISH_JAVA_OPTS=-Xmx...");
            rc = 1;
        }
        System.out.flush();
        System.exit(rc);
    }

    /** Runs the CLI in-process (tests use this) and returns the exit code. */
    public static int run(String[] args, PrintWriter out, PrintWriter err) {
        boolean verbose = java.util.Arrays.asList(args).contains("--verbose");
        CommandLine cmd = new CommandLine(new Main());
        MethodFlags.addTo(cmd.getSubcommands().get("compress").getCommandSpec());
        cmd.setOut(out).setErr(err);
        cmd.setParameterExceptionHandler((ex, a) -> {
            err.println("error: " + oneLine(ex.getMessage()));
            err.flush();
            return 2;
        });
        cmd.setExecutionExceptionHandler((ex, c, parsed) -> {
            Throwable t = ex;
            while (!(t instanceof SquishException) && t.getCause() != null && t.getCause() != t) t = t.getCause();
            if (t instanceof SquishException) {
                err.println("error: " + oneLine(t.getMessage()));
                if (verbose) ex.printStackTrace(err);
                err.flush();
                return 2;
            }
            err.println("error: internal error: " + oneLine(String.valueOf(ex)) + (verbose ? "" : " (run with --verbose for details)"));
            if (verbose) ex.printStackTrace(err);
            err.flush();
            return 1;
        });
        int rc = cmd.execute(args);
        out.flush();
        err.flush();
        return rc;
    }

    static String oneLine(String s) { return s == null ? "" : s.replace('\n', ' ').replace('\r', ' ').strip(); }
}
