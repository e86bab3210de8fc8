//! The commands besides `run`: each file or folder is one command's implementation, which
//! `main.rs` only dispatches to. They connect nowhere, except `bench`, which loads a running
//! rulewire or broker, and the demo, which `run --demo` starts beside the service.
//!
//! - [`eval`]: `rulewire eval` and `rulewire check`;
//! - [`ruletest`]: `rulewire test`, rule unit tests from `<rule>.test.toml`;
//! - [`import`]: `rulewire import`, AWS rule definitions to rule files;
//! - [`loadgen`]: `rulewire bench`, the load generator and end-to-end meter;
//! - [`demo`]: `rulewire run --demo`'s sample telemetry and printout.

pub mod demo;
pub mod eval;
pub mod import;
pub mod loadgen;
pub mod ruletest;
