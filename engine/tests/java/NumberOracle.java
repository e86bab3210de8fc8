// The Java oracle of rulewire's Decimal numbers: evaluates an operation with java.math.BigDecimal
// in MathContext.DECIMAL128 (34 digits, HALF_EVEN), as AWS IoT's rules engine (a JVM service)
// does. Driven by engine/tests/java_oracle/mod.rs: one request a line, every field base64 (UTF-8)
// and separated by a tab, the first field the operation; one answer a line, "=" + base64 value or
// "!" + base64 message (Undefined: Java threw, or the result is outside AWS's documented range
// 1E-999 .. 9.999E999).
//
// A number answers in canonical form "<unscaled> <exponent>" with trailing zeros stripped (zero is
// "0 0"), so the Rust side compares values digit for digit, whatever the scale.

import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;

public class NumberOracle {
    static final MathContext MC = MathContext.DECIMAL128;

    public static void main(String[] args) throws Exception {
        OracleLoop.serve(NumberOracle::eval, OracleLoop::describe);
    }

    /** The canonical form of a result, or an exception when AWS's range excludes it. */
    static String canonical(BigDecimal d) {
        if (d.signum() == 0) {
            return "0 0";
        }
        BigDecimal s = d.stripTrailingZeros();
        long adjusted = (long) s.precision() - s.scale() - 1;
        if (adjusted > 999 || adjusted < -999) {
            throw new ArithmeticException("outside 1E-999 .. 9.999E999: " + s);
        }
        return s.unscaledValue() + " " + (-(long) s.scale());
    }

    /** A number as rulewire reads it: the exact text rounded to 34 digits. */
    static BigDecimal num(String text) {
        return new BigDecimal(text).round(MC);
    }

    static String eval(String[] f) {
        switch (f[0]) {
            case "parse":
                return canonical(num(f[1]));
            case "add":
                return canonical(num(f[1]).add(num(f[2]), MC));
            case "sub":
                return canonical(num(f[1]).subtract(num(f[2]), MC));
            case "mul":
                return canonical(num(f[1]).multiply(num(f[2]), MC));
            case "div":
                return canonical(num(f[1]).divide(num(f[2]), MC));
            case "rem":
                return canonical(num(f[1]).remainder(num(f[2]), MC));
            case "cmp":
                return Integer.toString(num(f[1]).compareTo(num(f[2])));
            case "floor":
                return canonical(num(f[1]).setScale(0, RoundingMode.FLOOR));
            case "ceil":
                return canonical(num(f[1]).setScale(0, RoundingMode.CEILING));
            // AWS's round: halves away from zero (Round(-1.5) = -2).
            case "round":
                return canonical(num(f[1]).setScale(0, RoundingMode.HALF_UP));
            case "trunc":
                return canonical(num(f[1]).setScale(Integer.parseInt(f[2]), RoundingMode.DOWN));
            // Does the printed text f[2] spell exactly the value f[1]?
            case "spells":
                return Boolean.toString(new BigDecimal(f[2]).compareTo(num(f[1])) == 0);
            // The Fahrenheit rule: t * 1.8 + 32.
            case "fahrenheit":
                return canonical(num(f[1]).multiply(new BigDecimal("1.8"), MC).add(new BigDecimal(32), MC));
            default:
                throw new IllegalArgumentException("unknown operation " + f[0]);
        }
    }
}
