//! Hostile rules: nesting beyond the bound is a compile error at a position, never a stack
//! overflow, and the deepest rules accepted of every shape parse, compile, evaluate on both
//! paths, render as templates and drop on a 2 MiB thread stack (tokio's worker default).

use rulewire_engine::parser::{MAX_EXPR_DEPTH, MAX_PARSE_NESTING};
use rulewire_engine::{Message, Rule, SqlVersion, Template};

const V2: SqlVersion = SqlVersion::V2016_03_23;

/// Runs `f` on a thread with tokio's default worker stack (2 MiB). It must also finish: a
/// compiled form that evaluates a subexpression more than once per level costs 2^n or 3^n
/// for a chain of n operators (the vectorised AND/OR and Decimal guards once did), which
/// shows as a hang, not a slowdown; the bound is orders of magnitude above the real cost.
fn on_small_stack(f: impl FnOnce() + Send + 'static) {
    let (done, finished) = std::sync::mpsc::channel();
    let worker = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || {
            f();
            let _ = done.send(());
        })
        .unwrap();
    if finished
        .recv_timeout(std::time::Duration::from_secs(120))
        .is_err()
        && !worker.is_finished()
    {
        panic!("did not finish within 120 s: exponential compile or evaluation?");
    }
    worker.join().expect("no stack overflow or panic");
}

/// Expression shapes, each built `n` levels deep around the field `x`.
fn shapes(n: usize) -> Vec<(&'static str, String)> {
    let x = "x";
    vec![
        (
            "parentheses",
            format!("{}{x}{}", "(".repeat(n), ")".repeat(n)),
        ),
        ("left chain", format!("{x}{}", " + 1".repeat(n))),
        (
            "right nesting",
            format!("{}{x}{}", "1 + (".repeat(n), ")".repeat(n)),
        ),
        ("NOT", format!("{}{x} > 1", "NOT ".repeat(n))),
        ("minus", format!("{}{x}", "- ".repeat(n))),
        ("calls", format!("{}{x}{}", "abs(".repeat(n), ")".repeat(n))),
        (
            "objects",
            format!("{}{x}{}", "{'a': ".repeat(n), "}".repeat(n)),
        ),
        ("arrays", format!("{}{x}{}", "[".repeat(n), "]".repeat(n))),
        ("attributes", format!("{x}{}", ".a".repeat(n))),
        (
            "CASE",
            format!(
                "{}{x}{}",
                "CASE WHEN true THEN ".repeat(n),
                " END".repeat(n)
            ),
        ),
        (
            "nested queries",
            format!("{}{x}{}", "(SELECT VALUE ".repeat(n), " FROM x)".repeat(n)),
        ),
        // Decimal arithmetic and AND/OR over nullable operands: the vectorised path guards
        // both (non-finite results, Undefined operands) and must not re-evaluate operands.
        ("decimal chain", format!("{x}{}", " / 1.5".repeat(n))),
        (
            "nullable AND chain",
            format!("{x} / 1.5 > 1{}", " AND x / 1.5 > 1".repeat(n / 3)),
        ),
        // Chains of chains: each level is the first operand of the next level's chain.
        (
            "chains of chains",
            format!("{}{x}{}", "(".repeat(n / 4), " + 1 + 1 + 1)".repeat(n / 4)),
        ),
    ]
}

fn select(expr: &str) -> String {
    format!("SELECT {expr} AS out FROM 't'")
}

#[test]
fn five_thousand_parentheses_are_a_compile_error_with_a_position() {
    on_small_stack(|| {
        let sql = format!("SELECT {}1{} FROM 'a'", "(".repeat(5000), ")".repeat(5000));
        let err = Rule::compile(&sql, V2).unwrap_err();
        assert_eq!(err.line, 1);
        assert!(err.col > 1, "{err}");
        assert!(err.message.contains("levels deep"), "{err}");
    });
}

#[test]
fn every_shape_far_past_the_bounds_is_refused() {
    on_small_stack(|| {
        for (shape, expr) in shapes(20_000) {
            let err = Rule::compile(&select(&expr), V2)
                .err()
                .unwrap_or_else(|| panic!("{shape} was accepted"));
            assert!(err.message.contains("levels deep"), "{shape}: {err}");
            let err = Template::parse(&format!("${{{expr}}}"), V2)
                .err()
                .unwrap_or_else(|| panic!("template {shape} was accepted"));
            assert!(err.message.contains("levels deep"), "{shape}: {err}");
        }
    });
}

