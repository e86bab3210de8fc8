//! CloudFormation's intrinsic functions, evaluated offline over one template: `Ref`
//! (parameters, pseudo parameters, resources), `Fn::GetAtt`, `Fn::Sub`, `Fn::Join`,
//! `Fn::Select`, `Fn::Split`, `Fn::FindInMap`, and `Fn::If` over the template's `Conditions`
//! (`Fn::Equals`, `Fn::And`, `Fn::Or`, `Fn::Not`, `Condition`). Any other `Fn::*` is an
//! error naming it.
//!
//! What AWS only knows at deploy time is chosen and reported as a note: the region
//! (`--region`, else us-east-1), the account (`--account-id`, else 123456789012), the stack
//! name (`--stack-name`, else the file stem) and the names CloudFormation would generate
//! (the logical id, see `resources.rs`). A parameter takes `--parameter NAME=VALUE`, else its
//! `Default`; with neither it is an error, as is an SSM-typed parameter without an override.
//! Errors carry the JSON path of the failing expression; a container keeps resolving its
//! other members after one of them fails, so every error of a rule is reported at once.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::problem::{Problem, child, index};
use super::resources;

/// Deploy-time values given on the command line.
#[derive(Debug, Clone, Default)]
pub struct Deployment {
    pub region: Option<String>,
    pub account_id: Option<String>,
    pub stack_name: Option<String>,
    /// `--parameter NAME=VALUE`.
    pub parameters: BTreeMap<String, String>,
}

/// One template: what `Ref`, `Fn::GetAtt` and `Fn::FindInMap` look things up in.
pub struct Template<'a> {
    pub resources: &'a Map<String, Value>,
    parameters: Option<&'a Map<String, Value>>,
    mappings: Option<&'a Map<String, Value>>,
    conditions: Option<&'a Map<String, Value>>,
    deployment: &'a Deployment,
    /// The stack name when `--stack-name` is absent (the file stem).
    default_stack_name: String,
}

impl<'a> Template<'a> {
    pub fn new(
        root: &'a Map<String, Value>,
        resources: &'a Map<String, Value>,
        deployment: &'a Deployment,
        default_stack_name: &str,
    ) -> Template<'a> {
        Template {
            resources,
            parameters: root.get("Parameters").and_then(Value::as_object),
            mappings: root.get("Mappings").and_then(Value::as_object),
            conditions: root.get("Conditions").and_then(Value::as_object),
            deployment,
            default_stack_name: default_stack_name.to_owned(),
        }
    }
}

/// Nesting bound for intrinsics and name properties (a `Ref` cycle ends here).
const MAX_DEPTH: usize = 64;

/// Resolves values of one template, collecting the problems it meets.
pub struct Resolver<'t, 'a> {
    template: &'t Template<'a>,
    pub problems: Vec<Problem>,
    noted: BTreeSet<String>,
    depth: usize,
}

type Resolved = Result<Option<Value>, Problem>;

impl<'t, 'a> Resolver<'t, 'a> {
    pub fn new(template: &'t Template<'a>) -> Self {
        Resolver {
            template,
            problems: Vec::new(),
            noted: BTreeSet::new(),
            depth: 0,
        }
    }

    /// Records a note once per message.
    fn note(&mut self, path: &str, message: String) {
        if self.noted.insert(message.clone()) {
            self.problems.push(Problem::note(path, message));
        }
    }

    /// `value` with every intrinsic evaluated; `None` for `AWS::NoValue`. A failing member of
    /// an object or array is recorded and left out; a failing intrinsic is the `Err`.
    pub fn resolve(&mut self, value: &Value, path: &str) -> Resolved {
        if self.depth > MAX_DEPTH {
            return Err(Problem::error(
                path,
                "intrinsics nest too deeply (a Ref cycle?)",
            ));
        }
        self.depth += 1;
        let out = self.resolve_inner(value, path);
        self.depth -= 1;
        out
    }

