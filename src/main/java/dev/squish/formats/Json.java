package dev.squish.formats;

import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * The one Jackson mapper (thread-safe once configured, and costly to create: it builds its
 * serializer caches on first use), for config.json, tokenizer.json, safetensors headers, task
 * files and the commands' JSON output.
 */
public final class Json {
    private Json() {}

    public static final ObjectMapper MAPPER = new ObjectMapper();
}
