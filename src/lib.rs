//! rulewire, the service: a self-hosted AWS IoT Core Rules Engine. The binary (`main.rs`)
//! is a thin CLI over these modules:
//!
//! - [`config`]: `rulewire.toml` with defaults and `RULEWIRE_*` env overrides;
//! - [`rulefile`]: `.sql` rule files with their TOML comment header;
//! - [`registry`]: loaded rules, hot reload, routes and broker subscriptions;
//! - [`mqtt`], [`publisher`], [`ingest`]: the broker connections, routing, backpressure;
//! - [`pipeline`]: micro-batches, evaluation, actions, error action, in-order acks;
//! - [`embedded`]: the in-process MQTT broker (rmqtt);
//! - [`devices`], [`policy`]: the embedded broker's device registry and AWS IoT policies;
//! - [`loadgen`]: `rulewire bench`, the load generator and end-to-end meter;
//! - [`import`]: `rulewire import`, AWS rule definitions to rule files;
//! - [`admin`], [`metrics`]: `/metrics`, `/healthz`, `/readyz`, `/rules`;
//! - [`reload`], [`service`], [`demo`], [`stop`]: wiring and lifecycle.

pub mod admin;
pub mod config;
pub mod console;
pub mod demo;
pub mod devices;
pub mod embedded;
pub mod import;
pub mod ingest;
pub mod loadgen;
pub mod metrics;
pub mod mqtt;
pub mod pipeline;
pub mod policy;
pub mod publisher;
pub mod registry;
pub mod reload;
pub mod rulefile;
pub mod ruletest;
pub mod service;
pub mod shadow;
pub mod stop;
pub mod trace;
