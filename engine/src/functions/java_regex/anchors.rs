//! Anchors and boundaries: `^`, `$` and `\Z` with Java's line terminators (or plain anchors in
//! the simple form, for subjects without one), and `\b`/`\B` with ASCII word characters unless
//! UNICODE_CHARACTER_CLASS.

use super::properties::UNICODE_WORD;
use super::translator::Translator;

impl Translator {
    pub(super) fn caret(&self) -> String {
        if !self.flags.m {
            return "\\A".to_owned();
        }
        // MULTILINE: after a line terminator (not inside \r\n), never at the end of input.
        if self.simple {
            "\\A(?!\\z)".to_owned()
        } else if self.flags.d {
            "(?:(?!\\z)(?:\\A|(?<=\\n)))".to_owned()
        } else {
            "(?:(?!\\z)(?:\\A|(?<=[\\n\\x{85}\\x{2028}\\x{2029}])|(?<=\\r)(?!\\n)))".to_owned()
        }
    }

    pub(super) fn dollar(&self, multiline: bool) -> String {
        let s = match (self.simple, self.flags.d, multiline) {
            (true, _, _) => "\\z",
            (false, true, false) => "(?:\\z|(?=\\n\\z))",
            (false, true, true) => "(?:\\z|(?=\\n))",
            (false, false, false) => {
                "(?:\\z|(?=\\r\\n\\z)|(?=[\\r\\x{85}\\x{2028}\\x{2029}]\\z)|(?<!\\r)(?=\\n\\z))"
            }
            (false, false, true) => "(?:\\z|(?=[\\r\\x{85}\\x{2028}\\x{2029}])|(?<!\\r)(?=\\n))",
        };
        s.to_owned()
    }

    /// `\b` (or `\B`): ASCII word characters unless `U`.
    pub(super) fn word_boundary(&mut self, on: bool) -> String {
        self.ascii_boundary |= !self.flags.uc;
        if self.flags.uc {
            let w = format!("[{}]", UNICODE_WORD);
            if on {
                format!("(?:(?<={w})(?!{w})|(?<!{w})(?={w}))")
            } else {
                format!("(?:(?<={w})(?={w})|(?<!{w})(?!{w}))")
            }
        } else if self.simple {
            // Only used for ASCII subjects, where Unicode and ASCII word characters agree.
            (if on { "\\b" } else { "\\B" }).to_owned()
        } else {
            let w = "[0-9A-Za-z_]";
            if on {
                format!("(?:(?<={w})(?!{w})|(?<!{w})(?={w}))")
            } else {
                format!("(?:(?<={w})(?={w})|(?<!{w})(?!{w}))")
            }
        }
    }
}
