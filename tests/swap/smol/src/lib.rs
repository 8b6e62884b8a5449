//! Exists only to build and run `../scenario.rs` against the adapter its `asyncutils` dependency names: the runtime-swap proof.
