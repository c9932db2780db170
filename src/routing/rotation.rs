//! Weighted round-robin state that outlives the configuration snapshot. The snapshot is swapped
//! on every management write; if the pickers lived in it, each write would restart every
//! rotation (5:1:1 would drift toward the first credential). Pickers are kept here instead,
//! by provider id (credentials) and model id (targets).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::wrr::SmoothWrr;

#[derive(Debug, Default)]
pub struct Rotations {
    pickers: RwLock<HashMap<String, Arc<SmoothWrr>>>,
}

impl Rotations {
    /// The picker for `key` (`provider:{id}` or `model:{id}`), created on first use.
    pub fn get(&self, key: &str) -> Arc<SmoothWrr> {
        if let Some(p) = self.pickers.read().unwrap_or_else(|e| e.into_inner()).get(key) {
            return p.clone();
        }
        let mut pickers = self.pickers.write().unwrap_or_else(|e| e.into_inner());
        pickers.entry(key.to_string()).or_default().clone()
    }
}

pub fn provider_key(provider_id: &str) -> String {
    format!("provider:{provider_id}")
}

pub fn model_key(model_id: &str) -> String {
    format!("model:{model_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_key_gets_the_same_rotation() {
        let r = Rotations::default();
        let a = r.get(&provider_key("p1"));
        assert_eq!(a.pick(&[5, 1, 1], |_| true), Some(0));
        // A later lookup (as after a snapshot reload) continues the sequence: a a b ...
        assert_eq!(r.get(&provider_key("p1")).pick(&[5, 1, 1], |_| true), Some(0));
        assert_eq!(r.get(&provider_key("p1")).pick(&[5, 1, 1], |_| true), Some(1));
        assert_eq!(r.get(&model_key("p1")).pick(&[5, 1, 1], |_| true), Some(0));
    }
}
