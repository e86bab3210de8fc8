//! math functions (being written).
