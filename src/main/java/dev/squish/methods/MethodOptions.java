package dev.squish.methods;

import java.util.Map;

/**
 * A method's settings as a typed record, checked once by its constructor against the method's
 * limits (one set of limits for recipes, the command line and direct use).
 */
public interface MethodOptions {
    /**
     * The settings under their recipe keys, defaults included, in the method's option order (for
     * {@code describe()}, reports and JSON), e.g. {@code bits=4 group_size=128 sym=true outliers=0.0}.
     */
    Map<String, Object> values();
}
