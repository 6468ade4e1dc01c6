package dev.squish.recipe;

import dev.squish.methods.Kind;
import dev.squish.methods.MethodDescriptor;
import dev.squish.methods.OptionReader;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * Reads one stage through its method's descriptor, and checks the order of stages from their
 * {@link Kind}s' placement rules (no method is named here).
 */
final class StageRules {
    private StageRules() {}

    /** The keys a stage of {@code d} accepts (besides {@code method}): the method's options, then {@code layers}. */
    static List<String> keys(MethodDescriptor<?> d) {
        List<String> k = new ArrayList<>(d.optionKeys());
        k.add("layers");
        return k;
    }

    /** Validates one stage's options and returns it with defaults filled in. */
    static Stage stage(MethodDescriptor<?> d, OptionReader r) {
        r.rejectUnknown(keys(d), d.id());
        return new Stage(d, d.parse(r), layers(r));
    }

    private static Pattern layers(OptionReader r) {
        String re = r.string("layers");
        if (re == null) return null;
        if (re.isEmpty()) throw r.error(r.name("layers") + " is empty; leave it out to apply to every layer");
        try {
            return Pattern.compile(re);
        } catch (PatternSyntaxException e) {
            throw r.error(r.name("layers") + " is not a valid regular expression: " + e.getDescription()
                    + (e.getIndex() >= 0 ? " near index " + e.getIndex() : "") + " in '" + re + "'");
        }
    }

    /**
     * Checks the order of stages against their kinds: a {@link Kind.Placement#FIRST} kind only as
     * the first stage (it would undo what came before), nothing after a {@link Kind.Placement#LAST}
     * kind (except a training stage, {@link Kind.Edit#TRAIN}, which keeps every format), and a kind
     * marked {@code once} at most once. See {@link Kind#SLICE} and
     * {@link Kind#QUANTIZE} for why those two are placed so.
     *
     * @return null if fine, else the problem (without prefix)
     */
    static String orderProblem(List<Stage> stages) {
        int last = -1;   // the stage of a LAST kind seen so far
        int runtime = -1;   // the first stage of a RUNTIME kind
        for (int i = 0; i < stages.size(); i++) {
            Stage s = stages.get(i);
            Kind k = s.kind();
            String here = "stage " + (i + 1) + " (" + s.method() + ")";
            if (k.once()) {
                for (int j = 0; j < i; j++) {
                    if (!stages.get(j).kind().equals(k)) continue;
                    return here + ": " + (k.placement() == Kind.Placement.FIRST
                            ? s.method() + " twice (also stage " + (j + 1) + "); use one " + s.method() + " stage"
                            : k.gerund() + " twice (also stage " + (j + 1) + " (" + stages.get(j).method() + ")); use one "
                                    + k.noun() + " stage");
                }
            }
            if (k.placement() == Kind.Placement.RUNTIME) {
                if (runtime < 0) runtime = i;
                continue;
            }
            if (runtime >= 0) {
                Kind rk = stages.get(runtime).kind();
                return here + ": " + s.method() + " after " + rk.noun() + " (stage " + (runtime + 1) + ") makes no sense; "
                        + rk.noun() + " is calibrated on the final weights and must come after every stage that changes them";
            }
            if (last >= 0 && k.edit() != Kind.Edit.TRAIN) {
                Kind lk = stages.get(last).kind();
                String rule = k.placement() == Kind.Placement.FIRST ? s.method() + " must be the first stage"
                        : lk.noun() + " must be the last stage";
                if (!(k.once() && k.equals(lk)))
                    return here + ": " + s.method() + " after " + lk.noun() + " (stage " + (last + 1) + ") makes no sense; " + rule;
            }
            if (k.placement() == Kind.Placement.FIRST && i > 0) {
                return here + ": " + s.method() + " " + k.undoes() + ", which undoes stage " + i
                        + " (" + stages.get(i - 1).method() + "); " + s.method() + " must be the first stage";
            }
            if (k.placement() == Kind.Placement.LAST && last < 0) last = i;
        }
        return null;
    }
}
