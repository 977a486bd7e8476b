//! The operator loop: proposals across bottles ([`pending`]), what approving
//! each would do ([`review`], [`credentials`]), deciding and applying
//! ([`decide`], [`apply`]) through the bottle's sidecars ([`sidecars`]), and
//! the per-bottle audit trail ([`audit`]).
//!
//! `bottle proposals`, `bottle approve`, `bottle reject` and `bottle
//! dashboard` all go through here: one way to judge and apply a proposal.

pub mod apply;
pub mod audit;
pub mod credentials;
pub mod decide;
pub mod pending;
pub mod review;
pub mod sidecars;

/// The user deciding: `$USER`, else `$LOGNAME`, else `uid N`.
pub fn operator_name() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.trim().is_empty()))
        .unwrap_or_else(|| match crate::commands::host_ids() {
            Ok((uid, _)) => format!("uid {uid}"),
            Err(_) => "operator".into(),
        })
}

#[cfg(test)]
mod tests;
