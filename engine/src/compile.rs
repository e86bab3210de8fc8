//! Compiling a statement into a [`Rule`]: parse, check, and prepare the vectorised plan.
//!
//! Checks done here, so that a rule fails when it is loaded, never while running: every
//! function exists, has a valid number of arguments and exists in the rule's SQL version;
//! functions that need an AWS service are refused with the reason; `@variables` are set before
//! use; the top-level FROM is a valid topic filter; a `regexp_*` pattern written as a string
//! literal compiles (Java accepts it and rulewire can run it). A pattern that comes from the
//! payload is only known per message: one that does not compile gives Undefined then.

use crate::ast::{Expr, Pos, Projection, Query, SelectItem, Source};
use crate::batch::BatchPlan;
use crate::error::CompileError;
use std::sync::Arc;

use crate::eval::{Evaluation, Lookups, Message, evaluate_query_with};
use crate::functions::java_regex::{JavaRegex, PatternErrorKind};
use crate::functions::{self, Kind};
use crate::parser::parse_statement;
use crate::value::SqlVersion;

/// A compiled rule: parsed and checked once, evaluated for many batches.
pub struct Rule {
    query: Query,
    version: SqlVersion,
    plan: BatchPlan,
    /// What `get_thing_shadow()` reads; Undefined without it.
    lookups: Option<Arc<dyn Lookups>>,
}

impl std::fmt::Debug for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rule")
            .field("query", &self.query)
            .field("version", &self.version)
            .field("plan", &self.plan)
            .field("lookups", &self.lookups.is_some())
            .finish()
    }
}

impl Rule {
    /// Compiles a statement. Errors point at line:col of `sql`.
    pub fn compile(sql: &str, version: SqlVersion) -> Result<Rule, CompileError> {
        let query = parse_statement(sql, version)?;
        check_query(&query, version)?;
        let plan = BatchPlan::new(&query);
        Ok(Rule {
            query,
            version,
            plan,
            lookups: None,
        })
    }

    /// The rule reading Device Shadows (`get_thing_shadow()`) from `lookups`.
    pub fn with_lookups(mut self, lookups: Arc<dyn Lookups>) -> Rule {
        self.lookups = Some(lookups);
        self
    }

    /// The `FROM` topic filter, if any.
    pub fn topic_filter(&self) -> Option<&str> {
        match &self.query.source {
            Source::Topic(t) => Some(t),
            _ => None,
        }
    }

    pub fn sql_version(&self) -> SqlVersion {
        self.version
    }

    pub fn query(&self) -> &Query {
        &self.query
    }

    pub(crate) fn plan(&self) -> &BatchPlan {
        &self.plan
    }

    /// True when batches of this rule run on the vectorised (DataFusion) path.
    pub fn is_vectorised(&self) -> bool {
        self.plan.is_vectorised()
    }

    /// Evaluates one message on the row-at-a-time reference path.
    pub fn evaluate(&self, msg: &Message) -> Evaluation {
        evaluate_query_with(&self.query, msg, self.version, self.lookups.as_deref())
    }

    /// [`Rule::evaluate`] reading from `lookups` instead of the rule's own (rule unit tests).
    pub fn evaluate_with(&self, msg: &Message, lookups: &dyn Lookups) -> Evaluation {
        evaluate_query_with(&self.query, msg, self.version, Some(lookups))
    }

    /// Evaluates a batch; one result per message, in order. Uses the vectorised path where
    /// the rule and the payloads allow it, the reference path for the rest.
    pub fn evaluate_batch(&self, msgs: &[Message]) -> Vec<Evaluation> {
        self.evaluate_batch_counted(msgs).0
    }

    /// [`Rule::evaluate_batch`], also returning how many messages took the vectorised path.
    pub fn evaluate_batch_counted(&self, msgs: &[Message]) -> (Vec<Evaluation>, usize) {
        if !self.plan.is_vectorised() {
            // The reference path, with this rule's lookups (a rule that reads shadows is
            // never vectorised).
            return (msgs.iter().map(|m| self.evaluate(m)).collect(), 0);
        }
        self.plan.evaluate(&self.query, self.version, msgs)
    }
}

