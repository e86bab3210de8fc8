//! Operating the service: what operators see and do while it runs.
//!
//! - [`admin`]: the admin HTTP server (`/metrics`, `/healthz`, `/readyz`, `/rules`,
//!   `/shadows`), with `http.auth`;
//! - [`console`]: the web console and its APIs (rule tester, live traces);
//! - [`metrics`]: the Prometheus series (AWS IoT's rule metrics under `rulewire_*` names);
//! - [`trace`]: live traces of rules, off by default;
//! - [`reload`]: hot reload of the rules and device directories;
//! - [`stop`]: the cancel flag for a graceful stop.

pub mod admin;
pub mod console;
pub mod metrics;
pub mod reload;
pub mod stop;
pub mod trace;
