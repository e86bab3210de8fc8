//! strings functions (being written).
