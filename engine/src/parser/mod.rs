//! Recursive-descent parser for AWS IoT SQL (versions 2015-10-08 and 2016-03-23).
//!
//! AWS's dialect differs from standard SQL in ways a generic SQL parser fights: double-quoted
//! strings, `SELECT VALUE`, object/array literals, `.` after any expression, `*` as a function
//! argument, nested queries whose FROM is an attribute. So it has its own small parser; the
//! result is compiled to DataFusion physical expressions by [`crate::batch`].
//!
//! Precedence (loosest first): OR, AND, NOT, comparison/IN, `+ -`, `* / %`, unary minus,
//! postfix (`.name`, `[index]`). Version-specific syntax (literals, nested queries) is
//! rejected here with a position.

mod lexer;

use crate::ast::{BinaryOp, Expr, Pos, Projection, Query, SelectItem, Source, UnaryOp};
use crate::error::CompileError;
use crate::value::{CastType, SqlVersion, Value};
use lexer::{Tok, Token};

/// How deep an expression tree may be: every operator, function call, CASE, CAST, object or
/// array literal, attribute step and nested query adds a level (`a + b + c` is two). The
/// parser, both evaluators, the compiler to DataFusion and dropping the tree all recurse on
/// it, so an unbounded rule could overflow the stack and abort the process; a deeper rule is
/// a compile error at its position instead. The engine's tests run the deepest accepted rules
/// of each shape on a 2 MiB thread stack (tokio's default).
pub const MAX_EXPR_DEPTH: usize = 200;

/// How deep the parser itself may recurse: each parenthesis, `NOT`, sign and nested
/// expression is a level even when it adds no node (`((((x))))`).
pub const MAX_PARSE_NESTING: usize = 64;

/// Parses a whole statement.
pub fn parse_statement(src: &str, version: SqlVersion) -> Result<Query, CompileError> {
    let mut p = Parser {
        toks: lexer::tokenize(src)?,
        at: 0,
        version,
        vars: Vec::new(),
        any_var: false,
        nesting: 0,
        depth: 0,
    };
    let q = p.query(true)?;
    p.expect_eof()?;
    Ok(q)
}

/// Parses a lone expression (substitution templates).
pub fn parse_expression(src: &str, version: SqlVersion) -> Result<Expr, CompileError> {
    let mut p = Parser {
        toks: lexer::tokenize(src)?,
        at: 0,
        version,
        vars: Vec::new(),
        any_var: true,
        nesting: 0,
        depth: 0,
    };
    let e = p.expr()?;
    p.expect_eof()?;
    Ok(e)
}

const RESERVED: &[&str] = &[
    "select", "from", "where", "as", "and", "or", "not", "case", "when", "then", "else", "end",
    "in", "set",
];

struct Parser {
    toks: Vec<Token>,
    at: usize,
    version: SqlVersion,
    /// Variables SET so far; using any other is an error (unless `any_var`, for templates).
    vars: Vec<String>,
    any_var: bool,
    /// Parser recursion open at this point (see [`MAX_PARSE_NESTING`]).
    nesting: usize,
    /// The tree depth of the expression parsed last (see [`MAX_EXPR_DEPTH`]).
    depth: usize,
}

impl Parser {
    /// Enters one level of parser recursion; the caller leaves it with `nesting -= 1` (an
    /// error ends the parse).
    fn enter(&mut self) -> Result<(), CompileError> {
        self.nesting += 1;
        if self.nesting > MAX_PARSE_NESTING {
            return Err(CompileError::new(
                self.pos(),
                format!("expression nested more than {MAX_PARSE_NESTING} levels deep"),
            ));
        }
        Ok(())
    }

    /// Records that the expression just built is `depth` levels deep.
    fn built(&mut self, depth: usize) -> Result<(), CompileError> {
        self.depth = depth;
        if depth > MAX_EXPR_DEPTH {
            return Err(CompileError::new(
                self.pos(),
                format!(
                    "expression more than {MAX_EXPR_DEPTH} levels deep (operators, calls and literals nested or chained)"
                ),
            ));
        }
        Ok(())
    }

