package dev.squish.spark;

import dev.squish.SquishException;
import dev.squish.formats.SafeTensors;
import dev.squish.formats.SafeTensorsWriter;
import dev.squish.model.Block;
import dev.squish.weights.WeightFormats;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A block's weights as bytes, for the driver to broadcast a compressed block to the executors:
 * Squish's own safetensors layout (each linear in its format, as the output file stores it), so
 * an executor runs exactly the driver's kernels on exactly its weights and produces the same
 * activations bit for bit. Decoding maps a temporary file (deleted at once; the mapping keeps it).
 */
final class BlockCodec {
    private BlockCodec() {}

    private static final String LINEARS = "squish.block.linears", VECTORS = "squish.block.vectors";

    static byte[] encode(Block b) {
        Path f = null;
        try {
            f = Files.createTempFile("squish-block-", ".safetensors");
            try (SafeTensorsWriter w = new SafeTensorsWriter(f)) {
                w.metadata("squish.version", "1");
                w.metadata(LINEARS, String.join(",", b.linears.keySet()));
                w.metadata(VECTORS, String.join(",", b.vectors.keySet()));
                for (var e : b.linears.entrySet()) e.getValue().write(e.getKey(), w);
                for (var e : b.vectors.entrySet()) w.addF32(e.getKey(), new long[]{e.getValue().length}, e.getValue());
                w.finish();
            }
            return Files.readAllBytes(f);
        } catch (IOException e) {
            throw new SquishException("--spark: cannot serialize block " + b.index + " (" + e.getMessage() + ")", e);
        } finally {
            if (f != null) try { Files.deleteIfExists(f); } catch (IOException ignored) { }
        }
    }

    /** A decoded block and the mapped file behind its weights (close when done with the block). */
    record Decoded(Block block, SafeTensors file) implements AutoCloseable {
        @Override public void close() { file.close(); }
    }

    static Decoded decode(int index, byte[] bytes) {
        Path f = null;
        try {
            f = Files.createTempFile("squish-block-", ".safetensors");
            Files.write(f, bytes);
            SafeTensors st = SafeTensors.open(f);
            try {
                Block b = new Block(index);
                for (String n : names(st, LINEARS)) b.linears.put(n, WeightFormats.read(st, n, false));
                for (String n : names(st, VECTORS)) b.vectors.put(n, st.get(n).toFloatArray());
                return new Decoded(b, st);
            } catch (RuntimeException e) {
                st.close();
                throw e;
            }
        } catch (IOException e) {
            throw new SquishException("--spark: cannot read a broadcast block (" + e.getMessage() + ")", e);
        } finally {
            if (f != null) try { Files.deleteIfExists(f); } catch (IOException ignored) { }
        }
    }

    private static String[] names(SafeTensors st, String key) {
        String v = st.metadata().get(key);
        return v == null || v.isEmpty() ? new String[0] : v.split(",");
    }
}
