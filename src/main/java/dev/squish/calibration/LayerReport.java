package dev.squish.calibration;

/** What a method did to one linear layer (printed per layer, and in --json and reports). */
public record LayerReport(String method, int block, String linear, String format, int rows, int cols,
                          long parameters, long bytes, double sparsity, double relativeError, double seconds) {}
