//! `\p{...}` / `\P{...}` property names, resolved as Java does (`Is` binary properties and
//! scripts, `script=`/`gc=`, general categories, POSIX names ASCII or with
//! UNICODE_CHARACTER_CLASS, the `java*` methods), and Java's named character sets (`\w`, `\s`
//! with and without UNICODE_CHARACTER_CLASS) as fancy-regex class bodies.

use super::translator::{R, Translator};

impl Translator {
    /// `\p{...}` / `\pL` (after the `p`): a class body in fancy-regex syntax.
    pub(super) fn property(&mut self) -> R<String> {
        let name: String = if self.eat('{') {
            let mut name = String::new();
            loop {
                match self.next() {
                    Ok('}') => break,
                    Ok(c) => name.push(c),
                    Err(_) => return Err(self.error("unclosed character family")),
                }
            }
            if name.is_empty() {
                return Err(self.error("empty character family"));
            }
            name
        } else {
            self.next()?.to_string()
        };
        let ci = self.flags.i;
        let found = if let Some((key, value)) = name.split_once('=') {
            match key.to_ascii_lowercase().as_str() {
                "sc" | "script" => script(value),
                "gc" | "general_category" => category_or_java(value, ci),
                "blk" | "block" => {
                    return Err(self.unsupported("Unicode blocks (\\p{block=...})"));
                }
                _ => None,
            }
        } else if name.starts_with("In") {
            return Err(self.unsupported("Unicode blocks (\\p{In...})"));
        } else if let Some(short) = name.strip_prefix("Is") {
            unicode_property(short, ci)
                .or_else(|| category_or_java(short, ci))
                .or_else(|| script(short))
        } else {
            let posix = if self.flags.uc {
                posix_unicode(&name.to_ascii_uppercase(), ci)
            } else {
                None
            };
            posix.or_else(|| category_or_java(&name, ci))
        };
        found.ok_or_else(|| self.error(&format!("unknown character property name {{{name}}}")))
    }
}

/// Java's `\w` with UNICODE_CHARACTER_CLASS.
pub(super) const UNICODE_WORD: &str =
    "\\p{Alphabetic}\\p{Mn}\\p{Me}\\p{Mc}\\p{Nd}\\p{Pc}\\x{200C}\\x{200D}";

/// Java's `\s` with UNICODE_CHARACTER_CLASS (White_Space).
pub(super) const UNICODE_SPACE: &str = "\\p{Zs}\\p{Zl}\\p{Zp}\\x{9}-\\x{D}\\x{85}";

/// Java's default `\s`.
pub(super) const ASCII_SPACE: &str = "\\x{9}-\\x{D}\\x{20}";

/// Characters `Character.isIdentifierIgnorable` accepts, besides `\p{Cf}`.
const IGNORABLE: &str = "\\x{0}-\\x{8}\\x{E}-\\x{1B}\\x{7F}-\\x{9F}\\p{Cf}";

const GRAPH: &str = "^\\p{Z}\\p{Cc}\\p{Cs}\\p{Cn}";

/// Lu/Ll/Lt under CASE_INSENSITIVE.
const ANY_CASE: &str = "\\p{Lu}\\p{Ll}\\p{Lt}";

/// `plain`, or any cased letter under CASE_INSENSITIVE (Java's rule for the case classes).
fn any_case(ci: bool, plain: &str) -> String {
    if ci {
        ANY_CASE.to_owned()
    } else {
        plain.to_owned()
    }
}

