//! Device authorizations (RFC 8628).

use gatehouse_protocol::grant::device_code::{DeviceStatus, UserCode};
use gatehouse_protocol::types::{ClientId, ScopeSet, TokenHash, UnixTime};

/// Where a device authorization stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceState {
    /// Waiting for the user.
    Pending,
    /// The user approved; the device has not collected the tokens yet.
    Approved,
    /// The user said no.
    Denied,
    /// The device collected the tokens: the code is spent.
    Redeemed,
}

impl DeviceState {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Redeemed => "redeemed",
        }
    }

    /// Reads a stored name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Approved, Self::Denied, Self::Redeemed]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// A device authorization request and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    /// SHA-256 of the `device_code`.
    pub hash: TokenHash,
    /// The code the user types, without its dash.
    pub user_code: UserCode,
    /// The client (the device) asking.
    pub client_id: ClientId,
    /// The scopes the user is asked to approve.
    pub scope: ScopeSet,
    /// The resources (RFC 8707) the tokens will be for.
    pub resources: Vec<String>,
    /// When the device asked.
    pub created_at: UnixTime,
    /// When the codes expire.
    pub expires_at: UnixTime,
    /// The polling interval in seconds (grows by 5 with each `slow_down`).
    pub interval: i64,
    /// Where it stands.
    pub state: DeviceState,
    /// Who decided, once someone approved.
    pub subject: Option<String>,
    /// When the approving user authenticated.
    pub auth_time: Option<UnixTime>,
    /// The address the device asked from, shown on the confirmation page (RFC 8628 §5.4).
    pub requested_from: Option<String>,
}

/// The user's decision on a device authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceDecision {
    /// Approved by this user, who authenticated at `auth_time`.
    Approve {
        /// The user.
        subject: String,
        /// When they authenticated.
        auth_time: UnixTime,
    },
    /// Denied.
    Deny,
}

/// What one poll found ([`crate::Devices::poll_device`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevicePoll {
    /// Pending, denied, or redeemed by this very poll.
    pub status: DeviceStatus,
    /// This poll came sooner than the interval after the previous one (the interval has grown).
    pub too_fast: bool,
    /// The interval now.
    pub interval: i64,
    /// When the codes expire.
    pub expires_at: UnixTime,
    /// The approving user, once approved.
    pub subject: Option<String>,
    /// When they authenticated.
    pub auth_time: Option<UnixTime>,
    /// The scopes approved.
    pub scope: ScopeSet,
    /// The resources the tokens are for.
    pub resources: Vec<String>,
}
