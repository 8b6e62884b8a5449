//! Channels between producers and consumers.
//!
//! * [`Rendezvous`]: Go-style unbuffered handoff, with value exchange.

mod rendezvous;

pub use rendezvous::{
    Exchange, Get, Put, Rendezvous, RendezvousState, ResetError, TryGetError, TryPutError,
};
