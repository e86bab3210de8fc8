//! A line diff for test failures: the longest common subsequence of lines, printed with
//! `-` (expected only), `+` (actual only) and two spaces (both).

/// `expected` against `actual`, one line per line of either.
pub fn lines(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    // common[i][j]: length of the LCS of a[i..] and b[j..].
    let mut common = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            common[i][j] = if a[i] == b[j] {
                common[i + 1][j + 1] + 1
            } else {
                common[i + 1][j].max(common[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(a.len().max(b.len()));
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push(format!("  {}", a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || common[i + 1][j] >= common[i][j + 1]) {
            out.push(format!("- {}", a[i]));
            i += 1;
        } else {
            out.push(format!("+ {}", b[j]));
            j += 1;
        }
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    #[test]
    fn changed_lines_are_marked() {
        assert_eq!(
            super::lines(
                "{\n  \"a\": 1,\n  \"b\": 2\n}",
                "{\n  \"a\": 1,\n  \"b\": 3\n}"
            ),
            "  {\n    \"a\": 1,\n-   \"b\": 2\n+   \"b\": 3\n  }"
        );
        assert_eq!(super::lines("x", ""), "- x");
    }
}
