package dev.squish.util;

import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class VectorWidthTest {
    @Test void propertyValues() {
        List<String> warnings = new ArrayList<>();
        assertEquals(512, VectorWidth.bits(null, 512, warnings::add));
        assertEquals(256, VectorWidth.bits("256", 512, warnings::add));
        assertEquals(128, VectorWidth.bits(" 128 ", 256, warnings::add));
        assertTrue(warnings.isEmpty(), warnings.toString());
        assertEquals(256, VectorWidth.bits("512", 256, warnings::add));
        assertTrue(warnings.getLast().contains("wider than this CPU's 256-bit"), warnings.getLast());
        assertEquals(512, VectorWidth.bits("64", 512, warnings::add));
        assertTrue(warnings.getLast().contains("not 128, 256 or 512"), warnings.getLast());
        assertEquals(2, warnings.size());
    }

    @Test void defaultIsThePreferredSpecies() {
        if (System.getProperty("squish.vectorBits") == null) assertEquals(FloatVector.SPECIES_PREFERRED, VectorWidth.FLOAT);
    }
}
