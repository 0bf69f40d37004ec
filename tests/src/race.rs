//! Truly concurrent requests: every task is spawned first and waits on one
//! barrier, so all N leave together.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::Barrier;

/// Runs `make(i)` for `i in 0..n` concurrently, released at once; returns the
/// results in order of `i`.
pub async fn race<F, Fut, T>(n: usize, make: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let job = make(i);
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                job.await
            })
        })
        .collect();
    let mut results = Vec::with_capacity(n);
    for handle in handles {
        results.push(handle.await.expect("race task panicked"));
    }
    results
}
