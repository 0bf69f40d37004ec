//! The HTTP layer of cubby and the `cubby` binary.
//!
//! actix-web routes (`routes`) parse each request, call one function of the
//! `service` crate and map its result to JSON or problem+json (`problem`).
//! Also here: configuration (`config`, one flag and env var per setting),
//! authentication extractors (`extract`), OpenAPI (`openapi`), metrics and
//! logs (`telemetry`), and the command line (`cli`).
//!
//! A request's path: `routes/*.rs` → `service::<area>` → `service::tx::run`
//! → `entity::*`.

pub mod app;
pub mod body_deadline;
pub mod cli;
pub mod config;
pub mod cross_origin;
pub mod dto;
pub mod editor;
pub mod extract;
pub mod headers;
pub mod library;
pub mod oidc;
pub mod openapi;
pub mod problem;
pub mod ratelimit;
pub mod redact;
pub mod redirect;
pub mod routes;
pub mod state;
pub mod telemetry;
