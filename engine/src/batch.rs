//! Vectorised path (being written).
