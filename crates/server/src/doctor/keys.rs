//! Checks of the signing keys: one active key for every algorithm clients use, read from the
//! store without creating any; the next scheduled change.

use super::Finding;
use crate::config::Config;
use crate::keys::KeyRing;
use gatehouse_protocol::types::SigningAlg;
use gatehouse_storage::Store;
use std::collections::BTreeSet;

pub(super) async fn check(config: &Config, store: &dyn Store, out: &mut Vec<Finding>) {
    const ID: &str = "keys.active";
    let now = crate::clock::system_now();
    let records = match store.list_keys().await {
        Ok(r) => r,
        Err(e) => {
            out.push(Finding::fail(ID, format!("cannot read the signing keys: {e}"), "", ""));
            return;
        }
    };
    if records.is_empty() {
        out.push(Finding::warn(
            ID,
            "no signing keys yet",
            "the first start of the server creates one key per algorithm",
            "start the server once: gatehouse serve",
        ));
        return;
    }
    let ring = match KeyRing::from_records(&records, now) {
        Ok(r) => r,
        Err(e) => {
            out.push(Finding::fail(
                ID,
                format!("a stored key cannot be used: {e}"),
                "the server refuses to start with a key it cannot read (often: encrypted with another GATEHOUSE_SECRET_KEY)",
                "set the GATEHOUSE_SECRET_KEY the keys were encrypted with, or run gatehouse keys rewrap --old-secret-key-file FILE",
            ));
            return;
        }
    };
    let mut needed: BTreeSet<SigningAlg> = BTreeSet::from([SigningAlg::Rs256, config.jwt_access_token_alg]);
    if let Ok(clients) = store.list_clients().await {
        needed.extend(clients.iter().map(|c| c.id_token_alg));
        needed.extend(clients.iter().filter_map(|c| c.userinfo_alg));
    }
    let missing: Vec<&str> = needed
        .iter()
        .filter(|a| ring.signer(**a).is_none())
        .map(|a| a.as_str())
        .collect();
    if !missing.is_empty() {
        out.push(Finding::fail(
            ID,
            format!("no active key for {}", missing.join(", ")),
            "tokens for clients that use these algorithms cannot be signed: their requests fail with server_error",
            format!("gatehouse keys rotate --alg {}", missing[0]),
        ));
    } else {
        let active: Vec<String> = ring.active_kids().iter().map(|(a, k)| format!("{a} {k}")).collect();
        out.push(Finding::ok(ID, format!("signing with {}", active.join(", "))));
    }
    let unpublished = records.iter().filter(|r| r.activates_at > now).count();
    let next = ring.next_change().map(|t| t.0 - now.0);
    out.push(Finding::ok(
        "keys.schedule",
        match next {
            Some(s) => format!(
                "{} key(s) published ahead of signing; next activation or retirement in {} min",
                unpublished,
                s / 60
            ),
            None => "no activation or retirement scheduled".to_owned(),
        },
    ));
}
