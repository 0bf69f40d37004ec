//! Login rate limits, per client IP and per username (`governor`, GCRA).
//! Limits live in each process's memory: they protect the login path from
//! floods and guessing, and are not correctness-critical, so several
//! instances simply each enforce them. Over the limit → 429 problem+json
//! `too_many_requests` with `Retry-After`.

use std::net::IpAddr;
use std::num::NonZeroU32;

use actix_web::HttpRequest;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::problem::Problem;

pub struct LoginLimits {
    by_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    by_user: Option<DefaultKeyedRateLimiter<String>>,
}

fn per_minute<K: std::hash::Hash + Eq + Clone>(n: u32) -> Option<DefaultKeyedRateLimiter<K>> {
    NonZeroU32::new(n).map(|n| RateLimiter::keyed(Quota::per_minute(n)))
}

fn too_many() -> Problem {
    Problem::new(
        service::Code::TooManyRequests,
        "too many login attempts; wait a minute and try again",
    )
}

impl LoginLimits {
    pub fn new(per_ip: u32, per_user: u32) -> Self {
        Self {
            by_ip: per_minute(per_ip),
            by_user: per_minute(per_user),
        }
    }

    /// Counts one attempt from the request's peer address.
    pub fn check_ip(&self, req: &HttpRequest) -> Result<(), Problem> {
        let (Some(limiter), Some(peer)) = (&self.by_ip, req.peer_addr()) else {
            return Ok(());
        };
        limiter.check_key(&peer.ip()).map_err(|_| too_many())
    }

    /// Counts one attempt for `username`.
    pub fn check_user(&self, username: &str) -> Result<(), Problem> {
        let Some(limiter) = &self.by_user else {
            return Ok(());
        };
        limiter
            .check_key(&username.to_lowercase())
            .map_err(|_| too_many())
    }

    /// Forgets keys that are back to full capacity (called periodically).
    pub fn shrink(&self) {
        if let Some(l) = &self.by_ip {
            l.retain_recent();
        }
        if let Some(l) = &self.by_user {
            l.retain_recent();
        }
    }
}
