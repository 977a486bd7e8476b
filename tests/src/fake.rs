//! Deterministic pseudo-random text, so tests make token-shaped strings at run time and no
//! secret-looking literal sits in the source tree.

/// A xorshift generator: one seed gives one sequence, on every machine.
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed` (any value, zero included).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next number in the sequence.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// `len` characters drawn from `alphabet`, continuing the sequence.
    pub fn text(&mut self, alphabet: &str, len: usize) -> String {
        let chars: Vec<char> = alphabet.chars().collect();
        (0..len)
            .map(|_| chars[(self.next_u64() % chars.len() as u64) as usize])
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_always_gives_the_same_text_and_seeds_differ() {
        let alphabet = "abcdefghijklmnopqrstuvwxyz";
        let one = Rng::new(7).text(alphabet, 32);
        assert_eq!(one, Rng::new(7).text(alphabet, 32));
        assert_ne!(one, Rng::new(8).text(alphabet, 32));
        assert!(one.chars().all(|c| alphabet.contains(c)), "{one}");
    }

    #[test]
    fn text_continues_the_sequence() {
        let mut rng = Rng::new(3);
        let (a, b) = (rng.text("0123456789", 10), rng.text("0123456789", 10));
        assert_ne!(a, b);
        assert_eq!(a + &b, Rng::new(3).text("0123456789", 20));
    }
}
