//! egress-proxy: a credential-injecting, default-deny MITM egress proxy.

pub mod ca;
pub mod canonical;
pub mod host;
pub mod routes;
