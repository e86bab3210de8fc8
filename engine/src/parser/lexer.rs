//! Tokenizer for AWS IoT SQL: positions (1-based line:col) on every token.
//!
//! Strings may be single- or double-quoted (AWS's docs use both in expressions); a doubled quote
//! inside a string is a literal quote (`'it''s'`), which AWS does not document (README).

use crate::ast::Pos;
use crate::error::CompileError;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Ident(String),
    /// `'text'`; `double` tells which quote was used (FROM needs single quotes).
    Str {
        text: String,
        double: bool,
    },
    Int(i128),
    /// A numeric literal with a fraction or exponent, or an integer too big for i64.
    Decimal(crate::decimal::Dec),
    /// `@name`
    Var(String),
    Sym(&'static str),
    Eof,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub pos: Pos,
}

const SYMBOLS: &[&str] = &[
    "<>", "!=", "<=", ">=", "=", "<", ">", "+", "-", "*", "/", "%", "(", ")", "[", "]", "{", "}",
    ",", ".", ":",
];

pub fn tokenize(src: &str) -> Result<Vec<Token>, CompileError> {
    let mut out = Vec::new();
    let chars: Vec<char> = src.chars().collect();
    let (mut i, mut line, mut col) = (0usize, 1u32, 1u32);
    // Where the last token ended: "end of statement" errors point there, not past blank lines.
    let mut end = Pos { line: 1, col: 1 };
    let advance = |i: &mut usize, line: &mut u32, col: &mut u32, c: char| {
        *i += 1;
        if c == '\n' {
            *line += 1;
            *col = 1;
        } else {
            *col += 1;
        }
    };
    while i < chars.len() {
        let c = chars[i];
        let pos = Pos { line, col };
        if c.is_whitespace() {
            advance(&mut i, &mut line, &mut col, c);
            continue;
        }
        if (c == '-' && chars.get(i + 1) == Some(&'-'))
            || (c == '/' && chars.get(i + 1) == Some(&'*'))
        {
            return Err(CompileError::new(
                pos,
                "comments are not supported in AWS IoT SQL",
            ));
        }
        if c == '\'' || c == '"' {
            advance(&mut i, &mut line, &mut col, c);
            let mut text = String::new();
            loop {
                match chars.get(i) {
                    None => return Err(CompileError::new(pos, "unterminated string literal")),
                    Some(&ch) if ch == c => {
                        advance(&mut i, &mut line, &mut col, ch);
                        if chars.get(i) == Some(&c) {
                            text.push(c);
                            advance(&mut i, &mut line, &mut col, c);
                        } else {
                            break;
                        }
                    }
                    Some(&ch) => {
                        text.push(ch);
                        advance(&mut i, &mut line, &mut col, ch);
                    }
                }
            }
            out.push(Token {
                tok: Tok::Str {
                    text,
                    double: c == '"',
                },
                pos,
            });
            end = Pos { line, col };
            continue;
        }
        if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                {
                    let ch = chars[i];
                    advance(&mut i, &mut line, &mut col, ch);
                }
            }
            let mut decimal = false;
            if chars.get(i) == Some(&'.') && chars.get(i + 1).is_some_and(|c| c.is_ascii_digit()) {
                decimal = true;
                advance(&mut i, &mut line, &mut col, '.');
                while i < chars.len() && chars[i].is_ascii_digit() {
                    {
                        let ch = chars[i];
                        advance(&mut i, &mut line, &mut col, ch);
                    }
                }
            }
            if matches!(chars.get(i), Some('e' | 'E')) {
                let sign = matches!(chars.get(i + 1), Some('-' | '+')) as usize;
                if chars.get(i + 1 + sign).is_some_and(|c| c.is_ascii_digit()) {
                    decimal = true;
                    for _ in 0..=sign {
                        {
                            let ch = chars[i];
                            advance(&mut i, &mut line, &mut col, ch);
                        }
                    }
                    while i < chars.len() && chars[i].is_ascii_digit() {
                        {
                            let ch = chars[i];
                            advance(&mut i, &mut line, &mut col, ch);
                        }
                    }
                }
            }
            let text: String = chars[start..i].iter().collect();
            let tok = match crate::value::number_from_text(text.as_bytes()) {
                Some(crate::value::Value::Int(v)) if !decimal => Tok::Int(v),
                Some(crate::value::Value::Decimal(d)) => Tok::Decimal(d),
                _ => {
                    return Err(CompileError::new(
                        pos,
                        format!("invalid number `{text}`: Decimals range from 1E-999 to 9.999E999"),
                    ));
                }
            };
            out.push(Token { tok, pos });
            end = Pos { line, col };
            continue;
        }
        if c.is_alphabetic() || c == '_' || c == '@' || c == '$' {
            let start = i;
            advance(&mut i, &mut line, &mut col, c);
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$')
            {
                {
                    let ch = chars[i];
                    advance(&mut i, &mut line, &mut col, ch);
                }
            }
            let text: String = chars[start..i].iter().collect();
            let tok = match text.strip_prefix('@') {
                Some("") => {
                    return Err(CompileError::new(pos, "expected a variable name after `@`"));
                }
                Some(name) => Tok::Var(name.to_owned()),
                None => Tok::Ident(text),
            };
            out.push(Token { tok, pos });
            end = Pos { line, col };
            continue;
        }
        let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
        match SYMBOLS.iter().find(|s| rest.starts_with(**s)) {
            Some(sym) => {
                for ch in sym.chars() {
                    advance(&mut i, &mut line, &mut col, ch);
                }
                out.push(Token {
                    tok: Tok::Sym(sym),
                    pos,
                });
                end = Pos { line, col };
            }
            None => {
                return Err(CompileError::new(
                    pos,
                    format!("unexpected character `{c}`"),
                ));
            }
        }
    }
    let _ = (line, col);
    out.push(Token {
        tok: Tok::Eof,
        pos: end,
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_and_kinds() {
        let t = tokenize("SELECT a\n  FROM 't/+' WHERE x >= 1.5e3").unwrap();
        assert_eq!(t[0].tok, Tok::Ident("SELECT".into()));
        assert_eq!(t[2].pos, Pos { line: 2, col: 3 });
        assert_eq!(
            t[3].tok,
            Tok::Str {
                text: "t/+".into(),
                double: false
            }
        );
        assert_eq!(t[6].tok, Tok::Sym(">="));
        assert_eq!(
            t[7].tok,
            Tok::Decimal(crate::decimal::Dec::parse(b"1500").unwrap())
        );
    }

    #[test]
    fn errors_point_at_the_problem() {
        let e = tokenize("SELECT 'abc").unwrap_err();
        assert_eq!((e.line, e.col), (1, 8));
        let e = tokenize("SELECT a\n  # b").unwrap_err();
        assert_eq!((e.line, e.col), (2, 3));
    }
}
