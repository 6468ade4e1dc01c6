package dev.squish.cli;

import dev.squish.SquishException;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** Options and helpers shared by the commands. */
final class Common {
    private Common() {}

    /** Mixed into every command so {@code --verbose} is accepted everywhere. */
    static final class Verbose {
        @Option(names = "--verbose", description = "Print stack traces and more detail.") boolean verbose;
    }

    /** Reads a text file as strict UTF-8; a missing, empty or non-UTF-8 file is an input error. */
    static String readText(Path file, String option) {
        if (!Files.isRegularFile(file)) throw new SquishException(file + ": no such file (" + option + ")");
        try {
            byte[] b = Files.readAllBytes(file);
            if (b.length == 0) throw new SquishException(file + ": empty file (" + option + ")");
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(b)).toString();
        } catch (CharacterCodingException e) {
            throw new SquishException(file + ": not valid UTF-8 text (" + option + ")");
        } catch (IOException e) {
            throw new SquishException(file + ": cannot read (" + e.getMessage() + ")");
        }
    }

    /**
     * Loads the model folder's tokenizer and checks it against the model: every token id must have
     * an embedding row (a larger embedding, padded for speed, is fine).
     */
    static dev.squish.formats.Tokenizer tokenizer(Path modelDir, dev.squish.model.Model m) {
        var tok = dev.squish.formats.Tokenizer.load(modelDir);
        if (tok.vocabSize() > m.embed.rows())
            throw new SquishException(modelDir + ": tokenizer.json has " + tok.vocabSize() + " tokens but the embedding "
                    + m.arch.embedName() + " has only " + m.embed.rows() + " rows (tokenizer and weights do not match)");
        return tok;
    }

    static String json(Object o) {
        try {
            return dev.squish.formats.Json.MAPPER.writeValueAsString(o);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Writes a text file under a temporary name next to it, then renames it into place. */
    static void writeAtomically(Path file, String text) {
        Path abs = file.toAbsolutePath();
        try {
            Files.createDirectories(abs.getParent());
            Path tmp = Files.createTempFile(abs.getParent(), abs.getFileName() + ".tmp-", "");
            try {
                Files.writeString(tmp, text, StandardCharsets.UTF_8);
                if (Files.getFileStore(tmp).supportsFileAttributeView("posix"))   // temp files are owner-only
                    Files.setPosixFilePermissions(tmp, java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
                Files.move(tmp, abs, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            } finally {
                Files.deleteIfExists(tmp);
            }
        } catch (IOException e) {
            throw new SquishException("cannot write " + file + ": " + e.getMessage());
        }
    }
}