    fn resolve_inner(&mut self, value: &Value, path: &str) -> Resolved {
        match value {
            Value::Object(map) if map.len() == 1 => {
                let (key, arg) = map.iter().next().expect("one entry");
                let at = child(path, key);
                match key.as_str() {
                    "Ref" => self.reference(arg, &at),
                    "Fn::GetAtt" => self.get_att(arg, &at).map(Some),
                    "Fn::Sub" => self.sub(arg, &at).map(|s| Some(Value::String(s))),
                    "Fn::Join" => self.join(arg, &at).map(|s| Some(Value::String(s))),
                    "Fn::Select" => self.select(arg, &at),
                    "Fn::Split" => self.split(arg, &at).map(Some),
                    "Fn::FindInMap" => self.find_in_map(arg, &at).map(Some),
                    "Fn::If" => self.if_(arg, &at),
                    other if other.starts_with("Fn::") => Err(Problem::error(
                        &at,
                        format!(
                            "{other} is not supported by rulewire import: replace it with its value"
                        ),
                    )),
                    _ => self.object(map, path),
                }
            }
            Value::Object(map) => self.object(map, path),
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    match self.resolve(item, &index(path, i)) {
                        Ok(Some(v)) => out.push(v),
                        Ok(None) => {}
                        Err(p) => self.problems.push(p),
                    }
                }
                Ok(Some(Value::Array(out)))
            }
            scalar => Ok(Some(scalar.clone())),
        }
    }

    fn object(&mut self, map: &Map<String, Value>, path: &str) -> Resolved {
        let mut out = Map::new();
        for (k, v) in map {
            match self.resolve(v, &child(path, k)) {
                Ok(Some(v)) => {
                    out.insert(k.clone(), v);
                }
                Ok(None) => {}
                Err(p) => self.problems.push(p),
            }
        }
        Ok(Some(Value::Object(out)))
    }

    /// Resolves `value` and requires a string (numbers and booleans give their text).
    pub fn string(&mut self, value: &Value, path: &str) -> Result<String, Problem> {
        match self.resolve(value, path)? {
            Some(Value::String(s)) => Ok(s),
            Some(Value::Number(n)) => Ok(n.to_string()),
            Some(Value::Bool(b)) => Ok(b.to_string()),
            _ => Err(Problem::error(path, "expected a string here")),
        }
    }

    fn list(&mut self, value: &Value, path: &str) -> Result<Vec<Value>, Problem> {
        match self.resolve(value, path)? {
            Some(Value::Array(items)) => Ok(items),
            _ => Err(Problem::error(path, "expected a list here")),
        }
    }

    /// The arguments of a list-taking intrinsic, checked for count.
    fn args<'v>(&self, arg: &'v Value, path: &str, n: usize) -> Result<&'v [Value], Problem> {
        match arg {
            Value::Array(items) if items.len() == n => Ok(items),
            _ => Err(Problem::error(
                path,
                format!("expected a list of {n} arguments"),
            )),
        }
    }

    fn reference(&mut self, arg: &Value, path: &str) -> Resolved {
        let name = self.string(arg, path)?;
        if name == "AWS::NoValue" {
            return Ok(None);
        }
        if let Some(v) = self.pseudo(&name, path)? {
            return Ok(Some(Value::String(v)));
        }
        if let Some(v) = self.parameter(&name, path)? {
            return Ok(Some(v));
        }
        if self.template.resources.contains_key(&name) {
            return self
                .resource_ref(&name, path)
                .map(|s| Some(Value::String(s)));
        }
        Err(Problem::error(
            path,
            format!("Ref to {name:?}: no such parameter or resource in the template"),
        ))
    }

    /// A pseudo parameter's value, `None` for names that are not pseudo parameters.
    fn pseudo(&mut self, name: &str, path: &str) -> Result<Option<String>, Problem> {
        let d = self.template.deployment;
        let value = match name {
            "AWS::Region" => self.region(path),
            "AWS::AccountId" => match &d.account_id {
                Some(a) => a.clone(),
                None => {
                    self.note(
                        path,
                        "AWS::AccountId is not known offline: used 123456789012 (pass --account-id)"
                            .to_owned(),
                    );
                    "123456789012".to_owned()
                }
            },
            "AWS::StackName" => match &d.stack_name {
                Some(s) => s.clone(),
                None => {
                    let s = self.template.default_stack_name.clone();
                    self.note(
                        path,
                        format!("AWS::StackName is not known offline: used {s:?}, the file stem (pass --stack-name)"),
                    );
                    s
                }
            },
            "AWS::Partition" => partition(&self.region(path)).0.to_owned(),
            "AWS::URLSuffix" => partition(&self.region(path)).1.to_owned(),
            other if other.starts_with("AWS::") => {
                return Err(Problem::error(
                    path,
                    format!("pseudo parameter {other} is not supported by rulewire import"),
                ));
            }
            _ => return Ok(None),
        };
        Ok(Some(value))
    }

    fn region(&mut self, path: &str) -> String {
        match &self.template.deployment.region {
            Some(r) => r.clone(),
            None => {
                self.note(
                    path,
                    "AWS::Region is not known offline: used us-east-1 (pass --region)".to_owned(),
                );
                "us-east-1".to_owned()
            }
        }
    }

    /// A template parameter's value (a list for list types), `None` if `name` is none.
    fn parameter(&mut self, name: &str, path: &str) -> Result<Option<Value>, Problem> {
        let Some(decl) = self.template.parameters.and_then(|p| p.get(name)) else {
            return Ok(None);
        };
        let ty = decl.get("Type").and_then(Value::as_str).unwrap_or("String");
        let text = match self.template.deployment.parameters.get(name) {
            Some(v) => v.clone(),
            None if ty.starts_with("AWS::SSM::Parameter") => {
                return Err(Problem::error(
                    path,
                    format!(
                        "parameter {name} is read from SSM at deploy time: pass --parameter {name}=VALUE"
                    ),
                ));
            }
            None => match decl.get("Default") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                Some(Value::Bool(b)) => b.to_string(),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| v.to_string())
                    })
                    .collect::<Vec<_>>()
                    .join(","),
                _ => {
                    return Err(Problem::error(
                        path,
                        format!("parameter {name} has no Default: pass --parameter {name}=VALUE"),
                    ));
                }
            },
        };
        if ty == "CommaDelimitedList" || ty.starts_with("List<") {
            let items = text.split(',').map(|s| Value::String(s.trim().to_owned()));
            return Ok(Some(Value::Array(items.collect())));
        }
        Ok(Some(Value::String(text)))
    }

    /// The resource's name: its name property, else its logical id (noted).
    fn resource_name(
        &mut self,
        id: &str,
        ty: &resources::ResourceType,
        path: &str,
    ) -> Result<String, Problem> {
        let resources: &'a Map<String, Value> = self.template.resources;
        let props = resources[id].get("Properties");
        match props.and_then(|p| p.get(ty.name_property)) {
            Some(v) => {
                let at = child(
                    &child(&child("$.Resources", id), "Properties"),
                    ty.name_property,
                );
                self.string(v, &at)
            }
            None => {
                self.note(
                    path,
                    format!(
                        "{id} has no {}: CloudFormation would generate its name; used the logical id {id:?}",
                        ty.name_property
                    ),
                );
                Ok(id.to_owned())
            }
        }
    }

    fn resource_type(&self, id: &str) -> &'a str {
        let resources: &'a Map<String, Value> = self.template.resources;
        resources[id]
            .get("Type")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    fn resource_ref(&mut self, id: &str, path: &str) -> Result<String, Problem> {
        let type_name = self.resource_type(id);
        let Some(ty) = resources::lookup(type_name) else {
            self.note(
                path,
                format!("Ref to {id} ({type_name}): rulewire import does not know this type; used the logical id"),
            );
            return Ok(id.to_owned());
        };
        let Some(pattern) = ty.reference else {
            return Err(Problem::error(
                path,
                format!("Ref to {id} ({type_name}) is not a plain name; use Fn::GetAtt {id}.Name"),
            ));
        };
        let name = self.resource_name(id, ty, path)?;
        Ok(self.expand(pattern, &name, path))
    }

    fn get_att(&mut self, arg: &Value, path: &str) -> Result<Value, Problem> {
        let (id, attr) = match arg {
            Value::String(s) => match s.split_once('.') {
                Some((id, attr)) => (id.to_owned(), attr.to_owned()),
                None => return Err(Problem::error(path, "expected [resource, attribute]")),
            },
            Value::Array(items) if items.len() == 2 => {
                let id = self.string(&items[0], &index(path, 0))?;
                let attr = self.string(&items[1], &index(path, 1))?;
                (id, attr)
            }
            _ => return Err(Problem::error(path, "expected [resource, attribute]")),
        };
        Ok(Value::String(self.attribute(&id, &attr, path)?))
    }

    fn attribute(&mut self, id: &str, attr: &str, path: &str) -> Result<String, Problem> {
        if !self.template.resources.contains_key(id) {
            return Err(Problem::error(
                path,
                format!("Fn::GetAtt: no resource {id} in the template"),
            ));
        }
        let type_name = self.resource_type(id);
        let ty = resources::lookup(type_name);
        let pattern = ty.and_then(|t| t.attributes.iter().find(|(a, _)| *a == attr));
        match (ty, pattern) {
            (Some(ty), Some((_, pattern))) => {
                let name = self.resource_name(id, ty, path)?;
                Ok(self.expand(pattern, &name, path))
            }
            _ => Err(Problem::error(
                path,
                format!(
                    "Fn::GetAtt {id}.{attr} ({type_name}) cannot be known offline: replace it with its value"
                ),
            )),
        }
    }

    /// Fills a `resources.rs` pattern; the pseudo parameters are looked up only when used.
    fn expand(&mut self, pattern: &str, name: &str, path: &str) -> String {
        let mut out = pattern.replace("{name}", name);
        if out.contains("{region}") || out.contains("{partition}") || out.contains("{url_suffix}") {
            let region = self.region(path);
            let (partition, suffix) = partition(&region);
            out = out
                .replace("{region}", &region)
                .replace("{partition}", partition)
                .replace("{url_suffix}", suffix);
        }
        if out.contains("{account}") {
            let account = self
                .pseudo("AWS::AccountId", path)
                .ok()
                .flatten()
                .unwrap_or_default();
            out = out.replace("{account}", &account);
        }
        out
    }

    fn sub(&mut self, arg: &Value, path: &str) -> Result<String, Problem> {
        let (text, vars) = match arg {
            Value::String(s) => (s.clone(), Map::new()),
            Value::Array(items) if items.len() == 2 => {
                let text = items[0]
                    .as_str()
                    .ok_or_else(|| Problem::error(&index(path, 0), "expected a string"))?
                    .to_owned();
                let vars = match self.resolve(&items[1], &index(path, 1))? {
                    Some(Value::Object(m)) => m,
                    _ => {
                        return Err(Problem::error(
                            &index(path, 1),
                            "expected a map of variables",
                        ));
                    }
                };
                (text, vars)
            }
            _ => {
                return Err(Problem::error(
                    path,
                    "expected a string or [string, variables]",
                ));
            }
        };
        let mut out = String::new();
        let mut rest = text.as_str();
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                out.push_str(&rest[start..]);
                rest = "";
                break;
            };
            let name = &after[..end];
            rest = &after[end + 1..];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
                continue;
            }
            out.push_str(&self.sub_variable(name, &vars, path)?);
        }
        out.push_str(rest);
        Ok(out)
    }

    fn sub_variable(
        &mut self,
        name: &str,
        vars: &Map<String, Value>,
        path: &str,
    ) -> Result<String, Problem> {
        if let Some(v) = vars.get(name) {
            return match v {
                Value::String(s) => Ok(s.clone()),
                other => Ok(other.to_string()),
            };
        }
        let cfn_name = name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':' || b == b'.');
        if !cfn_name {
            // Not a CloudFormation name (e.g. an IoT `${topic(2)}` written without `!`):
            // CloudFormation would refuse it; keeping it is what the author meant.
            self.note(
                path,
                format!("Fn::Sub: kept ${{{name}}} as an IoT substitution template (CloudFormation needs ${{!{name}}})"),
            );
            return Ok(format!("${{{name}}}"));
        }
        if let Some((id, attr)) = name.split_once('.')
            && !name.starts_with("AWS::")
        {
            return self.attribute(id, attr, path);
        }
        match self.reference(&Value::String(name.to_owned()), path)? {
            Some(Value::String(s)) => Ok(s),
            _ => Err(Problem::error(
                path,
                format!("Fn::Sub: ${{{name}}} is not a string"),
            )),
        }
    }

    fn join(&mut self, arg: &Value, path: &str) -> Result<String, Problem> {
        let args = self.args(arg, path, 2)?;
        let delimiter = self.string(&args[0], &index(path, 0))?;
        let items = self.list(&args[1], &index(path, 1))?;
        let parts = items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(Problem::error(
                    &index(path, 1),
                    "Fn::Join takes a list of strings",
                )),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(parts.join(&delimiter))
    }

    fn select(&mut self, arg: &Value, path: &str) -> Resolved {
        let args = self.args(arg, path, 2)?;
        let i = self.string(&args[0], &index(path, 0))?;
        let i: usize = i
            .trim()
            .parse()
            .map_err(|_| Problem::error(&index(path, 0), format!("index {i:?} is not a number")))?;
        let items = self.list(&args[1], &index(path, 1))?;
        let len = items.len();
        items.into_iter().nth(i).map(Some).ok_or_else(|| {
            Problem::error(path, format!("index {i} is out of range (list of {len})"))
        })
    }

    fn split(&mut self, arg: &Value, path: &str) -> Result<Value, Problem> {
        let args = self.args(arg, path, 2)?;
        let delimiter = self.string(&args[0], &index(path, 0))?;
        let text = self.string(&args[1], &index(path, 1))?;
        if delimiter.is_empty() {
            return Err(Problem::error(
                &index(path, 0),
                "Fn::Split needs a delimiter",
            ));
        }
        Ok(Value::Array(
            text.split(delimiter.as_str())
                .map(|s| Value::String(s.to_owned()))
                .collect(),
        ))
    }

    fn find_in_map(&mut self, arg: &Value, path: &str) -> Result<Value, Problem> {
        let args = self.args(arg, path, 3)?;
        let mut keys = Vec::with_capacity(3);
        for (i, a) in args.iter().enumerate() {
            keys.push(self.string(a, &index(path, i))?);
        }
        self.template
            .mappings
            .and_then(|m| m.get(&keys[0]))
            .and_then(|m| m.get(&keys[1]))
            .and_then(|m| m.get(&keys[2]))
            .cloned()
            .ok_or_else(|| {
                Problem::error(
                    path,
                    format!(
                        "Fn::FindInMap: no Mappings.{}.{}.{}",
                        keys[0], keys[1], keys[2]
                    ),
                )
            })
    }
}

