//! How a call ended, as names the code can match on: its status and, for a failed call, the
//! class of its failure. The call record keeps their text (`as_str`, the same strings the
//! database, the journal, the API and the CSV export carry); a stored row may hold a class
//! this version no longer writes, so records keep the text and readers parse it.

use std::fmt;

/// A call's status on its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallStatus {
    /// Admitted and under way (the start line of the journal).
    Processing,
    Success,
    Failed,
}

impl CallStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CallStatus::Processing => "processing",
            CallStatus::Success => "success",
            CallStatus::Failed => "failed",
        }
    }

    /// The status a record's text names, if any.
    pub fn parse(s: &str) -> Option<CallStatus> {
        [CallStatus::Processing, CallStatus::Success, CallStatus::Failed].into_iter().find(|c| c.as_str() == s)
    }
}

impl From<CallStatus> for String {
    fn from(s: CallStatus) -> String {
        s.as_str().to_string()
    }
}

impl PartialEq<CallStatus> for String {
    fn eq(&self, other: &CallStatus) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<CallStatus> for str {
    fn eq(&self, other: &CallStatus) -> bool {
        self == other.as_str()
    }
}

impl fmt::Display for CallStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a call or one of its attempts failed: the `error_class` of a record and the `class` of
/// a failed attempt in its trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    // Refused at admission (nothing was sent).
    JournalUnavailable,
    BudgetExceeded,
    InsufficientCredits,
    RateLimited,
    ConcurrencyLimited,
    // The provider's answer.
    /// 400, 413, 422: the request's fault (or one its provider cannot take).
    UpstreamBadRequest,
    /// 401, 403: the provider refused the gateway's credential.
    UpstreamAuth,
    /// 429.
    UpstreamRateLimited,
    /// Any other status (5xx), or an error the provider reported in its stream.
    UpstreamError,
    /// A body or stream event that is not valid for the provider's protocol.
    UpstreamInvalidResponse,
    /// The stream ended before it was complete.
    UpstreamTruncated,
    /// The provider reported an error event in its stream.
    UpstreamStreamError,
    // Reaching the provider.
    /// No connection could be made: the provider's, not the key's.
    ConnectError,
    /// Sending or reading failed once connected.
    UpstreamIoError,
    /// First-byte, idle or total timeout.
    Timeout,
    /// The operator's credential is not valid for its provider's kind.
    CredentialMisconfigured,
    /// Every credential and target is disabled, cooling down or failing.
    NoAvailableProvider,
    /// An image URL of the request could not be fetched.
    ImageFetchFailed,
    // The client.
    ClientDisconnected,
    /// The client left; the provider's answer was read to its end (and charged).
    ClientDisconnectedDrained,
    /// The client left; the provider did not finish within the drain limit.
    DrainLimit,
    /// Left `processing` by a process that stopped; closed at start-up.
    Interrupted,
}

impl ErrorClass {
    const ALL: [ErrorClass; 22] = [
        ErrorClass::JournalUnavailable,
        ErrorClass::BudgetExceeded,
        ErrorClass::InsufficientCredits,
        ErrorClass::RateLimited,
        ErrorClass::ConcurrencyLimited,
        ErrorClass::UpstreamBadRequest,
        ErrorClass::UpstreamAuth,
        ErrorClass::UpstreamRateLimited,
        ErrorClass::UpstreamError,
        ErrorClass::UpstreamInvalidResponse,
        ErrorClass::UpstreamTruncated,
        ErrorClass::UpstreamStreamError,
        ErrorClass::ConnectError,
        ErrorClass::UpstreamIoError,
        ErrorClass::Timeout,
        ErrorClass::CredentialMisconfigured,
        ErrorClass::NoAvailableProvider,
        ErrorClass::ImageFetchFailed,
        ErrorClass::ClientDisconnected,
        ErrorClass::ClientDisconnectedDrained,
        ErrorClass::DrainLimit,
        ErrorClass::Interrupted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::JournalUnavailable => "journal_unavailable",
            ErrorClass::BudgetExceeded => "budget_exceeded",
            ErrorClass::InsufficientCredits => "insufficient_credits",
            ErrorClass::RateLimited => "rate_limited",
            ErrorClass::ConcurrencyLimited => "concurrency_limited",
            ErrorClass::UpstreamBadRequest => "upstream_bad_request",
            ErrorClass::UpstreamAuth => "upstream_auth",
            ErrorClass::UpstreamRateLimited => "upstream_rate_limited",
            ErrorClass::UpstreamError => "upstream_error",
            ErrorClass::UpstreamInvalidResponse => "upstream_invalid_response",
            ErrorClass::UpstreamTruncated => "upstream_truncated",
            ErrorClass::UpstreamStreamError => "upstream_stream_error",
            ErrorClass::ConnectError => "connect_error",
            ErrorClass::UpstreamIoError => "upstream_io_error",
            ErrorClass::Timeout => "timeout",
            ErrorClass::CredentialMisconfigured => "credential_misconfigured",
            ErrorClass::NoAvailableProvider => "no_available_provider",
            ErrorClass::ImageFetchFailed => "image_fetch_failed",
            ErrorClass::ClientDisconnected => "client_disconnected",
            ErrorClass::ClientDisconnectedDrained => "client_disconnected_drained",
            ErrorClass::DrainLimit => "drain_limit",
            ErrorClass::Interrupted => "interrupted",
        }
    }

    /// The class a record's text names, if this version knows it.
    pub fn parse(s: &str) -> Option<ErrorClass> {
        ErrorClass::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// A failure that says nothing about the model's providers: the client's own request or
    /// its leaving (the live status does not count it).
    pub fn is_the_clients(self) -> bool {
        matches!(
            self,
            ErrorClass::UpstreamBadRequest
                | ErrorClass::ImageFetchFailed
                | ErrorClass::ClientDisconnected
                | ErrorClass::ClientDisconnectedDrained
                | ErrorClass::DrainLimit
        )
    }
}

impl From<ErrorClass> for String {
    fn from(c: ErrorClass) -> String {
        c.as_str().to_string()
    }
}

impl PartialEq<&str> for ErrorClass {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_reads_back_as_itself() {
        for c in ErrorClass::ALL {
            assert_eq!(ErrorClass::parse(c.as_str()), Some(c));
        }
        let names: std::collections::BTreeSet<_> = ErrorClass::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), ErrorClass::ALL.len(), "no two classes share a name");
        for s in [CallStatus::Processing, CallStatus::Success, CallStatus::Failed] {
            assert_eq!(CallStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!((ErrorClass::parse("overloaded"), CallStatus::parse("done")), (None, None));
    }

    #[test]
    fn the_stored_names_stay_as_they_were() {
        assert_eq!(ErrorClass::UpstreamAuth.as_str(), "upstream_auth");
        assert_eq!(ErrorClass::ClientDisconnectedDrained.as_str(), "client_disconnected_drained");
        assert_eq!(String::from(CallStatus::Failed), "failed");
        let stored = String::from("processing");
        assert!(stored == CallStatus::Processing && *"failed" == CallStatus::Failed);
    }
}
