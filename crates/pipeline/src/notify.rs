//! `[exports] notify_url`: after a commit, an HTTP POST of what was published (run, date and
//! each table's stable URLs and rows), retried on transient failures. Its outcome is logged
//! and saved beside the committed tables; it never undoes the commit.

use std::time::Duration;

use lifecycle_spec::ExportSettings;
use serde::{Deserialize, Serialize};

use crate::manifest::Manifest;

/// What the notification did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Where it went (without any user info the URL had).
    pub url: String,
    pub attempts: u32,
    pub delivered: bool,
    /// The last HTTP status received.
    pub status: Option<u16>,
    /// Why the last attempt failed.
    pub error: Option<String>,
}

/// The body: the run and each committed table's stable copy and text files.
pub(crate) fn payload(m: &Manifest) -> serde_json::Value {
    let tables: serde_json::Map<String, serde_json::Value> = m
        .commit
        .outputs
        .iter()
        .map(|(name, t)| {
            let folder = t.published_url.rsplit_once('/').map_or("", |(f, _)| f);
            let files: Vec<String> = t.files.iter().map(|f| format!("{folder}/{f}")).collect();
            let v = serde_json::json!({ "url": t.published_url, "rows": t.rows, "files": files });
            (name.clone(), v)
        })
        .collect();
    serde_json::json!({
        "job": m.job,
        "run_date": m.run_date,
        "run_id": m.commit.run_id,
        "tables": tables,
    })
}

/// POSTs `body` to `ex.notify_url` (when set), up to `notify_attempts` times.
pub(crate) async fn notify(ex: &ExportSettings, body: &serde_json::Value) -> Option<Notification> {
    let raw = ex.notify_url.as_deref()?;
    let mut shown = url::Url::parse(raw).ok()?;
    let _ = (shown.set_username(""), shown.set_password(None));
    let mut n = Notification {
        url: shown.to_string(),
        attempts: 0,
        delivered: false,
        status: None,
        error: None,
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(ex.notify_timeout_secs))
        .build();
    let client = match client {
        Ok(c) => c,
        Err(e) => {
            n.error = Some(e.to_string());
            return Some(n);
        }
    };
    let bytes = serde_json::to_vec(body).expect("a payload serializes");
    while n.attempts < ex.notify_attempts {
        if n.attempts > 0 {
            tokio::time::sleep(Duration::from_millis(250 << n.attempts.min(6))).await;
        }
        n.attempts += 1;
        let retry = attempt(&client, raw, &bytes, &mut n).await;
        if n.delivered || !retry {
            break;
        }
    }
    Some(n)
}

/// One POST; records its outcome in `n` and says whether another attempt may succeed.
async fn attempt(client: &reqwest::Client, url: &str, body: &[u8], n: &mut Notification) -> bool {
    let sent = client
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await;
    match sent {
        Ok(r) => {
            let s = r.status();
            n.status = Some(s.as_u16());
            n.delivered = s.is_success();
            n.error = (!n.delivered).then(|| format!("HTTP {s}"));
            s.is_server_error() || s.as_u16() == 429
        }
        Err(e) => {
            n.error = Some(e.without_url().to_string());
            true
        }
    }
}