/// `forProperty`: general categories, POSIX (ASCII) names and `java*` methods (case-sensitive).
fn category_or_java(name: &str, ci: bool) -> Option<String> {
    let s = match name {
        "Lu" | "Ll" | "Lt" => any_case(ci, &format!("\\p{{{name}}}")),
        "Cn" | "Lm" | "Lo" | "Mn" | "Me" | "Mc" | "Nd" | "Nl" | "No" | "Zs" | "Zl" | "Zp"
        | "Cc" | "Cf" | "Co" | "Cs" | "Pd" | "Ps" | "Pe" | "Pc" | "Po" | "Sm" | "Sc" | "Sk"
        | "So" | "Pi" | "Pf" | "L" | "M" | "N" | "Z" | "C" | "P" | "S" => format!("\\p{{{name}}}"),
        "LC" => ANY_CASE.to_owned(),
        "LD" => "\\p{L}\\p{Nd}".to_owned(),
        "L1" => "\\x{0}-\\x{FF}".to_owned(),
        "all" => "\\x{0}-\\x{10FFFF}".to_owned(),
        "ASCII" => "\\x{0}-\\x{7F}".to_owned(),
        "Alnum" => "0-9A-Za-z".to_owned(),
        "Alpha" => "A-Za-z".to_owned(),
        "Blank" => "\\x{9}\\x{20}".to_owned(),
        "Cntrl" => "\\x{0}-\\x{1F}\\x{7F}".to_owned(),
        "Digit" => "0-9".to_owned(),
        "Graph" => "\\x{21}-\\x{7E}".to_owned(),
        "Lower" => (if ci { "A-Za-z" } else { "a-z" }).to_owned(),
        "Print" => "\\x{20}-\\x{7E}".to_owned(),
        "Punct" => "\\x{21}-\\x{2F}\\x{3A}-\\x{40}\\x{5B}-\\x{60}\\x{7B}-\\x{7E}".to_owned(),
        "Space" => ASCII_SPACE.to_owned(),
        "Upper" => (if ci { "A-Za-z" } else { "A-Z" }).to_owned(),
        "XDigit" => "0-9A-Fa-f".to_owned(),
        "javaLowerCase" => any_case(ci, "\\p{Lowercase}"),
        "javaUpperCase" => any_case(ci, "\\p{Uppercase}"),
        "javaTitleCase" => any_case(ci, "\\p{Lt}"),
        "javaAlphabetic" => "\\p{Alphabetic}".to_owned(),
        "javaIdeographic" => "\\p{Ideographic}".to_owned(),
        "javaDigit" => "\\p{Nd}".to_owned(),
        "javaDefined" => "\\P{Cn}".to_owned(),
        "javaLetter" => "\\p{L}".to_owned(),
        "javaLetterOrDigit" => "\\p{L}\\p{Nd}".to_owned(),
        "javaJavaIdentifierStart" => "\\p{L}\\p{Nl}\\p{Sc}\\p{Pc}".to_owned(),
        "javaJavaIdentifierPart" => {
            format!("\\p{{L}}\\p{{Sc}}\\p{{Pc}}\\p{{Nd}}\\p{{Nl}}\\p{{Mc}}\\p{{Mn}}{IGNORABLE}")
        }
        "javaUnicodeIdentifierStart" => "\\p{ID_Start}".to_owned(),
        "javaUnicodeIdentifierPart" => format!("\\p{{ID_Continue}}{IGNORABLE}"),
        "javaIdentifierIgnorable" => IGNORABLE.to_owned(),
        "javaSpaceChar" => "\\p{Z}".to_owned(),
        "javaWhitespace" => {
            "[\\p{Z}\\x{9}-\\x{D}\\x{1C}-\\x{1F}]&&[^\\x{A0}\\x{2007}\\x{202F}]".to_owned()
        }
        "javaISOControl" => "\\x{0}-\\x{1F}\\x{7F}-\\x{9F}".to_owned(),
        "javaMirrored" => "\\p{Bidi_Mirrored}".to_owned(),
        _ => return None,
    };
    Some(s)
}

