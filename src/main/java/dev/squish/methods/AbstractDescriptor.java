package dev.squish.methods;

import java.util.List;
import java.util.Set;
import java.util.function.Function;

/** The fixed parts of a descriptor as fields; a method's nested descriptor adds only {@link #create}. */
public abstract class AbstractDescriptor<O extends MethodOptions> implements MethodDescriptor<O> {
    private final String id, help;
    private final Kind kind;
    private final Set<Need> needs;
    private final Class<O> type;
    private final List<OptionSpec> options;
    private final Function<OptionReader, O> read;

    protected AbstractDescriptor(String id, String help, Kind kind, Set<Need> needs, Class<O> type,
                                 List<OptionSpec> options, Function<OptionReader, O> read) {
        this.id = id; this.help = help; this.kind = kind; this.needs = Set.copyOf(needs); this.type = type;
        this.options = List.copyOf(options); this.read = read;
    }

    @Override public String id() { return id; }
    @Override public String help() { return help; }
    @Override public Kind kind() { return kind; }
    @Override public Set<Need> needs() { return needs; }
    @Override public List<OptionSpec> options() { return options; }
    @Override public Class<O> optionsType() { return type; }
    @Override public O parse(OptionReader reader) { return read.apply(reader); }

    @Override public String toString() { return id; }
}
