//! Checks of the registered clients: redirect URIs that will fail or that RFC 8252 advises
//! against, clients allowed no grant, and what a newcomer should create first.

use super::Finding;
use gatehouse_protocol::types::GrantType;
use gatehouse_storage::Store;

pub(super) async fn check(store: &dyn Store, out: &mut Vec<Finding>) {
    let Ok(clients) = store.list_clients().await else {
        return;
    };
    if clients.is_empty() {
        out.push(Finding::warn(
            "clients.registered",
            "no clients are registered",
            "nothing can sign users in or get tokens yet",
            "gatehouse client create --name \"My app\" --redirect-uri https://app.example.com/callback",
        ));
    } else {
        out.push(Finding::ok(
            "clients.registered",
            format!("{} client(s)", clients.len()),
        ));
    }
    match store.list_users().await {
        Ok(users) if users.is_empty() => out.push(Finding::warn(
            "users.registered",
            "no users exist",
            "nobody can sign in",
            "gatehouse user create --username alice --email alice@example.com --password-stdin",
        )),
        Ok(users) => out.push(Finding::ok("users.registered", format!("{} user(s)", users.len()))),
        Err(_) => {}
    }
    let mut bad = Vec::new();
    let mut localhost = Vec::new();
    for c in &clients {
        for uri in &c.redirect_uris {
            let u = uri.as_str();
            let parsed = url::Url::parse(u).ok();
            let host = parsed
                .as_ref()
                .and_then(|p| p.host_str().map(str::to_owned))
                .unwrap_or_default();
            let loopback = host == "localhost"
                || host
                    .trim_matches(['[', ']'])
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if u.contains('#') || (u.starts_with("http://") && !loopback) {
                bad.push(format!("{} {u}", c.id));
            } else if host == "localhost" && u.starts_with("http://") {
                localhost.push(format!("{} {u}", c.id));
            }
        }
    }
    if !bad.is_empty() {
        out.push(Finding::fail(
            "clients.redirect_uris",
            format!("redirect URIs that will be refused: {}", bad.join(", ")),
            "a fragment or plain http to a non-loopback host is never accepted at /oauth/authorize; these clients cannot sign anyone in",
            format!("gatehouse client update {} --redirect-uri https://...", bad[0].split(' ').next().unwrap_or("ID")),
        ));
    } else if !localhost.is_empty() {
        out.push(Finding::warn(
            "clients.redirect_uris",
            format!("loopback redirect URIs named localhost: {}", localhost.join(", ")),
            "RFC 8252 section 8.3: localhost may resolve elsewhere or to another address family; the port of a loopback IP literal may vary, localhost's may not",
            format!("gatehouse client update {} --redirect-uri http://127.0.0.1/callback", localhost[0].split(' ').next().unwrap_or("ID")),
        ));
    } else {
        out.push(Finding::ok(
            "clients.redirect_uris",
            "every redirect URI is https, loopback or a private-use scheme",
        ));
    }
    let no_grant: Vec<&str> = clients
        .iter()
        .filter(|c| c.grant_types.is_empty() || (c.grant_types == [GrantType::RefreshToken]))
        .map(|c| c.id.as_str())
        .collect();
    if no_grant.is_empty() {
        out.push(Finding::ok("clients.grants", "every client may use a grant"));
    } else {
        out.push(Finding::warn(
            "clients.grants",
            format!("clients that can get no token: {}", no_grant.join(", ")),
            "a client with no grant (or only refresh_token) is refused at every endpoint",
            format!(
                "gatehouse client update {} --grant-type authorization_code --grant-type refresh_token",
                no_grant[0]
            ),
        ));
    }
    let now = crate::clock::system_now();
    let old: Vec<&str> = clients
        .iter()
        .filter(|c| c.secret_hash.is_some() && now.0 - c.secret_set_at.unwrap_or(c.created_at).0 > 365 * 86_400)
        .map(|c| c.id.as_str())
        .collect();
    if old.is_empty() {
        out.push(Finding::ok("clients.secrets", "no client secret is older than a year"));
    } else {
        out.push(Finding::warn(
            "clients.secrets",
            format!("client secrets not rotated for over a year: {}", old.join(", ")),
            "a secret that has been copied around for years is likely known to more people than it should",
            format!("gatehouse client rotate-secret {}", old[0]),
        ));
    }
}
