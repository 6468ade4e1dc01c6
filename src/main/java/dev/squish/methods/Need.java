package dev.squish.methods;

/** What a method needs besides the model's weights. */
public enum Need {
    /** Calibration activations: the pipeline samples calibration text and runs blocks on it. */
    CALIBRATION,
    /** Gradients of a loss (fine-tuning, Fisher-weighted methods); no current method needs them. */
    GRADIENTS,
    /** A look at the whole model before the first block ({@link CompressionMethod#plan}), e.g. a global rank budget. */
    WHOLE_MODEL
}
