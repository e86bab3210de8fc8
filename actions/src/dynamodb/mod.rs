//! The `dynamodb` action (AWS's `DynamoDBAction`): write the rule's output into one column of
//! a DynamoDB item whose key comes from templates, one request per fired message, through an
//! AWS connection (`crate::aws`).
//!
//! As AWS: every field takes substitution templates (rendered against the original message);
//! `operation` INSERT (default) is PutItem of the key plus the payload column, UPDATE is
//! UpdateItem setting the payload column of the item with that key (creating it when it does
//! not exist, as UpdateItem does), DELETE is DeleteItem of that key. The payload column holds
//! the output converted from JSON (an object is a map `M`, see `item`), or the raw bytes as
//! binary `B` when the output is not JSON. A value that can never work is refused at load when
//! the field is literal, and fails that message to the error action when it is rendered.
//! Throttling, 5xx and network errors are retried; a missing table is not.
//!
//! `item` (DynamoDB attribute values, key types, table names, retryable errors) is shared with
//! `dynamodb_v2`.

mod config;
pub(crate) mod item;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use aws_sdk_dynamodb::{Client, types::AttributeValue};
use rulewire_engine::{Message, SqlVersion, Template};

pub use config::DynamoDbConfig;

use crate::{
    Action, ActionContext, BuildError, DeliveryConfig, FiredMessage,
    aws::{AwsAccess, LazyClient},
    delivery::{AttemptError, Delivered, Delivery, Rejected, Sink},
    registry::{ActionType, CheckContext},
    templates::checked_field,
};
use item::{Item, KeyType, check_table_name, dynamodb_attempt_error, output_value, rejected};

/// Default per-attempt timeout: 10 s.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// The payload column when `payload_field` is not set (AWS's default).
pub const DEFAULT_PAYLOAD_FIELD: &str = "payload";

/// The dynamodb action type.
pub struct DynamoDbAction;

/// A checked dynamodb action: every field compiled, literal ones checked.
pub struct CheckedDynamoDb {
    access: AwsAccess,
    fields: Fields,
    delivery: DeliveryConfig,
}

/// The compiled fields of one action.
struct Fields {
    table_name: Template,
    hash: Key,
    range: Option<Key>,
    payload_field: Template,
    operation: Template,
}

/// One key attribute: its name, value and type, each a template.
struct Key {
    /// "hash_key" or "range_key", for messages.
    role: &'static str,
    field: Template,
    value: Template,
    key_type: Template,
}

impl Key {
    fn compile(
        role: &'static str,
        field: &str,
        value: &str,
        key_type: Option<&str>,
        version: SqlVersion,
    ) -> Result<Key, BuildError> {
        let type_text = key_type.unwrap_or("STRING");
        let key_type = checked_field(&format!("{role}_type"), type_text, version, |t| {
            KeyType::parse(t).map(|_| ())
        })?;
        // A literal value is checked against a literal type (a templated type: not empty).
        let literal_type = KeyType::parse(type_text).unwrap_or(KeyType::String);
        let check_value = |v: &str| literal_type.key_value(v.to_owned()).map(|_| ());
        Ok(Key {
            role,
            field: checked_field(&format!("{role}_field"), field, version, check_name)?,
            value: checked_field(&format!("{role}_value"), value, version, check_value)?,
            key_type,
        })
    }

    /// (attribute name, attribute value) for one message.
    fn render(&self, msg: &Message) -> Result<(String, AttributeValue), String> {
        let role = self.role;
        let field = self.field.render(msg);
        check_name(&field).map_err(|e| format!("{role}_field: {e}"))?;
        let key_type =
            KeyType::parse(&self.key_type.render(msg)).map_err(|e| format!("{role}_type: {e}"))?;
        let value = key_type
            .key_value(self.value.render(msg))
            .map_err(|e| format!("{role}_value: {e}"))?;
        Ok((field, value))
    }
}

/// An attribute name: not empty.
fn check_name(name: &str) -> Result<(), String> {
    match name.is_empty() {
        true => Err("must not be empty (DynamoDB attribute names cannot be)".to_owned()),
        false => Ok(()),
    }
}

/// AWS's `operation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    Insert,
    Update,
    Delete,
}

impl Operation {
    fn parse(text: &str) -> Result<Operation, String> {
        match text {
            "INSERT" => Ok(Operation::Insert),
            "UPDATE" => Ok(Operation::Update),
            "DELETE" => Ok(Operation::Delete),
            other => Err(format!("expected INSERT, UPDATE or DELETE, got {other:?}")),
        }
    }
}

impl ActionType for DynamoDbAction {
    const NAME: &'static str = DynamoDb::KIND;
    type Config = DynamoDbConfig;
    type Checked = CheckedDynamoDb;

