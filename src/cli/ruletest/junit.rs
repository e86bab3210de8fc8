//! The JUnit XML report of `rulewire test --junit FILE`: one `testsuite` per test file, one
//! `testcase` per case (classname: the rule), a `failure` with the failures' text.

use super::FileResult;

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 allows no other control characters.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\r' | '\t') => {}
            c => out.push(c),
        }
    }
    out
}

pub fn report(results: &[FileResult]) -> String {
    let tests: usize = results.iter().map(|r| r.cases.len()).sum();
    let failures: usize = results.iter().map(FileResult::failed).sum();
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"rulewire test\" tests=\"{tests}\" failures=\"{failures}\">\n"
    );
    for file in results {
        out.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\">\n",
            escape(&file.path.display().to_string()),
            file.cases.len(),
            file.failed()
        ));
        for case in &file.cases {
            let head = format!(
                "    <testcase classname=\"{}\" name=\"{}\"",
                escape(&file.rule),
                escape(&case.name)
            );
            match case.failures.first() {
                None => out.push_str(&format!("{head}/>\n")),
                Some(first) => out.push_str(&format!(
                    "{head}>\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
                    escape(first.lines().next().unwrap_or_default()),
                    escape(&case.failures.join("\n\n"))
                )),
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}
