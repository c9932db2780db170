//! Credential-scoped scenarios: a request whose credential reads `mock:{opts}` is served with
//! `opts` overlaid, so one key of several can fail while the others work. `times=N` limits
//! the scenario to the first N requests presenting that credential (then it behaves as
//! usual), which scripts a key that is refused and later accepted, or a burst of errors.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::options::{Behaviour, OptionError};

/// The prefix that marks a credential as carrying a scenario.
pub const PREFIX: &str = "mock:";

/// Uses of each scenario credential so far, for `times`.
#[derive(Default)]
pub(crate) struct KeyScenarios {
    uses: Mutex<HashMap<String, u64>>,
}

impl KeyScenarios {
    /// `base` with the credential's scenario applied, if it has one that is still in force.
    pub(crate) fn apply(&self, base: Behaviour, credential: &str) -> Result<Behaviour, OptionError> {
        let Some(opts) = credential.strip_prefix(PREFIX) else { return Ok(base) };
        let mut times = None;
        let mut rest = Vec::new();
        for item in opts.split(',') {
            match item.strip_prefix("times=") {
                Some(n) => {
                    times = Some(n.parse::<u64>().map_err(|_| OptionError(format!("times: {n:?} is not a number")))?)
                }
                None => rest.push(item),
            }
        }
        let used = {
            let mut uses = self.uses.lock().unwrap_or_else(|e| e.into_inner());
            let n = uses.entry(credential.to_string()).or_insert(0);
            *n += 1;
            *n
        };
        if times.is_some_and(|t| used > t) {
            return Ok(base);
        }
        base.with_scenario(&rest.join(","))
    }

    pub(crate) fn reset(&self) {
        self.uses.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_for_the_first_n_uses() {
        let k = KeyScenarios::default();
        let base = Behaviour::default();
        assert_eq!(k.apply(base, "sk-plain").unwrap(), base);
        let key = "mock:status=401,times=2";
        assert_eq!(k.apply(base, key).unwrap().resolve().status, 401);
        assert_eq!(k.apply(base, key).unwrap().resolve().status, 401);
        assert_eq!(k.apply(base, key).unwrap().resolve().status, 200);
        assert_eq!(k.apply(base, "mock:status=500").unwrap().resolve().status, 500);
        assert!(k.apply(base, "mock:times=x").is_err());
        k.reset();
        assert_eq!(k.apply(base, key).unwrap().resolve().status, 401);
    }
}
