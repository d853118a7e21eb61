//! Finishing or rolling back what a process that died left behind.

use super::Keyport;
use crate::error::{Error, Result};
use crate::secrets::SecretKey;
use crate::store::{now_ms, FlowPurpose, FlowStatus};

/// How long finished flows are kept to recognise a replayed state.
const TOMBSTONE_LIFETIME_MS: i64 = 24 * 3600 * 1000;

impl Keyport {
    /// Finishes or rolls back what a process that died left behind, expires
    /// stale flows and drops old tombstones. Safe to run at any time.
    pub async fn recover(&self) -> Result<()> {
        let now = now_ms();
        for flow in self.store.with(|db| db.flows())? {
            match flow.status {
                FlowStatus::Pending if now > flow.expires_at => {
                    let took = self.store.transaction(|tx| {
                        tx.transition_flow(&flow.id, FlowStatus::Pending, FlowStatus::Exchanging)
                    })?;
                    if took {
                        self.fail_flow(flow, Error::FlowExpired).await;
                    }
                }
                FlowStatus::Exchanging => {
                    let lock = self.flow_lock(&flow.id)?;
                    if lock.try_lock().is_err() {
                        continue; // a live process is finishing it
                    }
                    let current = self.store.with(|db| db.flow(&flow.id))?;
                    if current.as_ref().map(|f| f.status) != Some(FlowStatus::Exchanging) {
                        continue;
                    }
                    // Tokens may be in the keyring for a row that never went active.
                    if flow.purpose == FlowPurpose::Connect {
                        let target = current.and_then(|f| f.result_connection_id);
                        if target.as_deref() == Some(flow.connection_id.as_str()) {
                            let t = flow.connection_id.clone();
                            self.secrets
                                .run(move |s| s.delete(&SecretKey::Connection(t)))
                                .await?;
                        }
                    }
                    tracing::warn!(flow = %flow.id, "rolled back a sign-in interrupted by a crash");
                    self.fail_flow(flow, Error::Interrupted).await;
                }
                FlowStatus::Completed | FlowStatus::Failed => {
                    let old =
                        flow.finished_at.unwrap_or(flow.created_at) + TOMBSTONE_LIFETIME_MS < now;
                    // A tombstone goes only once its verifier is gone.
                    if self.clear_flow_secret(&flow.id).await && old {
                        self.store.with(|db| db.delete_flow(&flow.id))?;
                    }
                }
                FlowStatus::Pending => {}
            }
        }
        Ok(())
    }
}