fn check_query(q: &Query, version: SqlVersion) -> Result<(), CompileError> {
    for (_, e) in &q.set {
        check_expr(e, version)?;
    }
    if let Source::Attribute(e) = &q.source {
        check_expr(e, version)?;
    }
    match &q.projection {
        Projection::Value(e) => check_expr(e, version)?,
        Projection::Items(items) => {
            for item in items {
                if let SelectItem::Expr { expr, .. } = item {
                    check_expr(expr, version)?;
                }
            }
        }
    }
    if let Some(w) = &q.filter {
        check_expr(w, version)?;
    }
    Ok(())
}

fn check_expr(e: &Expr, version: SqlVersion) -> Result<(), CompileError> {
    match e {
        Expr::Literal(_) | Expr::Star | Expr::Field(_) | Expr::Var(_) => Ok(()),
        Expr::Member(x, _) | Expr::Unary(_, x) | Expr::Cast(x, _) => check_expr(x, version),
        Expr::Index(a, b) | Expr::Binary(_, a, b) => {
            check_expr(a, version)?;
            check_expr(b, version)
        }
        Expr::In(x, list) => {
            check_expr(x, version)?;
            list.iter().try_for_each(|i| check_expr(i, version))
        }
        Expr::Array(items) => items.iter().try_for_each(|i| check_expr(i, version)),
        Expr::Object(members) => members.iter().try_for_each(|(_, i)| check_expr(i, version)),
        Expr::Case {
            operand,
            whens,
            otherwise,
        } => {
            if let Some(o) = operand {
                check_expr(o, version)?;
            }
            for (w, t) in whens {
                check_expr(w, version)?;
                check_expr(t, version)?;
            }
            otherwise
                .as_deref()
                .map_or(Ok(()), |o| check_expr(o, version))
        }
        Expr::Subquery(q) => check_query(q, version),
        Expr::Call {
            name,
            args,
            pos,
            arg_pos,
        } => {
            check_call(name, args.len(), *pos, version)?;
            check_literal_pattern(name, args, arg_pos)?;
            args.iter().try_for_each(|a| check_expr(a, version))
        }
    }
}

fn check_call(name: &str, argc: usize, pos: Pos, version: SqlVersion) -> Result<(), CompileError> {
    let spec = functions::lookup(name)
        .ok_or_else(|| CompileError::new(pos, format!("unknown function `{name}`")))?;
    if let Kind::Unsupported(why) = spec.kind {
        return Err(CompileError::new(
            pos,
            format!("function `{name}` is not supported by rulewire: {why}, which needs AWS"),
        ));
    }
    if version == SqlVersion::V2015_10_08 && spec.since == SqlVersion::V2016_03_23 {
        return Err(CompileError::new(
            pos,
            format!("function `{name}` needs SQL version 2016-03-23 (this rule uses 2015-10-08)"),
        ));
    }
    let max = spec.max_args.unwrap_or(usize::MAX);
    if argc < spec.min_args || argc > max {
        let expected = match (spec.min_args, max) {
            (a, b) if a == b => format!("{a}"),
            (a, usize::MAX) => format!("at least {a}"),
            (a, b) => format!("{a} to {b}"),
        };
        return Err(CompileError::new(
            pos,
            format!("function `{name}` takes {expected} argument(s), got {argc}"),
        ));
    }
    Ok(())
}

/// A `regexp_*` pattern written as a literal is compiled now, so that a pattern Java refuses, or
/// one with a Java construct rulewire cannot run, is an error at the literal's line:col instead
/// of Undefined for every message. The literal goes through the same String conversion as at
/// run time (a Null literal stays Undefined at run time).
fn check_literal_pattern(name: &str, args: &[Expr], arg_pos: &[Pos]) -> Result<(), CompileError> {
    let Some(i) = functions::regex_pattern_arg(name) else {
        return Ok(());
    };
    let (Some(Expr::Literal(literal)), Some(&pos)) = (args.get(i), arg_pos.get(i)) else {
        return Ok(());
    };
    let Some(pattern) = literal.to_string_std() else {
        return Ok(());
    };
    let Err(e) = JavaRegex::new(&pattern) else {
        return Ok(());
    };
    let message = match e.kind {
        PatternErrorKind::Invalid => format!(
            "function `{name}`: Java rejects the regular expression '{pattern}' (syntax error: {})",
            e.message
        ),
        PatternErrorKind::Unsupported => format!(
            "function `{name}`: the regular expression '{pattern}' uses a Java construct rulewire does not support: {}",
            e.message
        ),
    };
    Err(CompileError::new(pos, message))
}

