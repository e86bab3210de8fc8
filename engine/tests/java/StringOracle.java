// The Java oracle of rulewire's string functions: evaluates an operation with java.lang.String and
// java.util.regex, as AWS IoT's rules engine (a JVM service) does. Driven by
// engine/tests/java_oracle/mod.rs: one request a line, every field base64 (UTF-8) and separated by
// a tab, the first field the operation; one answer a line, "=" + base64 value or "!" + base64
// message (the function gives Undefined, or Java threw).
//
// Strings go back as UTF-8. A result holding half of a surrogate pair (Java can split an emoji
// where rulewire cannot) is answered "!split: ..." so the Rust side can tell it apart.

import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

public class StringOracle {
    public static void main(String[] args) throws Exception {
        OracleLoop.serve(StringOracle::eval, e -> e instanceof Split ? "split: " + e.getMessage() : OracleLoop.describe(e));
    }

    static final class Split extends RuntimeException {
        Split(String m) {
            super(m);
        }
    }


    /** Refuses a result that holds an unpaired surrogate (it has no UTF-8 form). */
    static String whole(String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                i++;
            } else if (Character.isSurrogate(c)) {
                throw new Split("unpaired surrogate at UTF-16 index " + i);
            }
        }
        return s;
    }

    /** rulewire's integer clamp of a position to 0..len. */
    static int clamp(long v, int len) {
        return (int) Math.max(0, Math.min(v, len));
    }

    static String eval(String[] f) {
        switch (f[0]) {
            case "regexp_matches":
                return Boolean.toString(Pattern.compile(f[2]).matcher(f[1]).find());
            case "regexp_substr": {
                // rulewire's documented choice: no match gives "".
                Matcher m = Pattern.compile(f[2]).matcher(f[1]);
                return m.find() ? whole(m.group()) : "";
            }
            case "regexp_replace":
                return whole(Pattern.compile(f[2]).matcher(f[1]).replaceAll(f[3]));
            case "compile":
                // Only whether Java accepts the pattern.
                Pattern.compile(f[1]);
                return "ok";
            case "length":
                return Integer.toString(f[1].length());
            case "indexof":
                return Integer.toString(f[1].indexOf(f[2]));
            case "substring": {
                // AWS clamps the indices (its examples: substring("012345", -1) = "012345").
                String s = f[1];
                int start = clamp(Long.parseLong(f[2]), s.length());
                int end = f.length > 3 ? clamp(Long.parseLong(f[3]), s.length()) : s.length();
                return start >= end ? "" : whole(s.substring(start, end));
            }
            case "get": {
                String s = f[1];
                int i = Integer.parseInt(f[2]);
                if (i < 0 || i >= s.length()) {
                    throw new IndexOutOfBoundsException("index " + i);
                }
                return whole(String.valueOf(s.charAt(i)));
            }
            default:
                throw new IllegalArgumentException("unknown operation " + f[0]);
        }
    }
}
