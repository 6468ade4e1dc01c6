package dev.squish;

import java.nio.file.Files;
import java.nio.file.Path;

/** Paths of the bundled fixtures (models trained on the KJV Bible, and the text). */
public final class Fixtures {
    private Fixtures() {}

    public static final Path ROOT = locate();
    public static final Path LLAMA = ROOT.resolve("models/kjv-llama-tiny");
    public static final Path GPT2 = ROOT.resolve("models/kjv-gpt2-tiny");
    public static final Path TRAIN = ROOT.resolve("data/kjv/train.txt");
    public static final Path VALID = ROOT.resolve("data/kjv/valid.txt");
    public static final Path TEST = ROOT.resolve("data/kjv/test.txt");

    private static Path locate() {
        Path p = Path.of("").toAbsolutePath();
        while (p != null) {
            if (Files.isDirectory(p.resolve("fixtures/models"))) return p.resolve("fixtures");
            p = p.getParent();
        }
        throw new IllegalStateException("fixtures/ not found above " + Path.of("").toAbsolutePath());
    }
}
