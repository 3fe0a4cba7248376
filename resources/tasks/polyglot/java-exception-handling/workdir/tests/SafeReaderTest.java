import java.io.IOException;
import java.io.Reader;
import java.io.StringReader;

/** A dependency-free test runner: prints "ok NAME" or "FAIL NAME: why" per test and exits 1 on any failure. */
public final class SafeReaderTest {
    private static int failures = 0;

    /** A source that remembers whether it was closed and can be made to fail on read. */
    static final class TrackingReader extends Reader {
        private final Reader inner;
        private final boolean failOnRead;
        boolean closed = false;

        TrackingReader(String text, boolean failOnRead) {
            this.inner = new StringReader(text);
            this.failOnRead = failOnRead;
        }

        @Override
        public int read(char[] buffer, int offset, int length) throws IOException {
            if (failOnRead) {
                throw new IOException("disk on fire");
            }
            return inner.read(buffer, offset, length);
        }

        @Override
        public void close() throws IOException {
            closed = true;
            inner.close();
        }
    }

    interface Check {
        void run() throws Exception;
    }

    private static void test(String name, Check check) {
        try {
            check.run();
            System.out.println("ok " + name);
        } catch (Throwable problem) {
            failures++;
            System.out.println("FAIL " + name + ": " + problem);
        }
    }

    private static void expect(boolean condition, String message) {
        if (!condition) {
            throw new AssertionError(message);
        }
    }

    public static void main(String[] args) {
        test("happy returns line", () -> {
            String line = SafeReader.readFirstLine(new TrackingReader("first\nsecond\n", false));
            expect("first".equals(line), "expected \"first\", got " + line);
        });
        test("happy closes source", () -> {
            TrackingReader source = new TrackingReader("first\n", false);
            SafeReader.readFirstLine(source);
            expect(source.closed, "source left open after a successful read");
        });
        test("error propagated", () -> {
            try {
                SafeReader.readFirstLine(new TrackingReader("", true));
            } catch (IOException expected) {
                expect("disk on fire".equals(expected.getMessage()), "wrong exception: " + expected);
                return;
            }
            throw new AssertionError("the IOException was swallowed");
        });
        test("error path closes source", () -> {
            TrackingReader source = new TrackingReader("", true);
            try {
                SafeReader.readFirstLine(source);
            } catch (IOException expected) {
                // the failure itself is checked above; here only the cleanup matters
            }
            expect(source.closed, "source left open after a failed read");
        });
        if (failures > 0) {
            System.out.println(failures + " test(s) failed");
            System.exit(1);
        }
        System.out.println("all tests passed");
    }
}
