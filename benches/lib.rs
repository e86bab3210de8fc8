//! Criterion benchmarks of the rulewire engine and disk buffers live next to this file (engine.rs, routing.rs, encoding.rs, buffer.rs); this crate has no library code.
