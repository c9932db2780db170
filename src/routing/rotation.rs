//! Weighted round-robin state that outlives the configuration snapshot. The snapshot is swapped
//! on every management write; if the pickers lived in it, each write would restart every
//! rotation (5:1:1 would drift toward the first credential). Pickers are kept here instead:
//! a provider's credentials by provider id, a model's targets by model id, each map looked up
//! by the borrowed id (nothing is allocated to find a picker that exists).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::wrr::SmoothWrr;

type Pickers = RwLock<HashMap<String, Arc<SmoothWrr>>>;

#[derive(Debug, Default)]
pub struct Rotations {
    credentials: Pickers,
    targets: Pickers,
}

impl Rotations {
    /// The rotation over the credentials of provider `provider_id`, created on first use.
    pub fn credentials_of(&self, provider_id: &str) -> Arc<SmoothWrr> {
        picker(&self.credentials, provider_id)
    }

    /// The rotation over the targets of model `model_id`, created on first use.
    pub fn targets_of(&self, model_id: &str) -> Arc<SmoothWrr> {
        picker(&self.targets, model_id)
    }
}

fn picker(pickers: &Pickers, id: &str) -> Arc<SmoothWrr> {
    if let Some(p) = pickers.read().unwrap_or_else(|e| e.into_inner()).get(id) {
        return p.clone();
    }
    let mut pickers = pickers.write().unwrap_or_else(|e| e.into_inner());
    pickers.entry(id.to_string()).or_default().clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_id_gets_the_same_rotation_and_the_two_kinds_stay_apart() {
        let r = Rotations::default();
        let a = r.credentials_of("p1");
        assert_eq!(a.pick(&[5, 1, 1], |_| true), Some(0));
        // A later lookup (as after a snapshot reload) continues the sequence: a a b ...
        assert_eq!(r.credentials_of("p1").pick(&[5, 1, 1], |_| true), Some(0));
        assert_eq!(r.credentials_of("p1").pick(&[5, 1, 1], |_| true), Some(1));
        // A model with the same id as a provider has a rotation of its own.
        assert_eq!(r.targets_of("p1").pick(&[5, 1, 1], |_| true), Some(0));
        assert!(Arc::ptr_eq(&r.targets_of("p1"), &r.targets_of("p1")));
        assert!(!Arc::ptr_eq(&r.targets_of("p1"), &r.credentials_of("p1")));
    }
}
