//! rulewire, the service: a self-hosted AWS IoT Core Rules Engine. The binary (`main.rs`)
//! is a thin CLI over these modules, one folder per stage of a message's way through it
//! (the README's "How it works"):
//!
//! - [`mqtt`]: rulewire's own connections to an external broker: the ingest client
//!   ([`mqtt::inbound`]), the republish and uplink connections ([`mqtt::publisher`]);
//! - [`embedded`]: the in-process MQTT broker (rmqtt) that feeds the rules without a
//!   connection, with its device registry and AWS IoT policies;
//! - [`ingest`]: the ingest loop, [`ingest::admission`] (backpressure, tickets), the
//!   [`ingest::router`] and the broker [`ingest::subscriptions`] that follow the rules;
//! - [`pipeline`]: workers, micro-batches, evaluation, actions, error action, in-order acks;
//! - [`shadow`]: the Device Shadow service;
//! - [`ops`]: what operators see and do: the admin HTTP server, metrics, the console, live
//!   traces, hot reload and stopping;
//! - [`cli`]: the offline commands (`eval`, `check`, `test`, `import`, `bench`) and the demo;
//! - [`config`], [`rulefile`], [`registry`] (loaded rules and reload), [`service`] (wiring).

pub mod cli;
pub mod config;
pub mod embedded;
pub mod ingest;
pub mod mqtt;
pub mod ops;
pub mod pipeline;
pub mod registry;
pub mod rulefile;
pub mod service;
pub mod shadow;
pub mod storage;