impl Resolver<'_, '_> {
    fn if_(&mut self, arg: &Value, path: &str) -> Resolved {
        let args = self.args(arg, path, 3)?;
        let name = self.string(&args[0], &index(path, 0))?;
        let branch = if self.condition(&name, path)? { 1 } else { 2 };
        self.resolve(&args[branch], &index(path, branch))
    }

    /// The value of the template's condition `name`.
    pub fn condition(&mut self, name: &str, path: &str) -> Result<bool, Problem> {
        let Some(expr) = self.template.conditions.and_then(|c| c.get(name)) else {
            return Err(Problem::error(
                path,
                format!("no condition {name:?} in the template's Conditions"),
            ));
        };
        let at = child("$.Conditions", name);
        if self.depth > MAX_DEPTH {
            return Err(Problem::error(&at, "conditions nest too deeply (a cycle?)"));
        }
        self.depth += 1;
        let out = self.condition_value(expr, &at);
        self.depth -= 1;
        out
    }

    fn condition_value(&mut self, expr: &Value, path: &str) -> Result<bool, Problem> {
        let Some((key, arg)) = expr
            .as_object()
            .filter(|o| o.len() == 1)
            .and_then(|o| o.iter().next())
        else {
            return Err(Problem::error(path, "expected a condition function"));
        };
        let at = child(path, key);
        let list = |n: Option<usize>| match arg {
            Value::Array(items) if n.is_none_or(|n| items.len() == n) => Ok(items),
            _ => Err(Problem::error(&at, "wrong arguments")),
        };
        match key.as_str() {
            "Fn::Equals" => {
                let items = list(Some(2))?;
                let a = self.resolve(&items[0], &index(&at, 0))?;
                let b = self.resolve(&items[1], &index(&at, 1))?;
                let text = |v: Option<Value>| match v {
                    Some(Value::String(s)) => Some(s),
                    Some(other) => Some(other.to_string()),
                    None => None,
                };
                Ok(text(a) == text(b))
            }
            "Fn::And" | "Fn::Or" => {
                let items = list(None)?;
                let mut values = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    values.push(self.condition_value(item, &index(&at, i))?);
                }
                Ok(if key == "Fn::And" {
                    values.iter().all(|v| *v)
                } else {
                    values.iter().any(|v| *v)
                })
            }
            "Fn::Not" => Ok(!self.condition_value(&list(Some(1))?[0], &index(&at, 0))?),
            "Condition" => {
                let name = self.string(arg, &at)?;
                self.condition(&name, &at)
            }
            other => Err(Problem::error(
                &at,
                format!("{other} is not a condition function"),
            )),
        }
    }
}

/// The partition and URL suffix of a region.
fn partition(region: &str) -> (&'static str, &'static str) {
    if region.starts_with("cn-") {
        ("aws-cn", "amazonaws.com.cn")
    } else if region.starts_with("us-gov-") {
        ("aws-us-gov", "amazonaws.com")
    } else {
        ("aws", "amazonaws.com")
    }
}

#[cfg(test)]
#[path = "intrinsics_tests.rs"]
mod tests;