    fn check(cfg: DynamoDbConfig, ctx: &CheckContext) -> Result<CheckedDynamoDb, BuildError> {
        cfg.access.check(ctx)?;
        let v = ctx.version;
        let table_name = checked_field("table_name", &cfg.table_name, v, check_table_name)?;
        let hash = Key::compile(
            "hash_key",
            &cfg.hash_key_field,
            &cfg.hash_key_value,
            cfg.hash_key_type.as_deref(),
            v,
        )?;
        let range = match (&cfg.range_key_field, &cfg.range_key_value) {
            (Some(field), Some(value)) => Some(Key::compile(
                "range_key",
                field,
                value,
                cfg.range_key_type.as_deref(),
                v,
            )?),
            (None, None) if cfg.range_key_type.is_some() => {
                return Err(BuildError::invalid(
                    "range_key_type",
                    "needs range_key_field and range_key_value",
                ));
            }
            (None, None) => None,
            (Some(_), None) => {
                return Err(BuildError::invalid(
                    "range_key_value",
                    "missing: range_key_field needs a value",
                ));
            }
            (None, Some(_)) => {
                return Err(BuildError::invalid(
                    "range_key_field",
                    "missing: range_key_value needs the sort key's name",
                ));
            }
        };
        let payload_text = cfg
            .payload_field
            .as_deref()
            .unwrap_or(DEFAULT_PAYLOAD_FIELD);
        let key_names = [Some(&cfg.hash_key_field), cfg.range_key_field.as_ref()];
        let payload_field = checked_field("payload_field", payload_text, v, |name| {
            check_name(name)?;
            match key_names.iter().flatten().any(|k| *k == name) {
                true => Err(format!("{name:?} is also a key field")),
                false => Ok(()),
            }
        })?;
        let operation = checked_field(
            "operation",
            cfg.operation.as_deref().unwrap_or("INSERT"),
            v,
            |op| Operation::parse(op).map(|_| ()),
        )?;
        cfg.delivery.check()?;
        Ok(CheckedDynamoDb {
            access: cfg.access,
            fields: Fields {
                table_name,
                hash,
                range,
                payload_field,
                operation,
            },
            delivery: cfg.delivery,
        })
    }

    fn bind(c: CheckedDynamoDb, ctx: &ActionContext) -> Result<Arc<dyn Action>, BuildError> {
        let delivery = Delivery::resolve(&c.delivery, DEFAULT_TIMEOUT_MS, DynamoDb::KIND, ctx)?;
        let sink = DynamoDb {
            client: LazyClient::new(c.access.open(ctx)?, Client::new),
            fields: c.fields,
        };
        Ok(Delivered::action(sink, delivery))
    }
}

struct DynamoDb {
    client: LazyClient<Client>,
    fields: Fields,
}

/// One message rendered: the table, the item's key, and what to do with it.
struct Request {
    table: String,
    key: Item,
    write: Write,
}

/// The operation, with the payload column for INSERT and UPDATE.
enum Write {
    Insert(String, AttributeValue),
    Update(String, AttributeValue),
    Delete,
}

impl Sink for DynamoDb {
    type Request = Request;
    const KIND: &'static str = "dynamodb";
    const AWS_NAME: &'static str = "DynamoDBAction";
    const RETRY_ON_TIMEOUT: bool = true;

    fn prepare(&self, msg: &FiredMessage) -> Result<Request, Rejected> {
        let f = &self.fields;
        let m = msg.as_engine_message();
        let table = f.table_name.render(&m);
        check_table_name(&table).map_err(|e| rejected(&table, format!("table_name: {e}")))?;
        let mut key = Item::new();
        for k in std::iter::once(&f.hash).chain(&f.range) {
            let (name, value) = k.render(&m).map_err(|e| rejected(&table, e))?;
            key.insert(name, value);
        }
        let operation = Operation::parse(&f.operation.render(&m))
            .map_err(|e| rejected(&table, format!("operation: {e}")))?;
        let column = || -> Result<(String, AttributeValue), Rejected> {
            let name = f.payload_field.render(&m);
            check_name(&name).map_err(|e| rejected(&table, format!("payload_field: {e}")))?;
            if key.contains_key(&name) {
                let e = format!("payload_field {name:?} is also a key field");
                return Err(rejected(&table, e));
            }
            Ok((name, output_value(&msg.output)))
        };
        let write = match operation {
            Operation::Insert => column().map(|(n, v)| Write::Insert(n, v))?,
            Operation::Update => column().map(|(n, v)| Write::Update(n, v))?,
            Operation::Delete => Write::Delete,
        };
        Ok(Request { table, key, write })
    }

    fn resource<'a>(&'a self, req: &'a Request) -> &'a str {
        &req.table
    }

    async fn send(&self, _msg: &FiredMessage, req: &Request) -> Result<(), AttemptError> {
        let client = self.client.get().await;
        let key = Some(req.key.clone());
        match &req.write {
            Write::Insert(name, value) => {
                let mut item = req.key.clone();
                item.insert(name.clone(), value.clone());
                let put = client
                    .put_item()
                    .table_name(&req.table)
                    .set_item(Some(item));
                put.send()
                    .await
                    .map(|_| ())
                    .map_err(|e| dynamodb_attempt_error(&e))
            }
            Write::Update(name, value) => client
                .update_item()
                .table_name(&req.table)
                .set_key(key)
                .update_expression("SET #payload = :payload")
                .expression_attribute_names("#payload", name)
                .expression_attribute_values(":payload", value.clone())
                .send()
                .await
                .map(|_| ())
                .map_err(|e| dynamodb_attempt_error(&e)),
            Write::Delete => client
                .delete_item()
                .table_name(&req.table)
                .set_key(key)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| dynamodb_attempt_error(&e)),
        }
    }
}
