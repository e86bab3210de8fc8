//! rulewire-engine: AWS IoT SQL compiled to DataFusion physical expressions over Arrow batches.
//!
//! Pure and synchronous: no I/O, no tokio. The pieces, in data-flow order:
//! - [`parser`]: IoT SQL text → [`ast`] (errors carry line:col);
//! - [`compile`]: checks a statement (functions, versions) into a [`Rule`];
//! - [`batch`]: the vectorised path: payloads decoded (projected) into Arrow columns, the rule's
//!   expressions evaluated as DataFusion physical expressions per type signature, rows encoded;
//!   a [`RuleGroup`] shares one decode per message among rules that read the same messages;
//! - [`eval`]: the row-at-a-time reference evaluator over [`Value`] (exact AWS semantics; the
//!   oracle for the vectorised path and the fallback for what it does not cover);
//! - [`template`]: `${...}` substitution templates for actions;
//! - [`topic`]: MQTT topic filters and the topic-filter trie used for routing;
//! - [`topic_limits`]: AWS IoT Core's limits on topics, filters and client ids.

pub mod ast;
pub mod batch;
pub mod compile;
pub mod decimal;
pub mod error;
pub mod eval;
pub mod functions;
pub mod json_in;
pub mod json_lex;
pub mod json_out;
pub mod parser;
pub mod template;
pub mod topic;
pub mod topic_limits;
pub mod value;

pub use batch::group::RuleGroup;
pub use compile::Rule;
pub use error::CompileError;
pub use eval::{Evaluation, Lookups, Message, MqttProperties, NO_MQTT_PROPERTIES};
pub use template::Template;
pub use value::{Object, SqlVersion, Value};
