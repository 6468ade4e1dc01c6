package dev.squish.cli;

import dev.squish.SquishException;
import dev.squish.export.Exporter;
import dev.squish.export.GgufExport;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

@Command(name = "export", mixinStandardHelpOptions = true, description = "Export a Llama-family model (plain, written by Squish, or compressed-tensors) to GGUF for llama.cpp-family runtimes, or to compressed-tensors for vLLM.")
final class ExportCommand implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin Common.Verbose verbose;
    @Parameters(index = "0", paramLabel = "MODEL_DIR") Path model;
    @Option(names = "--gguf", paramLabel = "OUT.gguf") Path out;
    @Option(names = "--compressed-tensors", paramLabel = "OUT_DIR",
            description = "Write a compressed-tensors folder (pack-quantized, sparse-bitmask, sparse-24-bitmask) that vLLM and transformers load.") Path ctOut;
    @Option(names = "--type",
            description = "F32 (default), F16, Q8_0, Q5_0, Q5_1, Q4_0, Q4_1, Q6_K, Q5_K, Q4_K, Q3_K or Q2_K (output head and row-length fallbacks as llama-quantize)") String type;
    @Option(names = "--force", description = "Replace OUT.gguf (or OUT_DIR) if it exists.") boolean force;
    @Option(names = "--calibration", paramLabel = "TEXT_FILE",
            description = "Quantize the decoder linears and the output head by GPTQ on llama.cpp's grid, calibrated on this text.") Path calibration;
    @Option(names = "--samples", description = "Calibration windows (default 128).") Integer samples;
    @Option(names = "--seq-len", paramLabel = "L", description = "Tokens per calibration window (default 256).") Integer seqLen;

    @Override public Integer call() {
        if ((out == null) == (ctOut == null)) throw new SquishException("give exactly one of --gguf OUT.gguf and --compressed-tensors OUT_DIR");
        if (ctOut != null) {
            if (type != null) throw new SquishException("--type applies to --gguf, not --compressed-tensors (each linear keeps its own format)");
            if (calibration != null || samples != null || seqLen != null) throw new SquishException("--calibration applies to --gguf, not --compressed-tensors");
            if (!Files.isDirectory(model)) throw new SquishException(model + ": not a model folder");
            Exporter.Written r = dev.squish.export.CompressedTensorsExport.export(model, ctOut, force);
            spec.commandLine().getOut().printf("wrote %s: compressed-tensors (%s), %,d linears, %,d bytes of weights%s%n", r.file(), r.type(), r.tensors(), r.bytes(),
                    r.note().isEmpty() ? "" : " (" + r.note() + ")");
            return 0;
        }
        if (type == null) type = "F32";
        Exporter gguf = Exporter.byFormat("gguf");
        GgufExport.Type.parse(type);   // an unknown type is an error before anything else
        if (Files.exists(out) && !force) throw new SquishException(out + ": already exists (use --force to replace it)");
        if (!Files.isDirectory(model)) throw new SquishException(model + ": not a model folder");
        Exporter.Calibration cal = null;
        if (calibration != null) {
            if (!Files.isRegularFile(calibration)) throw new SquishException(calibration + ": no such file (--calibration)");
            if (samples != null && samples < 1) throw new SquishException("--samples must be at least 1, got " + samples);
            if (seqLen != null && seqLen < 2) throw new SquishException("--seq-len must be at least 2, got " + seqLen);
            cal = new Exporter.Calibration(calibration, samples != null ? samples : 128, seqLen != null ? seqLen : 256);
        } else if (samples != null || seqLen != null) {
            throw new SquishException("--samples and --seq-len need --calibration");
        }
        Exporter.Written r = gguf.export(model, out, type, cal);
        spec.commandLine().getOut().printf("wrote %s: %s, %,d tensors, %,d bytes%s%n", r.file(), r.type(), r.tensors(), r.bytes(),
                r.note().isEmpty() ? "" : " (" + r.note() + ")");
        return 0;
    }
}
