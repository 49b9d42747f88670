//! Embedding vectors of knowledge-base text: what a provider of them answers to, and the
//! arithmetic the store needs (unit length, cosine as a dot product, a byte form that both
//! databases keep alike).
//!
//! Vectors are optional: without an embeddings endpoint the knowledge base ranks by words and
//! structure alone. With one, each entry's index text (already redacted) gets a vector, the
//! query's text gets one, and the store fuses their cosine with the lexical rank.

use std::future::Future;
use std::pin::Pin;

/// Characters of an entry's text sent to be embedded at most (about 2,000 tokens, within
/// every embedding model's input limit).
pub const MAX_TEXT: usize = 8_000;

/// The future an [`Embedder`] returns.
pub type EmbedFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<Vec<f32>>, String>> + Send + 'a>>;

/// Turns text into vectors, one per text, in order.
///
/// Boxed rather than `async fn` so that the engine can hold any provider as
/// `Arc<dyn Embedder>` (a configuration chooses it at start).
pub trait Embedder: Send + Sync {
    /// Names the vectors' space (`openai:text-embedding-3-small`): vectors made by another
    /// model, or the same model at another size, are never compared with these.
    fn space(&self) -> &str;

    /// Vectors for `texts`, in order; an error says what failed (the endpoint, the status,
    /// the answer), without the texts.
    fn embed<'a>(&'a self, texts: &'a [String]) -> EmbedFuture<'a>;
}

/// `v` scaled to unit length; `None` when it cannot be (empty, all zero, or holding a value
/// that is not a finite number), so a broken answer never enters the index.
pub fn normalized(v: &[f32]) -> Option<Vec<f32>> {
    if v.is_empty() || v.iter().any(|x| !x.is_finite()) {
        return None;
    }
    let norm = v
        .iter()
        .map(|x| f64::from(*x) * f64::from(*x))
        .sum::<f64>()
        .sqrt();
    if norm == 0.0 || !norm.is_finite() {
        return None;
    }
    Some(v.iter().map(|x| (f64::from(*x) / norm) as f32).collect())
}

/// The cosine of two unit vectors (their dot product); 0 when their sizes differ.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    if a.len() != b.len() {
        return 0.0;
    }
    f64::from(dot(a, b))
}

/// The dot product of two vectors of one size, in eight running sums: written so that the
/// compiler turns it into SIMD instructions (a single running sum of floats must be added in
/// order, which it cannot vectorize), about eight times faster over a whole knowledge base.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 8;
    let mut sums = [0.0_f32; LANES];
    let (a_body, a_tail) = a.split_at(a.len() - a.len() % LANES);
    let (b_body, b_tail) = b.split_at(a_body.len());
    for (x, y) in a_body.chunks_exact(LANES).zip(b_body.chunks_exact(LANES)) {
        for i in 0..LANES {
            sums[i] += x[i] * y[i];
        }
    }
    let tail: f32 = a_tail.iter().zip(b_tail).map(|(x, y)| x * y).sum();
    sums.iter().sum::<f32>() + tail
}

/// The stored form: each value as 4 bytes, little-endian.
pub fn to_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Reads the stored form; `None` when the length is not a whole number of values.
pub fn from_bytes(b: &[u8]) -> Option<Vec<f32>> {
    if !b.len().is_multiple_of(4) {
        return None;
    }
    Some(
        b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

/// A hash of the text a vector is made from, the same on every build and machine (FNV-1a,
/// 64 bits; the standard library's hasher may change between releases), as the store keeps
/// it to know when an entry's vector is out of date.
pub fn text_hash(text: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_vectors_compare_by_their_dot_product_and_broken_ones_are_refused() {
        let a = normalized(&[3.0, 4.0]).unwrap();
        assert!((a[0] - 0.6).abs() < 1e-6 && (a[1] - 0.8).abs() < 1e-6);
        assert!((cosine(&a, &a) - 1.0).abs() < 1e-6);
        let b = normalized(&[-4.0, 3.0]).unwrap();
        assert!(cosine(&a, &b).abs() < 1e-6, "orthogonal");
        assert_eq!(cosine(&a, &[1.0]), 0.0, "sizes differ");
        // Every length, with and without a remainder past the eight lanes.
        for n in [1, 7, 8, 9, 17, 768] {
            let x: Vec<f32> = (0..n).map(|i| (i % 5) as f32 - 2.0).collect();
            let y: Vec<f32> = (0..n).map(|i| (i % 3) as f32 + 0.5).collect();
            let want: f64 = x.iter().zip(&y).map(|(a, b)| f64::from(a * b)).sum();
            assert!((cosine(&x, &y) - want).abs() < 1e-3, "{n}");
        }
        assert_eq!(normalized(&[]), None);
        assert_eq!(normalized(&[0.0, 0.0]), None);
        assert_eq!(normalized(&[1.0, f32::NAN]), None);
        assert_eq!(normalized(&[f32::INFINITY]), None);
        assert_eq!(from_bytes(&to_bytes(&a)), Some(a));
        assert_eq!(from_bytes(&[0, 1, 2]), None);
        // FNV-1a's published value for "a", so the hash never changes under a stored one.
        assert_eq!(text_hash("a") as u64, 0xaf63_dc4c_8601_ec8c);
        assert_ne!(text_hash("heap grows"), text_hash("heap grows."));
    }
}
