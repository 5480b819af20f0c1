//! netd library.