/// Checks a template expression like a SELECT expression, and refuses functions that read
/// outside the message (templates are rendered without the rule's lookups).
pub(crate) fn check_template_expr(e: &Expr, version: SqlVersion) -> Result<(), CompileError> {
    check_expr(e, version)?;
    match first_lookup_call(e) {
        Some((name, pos)) => Err(CompileError::new(
            pos,
            format!(
                "function `{name}` cannot be used in an action's substitution template in rulewire; call it in the rule's SELECT and use the result"
            ),
        )),
        None => Ok(()),
    }
}

/// The first call of a [`Kind::Lookup`] function in `e`.
fn first_lookup_call(e: &Expr) -> Option<(&str, Pos)> {
    fn first<'e>(mut es: impl Iterator<Item = &'e Expr>) -> Option<(&'e str, Pos)> {
        es.find_map(first_lookup_call)
    }
    match e {
        Expr::Literal(_) | Expr::Star | Expr::Field(_) | Expr::Var(_) => None,
        Expr::Subquery(q) => {
            let source = match &q.source {
                Source::Attribute(e) => Some(e),
                _ => None,
            };
            let projection: Vec<&Expr> = match &q.projection {
                Projection::Value(e) => vec![e],
                Projection::Items(items) => items
                    .iter()
                    .filter_map(|i| match i {
                        SelectItem::Expr { expr, .. } => Some(expr),
                        SelectItem::Star => None,
                    })
                    .collect(),
            };
            first(
                q.set
                    .iter()
                    .map(|(_, e)| e)
                    .chain(source)
                    .chain(projection)
                    .chain(q.filter.as_ref()),
            )
        }
        Expr::Member(x, _) | Expr::Unary(_, x) | Expr::Cast(x, _) => first_lookup_call(x),
        Expr::Index(a, b) | Expr::Binary(_, a, b) => first([&**a, &**b].into_iter()),
        Expr::In(x, list) => first(std::iter::once(&**x).chain(list)),
        Expr::Array(items) => first(items.iter()),
        Expr::Object(members) => first(members.iter().map(|(_, x)| x)),
        Expr::Case {
            operand,
            whens,
            otherwise,
        } => first(
            operand
                .as_deref()
                .into_iter()
                .chain(whens.iter().flat_map(|(w, t)| [w, t]))
                .chain(otherwise.as_deref()),
        ),
        Expr::Call {
            name, args, pos, ..
        } => {
            if matches!(functions::lookup(name).map(|f| f.kind), Some(Kind::Lookup)) {
                Some((name.as_str(), *pos))
            } else {
                first(args.iter())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(sql: &str) -> String {
        Rule::compile(sql, SqlVersion::V2016_03_23)
            .expect_err(sql)
            .to_string()
    }

    #[test]
    fn literal_regex_pattern_errors() {
        assert_eq!(
            error("SELECT regexp_matches(s, '(') FROM 't'"),
            "1:26: function `regexp_matches`: Java rejects the regular expression '(' (syntax error: unclosed group near index 1)"
        );
        assert_eq!(
            error("SELECT regexp_substr(s,\n  '[\\p{InGreek}a]') FROM 't'"),
            "2:3: function `regexp_substr`: the regular expression '[\\p{InGreek}a]' uses a Java construct rulewire does not support: Unicode blocks (\\p{In...}) near index 12"
        );
        assert_eq!(
            error(
                "SELECT regexp_replace(s, 'a', '$1') AS r, regexp_replace(s, '\\X', '') AS x FROM 't'"
            ),
            "1:61: function `regexp_replace`: the regular expression '\\X' uses a Java construct rulewire does not support: \\X (grapheme cluster) near index 2"
        );
        // Not literals: checked per message at run time.
        for sql in [
            "SELECT regexp_matches(s, p) FROM 't'",
            "SELECT regexp_matches(s, concat('(', p)) FROM 't'",
            "SELECT regexp_matches('(', s) FROM 't'",
            "SELECT replace(s, '(', 'x') FROM 't'",
        ] {
            assert!(Rule::compile(sql, SqlVersion::V2016_03_23).is_ok(), "{sql}");
        }
    }
}
