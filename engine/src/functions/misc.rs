//! misc functions (being written).
