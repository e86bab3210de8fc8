//! The syntax tree of an AWS IoT SQL statement, as the parser produces it.
//!
//! Function names are stored lower-case; identifiers keep their case (JSON keys are
//! case-sensitive). Every node that can fail at compile time carries a [`Pos`] so errors point
//! at `line:col`.

use crate::value::{CastType, Value};

/// 1-based line and column in the SQL text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    Neg,
    Not,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    And,
    Or,
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::And => "AND",
            BinaryOp::Or => "OR",
            BinaryOp::Eq => "=",
            BinaryOp::NotEq => "<>",
            BinaryOp::Lt => "<",
            BinaryOp::LtEq => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::GtEq => ">=",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
        }
    }
}

/// An expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Literal(Value),
    /// `*` as a value: the whole payload (in a nested query: the current element).
    Star,
    /// A top-level attribute of the current row (payload, or nested-query element).
    Field(String),
    /// `expr.name`.
    Member(Box<Expr>, String),
    /// `expr[index]` (extension; AWS documents only `get()`).
    Index(Box<Expr>, Box<Expr>),
    /// `@name`, bound by `SET`.
    Var(String),
    Unary(UnaryOp, Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// `expr IN (a, b, ...)` or `expr IN array_expr`.
    In(Box<Expr>, Vec<Expr>),
    /// A function call; `name` is lower-case. `arg_pos[i]` is where `args[i]` starts (compile
    /// errors about a literal argument point there).
    Call {
        name: String,
        args: Vec<Expr>,
        pos: Pos,
        arg_pos: Vec<Pos>,
    },
    /// `cast(expr AS type)`.
    Cast(Box<Expr>, CastType),
    /// `CASE [operand] WHEN .. THEN .. [ELSE ..] END`.
    Case {
        operand: Option<Box<Expr>>,
        whens: Vec<(Expr, Expr)>,
        otherwise: Option<Box<Expr>>,
    },
    /// `[a, b]` (2016-03-23).
    Array(Vec<Expr>),
    /// `{'k': v}` (2016-03-23).
    Object(Vec<(String, Expr)>),
    /// `(SELECT ... FROM attr [WHERE ...])` (2016-03-23).
    Subquery(Box<Query>),
}

/// One item of a SELECT list.
#[derive(Debug, Clone, PartialEq)]
pub enum SelectItem {
    /// `*`: merge the payload's members into the output.
    Star,
    /// `expr [AS a.b.c]`. `key` is the output path: the alias split on dots, or the default key.
    Expr { expr: Expr, key: Vec<String> },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Projection {
    Items(Vec<SelectItem>),
    /// `SELECT VALUE expr`.
    Value(Expr),
}

/// Where a query reads from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// Top level: `FROM '<topic filter>'`.
    Topic(String),
    /// Top level without FROM (Basic Ingest only rules).
    None,
    /// Nested query: `FROM <attribute expression>` or `FROM *`.
    Attribute(Expr),
}

/// A statement (top level) or a nested query.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// `SET @a = expr, ...` in order.
    pub set: Vec<(String, Expr)>,
    pub projection: Projection,
    pub source: Source,
    pub filter: Option<Expr>,
}
