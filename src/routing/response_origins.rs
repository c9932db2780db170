//! Which provider and credential stored each response passed through to an OpenAI-protocol
//! provider, and for which user: what `GET /v1/responses/{id}` (`stored_responses.rs`) needs to
//! ask the upstream that holds it, on behalf of the user who made it and no one else. Noted
//! when the call settles (`CallGuard`), kept in memory and bounded: past [`KEPT`] the oldest
//! are forgotten, and a restart forgets them all (a retrieve then answers 404, as for an id the
//! gateway never saw). Only the passthrough kinds store responses: a converted answer's id
//! is the gateway's own and never noted.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// How many response ids are remembered (about 150 bytes each).
pub const KEPT: usize = 100_000;

/// Where a stored response lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub user_id: String,
    pub provider_id: String,
    pub credential_id: String,
}

#[derive(Default)]
struct Kept {
    by_id: HashMap<String, Arc<Origin>>,
    /// Ids oldest first, for forgetting.
    order: VecDeque<String>,
}

pub struct ResponseOrigins {
    kept: Mutex<Kept>,
    capacity: usize,
}

impl Default for ResponseOrigins {
    fn default() -> Self {
        ResponseOrigins::with_capacity(KEPT)
    }
}

impl ResponseOrigins {
    pub fn with_capacity(capacity: usize) -> Self {
        ResponseOrigins { kept: Mutex::new(Kept::default()), capacity }
    }

    pub fn remember(&self, response_id: String, origin: Origin) {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if kept.by_id.insert(response_id.clone(), Arc::new(origin)).is_none() {
            kept.order.push_back(response_id);
        }
        while kept.order.len() > self.capacity {
            if let Some(old) = kept.order.pop_front() {
                kept.by_id.remove(&old);
            }
        }
    }

    /// The origin of `response_id` if `user_id` made it; another user's is as unknown.
    pub fn find(&self, response_id: &str, user_id: &str) -> Option<Arc<Origin>> {
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.by_id.get(response_id).filter(|o| o.user_id == user_id).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(user: &str) -> Origin {
        Origin { user_id: user.into(), provider_id: "p".into(), credential_id: "c".into() }
    }

    #[test]
    fn only_its_user_finds_it_and_the_oldest_go_first() {
        let o = ResponseOrigins::with_capacity(2);
        o.remember("r1".into(), origin("u1"));
        assert_eq!(o.find("r1", "u1").as_deref(), Some(&origin("u1")));
        assert_eq!(o.find("r1", "u2"), None, "another user's response is unknown");
        o.remember("r2".into(), origin("u1"));
        o.remember("r2".into(), origin("u1"));
        o.remember("r3".into(), origin("u2"));
        assert_eq!(o.find("r1", "u1"), None, "forgotten past the bound");
        assert!(o.find("r2", "u1").is_some() && o.find("r3", "u2").is_some());
    }
}
