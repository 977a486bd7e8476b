//! egress-proxy: a credential-injecting, default-deny MITM egress proxy.
//!
//! The request path is a sequence of explicit phases, one module each:
//! [`server`] accepts, [`outer`] classifies listener requests (CONNECT,
//! absolute-form, introspection), [`tunnel`] terminates TLS or splices,
//! [`handler`] runs target → framing ([`headers`]) → decision ([`policy`],
//! pure) → credentials → forward ([`connector`], [`websocket`]) → audit
//! ([`audit`], [`body`]).

pub mod audit;
pub mod body;
pub mod ca;
pub mod canonical;
pub mod cli;
pub mod connector;
pub mod denial;
pub mod dial;
pub mod gitpush;
pub mod handler;
pub mod headers;
pub mod host;
pub mod integrity;
pub mod introspect;
pub mod io;
pub mod leaf_cache;
pub mod metrics;
pub mod origin_tls;
pub mod outer;
pub mod policy;
pub mod reload;
pub mod routes;
pub mod run;
pub mod secret;
pub mod server;
pub mod state;
pub mod table;
pub mod tunnel;
pub mod upstream;
pub mod websocket;
