package dev.squish.weights;

import dev.squish.util.VectorWidth;
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.reflect.Field;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.IntSupplier;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Runs every weight format's kernel tests again at each vector width below the machine's (the
 * suite's own run covers the machine's width), so the 128- and 256-bit paths are tested on an
 * AVX-512 machine. The width is a {@code static final}
 * (C2 needs a constant species), so each width gets a fresh copy of Squish's classes in a class
 * loader that answers the width ({@link VectorWidth}'s test hook); the test classes below run
 * inside it unchanged: their {@code @Test} methods are invoked with a fresh {@code @TempDir}.
 */
class VectorWidthsTest {
    static final List<String> KERNEL_TESTS = List.of("QuantizedLinearTest", "DenseLinearKernelTest", "Bf16DenseLinearTest",
            "SparseLinearTest", "NMSparseLinearTest", "SparseQuantizedLinearTest", "LowRankLinearTest", "OutlierLinearTest",
            "DegenerateShapesTest", "CompactQuantizedTest", "ColumnMajorLinearTest", "ColumnQuantCodesTest", "F16DenseLinearTest",
            "TransposedDenseLinearTest");

    /** Loads dev.squish.* itself (child first) and reports a fixed vector width. */
    static final class WidthLoader extends URLClassLoader implements IntSupplier {
        private final int bits;

        WidthLoader(int bits) {
            super("width-" + bits, new URL[]{location(VectorWidth.class), location(VectorWidthsTest.class)}, VectorWidthsTest.class.getClassLoader());
            this.bits = bits;
        }

        private static URL location(Class<?> c) { return c.getProtectionDomain().getCodeSource().getLocation(); }

        @Override public int getAsInt() { return bits; }

        @Override protected Class<?> loadClass(String name, boolean resolve) throws ClassNotFoundException {
            if (!name.startsWith("dev.squish.")) return super.loadClass(name, resolve);
            synchronized (getClassLoadingLock(name)) {
                Class<?> c = findLoadedClass(name);
                if (c == null) c = findClass(name);
                if (resolve) resolveClass(c);
                return c;
            }
        }
    }

    @ParameterizedTest(name = "{0}-bit")
    @ValueSource(ints = {128, 256, 512})
    void kernelTestsAtWidth(int bits) throws Exception {
        int machine = FloatVector.SPECIES_PREFERRED.vectorBitSize();
        if (bits > machine) {
            System.out.println("VectorWidthsTest: " + bits + "-bit skipped, wider than this CPU's " + machine + "-bit vectors (it would run without intrinsics)");
            return;
        }
        if (bits == machine && VectorWidth.FLOAT.vectorBitSize() == machine) {
            System.out.println("VectorWidthsTest: " + bits + "-bit is this JVM's own width; the suite's own run of the kernel tests covers it");
            return;
        }
        try (WidthLoader loader = new WidthLoader(bits)) {
            Class<?> kernels = loader.loadClass("dev.squish.weights.Kernels");
            Field l = kernels.getDeclaredField("L");
            l.setAccessible(true);
            assertEquals(bits / 32, l.getInt(null), "float lanes in the " + bits + "-bit copy");
            assertNotSame(Kernels.class, kernels);
            for (String name : KERNEL_TESTS) runAll(loader.loadClass("dev.squish.weights." + name), bits);
        }
    }

    /**
     * The register-file choices ({@code Kernels.REGS32}: the prefill micro-kernel shape and the int4/int8
     * code extraction of {@code InterleavedCodes}) the other way round from this CPU's, at its own
     * width, at most 256 bits: so the 16-register forms (with the table expand of 8 lanes) are tested
     * on an AVX-512 machine and the 32-register ones on an AVX2 machine.
     */
    @Test
    void kernelTestsWithTheOtherRegisterFile() throws Exception {
        String key = "squish.microKernel", before = System.getProperty(key);
        System.setProperty(key, Kernels.REGS32 ? "4x3" : "4x4");
        int bits = Math.min(256, FloatVector.SPECIES_PREFERRED.vectorBitSize());
        try (WidthLoader loader = new WidthLoader(bits)) {
            Class<?> kernels = loader.loadClass("dev.squish.weights.Kernels");
            Field r = kernels.getDeclaredField("REGS32");
            r.setAccessible(true);
            assertEquals(!Kernels.REGS32, r.getBoolean(null), "REGS32 in the copy");
            Field sc = loader.loadClass("dev.squish.weights.InterleavedCodes").getDeclaredField("SHIFT_CODES");
            sc.setAccessible(true);
            assertEquals(Kernels.REGS32, sc.getBoolean(null), "SHIFT_CODES in the copy");
            Field te = kernels.getDeclaredField("TABLE_EXPAND");
            te.setAccessible(true);
            assertEquals(Kernels.REGS32 && bits <= 256, te.getBoolean(null), "TABLE_EXPAND in the copy");
            for (String name : KERNEL_TESTS) runAll(loader.loadClass("dev.squish.weights." + name), bits);
        } finally {
            if (before == null) System.clearProperty(key); else System.setProperty(key, before);
        }
    }

    private static void runAll(Class<?> test, int bits) throws Exception {
        var ctor = test.getDeclaredConstructor();
        ctor.setAccessible(true);
        int ran = 0;
        for (Method m : test.getDeclaredMethods()) {
            if (!m.isAnnotationPresent(Test.class)) continue;
            Object instance = ctor.newInstance();
            Path tmp = Files.createTempDirectory("squish-width");
            try {
                for (Field f : test.getDeclaredFields())
                    if (f.isAnnotationPresent(TempDir.class) && !Modifier.isStatic(f.getModifiers())) { f.setAccessible(true); f.set(instance, tmp); }
                m.setAccessible(true);
                try {
                    m.invoke(instance);
                } catch (InvocationTargetException e) {
                    throw new AssertionError(test.getSimpleName() + "." + m.getName() + " at " + bits + " bits: " + e.getCause(), e.getCause());
                }
                ran++;
            } finally {
                try (var files = Files.walk(tmp)) {
                    files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
                }
            }
        }
        assertTrue(ran > 0, test.getSimpleName() + " has no tests");
    }
}