#[test]
fn the_bounds_are_exact() {
    on_small_stack(|| {
        // A chain adds no parser recursion: only the tree depth bounds it. `x + 1` is 2 deep.
        let chain = |n: usize| select(&format!("x{}", " + 1".repeat(n)));
        assert!(Rule::compile(&chain(MAX_EXPR_DEPTH - 1), V2).is_ok());
        let err = Rule::compile(&chain(MAX_EXPR_DEPTH), V2).unwrap_err();
        assert!(
            err.message
                .contains(&format!("more than {MAX_EXPR_DEPTH} levels")),
            "{err}"
        );
        // Parentheses add no node: only the parser's nesting bounds them (the SELECT item
        // itself is one level).
        let parens = |n: usize| select(&format!("{}x{}", "(".repeat(n), ")".repeat(n)));
        assert!(Rule::compile(&parens(MAX_PARSE_NESTING - 1), V2).is_ok());
        let err = Rule::compile(&parens(MAX_PARSE_NESTING), V2).unwrap_err();
        assert!(
            err.message
                .contains(&format!("more than {MAX_PARSE_NESTING} levels")),
            "{err}"
        );
    });
}

#[test]
fn the_deepest_accepted_rules_run_on_both_paths_on_a_small_stack() {
    on_small_stack(|| {
        let payload = br#"{"x": 5}"#;
        let msgs: Vec<Message> = (0..3).map(|_| Message::new("t", payload)).collect();
        let most = MAX_EXPR_DEPTH.max(MAX_PARSE_NESTING);
        for (shape, _) in shapes(most) {
            // The deepest accepted version of this shape, run every way the service does.
            let expr_of = |n: usize| shapes(n).into_iter().find(|(s, _)| *s == shape).unwrap().1;
            let mut n = most;
            let (rule, expr) = loop {
                let expr = expr_of(n);
                match Rule::compile(&select(&expr), V2) {
                    Ok(rule) => break (rule, expr),
                    Err(_) if n > 8 => n -= 1,
                    Err(e) => panic!("{shape}: even {n} levels refused: {e}"),
                }
            };
            let reference = rule.evaluate(&msgs[0]);
            let batch = rule.evaluate_batch(&msgs);
            assert!(batch.iter().all(|e| e == &reference), "{shape}");
            if let Ok(template) = Template::parse(&format!("${{{expr}}}"), V2) {
                let _ = template.render(&msgs[0]);
            }
            drop(rule);
        }
    });
}

#[test]
fn deeply_nested_payloads_are_binary_not_a_crash() {
    on_small_stack(|| {
        let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
        let deep_objects = format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
        for sql in [
            "SELECT * FROM 't'",
            "SELECT a.a.a AS x, encode(*, 'base64') AS b FROM 't'",
            "SELECT VALUE decode(encode(*, 'base64'), 'base64') FROM 't'",
        ] {
            let rule = Rule::compile(sql, V2).unwrap();
            for payload in [&deep, &deep_objects] {
                let msgs = [Message::new("t", payload.as_bytes())];
                let batch = rule.evaluate_batch(&msgs);
                assert_eq!(batch[0], rule.evaluate(&msgs[0]), "{sql}");
            }
        }
        let template = Template::parse("${a.a}/${*}", V2).unwrap();
        let _ = template.render(&Message::new("t", deep_objects.as_bytes()));
    });
}

/// A value as deep as a payload may be (JSON: 120 levels), wrapped in as many object
/// literals as a rule may nest, is encoded, rendered into a template and dropped.
#[test]
fn the_deepest_values_encode_and_render_on_a_small_stack() {
    on_small_stack(|| {
        let payload = format!("{}1{}", "{\"a\":".repeat(120), "}".repeat(120));
        let wrapped = format!("{}a{}", "{'w': ".repeat(50), "}".repeat(50));
        let rule = Rule::compile(&select(&wrapped), V2).unwrap();
        let msg = Message::new("t", payload.as_bytes());
        let out = rule.evaluate(&msg);
        assert_eq!(rule.evaluate_batch(std::slice::from_ref(&msg))[0], out);
        let text = String::from_utf8(out.output.clone().expect("the rule fires")).unwrap();
        assert_eq!(
            (text.matches("\"w\"").count(), text.matches("\"a\"").count()),
            (50, 119)
        );
        let rendered = Template::parse(&format!("${{{wrapped}}}"), V2)
            .unwrap()
            .render(&msg);
        assert_eq!(rendered.matches("\"a\"").count(), 119);
    });
}
