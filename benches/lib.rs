//! Criterion benchmarks of the rulewire engine live next to this file (engine.rs, routing.rs, encoding.rs); this crate has no library code.