/// `forUnicodeProperty` (`\p{IsAlphabetic}` ...): case-insensitive binary properties, then the
/// Unicode forms of the POSIX names.
fn unicode_property(name: &str, ci: bool) -> Option<String> {
    let upper = name.to_ascii_uppercase();
    let s = match upper.as_str() {
        "ALPHABETIC" => "\\p{Alphabetic}".to_owned(),
        "ASSIGNED" => "\\P{Cn}".to_owned(),
        "CONTROL" => "\\p{Cc}".to_owned(),
        "EMOJI" => "\\p{Emoji}".to_owned(),
        "EMOJI_PRESENTATION" => "\\p{Emoji_Presentation}".to_owned(),
        "EMOJI_MODIFIER" => "\\p{Emoji_Modifier}".to_owned(),
        "EMOJI_MODIFIER_BASE" => "\\p{Emoji_Modifier_Base}".to_owned(),
        "EMOJI_COMPONENT" => "\\p{Emoji_Component}".to_owned(),
        "EXTENDED_PICTOGRAPHIC" => "\\p{Extended_Pictographic}".to_owned(),
        "HEXDIGIT" | "HEX_DIGIT" => HEX_DIGIT.to_owned(),
        "IDEOGRAPHIC" => "\\p{Ideographic}".to_owned(),
        "JOINCONTROL" | "JOIN_CONTROL" => "\\x{200C}\\x{200D}".to_owned(),
        "LETTER" => "\\p{L}".to_owned(),
        "LOWERCASE" => any_case(ci, "\\p{Lowercase}"),
        "NONCHARACTERCODEPOINT" | "NONCHARACTER_CODE_POINT" => {
            "\\p{Noncharacter_Code_Point}".to_owned()
        }
        "TITLECASE" => any_case(ci, "\\p{Lt}"),
        "PUNCTUATION" => "\\p{P}".to_owned(),
        "UPPERCASE" => any_case(ci, "\\p{Uppercase}"),
        "WHITESPACE" | "WHITE_SPACE" => UNICODE_SPACE.to_owned(),
        "WORD" => UNICODE_WORD.to_owned(),
        _ => return posix_unicode(&upper, ci),
    };
    Some(s)
}

const HEX_DIGIT: &str = "\\p{Nd}0-9A-Fa-f\\x{FF10}-\\x{FF19}\\x{FF21}-\\x{FF26}\\x{FF41}-\\x{FF46}";

/// `getPosixPredicate`: the POSIX names with UNICODE_CHARACTER_CLASS (upper-case name).
fn posix_unicode(upper: &str, ci: bool) -> Option<String> {
    let s = match upper {
        "ALPHA" => "\\p{Alphabetic}".to_owned(),
        "LOWER" => any_case(ci, "\\p{Lowercase}"),
        "UPPER" => any_case(ci, "\\p{Uppercase}"),
        "SPACE" => UNICODE_SPACE.to_owned(),
        "PUNCT" => "\\p{P}".to_owned(),
        "XDIGIT" => HEX_DIGIT.to_owned(),
        "ALNUM" => "\\p{Alphabetic}\\p{Nd}".to_owned(),
        "CNTRL" => "\\p{Cc}".to_owned(),
        "DIGIT" => "\\p{Nd}".to_owned(),
        "BLANK" => "\\p{Zs}\\x{9}".to_owned(),
        "GRAPH" => GRAPH.to_owned(),
        "PRINT" => format!("[[{GRAPH}]\\p{{Zs}}\\x{{9}}]&&[^\\p{{Cc}}]"),
        _ => return None,
    };
    Some(s)
}

/// `Character.UnicodeScript.forName`: a full name (`Latin`, `Old_Italic`) or an alias (`Latn`).
fn script(name: &str) -> Option<String> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphabetic() || c == '_') {
        return None;
    }
    let probe = format!("\\p{{Script={name}}}");
    regex_syntax_accepts(&probe).then_some(probe)
}

/// Whether the regex crate knows a class (used to check script names).
fn regex_syntax_accepts(class: &str) -> bool {
    regex::Regex::new(class).is_ok()
}
