//! time functions (being written).