    /// Parses an expression and returns it with its tree depth.
    fn expr_depth(&mut self) -> Result<(Expr, usize), CompileError> {
        let e = self.expr()?;
        Ok((e, self.depth))
    }

    fn peek(&self) -> &Tok {
        &self.toks[self.at].tok
    }
    fn peek_at(&self, n: usize) -> &Tok {
        &self.toks[(self.at + n).min(self.toks.len() - 1)].tok
    }
    fn pos(&self) -> Pos {
        self.toks[self.at].pos
    }
    fn bump(&mut self) -> Token {
        let t = self.toks[self.at].clone();
        if self.at + 1 < self.toks.len() {
            self.at += 1;
        }
        t
    }
    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Tok::Ident(s) if s.eq_ignore_ascii_case(kw))
    }
    fn eat_kw(&mut self, kw: &str) -> bool {
        let yes = self.is_kw(kw);
        if yes {
            self.bump();
        }
        yes
    }
    fn expect_kw(&mut self, kw: &str) -> Result<(), CompileError> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(self.unexpected(&format!("`{}`", kw.to_uppercase())))
        }
    }
    fn is_sym(&self, s: &str) -> bool {
        matches!(self.peek(), Tok::Sym(t) if *t == s)
    }
    fn eat_sym(&mut self, s: &str) -> bool {
        let yes = self.is_sym(s);
        if yes {
            self.bump();
        }
        yes
    }
    fn expect_sym(&mut self, s: &str) -> Result<(), CompileError> {
        if self.eat_sym(s) {
            Ok(())
        } else {
            Err(self.unexpected(&format!("`{s}`")))
        }
    }
    fn expect_eof(&self) -> Result<(), CompileError> {
        if matches!(self.peek(), Tok::Eof) {
            Ok(())
        } else {
            Err(self.unexpected("end of statement"))
        }
    }
    fn describe(tok: &Tok) -> String {
        match tok {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Str { text, .. } => format!("string '{text}'"),
            Tok::Int(i) => format!("number {i}"),
            Tok::Decimal(d) => format!("number {}", crate::json_out::format_decimal(*d)),
            Tok::Var(v) => format!("`@{v}`"),
            Tok::Sym(s) => format!("`{s}`"),
            Tok::Eof => "end of statement".to_owned(),
        }
    }
    fn unexpected(&self, wanted: &str) -> CompileError {
        CompileError::new(
            self.pos(),
            format!("expected {wanted}, found {}", Self::describe(self.peek())),
        )
    }
    fn need_v2(&self, pos: Pos, what: &str) -> Result<(), CompileError> {
        if self.version == SqlVersion::V2015_10_08 {
            return Err(CompileError::new(
                pos,
                format!("{what} need SQL version 2016-03-23 (this rule uses 2015-10-08)"),
            ));
        }
        Ok(())
    }

    // ----- statements -----

    /// Parses a statement or nested query; `self.depth` is then its deepest expression's.
    fn query(&mut self, top: bool) -> Result<Query, CompileError> {
        let mut set = Vec::new();
        let mut deepest = 0;
        if top && self.eat_kw("set") {
            loop {
                let pos = self.pos();
                let name = match self.bump().tok {
                    Tok::Var(v) => v,
                    other => {
                        return Err(CompileError::new(
                            pos,
                            format!("expected `@variable`, found {}", Self::describe(&other)),
                        ));
                    }
                };
                if name.len() > 64 {
                    return Err(CompileError::new(
                        pos,
                        "variable names are limited to 64 characters",
                    ));
                }
                if set.iter().any(|(n, _)| n == &name) {
                    return Err(CompileError::new(
                        pos,
                        format!("variable `@{name}` is set twice (variables are immutable)"),
                    ));
                }
                self.expect_sym("=")?;
                let (value, d) = self.expr_depth()?;
                deepest = deepest.max(d);
                self.vars.push(name.clone());
                set.push((name, value));
                if !self.eat_sym(",") {
                    break;
                }
            }
        }
        self.expect_kw("select")?;
        let projection = if self.is_kw("value")
            && !matches!(self.peek_at(1), Tok::Sym(",") | Tok::Eof)
            && !matches!(self.peek_at(1), Tok::Ident(s) if s.eq_ignore_ascii_case("from") || s.eq_ignore_ascii_case("as"))
        {
            self.bump();
            Projection::Value(self.expr()?)
        } else {
            Projection::Items(self.select_items()?)
        };
        deepest = deepest.max(self.depth);
        let source = if self.eat_kw("from") {
            let pos = self.pos();
            match self.peek().clone() {
                Tok::Str { text, double } if top => {
                    if double {
                        return Err(CompileError::new(
                            pos,
                            "the FROM topic filter must be in single quotes",
                        ));
                    }
                    self.bump();
                    crate::topic::validate_filter(&text).map_err(|m| CompileError::new(pos, m))?;
                    Source::Topic(text)
                }
                _ if top => {
                    return Err(
                        self.unexpected("a topic filter in single quotes, e.g. FROM 'sensors/+'")
                    );
                }
                Tok::Sym("*") => {
                    self.bump();
                    Source::Attribute(Expr::Star)
                }
                _ => {
                    let attribute = self.postfix()?;
                    deepest = deepest.max(self.depth);
                    Source::Attribute(attribute)
                }
            }
        } else if top {
            Source::None
        } else {
            return Err(self.unexpected("`FROM` in a nested query"));
        };
        let filter = if self.eat_kw("where") {
            let (filter, d) = self.expr_depth()?;
            deepest = deepest.max(d);
            Some(filter)
        } else {
            None
        };
        self.depth = deepest;
        Ok(Query {
            set,
            projection,
            source,
            filter,
        })
    }

    /// The SELECT list; `self.depth` is then its deepest expression's.
    fn select_items(&mut self) -> Result<Vec<SelectItem>, CompileError> {
        let mut items = Vec::new();
        let mut deepest = 0;
        loop {
            if self.is_sym("*")
                && matches!(
                    self.peek_at(1),
                    Tok::Sym(",") | Tok::Eof | Tok::Ident(_) | Tok::Sym(")")
                )
            {
                self.bump();
                if self.eat_kw("as") {
                    // `SELECT * AS name`: the whole payload under one key (AWS's DynamoDB
                    // action page shows it).
                    let key = self.alias()?;
                    items.push(SelectItem::Expr {
                        expr: Expr::Star,
                        key,
                    });
                } else {
                    items.push(SelectItem::Star);
                }
            } else {
                let (expr, d) = self.expr_depth()?;
                deepest = deepest.max(d);
                let key = if self.eat_kw("as") {
                    self.alias()?
                } else {
                    vec![default_key(&expr, items.len() + 1)]
                };
                items.push(SelectItem::Expr { expr, key });
            }
            if !self.eat_sym(",") {
                self.depth = deepest;
                return Ok(items);
            }
        }
    }

    fn alias(&mut self) -> Result<Vec<String>, CompileError> {
        let pos = self.pos();
        match self.bump().tok {
            Tok::Str { text, .. } => Ok(vec![text]),
            Tok::Ident(first) => {
                let mut path = vec![first];
                while self.eat_sym(".") {
                    match self.bump().tok {
                        Tok::Ident(s) => path.push(s),
                        other => {
                            return Err(CompileError::new(
                                self.toks[self.at - 1].pos,
                                format!(
                                    "expected a name after `.` in alias, found {}",
                                    Self::describe(&other)
                                ),
                            ));
                        }
                    }
                }
                Ok(path)
            }
            other => Err(CompileError::new(
                pos,
                format!(
                    "expected an alias after AS, found {}",
                    Self::describe(&other)
                ),
            )),
        }
    }

    // ----- expressions -----

    fn expr(&mut self) -> Result<Expr, CompileError> {
        self.enter()?;
        let mut left = self.and()?;
        while self.eat_kw("or") {
            let d = self.depth;
            let right = self.and()?;
            self.built(1 + d.max(self.depth))?;
            left = Expr::Binary(BinaryOp::Or, Box::new(left), Box::new(right));
        }
        self.nesting -= 1;
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, CompileError> {
        let mut left = self.not()?;
        while self.eat_kw("and") {
            let d = self.depth;
            let right = self.not()?;
            self.built(1 + d.max(self.depth))?;
            left = Expr::Binary(BinaryOp::And, Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr, CompileError> {
        if self.eat_kw("not") {
            self.enter()?;
            let operand = self.not()?;
            self.nesting -= 1;
            self.built(1 + self.depth)?;
            return Ok(Expr::Unary(UnaryOp::Not, Box::new(operand)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, CompileError> {
        let left = self.additive()?;
        let op = match self.peek() {
            Tok::Sym("=") => BinaryOp::Eq,
            Tok::Sym("<>") | Tok::Sym("!=") => BinaryOp::NotEq,
            Tok::Sym("<") => BinaryOp::Lt,
            Tok::Sym("<=") => BinaryOp::LtEq,
            Tok::Sym(">") => BinaryOp::Gt,
            Tok::Sym(">=") => BinaryOp::GtEq,
            Tok::Ident(s) if s.eq_ignore_ascii_case("in") => {
                self.bump();
                let d = self.depth;
                let list = if self.is_sym("(") && !self.is_subquery_start() {
                    self.bump();
                    self.expr_list(")")?
                } else {
                    vec![self.additive()?]
                };
                self.built(1 + d.max(self.depth))?;
                return Ok(Expr::In(Box::new(left), list));
            }
            _ => return Ok(left),
        };
        self.bump();
        let d = self.depth;
        let right = self.additive()?;
        self.built(1 + d.max(self.depth))?;
        Ok(Expr::Binary(op, Box::new(left), Box::new(right)))
    }

    fn additive(&mut self) -> Result<Expr, CompileError> {
        let mut left = self.multiplicative()?;
        loop {
            let op = match self.peek() {
                Tok::Sym("+") => BinaryOp::Add,
                Tok::Sym("-") => BinaryOp::Sub,
                _ => return Ok(left),
            };
            self.bump();
            let d = self.depth;
            let right = self.multiplicative()?;
            self.built(1 + d.max(self.depth))?;
            left = Expr::Binary(op, Box::new(left), Box::new(right));
        }
    }

    fn multiplicative(&mut self) -> Result<Expr, CompileError> {
        let mut left = self.unary()?;
        loop {
            let op = match self.peek() {
                Tok::Sym("*") => BinaryOp::Mul,
                Tok::Sym("/") => BinaryOp::Div,
                Tok::Sym("%") => BinaryOp::Mod,
                _ => return Ok(left),
            };
            self.bump();
            let d = self.depth;
            let right = self.unary()?;
            self.built(1 + d.max(self.depth))?;
            left = Expr::Binary(op, Box::new(left), Box::new(right));
        }
    }

    fn unary(&mut self) -> Result<Expr, CompileError> {
        let negate = if self.eat_sym("-") {
            true
        } else if self.eat_sym("+") {
            false
        } else {
            return self.postfix();
        };
        self.enter()?;
        let operand = self.unary()?;
        self.nesting -= 1;
        Ok(match (negate, operand) {
            (false, e) => e,
            (true, Expr::Literal(Value::Int(i))) => Expr::Literal(Value::Int(-i)),
            (true, Expr::Literal(Value::Decimal(d))) => Expr::Literal(Value::Decimal(-d)),
            (true, e) => {
                self.built(1 + self.depth)?;
                Expr::Unary(UnaryOp::Neg, Box::new(e))
            }
        })
    }

    fn postfix(&mut self) -> Result<Expr, CompileError> {
        let mut e = self.primary()?;
        loop {
            if self.eat_sym(".") {
                self.built(1 + self.depth)?;
                match self.bump().tok {
                    Tok::Ident(name) => e = Expr::Member(Box::new(e), name),
                    other => {
                        return Err(CompileError::new(
                            self.toks[self.at - 1].pos,
                            format!(
                                "expected an attribute name after `.`, found {} (use get() for keys with hyphens or leading digits)",
                                Self::describe(&other)
                            ),
                        ));
                    }
                }
            } else if self.eat_sym("[") {
                let d = self.depth;
                let idx = self.expr()?;
                self.built(1 + d.max(self.depth))?;
                self.expect_sym("]")?;
                e = Expr::Index(Box::new(e), Box::new(idx));
            } else {
                return Ok(e);
            }
        }
    }

    fn is_subquery_start(&self) -> bool {
        self.is_sym("(")
            && matches!(self.peek_at(1), Tok::Ident(s) if s.eq_ignore_ascii_case("select"))
    }

    /// Parses `a, b, ...` up to `close`; `self.depth` is then the deepest item's (0 if none).
    fn expr_list(&mut self, close: &str) -> Result<Vec<Expr>, CompileError> {
        let mut items = Vec::new();
        let mut deepest = 0;
        if !self.eat_sym(close) {
            loop {
                let (item, d) = self.expr_depth()?;
                items.push(item);
                deepest = deepest.max(d);
                if self.eat_sym(close) {
                    break;
                }
                self.expect_sym(",")?;
            }
        }
        self.depth = deepest;
        Ok(items)
    }

    /// A function's arguments up to `)`. AWS also takes a nested query without its own
    /// parentheses as an argument: `isNull(SELECT VALUE a FROM arr)`. `self.depth` is then
    /// the deepest argument's. Also returns where each argument starts.
    fn call_args(&mut self) -> Result<(Vec<Expr>, Vec<Pos>), CompileError> {
        let mut args = Vec::new();
        let mut arg_pos = Vec::new();
        let mut deepest = 0;
        if !self.eat_sym(")") {
            loop {
                let pos = self.pos();
                let arg = if self.is_kw("select") {
                    self.need_v2(pos, "nested object queries")?;
                    self.enter()?;
                    let q = self.query(false)?;
                    self.nesting -= 1;
                    self.built(2 + self.depth)?;
                    Expr::Subquery(Box::new(q))
                } else {
                    self.expr()?
                };
                deepest = deepest.max(self.depth);
                args.push(arg);
                arg_pos.push(pos);
                if self.eat_sym(")") {
                    break;
                }
                self.expect_sym(",")?;
            }
        }
        self.depth = deepest;
        Ok((args, arg_pos))
    }

    fn primary(&mut self) -> Result<Expr, CompileError> {
        let pos = self.pos();
        if self.is_subquery_start() {
            self.need_v2(pos, "nested object queries")?;
            self.bump();
            self.enter()?;
            let q = self.query(false)?;
            self.nesting -= 1;
            self.built(2 + self.depth)?;
            self.expect_sym(")")?;
            return Ok(Expr::Subquery(Box::new(q)));
        }
        let leaf = match self.peek() {
            Tok::Int(_) | Tok::Decimal(_) | Tok::Str { .. } | Tok::Var(_) | Tok::Sym("*") => 1,
            Tok::Ident(_) => 1, // a field or keyword literal; calls and CASE set their own
            _ => 0,
        };
        self.depth = leaf;
        match self.bump().tok {
            Tok::Int(i) => Ok(Expr::Literal(Value::Int(i))),
            Tok::Decimal(d) => Ok(Expr::Literal(Value::Decimal(d))),
            Tok::Str { text, .. } => Ok(Expr::Literal(Value::String(text))),
            Tok::Var(v) if self.any_var || self.vars.contains(&v) => Ok(Expr::Var(v)),
            Tok::Var(v) => Err(CompileError::new(
                pos,
                format!("variable `@{v}` is used but not SET before it"),
            )),
            Tok::Sym("*") => Ok(Expr::Star),
            Tok::Sym("(") => {
                let e = self.expr()?;
                self.expect_sym(")")?;
                Ok(e)
            }
            Tok::Sym("[") => {
                self.need_v2(pos, "array literals")?;
                let items = self.expr_list("]")?;
                self.built(1 + self.depth)?;
                Ok(Expr::Array(items))
            }
            Tok::Sym("{") => {
                self.need_v2(pos, "object literals")?;
                self.object_literal()
            }
            Tok::Ident(name) => self.ident(name, pos),
            other => Err(CompileError::new(
                pos,
                format!("expected an expression, found {}", Self::describe(&other)),
            )),
        }
    }

    fn object_literal(&mut self) -> Result<Expr, CompileError> {
        let mut members: Vec<(String, Expr)> = Vec::new();
        let mut deepest = 0;
        if self.eat_sym("}") {
            self.built(1)?;
            return Ok(Expr::Object(members));
        }
        loop {
            let pos = self.pos();
            let key = match self.bump().tok {
                Tok::Str { text, .. } | Tok::Ident(text) => text,
                other => {
                    return Err(CompileError::new(
                        pos,
                        format!("expected an object key, found {}", Self::describe(&other)),
                    ));
                }
            };
            self.expect_sym(":")?;
            let (value, d) = self.expr_depth()?;
            deepest = deepest.max(d);
            members.push((key, value));
            if self.eat_sym("}") {
                self.built(1 + deepest)?;
                return Ok(Expr::Object(members));
            }
            self.expect_sym(",")?;
        }
    }

    fn ident(&mut self, name: String, pos: Pos) -> Result<Expr, CompileError> {
        let lower = name.to_ascii_lowercase();
        match lower.as_str() {
            "true" => return Ok(Expr::Literal(Value::Bool(true))),
            "false" => return Ok(Expr::Literal(Value::Bool(false))),
            "null" => return Ok(Expr::Literal(Value::Null)),
            "case" => return self.case(),
            _ => {}
        }
        if self.is_sym("(") {
            self.bump();
            if lower == "cast" {
                let (e, d) = self.expr_depth()?;
                self.built(1 + d)?;
                self.expect_kw("as")?;
                let tpos = self.pos();
                let tname = match self.bump().tok {
                    Tok::Ident(t) => t,
                    other => {
                        return Err(CompileError::new(
                            tpos,
                            format!("expected a type name, found {}", Self::describe(&other)),
                        ));
                    }
                };
                let to = CastType::parse(&tname, self.version).ok_or_else(|| {
                    CompileError::new(tpos, format!(
                        "unknown cast type `{tname}` for SQL version {} (String, Nvarchar, Text, Ntext, Varchar, Int, Integer, Double{})",
                        self.version.as_str(),
                        if self.version == SqlVersion::V2016_03_23 { ", Decimal, Bool, Boolean" } else { "" }
                    ))
                })?;
                self.expect_sym(")")?;
                return Ok(Expr::Cast(Box::new(e), to));
            }
            let (args, arg_pos) = self.call_args()?;
            self.built(1 + self.depth)?;
            return Ok(Expr::Call {
                name: lower,
                args,
                pos,
                arg_pos,
            });
        }
        if RESERVED.contains(&lower.as_str()) {
            return Err(CompileError::new(
                pos,
                format!("expected an expression, found keyword `{name}`"),
            ));
        }
        Ok(Expr::Field(name))
    }

    fn case(&mut self) -> Result<Expr, CompileError> {
        let mut deepest = 0;
        let mut part = |p: &mut Parser| -> Result<Expr, CompileError> {
            let (e, d) = p.expr_depth()?;
            deepest = deepest.max(d);
            Ok(e)
        };
        let operand = if self.is_kw("when") {
            None
        } else {
            Some(Box::new(part(self)?))
        };
        let mut whens = Vec::new();
        while self.eat_kw("when") {
            let cond = part(self)?;
            self.expect_kw("then")?;
            whens.push((cond, part(self)?));
        }
        if whens.is_empty() {
            return Err(self.unexpected("`WHEN` (CASE needs at least one WHEN)"));
        }
        let otherwise = if self.eat_kw("else") {
            Some(Box::new(part(self)?))
        } else {
            None
        };
        self.built(1 + deepest)?;
        self.expect_kw("end")?;
        Ok(Expr::Case {
            operand,
            whens,
            otherwise,
        })
    }
}

/// The output key of an unaliased SELECT item (AWS leaves this undocumented; README):
/// an attribute's own name (last path segment), a function's name, a variable's name,
/// otherwise `_<n>` with n the 1-based position in the SELECT list.
fn default_key(expr: &Expr, index: usize) -> String {
    match expr {
        Expr::Field(name) | Expr::Member(_, name) | Expr::Var(name) => name.clone(),
        Expr::Call { name, .. } => name.clone(),
        Expr::Cast(..) => "cast".to_owned(),
        _ => format!("_{index}"),
    }
}

#[cfg(test)]
#[cfg(test)]
mod tests_placeholder {}
