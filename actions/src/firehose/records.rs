//! The records of one fired message: the whole output, or (AWS's `batchMode`) each element of
//! a JSON array output, each element as its exact text (numbers are not re-printed).

/// The elements of `text` when it is a JSON array, each exactly as written (whitespace
/// around it trimmed); `None` when `text` is not JSON or not an array.
pub(super) fn array_elements(text: &[u8]) -> Option<Vec<&[u8]>> {
    serde_json::from_slice::<serde::de::IgnoredAny>(text).ok()?;
    let start = text.iter().position(|b| !b.is_ascii_whitespace())?;
    if text[start] != b'[' {
        return None;
    }
    // `text` is valid JSON: a scan of strings and nesting finds the top-level commas.
    let mut elements = Vec::new();
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut element: Option<usize> = None;
    for (i, &b) in text.iter().enumerate().skip(start) {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'[' | b'{' => {
                if depth == 1 {
                    element.get_or_insert(i);
                }
                depth += 1;
            }
            b']' | b'}' => {
                depth -= 1;
                if depth == 0 {
                    if let Some(s) = element.take() {
                        elements.push(text[s..i].trim_ascii_end());
                    }
                    break;
                }
            }
            b',' if depth == 1 => {
                if let Some(s) = element.take() {
                    elements.push(text[s..i].trim_ascii_end());
                }
            }
            b if b.is_ascii_whitespace() => {}
            _ => {
                if b == b'"' {
                    in_string = true;
                }
                if depth == 1 {
                    element.get_or_insert(i);
                }
            }
        }
    }
    Some(elements)
}

#[cfg(test)]
mod tests {
    use super::array_elements;

    fn texts(json: &str) -> Option<Vec<String>> {
        array_elements(json.as_bytes()).map(|v| {
            v.into_iter()
                .map(|e| String::from_utf8(e.to_vec()).unwrap())
                .collect()
        })
    }

    #[test]
    fn splits_top_level_elements_keeping_their_text() {
        assert_eq!(
            texts(r#" [ {"a":[1,2],"s":"x,]}\"y"} , "p,q" ,1.50E3,[[]],null,true ] "#).unwrap(),
            [
                r#"{"a":[1,2],"s":"x,]}\"y"}"#,
                r#""p,q""#,
                "1.50E3",
                "[[]]",
                "null",
                "true"
            ]
        );
        assert_eq!(texts("[]").unwrap(), Vec::<String>::new());
        assert_eq!(texts("[\"é\\\\\",2]").unwrap(), ["\"é\\\\\"", "2"]);
    }

    #[test]
    fn anything_else_is_not_an_array() {
        for text in [r#"{"a":[1]}"#, "1", "\"[1]\"", "[1,", "not json", ""] {
            assert_eq!(texts(text), None, "{text:?}");
        }
    }
}
