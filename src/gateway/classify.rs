//! What a failed upstream attempt means, decided from what came back alone: the provider's
//! HTTP status, or the class of a failure that has none (a connection that broke, a timeout, a
//! body that is not an answer). Pure: the failover loop (`attempts.rs`) acts on the verdict —
//! the health it feeds, the metric it counts, where the call goes next.

use axum::http::StatusCode;

use crate::metrics::AttemptOutcome;
use crate::store::call_outcome::ErrorClass;

/// What an upstream's HTTP status says about the attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// 2xx: an answer (a non-stream body still has to be read and be one).
    Success,
    /// 400, 413, 422: the request itself is wrong; the client gets the provider's message.
    BadRequest,
    /// 401, 403: the provider refused the gateway's credential.
    Refused,
    /// 429: the credential is rate limited.
    RateLimited,
    /// Any other status (5xx mostly): the provider failed.
    Failed,
}

/// What a failed attempt means for the rest of the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Give the client this answer (the request itself is wrong).
    Answer,
    /// Try another credential of the same target.
    Credential,
    /// The provider is unreachable: other credentials of it would fail too.
    Target,
}

/// Classifies an upstream's HTTP status.
pub fn status(status: StatusCode) -> Status {
    match status.as_u16() {
        _ if status.is_success() => Status::Success,
        400 | 413 | 422 => Status::BadRequest,
        401 | 403 => Status::Refused,
        429 => Status::RateLimited,
        _ => Status::Failed,
    }
}

impl Status {
    /// The class a failed attempt with this status is recorded under.
    pub fn class(self) -> ErrorClass {
        match self {
            Status::BadRequest => ErrorClass::UpstreamBadRequest,
            Status::Refused => ErrorClass::UpstreamAuth,
            Status::RateLimited => ErrorClass::UpstreamRateLimited,
            Status::Success | Status::Failed => ErrorClass::UpstreamError,
        }
    }

    /// How an attempt that answered this status is counted (a success once its answer is read).
    pub fn counted(self) -> AttemptOutcome {
        match self {
            Status::Success => AttemptOutcome::Ok,
            Status::BadRequest => AttemptOutcome::BadRequest,
            Status::Refused => AttemptOutcome::Refused,
            Status::RateLimited => AttemptOutcome::RateLimited,
            Status::Failed => AttemptOutcome::Error,
        }
    }

    /// Where the call goes after an attempt that answered this error status: a bad request is
    /// the client's answer; any other status is this credential's (a refused or rate-limited
    /// key, or a failure another key of the target may not share).
    pub fn next(self) -> Next {
        match self {
            Status::BadRequest => Next::Answer,
            Status::Success | Status::Refused | Status::RateLimited | Status::Failed => Next::Credential,
        }
    }
}

/// A failure without a status of its own (the request was not answered, or its success body
/// could not be read as an answer): how it is counted and where the call goes next. A
/// connection that cannot be made is the provider's, not the key's.
pub fn unanswered(class: ErrorClass) -> (AttemptOutcome, Next) {
    match class {
        ErrorClass::ConnectError => (AttemptOutcome::ConnectError, Next::Target),
        ErrorClass::Timeout => (AttemptOutcome::Timeout, Next::Credential),
        ErrorClass::UpstreamInvalidResponse => (AttemptOutcome::Error, Next::Credential),
        _ => (AttemptOutcome::IoError, Next::Credential),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(code: u16) -> Status {
        status(StatusCode::from_u16(code).expect("status"))
    }

    #[test]
    fn statuses_are_classified_as_the_failover_loop_acts_on_them() {
        for code in [200, 201, 204] {
            assert_eq!(of(code), Status::Success, "{code}");
        }
        for (code, want) in [
            (400, Status::BadRequest),
            (413, Status::BadRequest),
            (422, Status::BadRequest),
            (401, Status::Refused),
            (403, Status::Refused),
            (429, Status::RateLimited),
            (404, Status::Failed),
            (408, Status::Failed),
            (500, Status::Failed),
            (502, Status::Failed),
            (503, Status::Failed),
            (529, Status::Failed),
            (302, Status::Failed),
        ] {
            assert_eq!(of(code), want, "{code}");
        }
    }

    #[test]
    fn only_a_bad_request_goes_back_to_the_client() {
        assert_eq!(Status::BadRequest.next(), Next::Answer);
        for s in [Status::Refused, Status::RateLimited, Status::Failed] {
            assert_eq!(s.next(), Next::Credential, "{s:?}");
        }
    }

    #[test]
    fn each_status_has_its_class_and_metric() {
        let seen = [Status::BadRequest, Status::Refused, Status::RateLimited, Status::Failed]
            .map(|s| (s.class().as_str(), s.counted()));
        assert_eq!(
            seen,
            [
                ("upstream_bad_request", AttemptOutcome::BadRequest),
                ("upstream_auth", AttemptOutcome::Refused),
                ("upstream_rate_limited", AttemptOutcome::RateLimited),
                ("upstream_error", AttemptOutcome::Error),
            ]
        );
        assert_eq!(Status::Success.counted(), AttemptOutcome::Ok);
    }

    #[test]
    fn an_unreachable_provider_skips_its_target_and_other_failures_try_the_next_key() {
        assert_eq!(unanswered(ErrorClass::ConnectError), (AttemptOutcome::ConnectError, Next::Target));
        assert_eq!(unanswered(ErrorClass::Timeout), (AttemptOutcome::Timeout, Next::Credential));
        assert_eq!(unanswered(ErrorClass::UpstreamInvalidResponse), (AttemptOutcome::Error, Next::Credential));
        for class in [ErrorClass::UpstreamIoError, ErrorClass::CredentialMisconfigured, ErrorClass::UpstreamBadRequest]
        {
            assert_eq!(unanswered(class), (AttemptOutcome::IoError, Next::Credential), "{class}");
        }
    }
}
