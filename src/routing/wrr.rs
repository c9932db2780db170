//! Smooth weighted round-robin (nginx): each pick adds every eligible member's weight to its
//! current value, takes the highest, and subtracts the eligible total from it. Weights 5:1:1
//! give a a b a c a a. Ineligible members are skipped without taking the others' share.

use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct SmoothWrr {
    current: Mutex<Vec<i64>>,
}

impl SmoothWrr {
    /// Picks an index among `weights` for which `eligible(i)` holds; `None` if none does.
    pub fn pick(&self, weights: &[i64], eligible: impl Fn(usize) -> bool) -> Option<usize> {
        let mut current = self.current.lock().expect("wrr lock");
        if current.len() != weights.len() {
            *current = vec![0; weights.len()];
        }
        let mut total = 0;
        let mut best: Option<usize> = None;
        for (i, &w) in weights.iter().enumerate() {
            if w <= 0 || !eligible(i) {
                continue;
            }
            current[i] += w;
            total += w;
            if best.is_none_or(|b| current[i] > current[b]) {
                best = Some(i);
            }
        }
        if let Some(b) = best {
            current[b] -= total;
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_one_one_is_the_nginx_sequence() {
        let w = SmoothWrr::default();
        let picks: String = (0..14).map(|_| (b'a' + w.pick(&[5, 1, 1], |_| true).unwrap() as u8) as char).collect();
        assert_eq!(picks, "aabacaaaabacaa");
    }

    #[test]
    fn skips_ineligible_and_zero_weights() {
        let w = SmoothWrr::default();
        let picks: Vec<usize> = (0..4).map(|_| w.pick(&[1, 1, 0], |i| i != 0).unwrap()).collect();
        assert_eq!(picks, vec![1, 1, 1, 1]);
        assert_eq!(w.pick(&[1], |_| false), None);
        assert_eq!(w.pick(&[], |_| true), None);
    }
}
