package dev.squish;

/**
 * A problem with the user's input (file, tensor, option): the CLI prints {@code error: MESSAGE}
 * on one line and exits with code 2. Messages name the file, tensor or option at fault.
 */
public class SquishException extends RuntimeException {
    public SquishException(String message) { super(message); }
    public SquishException(String message, Throwable cause) { super(message, cause); }
}
