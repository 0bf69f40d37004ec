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

/// Join-code guessing limits: counts only **wrong** codes, per user and per
/// IP, in a fixed window. A key with `limit` failures in its window gets 429
/// on every join (right or wrong) until the window, which starts at its first
/// failure, passes. Right codes never count, so a whole class joining from
/// one school's address with the right code is never slowed down.
///
/// Like the login limits this lives in process memory: with N processes an
/// attacker spread over them gets up to N times the guesses (see README).
pub struct JoinLimits {
    by_user: FailureWindow<i64>,
    by_ip: FailureWindow<IpAddr>,
}

struct FailureWindow<K> {
    limit: u32,
    window: std::time::Duration,
    keys: std::sync::Mutex<std::collections::HashMap<K, (std::time::Instant, u32)>>,
}

impl<K: std::hash::Hash + Eq + Copy> FailureWindow<K> {
    fn new(limit: u32, window: std::time::Duration) -> Self {
        Self {
            limit,
            window,
            keys: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    fn keys(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<K, (std::time::Instant, u32)>> {
        // A panic while holding this lock leaves a map of counters, still usable.
        self.keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `Some(seconds left)` while `key` is over the limit.
    fn blocked(&self, key: K) -> Option<u64> {
        if self.limit == 0 {
            return None;
        }
        let keys = self.keys();
        let (start, failures) = keys.get(&key)?;
        let elapsed = start.elapsed();
        (elapsed < self.window && *failures >= self.limit)
            .then(|| (self.window - elapsed).as_secs().max(1))
    }

    fn fail(&self, key: K) {
        if self.limit == 0 {
            return;
        }
        let mut keys = self.keys();
        let entry = keys.entry(key).or_insert((std::time::Instant::now(), 0));
        if entry.0.elapsed() >= self.window {
            *entry = (std::time::Instant::now(), 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }

    fn shrink(&self) {
        let window = self.window;
        self.keys().retain(|_, (start, _)| start.elapsed() < window);
    }
}

impl JoinLimits {
    pub fn new(per_user: u32, per_ip: u32, window: std::time::Duration) -> Self {
        Self {
            by_user: FailureWindow::new(per_user, window),
            by_ip: FailureWindow::new(per_ip, window),
        }
    }

    /// 429 while this user or this request's address is over its limit.
    pub fn check(&self, req: &HttpRequest, user_id: i64) -> Result<(), Problem> {
        let by_user = self.by_user.blocked(user_id);
        let by_ip = req
            .peer_addr()
            .and_then(|peer| self.by_ip.blocked(peer.ip()));
        match by_user.max(by_ip) {
            None => Ok(()),
            Some(secs) => Err(Problem::new(
                service::Code::TooManyRequests,
                "too many wrong class codes; wait and try again",
            )
            .with("retry_after", secs)),
        }
    }

    /// Counts one wrong code for this user and address.
    pub fn failed(&self, req: &HttpRequest, user_id: i64) {
        self.by_user.fail(user_id);
        if let Some(peer) = req.peer_addr() {
            self.by_ip.fail(peer.ip());
        }
    }

    /// Forgets windows that have passed (called periodically).
    pub fn shrink(&self) {
        self.by_user.shrink();
        self.by_ip.shrink();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_failures_count_and_the_block_ends_with_the_window() {
        let w = FailureWindow::new(3, std::time::Duration::from_millis(200));
        assert_eq!(w.blocked(1), None);
        for _ in 0..2 {
            w.fail(1);
        }
        assert_eq!(w.blocked(1), None);
        w.fail(1);
        assert!(w.blocked(1).is_some());
        assert_eq!(w.blocked(2), None, "another key is not affected");
        std::thread::sleep(std::time::Duration::from_millis(250));
        assert_eq!(w.blocked(1), None);
        w.shrink();
        assert!(w.keys().is_empty());
        let off = FailureWindow::new(0, std::time::Duration::from_secs(60));
        for _ in 0..10 {
            off.fail(1);
        }
        assert_eq!(off.blocked(1), None);
    }
}
