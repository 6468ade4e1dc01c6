package dev.squish.report;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class NiceLogAxisLabelTest {
    @Test
    void tinyAndHugeTicksUseShortExponents() {
        assertEquals("1e-4", NiceLogAxis.tickLabel(1e-4));
        assertEquals("2e-5", NiceLogAxis.tickLabel(2e-5));
        assertEquals("1e-5", NiceLogAxis.tickLabel(9.99999e-6));
        assertEquals("5e9", NiceLogAxis.tickLabel(5e9));
        assertEquals("0.001", NiceLogAxis.tickLabel(1e-3));
        assertEquals("30", NiceLogAxis.tickLabel(30));
        assertEquals("2,000", NiceLogAxis.tickLabel(2000));
    }
}
