// The request loop shared by the Java oracles (engine/tests/java_oracle/mod.rs drives them): one
// request a line, every field base64 (UTF-8) and separated by a tab, the first field the
// operation; one answer a line, "=" + base64 value, or "!" + base64 message when the evaluator
// throws (the oracle's way of saying Undefined).

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.function.Function;

final class OracleLoop {
    interface Evaluator {
        String eval(String[] fields) throws Exception;
    }

    /** Serves requests until stdin closes; `describe` words an exception's answer. */
    static void serve(Evaluator evaluator, Function<Throwable, String> describe) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        BufferedWriter out = new BufferedWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            String[] raw = line.split("\t", -1);
            String[] f = new String[raw.length];
            for (int i = 0; i < raw.length; i++) {
                f[i] = new String(Base64.getDecoder().decode(raw[i]), StandardCharsets.UTF_8);
            }
            String answer;
            try {
                answer = "=" + b64(evaluator.eval(f));
            } catch (Throwable e) {
                answer = "!" + b64(describe.apply(e));
            }
            out.write(answer);
            out.newLine();
            if (!in.ready()) {
                out.flush();
            }
        }
        out.flush();
    }

    /** The usual wording: the exception's class and message. */
    static String describe(Throwable e) {
        return e.getClass().getSimpleName() + ": " + e.getMessage();
    }

    static String b64(String s) {
        return Base64.getEncoder().encodeToString(s.getBytes(StandardCharsets.UTF_8));
    }
}
