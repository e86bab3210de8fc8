//! Known cases of [`Dec`] arithmetic; `engine/tests/oracle_numbers.rs` compares thousands of
//! generated ones with `java.math.BigDecimal`.

use super::*;

fn d(s: &str) -> Dec {
    Dec::parse(s.as_bytes()).unwrap_or_else(|| panic!("{s} parses"))
}

/// Normalised `(coefficient, exponent)`, for exact comparisons.
fn n(x: Option<Dec>) -> Option<(i128, i32)> {
    x.map(Dec::normalized)
}

#[test]
fn the_issue_examples_are_exact() {
    assert_eq!(n(d("0.1").checked_add(d("0.2"))), n(Some(d("0.3"))));
    let f = d("-10.9")
        .checked_mul(d("1.8"))
        .and_then(|x| x.checked_add(d("32")));
    assert_eq!(n(f), Some((1238, -2)));
}

#[test]
fn parsing_rounds_half_even_to_34_digits() {
    // 35 digits ending in 5: ties go to the even neighbour.
    assert_eq!(
        d("1234567890123456789012345678901234.5").normalized(),
        (1234567890123456789012345678901234, 0)
    );
    assert_eq!(
        d("1234567890123456789012345678901235.5").normalized(),
        (1234567890123456789012345678901236, 0)
    );
    // A non-zero digit after the tie rounds up.
    assert_eq!(
        d("1234567890123456789012345678901234.50001").normalized(),
        (1234567890123456789012345678901235, 0)
    );
    assert_eq!(
        d("12345678901234567890").normalized(),
        (1234567890123456789, 1)
    );
    assert_eq!(d("0.000120").normalized(), (12, -5));
    assert_eq!(d("-0").normalized(), (0, 0));
    assert_eq!(d("5E-12").normalized(), (5, -12));
    assert_eq!(d("1e+3").normalized(), (1, 3));
}

#[test]
fn the_range_is_aws_documented_one() {
    assert!(Dec::parse(b"9.999E999").is_some());
    assert!(Dec::parse(b"1E1000").is_none());
    assert!(Dec::parse(b"1E-999").is_some());
    assert!(Dec::parse(b"1E-1000").is_none());
    assert!(d("9E999").checked_mul(d("10")).is_none());
    assert!(d("1E-999").checked_div(d("10")).is_none());
    assert!(Dec::parse(b"1e99999999999999999999").is_none());
}

#[test]
fn division_rounds_to_34_digits() {
    assert_eq!(
        d("1").checked_div(d("3")).unwrap().normalized(),
        (3333333333333333333333333333333333, -34)
    );
    assert_eq!(
        d("2").checked_div(d("3")).unwrap().normalized(),
        (6666666666666666666666666666666667, -34)
    );
    assert_eq!(n(d("7").checked_div(d("2"))), Some((35, -1)));
    assert!(d("1").checked_div(Dec::ZERO).is_none());
}

#[test]
fn far_apart_exponents_round_like_bigdecimal() {
    // 1E+40 + 1 needs 41 digits: the 1 is below the 34th digit and disappears.
    assert_eq!(n(d("1E40").checked_add(d("1"))), Some((1, 40)));
    // A tie is broken by what lies further below (sticky).
    assert_eq!(n(d("1E33").checked_add(d("0.5"))), Some((1, 33)));
    assert_eq!(
        n(d("1E33").checked_add(d("0.5000000000000000000000000000000001"))),
        Some((1000000000000000000000000000000001, 0))
    );
    // 1E34 - 1 is 34 nines, exact; 1E34 - 1E-20 rounds back up to 1E34.
    assert_eq!(
        n(d("1E34").checked_sub(d("1"))),
        Some((9999999999999999999999999999999999, 0))
    );
    assert_eq!(n(d("1E34").checked_sub(d("1E-20"))), Some((1, 34)));
    assert_eq!(n(d("1E34").checked_sub(d("1E-50"))), Some((1, 34)));
}

#[test]
fn remainder_follows_java() {
    assert_eq!(n(d("8").checked_rem(d("3"))), Some((2, 0)));
    assert_eq!(n(d("-8").checked_rem(d("3"))), Some((-2, 0)));
    assert_eq!(n(d("5.5").checked_rem(d("2"))), Some((15, -1)));
    assert_eq!(n(d("1").checked_rem(d("3.3"))), Some((1, 0)));
    // An integral quotient over 34 digits: Java throws "Division impossible".
    assert!(d("1E40").checked_rem(d("3")).is_none());
}

#[test]
fn comparisons_across_exponents() {
    assert!(d("2.50") == d("2.5"));
    assert!(d("-1.5") < d("-1.25"));
    assert!(d("1E40") > d("9999999999999999999999999999999999"));
    assert!(d("-1E40") < d("-9"));
    assert!(Dec::ZERO > d("-1E-999"));
}

#[test]
fn integral_rounding() {
    use RoundTo::*;
    let i = |s: &str, m| d(s).to_integral(m).to_int();
    assert_eq!(i("1.5", HalfUp), Some(2));
    assert_eq!(i("-1.5", HalfUp), Some(-2));
    assert_eq!(i("-1.2", Floor), Some(-2));
    assert_eq!(i("-1.2", Ceil), Some(-1));
    assert_eq!(i("1E-50", Ceil), Some(1));
    assert_eq!(i("-1E-50", Floor), Some(-1));
    assert_eq!(i("-1E-50", HalfUp), Some(0));
    assert_eq!(n(Some(d("2.3123").trunc_places(2))), Some((231, -2)));
    assert!(d("2.00").is_integral());
    assert!(!d("2.01").is_integral());
    assert_eq!(d("1E35").to_int(), None);
}

#[test]
fn doubles_convert_through_their_shortest_spelling() {
    assert_eq!(Dec::from_f64(0.1).unwrap().normalized(), (1, -1));
    assert_eq!(
        Dec::from_f64(std::f64::consts::FRAC_PI_2).unwrap().to_f64(),
        std::f64::consts::FRAC_PI_2
    );
    assert!(Dec::from_f64(f64::NAN).is_none());
    assert_eq!(d("12.38").to_f64(), 12.38);
    assert_eq!(d("1E300").to_f64(), 1e300);
}
