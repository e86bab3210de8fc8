//! The `dynamodb_v2` action (AWS's `DynamoDBv2Action`): write the rule's output as one
//! DynamoDB item, one attribute per top-level key, with one PutItem per fired message through
//! an AWS connection (`crate::aws`).
//!
//! As AWS: the output must be a JSON object holding the table's key attributes; its values
//! map to DynamoDB types as `crate::dynamodb::item` describes (numbers `N` with their exact
//! text, strings `S`, booleans `BOOL`, null `NULL`, objects `M`, arrays `L`). Output that is
//! not a JSON object fails at once to the error action, as does a rendered table name that
//! cannot be one. `put_item.table_name` takes substitution templates. Throttling, 5xx and
//! network errors are retried; a missing table or an item without its key is not.

mod config;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use aws_sdk_dynamodb::Client;
use rulewire_engine::Template;

pub use config::{DynamoDbV2Config, PutItemInput};

use crate::{
    Action, ActionContext, BuildError, DeliveryConfig, FiredMessage,
    aws::{AwsAccess, LazyClient},
    delivery::{AttemptError, Delivered, Delivery, Rejected, Sink},
    dynamodb::item::{Item, check_table_name, dynamodb_attempt_error, output_item, rejected},
    registry::{ActionType, CheckContext},
    templates::checked_field,
};

/// Default per-attempt timeout: 10 s.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;

/// The dynamodb_v2 action type.
pub struct DynamoDbV2Action;

/// A checked dynamodb_v2 action: the table name compiled (and checked when literal).
pub struct CheckedDynamoDbV2 {
    access: AwsAccess,
    table_name: Template,
    delivery: DeliveryConfig,
}

impl ActionType for DynamoDbV2Action {
    const NAME: &'static str = DynamoDbV2::KIND;
    type Config = DynamoDbV2Config;
    type Checked = CheckedDynamoDbV2;

    fn check(cfg: DynamoDbV2Config, ctx: &CheckContext) -> Result<CheckedDynamoDbV2, BuildError> {
        cfg.access.check(ctx)?;
        let table_name = checked_field(
            "put_item.table_name",
            &cfg.put_item.table_name,
            ctx.version,
            check_table_name,
        )?;
        cfg.delivery.check()?;
        Ok(CheckedDynamoDbV2 {
            access: cfg.access,
            table_name,
            delivery: cfg.delivery,
        })
    }

    fn bind(c: CheckedDynamoDbV2, ctx: &ActionContext) -> Result<Arc<dyn Action>, BuildError> {
        let delivery = Delivery::resolve(&c.delivery, DEFAULT_TIMEOUT_MS, DynamoDbV2::KIND, ctx)?;
        let sink = DynamoDbV2 {
            client: LazyClient::new(c.access.open(ctx)?, Client::new),
            table_name: c.table_name,
        };
        Ok(Delivered::action(sink, delivery))
    }
}

struct DynamoDbV2 {
    client: LazyClient<Client>,
    table_name: Template,
}

/// One message rendered: the table and the item.
struct Request {
    table: String,
    item: Item,
}

impl Sink for DynamoDbV2 {
    type Request = Request;
    const KIND: &'static str = "dynamodb_v2";
    const AWS_NAME: &'static str = "DynamoDBv2Action";
    const RETRY_ON_TIMEOUT: bool = true;

    fn prepare(&self, msg: &FiredMessage) -> Result<Request, Rejected> {
        let table = self.table_name.render(&msg.as_engine_message());
        check_table_name(&table)
            .map_err(|e| rejected(&table, format!("put_item.table_name: {e}")))?;
        let item = output_item(&msg.output).map_err(|e| rejected(&table, e))?;
        Ok(Request { table, item })
    }

    fn resource<'a>(&'a self, req: &'a Request) -> &'a str {
        &req.table
    }

    async fn send(&self, _msg: &FiredMessage, req: &Request) -> Result<(), AttemptError> {
        self.client
            .get()
            .await
            .put_item()
            .table_name(&req.table)
            .set_item(Some(req.item.clone()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| dynamodb_attempt_error(&e))
    }
}
