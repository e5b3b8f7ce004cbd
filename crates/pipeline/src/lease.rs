//! Keeping a run's lease while it works.

use lifecycle_storage::Publisher;

use crate::Result;

/// Runs `work` while renewing the run's lease every third of its lifetime.
pub(crate) async fn keep_lease<T>(
    publisher: &Publisher,
    ttl: std::time::Duration,
    work: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    let renew = async {
        loop {
            tokio::time::sleep(ttl / 3).await;
            if let Err(e) = publisher.renew_lease(ttl).await {
                tracing::warn!(error = %e, "could not renew the run's lease");
            }
        }
    };
    tokio::select! {
        out = work => out,
        never = renew => never,
    }
}
