//! End-to-end tests: each boots the real `gatehouse` binary on a random port with its own data
//! directory, provisions it through its CLI, and drives it over HTTP, with the `openidconnect`
//! crate as the relying party for happy paths and raw requests for malformed ones.

mod browser;
mod cimd;
mod client_jwt;
mod cluster;
mod device;
mod doctor;
mod dpop;
mod flow;
mod hardening;
mod lifecycle;
mod logout;
mod negative;
mod ops;
mod par;
mod postgres;
mod registration;
mod restart;
mod support;
