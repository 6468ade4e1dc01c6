package dev.squish.methods;

import java.util.List;
import java.util.Set;

/**
 * Everything the rest of Squish knows about one compression method: its name, one-line help, what
 * it needs, its {@link Kind} (which places it may take in a recipe), its options and how to read
 * them. Descriptors are found with {@link java.util.ServiceLoader} (one line per method in
 * {@code META-INF/services/dev.squish.methods.MethodDescriptor}); recipe parsing, the command-line
 * flags of {@code compress}, its help text and the stage-order rules are all made from them, so a
 * new method is one class (with a nested descriptor), its test and one registration line.
 *
 * @param <O> the method's typed options
 */
public interface MethodDescriptor<O extends MethodOptions> {
    /** The name in recipes and on the command line, e.g. {@code sparsegpt}. */
    String id();

    /** One line for {@code --help}, e.g. {@code OBS pruning with inverse-Hessian error compensation}. */
    String help();

    Kind kind();

    Set<Need> needs();

    /** The option keys it takes (besides the stage's {@code layers}), in the order shown to users. */
    List<OptionSpec> options();

    /** Reads and checks the options ({@code reader.build(() -> new XOptions(...))}); defaults are filled in. */
    O parse(OptionReader reader);

    /** The method object for a stage with these options. */
    CompressionMethod create(O options);

    Class<O> optionsType();

    default boolean needs(Need n) { return needs().contains(n); }

    default boolean needsCalibration() { return needs(Need.CALIBRATION); }

    /** {@link #create} for options of unknown static type (they must be this method's). */
    default CompressionMethod createFrom(MethodOptions options) { return create(optionsType().cast(options)); }

    default List<String> optionKeys() { return options().stream().map(OptionSpec::key).toList(); }
}
