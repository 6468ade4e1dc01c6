package dev.squish.util;

import java.io.Console;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Optional;

/** Whether stderr is an interactive terminal (for choosing a progress bar over plain lines). */
final class Terminal {
    private Terminal() {}

    private static volatile Boolean stderrTerminal;

    static boolean stderrIsTerminal() {
        Boolean b = stderrTerminal;
        if (b == null) stderrTerminal = b = detect();
        return b;
    }

    /**
     * Asks the C library's {@code isatty(2)} through the FFM API when native access is enabled
     * (the launcher and tests enable it). Otherwise falls back to {@link Console#isTerminal()},
     * which on Java 22+ is the right question ({@code System.console() != null} is true even when
     * redirected) but looks at stdin/stdout rather than stderr.
     */
    private static boolean detect() {
        if (Terminal.class.getModule().isNativeAccessEnabled()) {
            try {
                Linker linker = Linker.nativeLinker();
                Optional<java.lang.foreign.MemorySegment> isatty = linker.defaultLookup().find("isatty");
                if (isatty.isPresent()) {
                    MethodHandle h = linker.downcallHandle(isatty.get(),
                            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
                    return (int) h.invokeExact(2) == 1;
                }
            } catch (Throwable ignored) {
                // fall through to the Console check
            }
        }
        Console c = System.console();
        return c != null && c.isTerminal();
    }
}
