//! Groups: capturing, named (`(?<name>...)`), non-capturing, atomic, look-ahead and bounded
//! look-behind groups, and the inline flags `(?idmsuxU-idmsuxU)` / `(?flags:...)` scoped to
//! their group.

use super::translator::{Piece, R, Translator};

impl Translator {
    pub(super) fn group(&mut self) -> R<Option<Piece>> {
        let saved = self.flags;
        let piece = if self.eat('?') {
            let kind = self.next()?;
            match kind {
                ':' => self.group_body("(?:")?,
                '>' => self.group_body("(?>")?,
                '=' => self.group_body("(?=")?,
                '!' => self.group_body("(?!")?,
                '<' if matches!(self.peek(), Some('=' | '!')) => {
                    let neg = self.next()? == '!';
                    let body = self.alternation()?;
                    self.close_group()?;
                    if body.jmax.is_none_or(|m| m < 0) {
                        return Err(
                            self.error("look-behind group does not have an obvious maximum length")
                        );
                    }
                    let open = if neg { "(?<!" } else { "(?<=" };
                    Piece::zero(format!("{open}{})", body.text))
                }
                '<' => {
                    let name = self.group_name()?;
                    if self.names.iter().any(|(n, _)| *n == name) {
                        return Err(self.error(&format!(
                            "named capturing group <{name}> is already defined"
                        )));
                    }
                    self.groups += 1;
                    self.names.push((name, self.groups));
                    self.group_body("(")?
                }
                _ => {
                    self.pos -= 1;
                    let scoped = self.flag_letters()?;
                    if !scoped {
                        // `(?flags)`: the flags stay for the rest of the enclosing group.
                        return Ok(None);
                    }
                    self.group_body("(?:")?
                }
            }
        } else {
            self.groups += 1;
            self.group_body("(")?
        };
        self.flags = saved;
        Ok(Some(piece))
    }

    fn group_body(&mut self, open: &str) -> R<Piece> {
        let body = self.alternation()?;
        self.close_group()?;
        let zero_width = matches!(open, "(?=" | "(?!");
        let (min, max) = if zero_width {
            (0, Some(0))
        } else {
            (body.min, body.max)
        };
        let mut piece = Piece::new(format!("{open}{})", body.text), min, max);
        piece.jmax = if zero_width { Some(0) } else { body.jmax };
        Ok(piece)
    }

    fn close_group(&mut self) -> R<()> {
        if self.eat(')') {
            Ok(())
        } else {
            Err(self.error("unclosed group"))
        }
    }

    /// Java group names: an ASCII letter, then ASCII letters and digits, then `>`.
    pub(super) fn group_name(&mut self) -> R<String> {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if c.is_ascii_alphabetic() || (!name.is_empty() && c.is_ascii_digit()) {
                name.push(c);
                self.pos += 1;
            } else {
                break;
            }
        }
        if name.is_empty() {
            return Err(self.error("capturing group name does not start with a Latin letter"));
        }
        if !self.eat('>') {
            return Err(self.error("named capturing group is missing trailing '>'"));
        }
        Ok(name)
    }

    /// Reads `flags)` or `flags:`; true for the scoped `:` form.
    fn flag_letters(&mut self) -> R<bool> {
        let mut on = true;
        loop {
            let c = self.next()?;
            match c {
                'i' => self.flags.i = on,
                'd' => self.flags.d = on,
                'm' => self.flags.m = on,
                's' => self.flags.s = on,
                'u' => self.flags.u = on,
                'x' => self.flags.x = on,
                'U' => {
                    self.flags.uc = on;
                    if on {
                        self.flags.u = true;
                    }
                }
                'c' => {
                    return Err(self.unsupported("the CANON_EQ flag (?c)"));
                }
                '-' if on => on = false,
                ')' => return Ok(false),
                ':' => return Ok(true),
                _ => return Err(self.error("unknown inline modifier")),
            }
        }
    }
}
